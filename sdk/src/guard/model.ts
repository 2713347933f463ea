// The model (internal/guard/model.go): logistic regression over hashed
// features of a view plus one input per rule,
//
//	logit = Bias + Σ Hash[h(f)] / √N + Σ Rules[r]·match(r)
//
// where f runs over the N feature occurrences of the view: its words, its
// word bigrams and its character 4-grams, each hashed into 2^hashBits
// buckets. Go's float32 sum is kept (Math.fround after every addition) and
// its 64-bit hashes are computed in 32-bit halves: BigInt would be exact
// too, and several times slower (see bench/guard.ts).

import { isLower } from "./normalize.js";
import { RuleSet, slotWords } from "./rules.js";
import { hashBits, rules } from "./tables.js";

/** Model holds the weights of a model file. */
export interface Model {
  bias: number; // a float32
  rules: Float32Array; // one per rule, in the order of the rule set
  hash: Float32Array; // 1 << hashBits
}

const magic = "MGUARD01";

/**
 * parseModel decodes a model file (internal/guard/model.bin). The file
 * must have been trained for this version's rule set.
 */
export function parseModel(b: Uint8Array): Model {
  if (b.length < 24 || String.fromCharCode(...b.subarray(0, 8)) !== magic) throw new Error("guard: not a guard model file");
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const bits = v.getUint32(8, true);
  const nrules = v.getUint32(12, true);
  if (bits !== hashBits || nrules !== rules.length) {
    throw new Error(`guard: model has ${bits} bits and ${nrules} rules, want ${hashBits} and ${rules.length}: retrain it`);
  }
  const size = 24 + 4 * nrules + 2 * 2 ** bits;
  if (b.length !== size) throw new Error(`guard: model file is ${b.length} bytes, want ${size}`);
  const scale = v.getFloat32(20, true);
  const m: Model = { bias: v.getFloat32(16, true), rules: new Float32Array(nrules), hash: new Float32Array(2 ** bits) };
  let p = 24;
  for (let i = 0; i < nrules; i++, p += 4) m.rules[i] = v.getFloat32(p, true);
  for (let i = 0; i < m.hash.length; i++, p += 2) m.hash[i] = Math.fround(v.getInt16(p, true) * scale);
  return m;
}

const hashMask = (1 << hashBits) - 1;
const two32 = 4294967296;

// The 64-bit constants, in 32-bit halves.
const fnvOffsetHi = 0xcbf29ce4,
  fnvOffsetLo = 0x84222325; // 14695981039346656037
const wordSaltHi = 0x9e3779b9,
  wordSaltLo = 0x7f4a7c15;
const mixLo = 0xed558ccd,
  mixHi = 0xff51afd7;
const mixLo0 = mixLo & 0xffff,
  mixLo1 = mixLo >>> 16;

/**
 * mix is Go's mix(h) for h = hi<<32 | lo: h ^= h>>33; h *= 0xff51afd7ed558ccd;
 * h ^= h>>33; the low hashBits bits.
 */
