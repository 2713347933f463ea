// Go's 64-bit feature hashes (internal/guard/model.go), in 32-bit halves:
// exact, and many times faster than BigInt (see bench/guard.ts).

import { hashBits } from "./tables.js";

const hashMask = (1 << hashBits) - 1;
const two32 = 4294967296;

/** fnvOffsetHi and fnvOffsetLo are FNV-1a's 64-bit offset basis, 14695981039346656037. */
export const fnvOffsetHi = 0xcbf29ce4,
  fnvOffsetLo = 0x84222325;

/**
 * fnvHi returns the high half of h*1099511628211 (h = hi<<32 | lo), the
 * FNV-1a 64 prime 1<<40 + 0x1b3; fnvLo returns the low half.
 */
export function fnvHi(hi: number, lo: number): number {
  return (Math.imul(hi, 0x1b3) + Math.floor((lo * 0x1b3) / two32) + (lo << 8)) >>> 0;
}

export function fnvLo(lo: number): number {
  return (lo * 0x1b3) >>> 0;
}

/** fnv64 returns Go's FNV-1a 64 hash of the ASCII word w as [hi, lo]. */
export function fnv64(w: string): [number, number] {
  let hi = fnvOffsetHi,
    lo = fnvOffsetLo;
  for (let k = 0; k < w.length; k++) {
    lo = (lo ^ w.charCodeAt(k)) >>> 0;
    hi = fnvHi(hi, lo);
    lo = fnvLo(lo);
  }
  return [hi, lo];
}

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

/** bigram returns the halves of Go's prev*31 + h, mod 2^64, as [hi, lo] in out. */
export function bigram(prevHi: number, prevLo: number, hi: number, lo: number, out: Uint32Array): void {
  const t = prevLo * 31;
  let bHi = Math.imul(prevHi, 31) + Math.floor(t / two32) + hi;
  let bLo = (t >>> 0) + lo;
  if (bLo >= two32) {
    bLo -= two32;
    bHi++;
  }
  out[0] = bHi >>> 0;
  out[1] = bLo;
}
