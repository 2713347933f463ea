// The views of a text (internal/guard/normalize.go): the canonical view
// and the leetspeak view, byte for byte as Go builds them.

import { nfkc } from "./nfkc.js";
import { homoglyphs } from "./tables.js";
import { isControl, isCf, isLetter, isSpace as isUnicodeSpace, toLower } from "./unicode.js";
import { Bytes, decodeRune, isASCII, runeLen } from "./utf8.js";

/**
 * Obfuscation counts the tricks canonical undid while building a view. A
 * count is only reported as a finding when the text is judged an injection.
 */
export class Obfuscation {
  zeroWidth = 0; // zero-width or other format characters inside words
  homoglyph = 0; // words mixing ASCII letters with look-alikes from other scripts
  bidi = 0; // bidi controls anywhere
  spaced = 0; // runs of spaced-out letters ("i g n o r e") joined up
  hidden = false; // HTML/markdown comments or hidden spans whose markers were removed
}

const space = 0x20,
  newline = 0x0a;

/**
 * canonical returns the main scoring view of text: NFKC, zero-width and
 * other format characters removed, homoglyphs mapped to ASCII, lower case,
 * markup markers removed (their contents kept), spaced-out letters joined,
 * and every run of white space collapsed to one space.
 */
export function canonical(text: Uint8Array, ob: Obfuscation): Uint8Array {
  if (!isASCII(text)) text = nfkc(text);
  const buf = new Bytes(text.length + 1);
  let wordASCII = false,
    wordMapped = false; // the current word has ASCII letters / mapped look-alikes
  let prevLetter = false; // the last emitted rune was a letter
  let pendingZW = false; // a format character was dropped right after a letter
  const endWord = (): void => {
    if (wordASCII && wordMapped) ob.homoglyph++;
    wordASCII = wordMapped = false;
  };
  for (let i = 0; i < text.length; ) {
    let c = text[i]!;
    if (c < 0x80) {
      i++;
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      if (c >= 0x61 && c <= 0x7a) {
        wordASCII = true;
        if (pendingZW) {
          ob.zeroWidth++;
          pendingZW = false;
        }
        prevLetter = true;
        buf.push(c);
        continue;
      }
      if (c >= 0x30 && c <= 0x39) {
        prevLetter = false;
        buf.push(c);
        continue;
      }
      if (c === 0x0a || c === 0x09 || c === 0x20 || c === 0x0d || c === 0x0b || c === 0x0c) {
        if (c !== 0x0a) c = space;
      } else if (c < 0x20 || c === 0x7f) {
        c = space;
      }
      endWord();
      prevLetter = pendingZW = false;
      buf.push(c);
      continue;
    }
    let r = decodeRune(text, i);
    i += runeLen(r);
    if ((r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)) {
      ob.bidi++;
      continue;
    }
    if (isCf(r) || r === 0x34f || r === 0x115f || r === 0x1160 || r === 0x3164) {
      if (prevLetter) pendingZW = true;
      continue;
    }
    const m = homoglyphs.get(r);
    if (m !== undefined) {
      wordMapped = true;
      if (pendingZW) {
        ob.zeroWidth++;
        pendingZW = false;
      }
      prevLetter = true;
      buf.push(m);
      continue;
    }
    if (isUnicodeSpace(r) || isControl(r)) {
      endWord();
      prevLetter = pendingZW = false;
      buf.push(space);
      continue;
    }
    r = toLower(r);
    prevLetter = isLetter(r);
    if (!prevLetter) {
      endWord();
      pendingZW = false;
    }
    buf.pushRune(r);
  }
  endWord();
  const out = buf.bytes();
  stripMarkup(out, ob);
  return collapseSpace(out, ob);
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const htmlOpen = ascii("<!--"),
  htmlClose = ascii("-->"),
  mdComment = ascii("[//]: #"),
  mdComment2 = ascii("[comment]: #");
const hiddenStyles = ["display:none", "display: none", "hidden", "font-size:0", "opacity:0"].map(ascii);

/**
 * stripMarkup blanks out HTML comment markers, HTML tags and markdown
 * comment markers so that what they hide is scored as plain text. It edits
 * buf in place.
 */
function stripMarkup(buf: Uint8Array, ob: Obfuscation): void {
  for (let i = 0; i < buf.length; i++) {
    switch (buf[i]) {
      case 0x3c: {
        // '<'
        if (hasPrefix(buf, i, htmlOpen)) {
          buf.fill(space, i, i + 4);
          ob.hidden = true;
          continue;
        }
        // A tag: <name ...>, </name> or <!x>, up to 256 bytes on one line.
        const next = buf[i + 1];
        if (next !== undefined && (isLower(next) || next === 0x2f || next === 0x21)) {
          let end = -1;
          for (let j = i + 1; j < buf.length && j < i + 256; j++) {
            if (buf[j] === 0x3e) {
              end = j;
              break;
            }
            if (buf[j] === 0x3c || buf[j] === newline) break;
          }
          if (end > 0) {
            const tag = buf.subarray(i, end + 1);
            if (hiddenStyles.some((s) => contains(tag, s))) ob.hidden = true;
            tag.fill(space);
            i = end;
          }
        }
        break;
      }
      case 0x2d: // '-'
        if (hasPrefix(buf, i, htmlClose)) buf.fill(space, i, i + 3);
        break;
      case 0x5b: // '['
        if (hasPrefix(buf, i, mdComment) || hasPrefix(buf, i, mdComment2)) {
          ob.hidden = true;
          for (; i < buf.length && buf[i] !== 0x23; i++) buf[i] = space;
          buf[i] = space;
        }
        break;
    }
  }
}

/**
 * collapseSpace joins runs of single letters separated by single spaces
 * ("i g n o r e" becomes "ignore"; words are separated by two or more
 * spaces or a newline) and collapses all other white space to one space.
 * A run must have three letters, or two once the text has shown a run of
 * four, so that "a b" in honest text stays as it is.
 */
function collapseSpace(buf: Uint8Array, ob: Obfuscation): Uint8Array {
  let minRun = 3;
  for (let i = 0; i < buf.length; i++) {
    if ((i === 0 || isSpace(buf[i - 1]!)) && spacedRun(buf, i) >= 4) {
      minRun = 2;
      break;
    }
  }
  let o = 0; // out never overtakes the read position
  let i = 0;
  while (i < buf.length && isSpace(buf[i]!)) i++;
  while (i < buf.length) {
    // A spaced run starts with a single letter followed by " x".
    const n = spacedRun(buf, i);
    if (n >= minRun) {
      for (let k = 0; k < n; k++) buf[o++] = buf[i + 2 * k]!;
      ob.spaced++;
      i += 2 * n - 1;
    } else {
      while (i < buf.length && !isSpace(buf[i]!)) buf[o++] = buf[i++]!;
    }
    while (i < buf.length && isSpace(buf[i]!)) i++;
    if (i < buf.length) buf[o++] = space;
  }
  return buf.subarray(0, o);
}

/**
 * spacedRun returns how many single ASCII letters separated by exactly one
 * space start b[at:].
 */
function spacedRun(b: Uint8Array, at: number): number {
  let n = 0;
  const len = b.length - at;
  for (let j = 0; j < len && isLower(b[at + j]!) && (j + 1 === len || isSpace(b[at + j + 1]!)); j += 2) {
    n++;
    if (j + 1 === len || b[at + j + 1] !== space || j + 2 === len || !isLower(b[at + j + 2]!)) break;
  }
  return n;
}

/**
 * deleet returns the leetspeak view of a canonical text: in every word that
 * mixes ASCII letters with leet characters, 0→o 1→i 3→e 4→a 5→s 7→t @→a $→s
 * and |→l. Once three words have done so, words made only of leet
 * characters ("4", "15") are read as leet too. It returns null if no word
 * changed.
 */
export function deleet(s: Uint8Array): Uint8Array | null {
  let mixed = 0;
  leetWords(s, (i, j, letters, leets) => {
    if (letters > 0 && leets > 0 && j - i >= 3) mixed++;
  });
  if (mixed === 0) return null;
  const out = new Bytes(s.length);
  let last = 0;
  leetWords(s, (i, j, letters, leets) => {
    if (leets === 0 || (letters === 0 && mixed < 3) || (letters > 0 && j - i < 3)) return;
    out.pushSlice(s, last, i);
    for (let k = i; k < j; k++) out.push(unleet(s[k]!));
    last = j;
  });
  out.pushSlice(s, last, s.length);
  return out.bytes();
}

/**
 * leetWords calls f for every run s[i:j] of ASCII letters and leet
 * characters, with its counts of letters and leet characters. A leading
 * digit is a number, not leet (3d, 2fa), unless the run has no letters.
 */
function leetWords(s: Uint8Array, f: (i: number, j: number, letters: number, leets: number) => void): void {
  for (let i = 0; i < s.length; ) {
    if (!isLower(s[i]!) && !isLeet(s[i]!)) {
      i++;
      continue;
    }
    let j = i,
      letters = 0,
      leets = 0,
      digitLead = 0;
    while (j < s.length && (isLower(s[j]!) || isLeet(s[j]!))) {
      const c = s[j]!;
      if (isLower(c)) letters++;
      else if (j === i && c >= 0x30 && c <= 0x39) digitLead = 1;
      else leets++;
      j++;
    }
    if (letters === 0) leets += digitLead;
    f(i, j, letters, leets);
    i = j;
  }
}

function isLeet(c: number): boolean {
  switch (c) {
    case 0x30: // 0
    case 0x31: // 1
    case 0x33: // 3
    case 0x34: // 4
    case 0x35: // 5
    case 0x37: // 7
    case 0x40: // @
    case 0x24: // $
    case 0x7c: // |
      return true;
  }
  return false;
}

function unleet(c: number): number {
  switch (c) {
    case 0x30:
      return 0x6f; // o
    case 0x31:
      return 0x69; // i
    case 0x33:
      return 0x65; // e
    case 0x34:
    case 0x40:
      return 0x61; // a
    case 0x35:
    case 0x24:
      return 0x73; // s
    case 0x37:
      return 0x74; // t
    case 0x7c:
      return 0x6c; // l
  }
  return c;
}

export function isLower(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}

function isSpace(c: number): boolean {
  return c === space || c === newline;
}

function hasPrefix(b: Uint8Array, at: number, p: Uint8Array): boolean {
  if (b.length - at < p.length) return false;
  for (let k = 0; k < p.length; k++) if (b[at + k] !== p[k]) return false;
  return true;
}

function contains(b: Uint8Array, s: Uint8Array): boolean {
  for (let i = 0; i + s.length <= b.length; i++) if (hasPrefix(b, i, s)) return true;
  return false;
}
