// NFKC as golang.org/x/text/unicode/norm computes it (NFKC.String), ported
// with its tables (tables.ts) rather than taken from the JavaScript engine's
// String.prototype.normalize, for two reasons:
//
//   - Versions. The engine normalises by its own Unicode version (Node 20.20
//     ships 17.0), Go by x/text's (15.0.0 up to Go 1.26). Characters added
//     since, such as the outlined Latin letters of 16.0 (U+1CCD6...), are
//     compatibility letters to the engine and unknown to Go.
//   - Stream-safe text. x/text inserts U+034F COMBINING GRAPHEME JOINER into
//     a run of more than 30 non-starters (UAX #15, section 13); the engine
//     does not. Its exact place depends on how x/text walks the text, so the
//     walk (quickSpan, decomposeSegment, the reorder buffer) is ported
//     as it is, names included.
//
// Measured on Node 20.20: the engine's NFKC differs from Go's for 47 code
// points (each between "a" and U+0301) and for 5641 of 30000 random texts
// heavy with combining marks; this port differs from Go's for none (nor for
// any of the 1.1 million code points).
//
// Input must be valid UTF-8, which the scanner guarantees.

import { nfkcCompose, nfkcInfo, nfkcProps } from "./tables.js";
import { Bytes, decodeRune, runeLen } from "./utf8.js";

// A props value packs x/text's Properties: ccc | tccc<<6 | nLead<<12 |
// flags<<14. ccc values are x/text's compressed ones, which keep order.
const ccc = (p: number): number => p & 0x3f;
const nLead = (p: number): number => (p >> 12) & 0x3;
const flags = (p: number): number => p >> 14;
const isYesC = (p: number): boolean => (flags(p) & 0x10) === 0;
const combinesBackward = (p: number): boolean => (flags(p) & 0x8) !== 0;
const hasDecomposition = (p: number): boolean => (flags(p) & 0x4) !== 0;
const nTrail = (p: number): number => flags(p) & 0x3;
const boundaryBefore = (p: number): boolean => ccc(p) === 0 && !combinesBackward(p);

const hangulBase = 0xac00,
  hangulEnd = 0xd7a4,
  jamoLBase = 0x1100,
  jamoLEnd = 0x1113,
  jamoVBase = 0x1161,
  jamoVEnd = 0x1176,
  jamoTBase = 0x11a7,
  jamoTEnd = 0x11c3,
  jamoTCount = 28,
  jamoVCount = 21,
  jamoVTCount = 21 * 28;
const hangulLV = 0x25 << 14, // combines forward, decomposes, one trailing non-starter
  hangulLVT = 0x06 << 14; // decomposes, two trailing non-starters
const graphemeJoiner = 0x034f;
const maxNonStarters = 30;

interface Tables {
  ascii: Int32Array;
  props: Map<number, number>;
  decomp: Map<number, number>; // offset << 5 | length in runes
  runes: Int32Array; // the decompositions
  compose: Map<number, number>; // a * 0x200000 + b → composite
}

let tables: Tables | undefined;

/** Reader reads the base-36 numbers of a table string, one character at a time (split would allocate thousands of arrays). */
class Reader {
  i = 0;
  value = 0; // the number num read last
  constructor(readonly s: string) {}

  /** num reads a (signed) base-36 number and the separator after it, which it returns (0 at the end). */
  num(): number {
    let neg = false;
    let n = 0;
    for (; this.i < this.s.length; this.i++) {
      const c = this.s.charCodeAt(this.i);
      if (c >= 0x30 && c <= 0x39) n = n * 36 + c - 0x30;
      else if (c >= 0x61 && c <= 0x7a) n = n * 36 + c - 0x61 + 10;
      else if (c === 0x2d) neg = true;
      else break;
    }
    this.value = neg ? -n : n;
    return this.i < this.s.length ? this.s.charCodeAt(this.i++) : 0;
  }
}

const comma = 0x2c,
  colon = 0x3a,
  dot = 0x2e;

