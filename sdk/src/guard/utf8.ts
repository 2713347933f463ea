// UTF-8 as Go's strings hold it. The Go scanner works on byte offsets, so
// the port works on the same bytes: a Uint8Array of UTF-8.

const encoder = new TextEncoder();

/**
 * utf8 returns the UTF-8 of s. A lone surrogate becomes U+FFFD, which is
 * what a Go program receives for it over JSON.
 */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** runeLen is the length of r in UTF-8. */
export function runeLen(r: number): number {
  return r < 0x80 ? 1 : r < 0x800 ? 2 : r < 0x10000 ? 3 : 4;
}

/**
 * decodeRune returns the rune that starts b[i], which must be valid UTF-8
 * (the port decodes only text it has checked or made itself).
 */
export function decodeRune(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return c;
  if (c < 0xe0) return ((c & 0x1f) << 6) | (b[i + 1]! & 0x3f);
  if (c < 0xf0) return ((c & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f);
  return ((c & 0x07) << 18) | ((b[i + 1]! & 0x3f) << 12) | ((b[i + 2]! & 0x3f) << 6) | (b[i + 3]! & 0x3f);
}

/** isASCII reports whether b has no byte at or above 0x80. */
export function isASCII(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i]! >= 0x80) return false;
  return true;
}

/** validUTF8 is Go's utf8.Valid: no overlong forms, surrogates or runes past U+10FFFF. */
export function validUTF8(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number, lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return false;
    if (i + n > b.length) return false;
    const c1 = b[i + 1]!;
    if (c1 < lo || c1 > hi) return false;
    for (let k = 2; k < n; k++) {
      const ck = b[i + k]!;
      if (ck < 0x80 || ck > 0xbf) return false;
    }
    i += n;
  }
  return true;
}

/** Bytes is a growable byte slice, like a Go []byte that is appended to. */
export class Bytes {
  buf: Uint8Array;
  len = 0;

  constructor(capacity = 64) {
    this.buf = new Uint8Array(Math.max(capacity, 16));
  }

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  push(c: number): void {
    if (this.len === this.buf.length) this.grow(1);
    this.buf[this.len++] = c;
  }

  /** pushRune appends the UTF-8 of r. */
  pushRune(r: number): void {
    if (r < 0x80) return this.push(r);
    this.grow(4);
    const b = this.buf;
    if (r < 0x800) {
      b[this.len++] = 0xc0 | (r >> 6);
    } else if (r < 0x10000) {
      b[this.len++] = 0xe0 | (r >> 12);
      b[this.len++] = 0x80 | ((r >> 6) & 0x3f);
    } else {
      b[this.len++] = 0xf0 | (r >> 18);
      b[this.len++] = 0x80 | ((r >> 12) & 0x3f);
      b[this.len++] = 0x80 | ((r >> 6) & 0x3f);
    }
    b[this.len++] = 0x80 | (r & 0x3f);
  }

  /** pushSlice appends src[i:j]. */
  pushSlice(src: Uint8Array, i = 0, j = src.length): void {
    this.grow(j - i);
    this.buf.set(src.subarray(i, j), this.len);
    this.len += j - i;
  }

  /** bytes returns the appended bytes (a view, not a copy). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}
