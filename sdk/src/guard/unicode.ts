// Go's package unicode, as far as the scanner uses it: the predicates and
// simple lower-case mapping of the Go build's Unicode version (tables.ts),
// not the JavaScript engine's (whose \p{...} classes and toLowerCase follow
// its own, usually newer, version, and whose toLowerCase maps İ to two
// runes where Go's ToLower gives one).

import { classes, lower } from "./tables.js";

const cf = 1,
  space = 2,
  control = 4,
  letter = 8,
  print = 16;

let classStart: Int32Array | undefined; // classStart[k] is the first rune of run k
let classBits: Uint8Array | undefined;

function loadClasses(): void {
  const starts: number[] = [];
  const bits: number[] = [];
  let r = 0x80;
  let num = 0;
  for (let i = 0; i < classes.length; i++) {
    const c = classes.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) {
      starts.push(r);
      bits.push(c - 0x41);
      r += num;
      num = 0;
    } else num = num * 36 + parseInt(classes[i]!, 36);
  }
  classStart = Int32Array.from(starts);
  classBits = Uint8Array.from(bits);
}

/** runeClass returns the bits of r, which must be at or above U+0080. */
function runeClass(r: number): number {
  if (classStart === undefined) loadClasses();
  const s = classStart!;
  let lo = 0,
    hi = s.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (s[mid]! <= r) lo = mid;
    else hi = mid - 1;
  }
  return classBits![lo]!;
}

/** loadUnicode decodes the tables now rather than at the first non-ASCII text. */
export function loadUnicode(): void {
  if (classStart === undefined) loadClasses();
  if (lowerRuns === undefined) loadLower();
}

/** isCf is unicode.Is(unicode.Cf, r). */
export function isCf(r: number): boolean {
  return r >= 0x80 && (runeClass(r) & cf) !== 0;
}

/** isSpace is unicode.IsSpace. */
export function isSpace(r: number): boolean {
  if (r < 0x80) return r === 0x20 || (r >= 0x09 && r <= 0x0d);
  return (runeClass(r) & space) !== 0;
}

/** isControl is unicode.IsControl. */
export function isControl(r: number): boolean {
  if (r < 0x80) return r < 0x20 || r === 0x7f;
  return (runeClass(r) & control) !== 0;
}

/** isLetter is unicode.IsLetter. */
export function isLetter(r: number): boolean {
  if (r < 0x80) return (r | 0x20) >= 0x61 && (r | 0x20) <= 0x7a;
  return (runeClass(r) & letter) !== 0;
}

/** isPrint is unicode.IsPrint. */
export function isPrint(r: number): boolean {
  if (r < 0x80) return r >= 0x20 && r < 0x7f;
  return (runeClass(r) & print) !== 0;
}

// Runs of the lower-case mapping: start, count, stride, delta.
let lowerRuns: Int32Array | undefined;

function loadLower(): void {
  const out: number[] = [];
  let start = 0;
  for (const run of lower.split(";")) {
    if (run === "") continue;
    const [d, count, stride, delta] = run.split(",").map((x) => parseInt(x, 36)) as [number, number, number, number];
    start += d;
    out.push(start, count, stride, delta);
  }
  lowerRuns = Int32Array.from(out);
}

/** toLower is unicode.ToLower: the simple lower-case mapping of one rune. */
export function toLower(r: number): number {
  if (r < 0x80) return r >= 0x41 && r <= 0x5a ? r + 0x20 : r;
  if (lowerRuns === undefined) loadLower();
  const t = lowerRuns!;
  let lo = 0,
    hi = t.length / 4 - 1;
  if (r < t[0]!) return r;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (t[mid * 4]! <= r) lo = mid;
    else hi = mid - 1;
  }
  const start = t[lo * 4]!,
    count = t[lo * 4 + 1]!,
    stride = t[lo * 4 + 2]!;
  const k = r - start;
  if (k % stride === 0 && k / stride < count) return r + t[lo * 4 + 3]!;
  return r;
}