function load(): Tables {
  const palette: number[] = [];
  for (const r = new Reader(nfkcProps); ; ) {
    const sep = r.num();
    palette.push(r.value);
    if (sep === 0) break;
  }
  const props = new Map<number, number>();
  const decomp = new Map<number, number>();
  const runes: number[] = [];
  let start = 0;
  for (const rd = new Reader(nfkcInfo); rd.i < nfkcInfo.length; ) {
    // start[:count],props[,d.d.d];
    let sep = rd.num();
    start += rd.value;
    let n = 1;
    if (sep === colon) {
      sep = rd.num();
      n = rd.value;
    }
    sep = rd.num();
    const value = palette[rd.value]!;
    const off = runes.length;
    if (sep === comma) {
      let prev = 0;
      do {
        sep = rd.num();
        prev = runes.length === off ? rd.value : prev + rd.value;
        runes.push(prev);
      } while (sep === dot);
    }
    const len = runes.length - off;
    for (let k = 0; k < n; k++) {
      props.set(start + k, value);
      if (len === 1 && k > 0) {
        runes.push(runes[off]! + k);
        decomp.set(start + k, ((runes.length - 1) << 5) | 1);
      } else if (len > 0) decomp.set(start + k, (off << 5) | len);
    }
  }
  const ascii = new Int32Array(0x80);
  for (let r = 0; r < 0x80; r++) ascii[r] = props.get(r) ?? 0;
  const compose = new Map<number, number>();
  let a = 0;
  for (const rd = new Reader(nfkcCompose); rd.i < nfkcCompose.length; ) {
    rd.num();
    a += rd.value;
    rd.num();
    const b = rd.value;
    rd.num();
    compose.set(a * 0x200000 + b, rd.value);
  }
  return { ascii, props, decomp, runes: Int32Array.from(runes), compose };
}

function info(t: Tables, r: number): number {
  if (r < 0x80) return t.ascii[r]!;
  if (r >= hangulBase && r < hangulEnd) return (r - hangulBase) % jamoTCount === 0 ? hangulLV : hangulLVT;
  return t.props.get(r) ?? 0;
}

// streamSafe is x/text's streamSafe: the count of non-starters in a row.
class StreamSafe {
  n = 0;

  /** next returns 0 (success), 1 (a starter) or 2 (an overflow: insert a CGJ). */
  next(p: number): number {
    const n = nLead(p);
    this.n += n;
    if (this.n > maxNonStarters) {
      this.n = 0;
      return overflow;
    }
    if (n === 0) {
      this.n = nTrail(p);
      return starter;
    }
    return success;
  }
}
const success = 0,
  starter = 1,
  overflow = 2;

/** loadNFKC decodes the tables now rather than at the first non-ASCII text. */
export function loadNFKC(): void {
  tables ??= load();
}

/** nfkc returns NFKC of src, as norm.NFKC.String does. */
export function nfkc(src: Uint8Array): Uint8Array {
  const t = (tables ??= load());
  const n0 = quickSpan(t, src, 0);
  if (n0 < 0) return src;
  const rb = new ReorderBuffer(t, src);
  rb.out.pushSlice(src, 0, n0);
  for (let p = n0; p < src.length; ) {
    p = decomposeSegment(rb, p);
    // appendQuick
    if (p === src.length) break;
    let end = quickSpan(t, src, p);
    if (end < 0) end = src.length;
    rb.out.pushSlice(src, p, end);
    p = end;
  }
  return rb.out.bytes();
}

/**
 * quickSpan is x/text's formInfo.quickSpan for NFKC at EOF: it returns -1
 * if src[i:] is normalised, or else the boundary up to which it is.
 */
function quickSpan(t: Tables, src: Uint8Array, i: number): number {
  let lastCC = 0;
  const ss = new StreamSafe();
  let lastSegStart = i;
  const n = src.length;
  while (i < n) {
    if (src[i]! < 0x80) {
      let j = i;
      while (j < n && src[j]! < 0x80) j++;
      i = j;
      lastSegStart = i - 1;
      lastCC = 0;
      ss.n = 0;
      continue;
    }
    const r = decodeRune(src, i);
    const p = info(t, r);
    switch (ss.next(p)) {
      case starter:
        lastSegStart = i;
        break;
      case overflow:
        return lastSegStart;
      case success:
        if (lastCC > ccc(p)) return lastSegStart;
    }
    if (!isYesC(p)) return lastSegStart;
    lastCC = ccc(p);
    i += runeLen(r);
  }
  return -1;
}

/** ReorderBuffer is x/text's reorderBuffer, holding runes rather than their bytes. */
class ReorderBuffer {
  runes: number[] = [];
  props: number[] = []; // props of each rune; 0 for Hangul parts, the CGJ and compositions
  nrune = 0;
  ss = new StreamSafe();
  out: Bytes;

  constructor(
    readonly t: Tables,
    readonly src: Uint8Array,
  ) {
    this.out = new Bytes(src.length + 16);
  }

  doFlush(): void {
    this.compose();
    for (let i = 0; i < this.nrune; i++) this.out.pushRune(this.runes[i]!);
    this.nrune = 0;
  }

  insertOrdered(r: number, p: number): void {
    let n = this.nrune;
    const cc = ccc(p);
    if (cc > 0) {
      for (; n > 0; n--) {
        if (ccc(this.props[n - 1]!) <= cc) break;
        this.runes[n] = this.runes[n - 1]!;
        this.props[n] = this.props[n - 1]!;
      }
    }
    this.nrune++;
    this.runes[n] = r;
    this.props[n] = p;
  }

