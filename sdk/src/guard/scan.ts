// The scanner (internal/guard/scan.go): views, scores, verdict, findings.

import { Extractor, logit, parseModel, type Model } from "./model.js";
import { loadNFKC } from "./nfkc.js";
import { canonical, deleet, Obfuscation } from "./normalize.js";
import { RuleSet } from "./rules.js";
import { disguiseBonus, findings, minBlob, rules, thresholdLogit } from "./tables.js";
import { isPrint, loadUnicode } from "./unicode.js";
import { Bytes, decodeRune, runeLen, utf8, validUTF8 } from "./utf8.js";

/** ScanResult is the verdict on one text (Go's guard.Result). */
export interface ScanResult {
  /** injection reports whether score reached the threshold (defaultThreshold). */
  injection: boolean;
  /** score is the model's probability that the text is a prompt attack. */
  score: number;
  /**
   * findings names what was found, in a stable order (see findings). It is
   * empty when injection is false.
   */
  findings: string[];
}

/** view is one reading of the text and the obfuscation it took to get it. */
interface View {
  logit: number;
  hits: Uint8Array;
  finding: string; // the obfuscation finding for this view, or ""
}

/**
 * Scanner scores texts for prompt injection, giving the verdict, score and
 * findings of the Go scanner (guard.Scanner.Scan) for the same text. Build
 * one with loadScanner or Scanner.load (each parses the 128 KiB model) and
 * keep it: scan is synchronous, so one Scanner serves a whole thread.
 */
export class Scanner {
  private readonly model: Model;
  private readonly set = new RuleSet();
  private readonly x: Extractor;

  /**
   * The constructor takes the bytes of a model file (see loadScanner). It
   * decodes the Unicode tables too, so that the first non-ASCII text is not
   * slower than the next.
   */
  constructor(modelFile: Uint8Array) {
    this.model = parseModel(modelFile);
    this.x = new Extractor(this.set, this.model.hash);
    loadNFKC();
    loadUnicode();
  }

  /**
   * load reads a model file and returns a Scanner. Without an argument it
   * reads the file packaged with the SDK (dist/guard/model.bin; when run
   * from the repository's sources, Go's internal/guard/model.bin). A file:
   * URL or a path is read with node:fs, any other URL is fetched.
   */
  static async load(from?: URL | string): Promise<Scanner> {
    return new Scanner(await readModel(from ?? packagedModel()));
  }

  /** scan judges text. Any string is accepted; lone surrogates read as U+FFFD. */
  scan(text: string): ScanResult {
    const bytes = utf8(text);
    const ob = new Obfuscation();
    const views: View[] = [];
    const main = canonical(bytes, ob);
    views.push(this.score(main, ""));
    if (ob.spaced > 0) views[0]!.finding = findings.spacing;
    const leet = deleet(main);
    if (leet !== null) views.push(this.score(leet, findings.leetspeak));
    for (const b of decodeBlobs(bytes, 2)) views.push(this.score(canonical(b.text, new Obfuscation()), b.finding));

    const bonus = ob.zeroWidth > 0 || ob.homoglyph > 0 ? disguiseBonus : 0;
    const cut = thresholdLogit;
    let best = -Infinity;
    for (const v of views) best = Math.max(best, v.logit + bonus);
    const res: ScanResult = { injection: false, score: sigmoid(best), findings: [] };
    if (best < cut) return res;
    res.injection = true;
    const add = (f: string): void => {
      if (f !== "" && !res.findings.includes(f)) res.findings.push(f);
    };
    for (const v of views) {
      if (v.logit + bonus < cut) continue;
      for (let r = 0; r < v.hits.length; r++) if (v.hits[r] && this.model.rules[r]! > 0) add(rules[r]!.finding);
    }
    if (res.findings.length === 0) add(findings.model);
    for (const v of views) if (v.logit + bonus >= cut) add(v.finding);
    if (ob.zeroWidth > 0) add(findings.zeroWidth);
    if (ob.homoglyph > 0) add(findings.homoglyph);
    if (ob.bidi > 0) add(findings.bidi);
    if (ob.hidden) add(findings.hiddenMarkup);
    return res;
  }

  private score(text: Uint8Array, finding: string): View {
    this.x.extract(text);
    return { logit: logit(this.model, this.x), hits: this.x.hits.slice(), finding };
  }
}

