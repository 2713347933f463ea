// The model (internal/guard/model.go): logistic regression over hashed
// features of a view plus one input per rule,
//
//	logit = Bias + Σ Hash[h(f)] / √N + Σ Rules[r]·match(r)
//
// where f runs over the N feature occurrences of the view: its words, its
// word bigrams and its character 4-grams, each hashed into 2^hashBits
// buckets. Go's float32 sum is kept (Math.fround after every addition) and
// its 64-bit hashes are computed in 32-bit halves (hash.ts).

import { bigram, fnvHi, fnvLo, fnvOffsetHi, fnvOffsetLo, mix } from "./hash.js";
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

// The 64-bit salt Go xors into a word's hash, 0x9e3779b97f4a7c15, in halves.
const wordSaltHi = 0x9e3779b9,
  wordSaltLo = 0x7f4a7c15;

/**
 * Extractor turns a view into its features' weight sum and rule matches. It
 * holds scratch buffers, so each scanner has its own.
 */
export class Extractor {
  sum = 0; // the float32 sum of the features' hash weights, in Go's order
  n = 0; // the number of feature occurrences
  readonly hits = new Uint8Array(rules.length);
  private bits = new Uint32Array(64 * slotWords);
  private readonly pair = new Uint32Array(2);

  constructor(
    private readonly set: RuleSet,
    private readonly hash: Float32Array,
  ) {}

  /** extract reads view s. */
  extract(s: Uint8Array): void {
    const w = this.hash;
    let sum = 0; // float32, added to in Go's order
    let n = 0;
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
      for (; j < s.length && isWordByte(s[j]!); j++) {
        // h ^= c; h *= 1099511628211
        lo = (lo ^ s[j]!) >>> 0;
        hi = fnvHi(hi, lo);
        lo = fnvLo(lo);
      }
      sum = Math.fround(sum + w[mix((hi ^ wordSaltHi) >>> 0, (lo ^ wordSaltLo) >>> 0)]!);
      n++;
      if (prevHi !== 0 || prevLo !== 0) {
        bigram(prevHi, prevLo, hi, lo, this.pair);
        sum = Math.fround(sum + w[mix(this.pair[0]!, this.pair[1]!)]!);
        n++;
      }
      prevHi = hi;
      prevLo = lo;
      this.wordBits(words++, this.set.lookup(lo, s, i, j));
      i = j;
    }
    this.set.match(this.bits, words, this.hits);

    // Character 4-grams over " " + s + " ", as little-endian uint32s.
    const len = s.length + 2;
    let v = 0x20;
    for (let i = 1; i < 4 && i < len; i++) v |= (i === len - 1 ? 0x20 : s[i - 1]!) << (8 * i);
    for (let i = 0; i + 4 <= len; i++) {
      if (i > 0) v = (v >>> 8) | ((i + 3 === len - 1 ? 0x20 : s[i + 2]!) << 24);
      sum = Math.fround(sum + w[mix(0x400, v >>> 0)]!);
      n++;
    }
    this.sum = sum;
    this.n = n;
  }

  /** wordBits sets the slot bits of word number w. */
  private wordBits(w: number, b: Uint32Array | undefined): void {
    if ((w + 1) * slotWords > this.bits.length) {
      const next = new Uint32Array(this.bits.length * 2);
      next.set(this.bits);
      this.bits = next;
    }
    const bits = this.bits;
    const off = w * slotWords;
    for (let k = 0; k < slotWords; k++) bits[off + k] = b ? b[k]! : 0;
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