  insertFlush(r: number, p: number): void {
    if (r >= hangulBase && r < hangulEnd) return this.decomposeHangul(r);
    if (hasDecomposition(p)) return this.insertDecomposed(this.t.decomp.get(r)!);
    this.insertOrdered(r, p);
  }

  /** insertDecomposed inserts the runes of a decomposition (offset << 5 | length in t.runes). */
  insertDecomposed(d: number): void {
    for (let i = d >> 5, end = i + (d & 31); i < end; i++) {
      const r = this.t.runes[i]!;
      const p = info(this.t, r);
      if (boundaryBefore(p) && this.nrune > 0) this.doFlush();
      this.insertOrdered(r, p);
    }
  }

  insertCGJ(): void {
    this.insertOrdered(graphemeJoiner, 0);
  }

  appendRune(r: number): void {
    this.runes[this.nrune] = r;
    this.props[this.nrune] = 0;
    this.nrune++;
  }

  assignRune(pos: number, r: number): void {
    this.runes[pos] = r;
    this.props[pos] = 0;
  }

  decomposeHangul(r: number): void {
    r -= hangulBase;
    const x = r % jamoTCount;
    r = Math.floor(r / jamoTCount);
    this.appendRune(jamoLBase + Math.floor(r / jamoVCount));
    this.appendRune(jamoVBase + (r % jamoVCount));
    if (x !== 0) this.appendRune(jamoTBase + x);
  }

  combine(a: number, b: number): number {
    return this.t.compose.get(a * 0x200000 + b) ?? 0;
  }

  combineHangul(s: number, i: number, k: number): void {
    const { runes, props } = this;
    const bn = this.nrune;
    for (; i < bn; i++) {
      const cccB = ccc(props[k - 1]!);
      const cccC = ccc(props[i]!);
      if (cccB === 0) s = k - 1;
      if (s !== k - 1 && cccB >= cccC) {
        runes[k] = runes[i]!;
        props[k] = props[i]!;
        k++;
        continue;
      }
      const l = runes[s]!;
      const v = runes[i]!;
      if (jamoLBase <= l && l < jamoLEnd && jamoVBase <= v && v < jamoVEnd) {
        this.assignRune(s, hangulBase + (l - jamoLBase) * jamoVTCount + (v - jamoVBase) * jamoTCount);
      } else if (hangulBase <= l && l < hangulEnd && jamoTBase < v && v < jamoTEnd && (l - hangulBase) % jamoTCount === 0) {
        this.assignRune(s, l + v - jamoTBase);
      } else {
        if (combinesBackward(props[i]!)) {
          const combined = this.combine(l, v);
          if (combined !== 0) {
            this.assignRune(s, combined);
            continue;
          }
        }
        runes[k] = runes[i]!;
        props[k] = props[i]!;
        k++;
      }
    }
    this.nrune = k;
  }

  compose(): void {
    const bn = this.nrune;
    if (bn === 0) return;
    const { runes, props } = this;
    let k = 1;
    for (let s = 0, i = 1; i < bn; i++) {
      const ri = runes[i]!;
      if (ri >= 0x1100 && ri <= 0x11ff) {
        // isJamoVT: redo from the start in Hangul mode.
        this.combineHangul(s, i, k);
        return;
      }
      const ii = props[i]!;
      const cccB = ccc(props[k - 1]!);
      const cccC = ccc(ii);
      let blocked = false;
      if (cccB === 0) s = k - 1;
      else blocked = s !== k - 1 && cccB >= cccC;
      if (combinesBackward(ii) && !blocked) {
        const combined = this.combine(runes[s]!, ri);
        if (combined !== 0) {
          this.assignRune(s, combined);
          continue;
        }
      }
      runes[k] = ri;
      props[k] = ii;
      k++;
    }
    this.nrune = k;
  }
}

/** decomposeSegment is x/text's decomposeSegment at EOF; it returns where it stopped. */
function decomposeSegment(rb: ReorderBuffer, sp: number): number {
  const src = rb.src;
  let r = decodeRune(src, sp);
  let p = info(rb.t, r);
  const s = rb.ss.next(p);
  if (s === starter && rb.nrune > 0) {
    rb.doFlush();
    return sp;
  }
  if (s === overflow) {
    rb.insertCGJ();
    rb.doFlush();
    return sp;
  }
  rb.insertFlush(r, p);
  for (;;) {
    sp += runeLen(r);
    if (sp >= src.length) break;
    r = decodeRune(src, sp);
    p = info(rb.t, r);
    const s = rb.ss.next(p);
    if (s === starter) break;
    if (s === overflow) {
      rb.insertCGJ();
      break;
    }
    rb.insertFlush(r, p);
  }
  rb.doFlush();
  return sp;
}