/** loadScanner returns a Scanner for the bytes of a model file (internal/guard/model.bin). */
export function loadScanner(modelFile: Uint8Array): Scanner {
  return new Scanner(modelFile);
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/**
 * packagedModel is the model file packaged with the SDK, next to this
 * module once built. Run from the repository's TypeScript sources (as the
 * SDK's tests are), it is Go's own file, which the build copies.
 */
function packagedModel(): URL {
  const here = import.meta.url as string | undefined; // undefined in a bundle that is not a module
  if (here === undefined) throw new Error("guard: no packaged model in this bundle: pass the model's URL to Scanner.load, or its bytes to loadScanner");
  if (here.endsWith(".ts")) return new URL("../../../internal/guard/model.bin", here);
  return new URL("./model.bin", import.meta.url);
}

async function readModel(from: URL | string): Promise<Uint8Array> {
  let url: URL | undefined;
  try {
    url = new URL(from);
  } catch {
    // not a URL: a path
  }
  if (url === undefined || url.protocol === "file:") {
    // A variable specifier, so that bundlers for the browser leave node:fs out.
    const fs = "node:fs/promises";
    const { readFile } = (await import(fs)) as { readFile(path: URL | string): Promise<Uint8Array> };
    return new Uint8Array(await readFile(url ?? from));
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`guard: fetching the model ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Decoded is a decoded base64 or hex run. */
interface Decoded {
  text: Uint8Array;
  finding: string;
}

/**
 * decodeBlobs finds runs of at least minBlob base64 or hex characters
 * (line breaks may split a run) and returns those that decode to readable
 * text, and, up to depth levels, the blobs inside those.
 */
function decodeBlobs(text: Uint8Array, depth: number): Decoded[] {
  const out: Decoded[] = [];
  for (let i = 0; i < text.length; ) {
    if ((blobClass[text[i]!]! & b64) === 0) {
      i++;
      continue;
    }
    let j = i,
      hexOnly = true;
    for (; j < text.length; j++) {
      const c = blobClass[text[j]!]!;
      if (c === 0) break;
      hexOnly &&= (c & (hex | lineBreak)) !== 0;
    }
    const run = text.subarray(i, j);
    i = j;
    if (run.length < minBlob) continue;
    let b: Decoded | null = null;
    if (hexOnly) {
      const t = decodeHex(run);
      if (t) b = { text: t, finding: findings.hex };
    }
    if (!b) {
      const t = decodeB64(run);
      if (t) b = { text: t, finding: findings.base64 };
    }
    if (!b) continue;
    out.push(b);
    if (depth > 1) for (const inner of decodeBlobs(b.text, depth - 1)) out.push({ text: inner.text, finding: b.finding });
  }
  return out;
}

// Byte classes of decodeBlobs: a base64 character, a hex one, a line break.
const b64 = 1,
  hex = 2,
  lineBreak = 4;
const blobClass = (() => {
  const c = new Uint8Array(256);
  for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_") c[ch.charCodeAt(0)] = b64;
  for (const ch of "0123456789abcdefABCDEF") c[ch.charCodeAt(0)] = b64 | hex;
  c[0x0a] = c[0x0d] = lineBreak;
  return c;
})();

function dropBreaks(s: Uint8Array): Uint8Array {
  const b = new Bytes(s.length);
  for (const c of s) if (c !== 0x0a && c !== 0x0d) b.push(c);
  return b.bytes();
}

function hexValue(c: number): number {
  if (c <= 0x39) return c - 0x30;
  return (c | 0x20) - 0x61 + 10;
}

function decodeHex(s: Uint8Array): Uint8Array | null {
  let b = dropBreaks(s);
  if (b.length % 2 === 1) b = b.subarray(0, b.length - 1);
  const out = new Uint8Array(b.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = (hexValue(b[2 * i]!) << 4) | hexValue(b[2 * i + 1]!);
  return readable(out);
}

const b64Std = alphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
const b64URL = alphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

function alphabet(chars: string): Int8Array {
  const m = new Int8Array(256).fill(-1);
  for (let i = 0; i < chars.length; i++) m[chars.charCodeAt(i)] = i;
  return m;
}

function decodeB64(s: Uint8Array): Uint8Array | null {
  let b = dropBreaks(s);
  let end = b.length;
  while (end > 0 && b[end - 1] === 0x3d) end--;
  let start = 0;
  // Trim leading characters that cannot be part of the blob, such as a '/'
  // or '-' from a surrounding path.
  while (start < end && (b[start] === 0x2f || b[start] === 0x2d || b[start] === 0x5f)) start++;
  b = b.subarray(start, end);
  if (b.length % 4 === 1) b = b.subarray(0, b.length - 1);
  const enc = b.some((c) => c === 0x2d || c === 0x5f) ? b64URL : b64Std;
  // base64.RawStdEncoding or RawURLEncoding: no padding, trailing bits ignored.
  const out = new Uint8Array(Math.floor((b.length * 6) / 8));
  let o = 0;
  for (let i = 0; i < b.length; i += 4) {
    const n = Math.min(4, b.length - i);
    let v = 0;
    for (let k = 0; k < n; k++) {
      const d = enc[b[i + k]!]!;
      if (d < 0) return null;
      v = (v << 6) | d;
    }
    v <<= 6 * (4 - n);
    out[o++] = (v >> 16) & 0xff;
    if (n > 2) out[o++] = (v >> 8) & 0xff;
    if (n > 3) out[o++] = v & 0xff;
  }
  return readable(out.subarray(0, o));
}

/**
 * readable returns b if it looks like text someone could read: valid
 * UTF-8, at least 8 bytes, nearly all printable, with some spaces.
 */
function readable(b: Uint8Array): Uint8Array | null {
  if (b.length < 8 || !validUTF8(b)) return null;
  let n = 0,
    bad = 0,
    spaces = 0;
  for (let i = 0; i < b.length; ) {
    const r = decodeRune(b, i);
    i += runeLen(r);
    n++;
    if (r === 0x20 || r === 0x0a || r === 0x09) spaces++;
    else if (r === 0x0d) continue;
    else if (!isPrint(r)) bad++;
  }
  if (bad * 20 > n || (spaces === 0 && n > 24)) return null;
  return b;
}