export function mix(hi: number, lo: number): number {
  lo = (lo ^ (hi >>> 1)) >>> 0;
  // The product's low 64 bits, of which bits 0..15 and 33..48 are needed.
  const a0 = lo & 0xffff,
    a1 = lo >>> 16;
  const ll = a0 * mixLo0;
  const m1 = a1 * mixLo0;
  const m2 = a0 * mixLo1;
  const mid = (ll >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
  const carry = a1 * mixLo1 + (m1 >>> 16) + (m2 >>> 16) + (mid >>> 16); // high 32 bits of lo*mixLo
  const pLo = ((mid & 0xffff) << 16) | (ll & 0xffff);
  const pHi = (carry + Math.imul(lo, mixHi) + Math.imul(hi, mixLo)) >>> 0;
  return (pLo ^ (pHi >>> 1)) & hashMask;
}

/**
 * Extractor turns a view into its features' weight sum and rule matches. It
 * holds scratch buffers, so each scanner has its own.
 */
export class Extractor {
  sum = 0; // the float32 sum of the features' hash weights, in Go's order
  n = 0; // the number of feature occurrences
  readonly hits = new Uint8Array(rules.length);
  private bits = new Uint32Array(64 * slotWords);
  private pad = new Uint8Array(256);

  constructor(
    private readonly set: RuleSet,
    private readonly hash: Float32Array,
  ) {}

  private add(i: number): void {
    this.sum = Math.fround(this.sum + this.hash[i]!);
    this.n++;
  }

  /** extract reads view s. */
  extract(s: Uint8Array): void {
    this.sum = 0;
    this.n = 0;
    this.hits.fill(0);
    let words = 0;

    // Words and word bigrams.
    let prevHi = 0,
      prevLo = 0;
    for (let i = 0; i < s.length; ) {
      if (!isWordByte(s[i]!)) {
        i++;
        continue;
      }
      let j = i;
      let hi = fnvOffsetHi,
        lo = fnvOffsetLo;
      let ascii = true;
      for (; j < s.length && isWordByte(s[j]!); j++) {
        const c = s[j]!;
        ascii &&= c < 0x80;
        // h ^= c; h *= 1099511628211 (1<<40 + 0x1b3)
        lo = (lo ^ c) >>> 0;
        const t = lo * 0x1b3;
        hi = (Math.imul(hi, 0x1b3) + Math.floor(t / two32) + (lo << 8)) >>> 0;
        lo = t >>> 0;
      }
      this.add(mix((hi ^ wordSaltHi) >>> 0, (lo ^ wordSaltLo) >>> 0));
      if (prevHi !== 0 || prevLo !== 0) {
        // prev*31 + h
        const t = prevLo * 31;
        let bHi = Math.imul(prevHi, 31) + Math.floor(t / two32) + hi;
        let bLo = (t >>> 0) + lo;
        if (bLo >= two32) {
          bLo -= two32;
          bHi++;
        }
        this.add(mix(bHi >>> 0, bLo));
      }
      prevHi = hi;
      prevLo = lo;
      this.wordBits(words++, s, i, j, ascii);
      i = j;
    }
    this.set.match(this.bits, words, this.hits);

    // Character 4-grams over " " + s + " ".
    const n = s.length + 2;
    if (this.pad.length < n) this.pad = new Uint8Array(2 * n);
    const p = this.pad;
    p[0] = 0x20;
    p.set(s, 1);
    p[n - 1] = 0x20;
    for (let i = 0; i + 4 <= n; i++) {
      this.add(mix(0x400, (p[i]! | (p[i + 1]! << 8) | (p[i + 2]! << 16) | (p[i + 3]! << 24)) >>> 0));
    }
  }

  /** wordBits sets the slot bits of word number w, s[i:j]. */
  private wordBits(w: number, s: Uint8Array, i: number, j: number, ascii: boolean): void {
    if ((w + 1) * slotWords > this.bits.length) {
      const next = new Uint32Array(this.bits.length * 2);
      next.set(this.bits);
      this.bits = next;
    }
    const off = w * slotWords;
    const b = ascii && j - i <= this.set.longest ? this.set.words.get(String.fromCharCode(...s.subarray(i, j))) : undefined;
    if (b) this.bits.set(b, off);
    else this.bits.fill(0, off, off + slotWords);
  }
}

function isWordByte(c: number): boolean {
  return isLower(c) || (c >= 0x30 && c <= 0x39) || c >= 0x80;
}

/** logit scores the features x extracted. */
export function logit(m: Model, x: Extractor): number {
  let z = m.bias;
  if (x.n > 0) z += x.sum / Math.sqrt(x.n);
  for (let r = 0; r < x.hits.length; r++) if (x.hits[r]) z += m.rules[r]!;
  return z;
}
