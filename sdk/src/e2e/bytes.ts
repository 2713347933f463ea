// The canonical byte strings of the E2E protocol (E2E.md, "Primitives and
// encodings"): lp(x) is a 4-byte big-endian length then x, u64(n) 8 bytes
// big-endian; binary values travel as standard base64 with padding.

/** Domain labels: every signature and derivation starts with one. */
export const labels = {
  device: "mesh-e2e-v1/device",
  wrap: "mesh-e2e-v1/wrap",
  keys: "mesh-e2e-v1/keys",
  msg: "mesh-e2e-v1/msg",
  message: "mesh-e2e-v1/message", // message key from a chain key
  chain: "mesh-e2e-v1/chain", // next chain key
} as const;

const utf8 = new TextEncoder();

/** bytesOf returns s as UTF-8. */
export function bytesOf(s: string): Uint8Array {
  return utf8.encode(s);
}

/** Enc builds a byte string piece by piece. */
export class Enc {
  private parts: Uint8Array[] = [];
  private size = 0;

  /** lp appends a length-prefixed byte string (text as UTF-8). */
  lp(x: string | Uint8Array): this {
    const b = typeof x === "string" ? utf8.encode(x) : x;
    const n = new Uint8Array(4);
    new DataView(n.buffer).setUint32(0, b.length);
    return this.raw(n).raw(b);
  }

  /** u64 appends n as 8 bytes, big-endian. */
  u64(n: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n));
    return this.raw(b);
  }

  raw(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let i = 0;
    for (const p of this.parts) {
      out.set(p, i);
      i += p.length;
    }
    return out;
  }
}

/** concat joins byte strings. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const e = new Enc();
  for (const p of parts) e.raw(p);
  return e.bytes();
}

/** b64 encodes bytes as standard base64 with padding. */
export function b64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

const b64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** unb64 decodes standard base64 with padding, or returns undefined for anything else. */
export function unb64(s: unknown): Uint8Array | undefined {
  if (typeof s !== "string" || !b64Pattern.test(s)) return undefined;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  // Canonical only: the bits past the last byte must be zero, as Go's decoder requires.
  return b64(out) === s ? out : undefined;
}

/** equal compares byte strings. */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Random fills n bytes; the default is crypto.getRandomValues. */
export type Random = (n: number) => Uint8Array;

export const defaultRandom: Random = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n));

/** randomFrom returns a Random that reads the given bytes in order (tests and vectors), and throws when they run out. */
export function randomFrom(bytes: Uint8Array): Random {
  let i = 0;
  return (n) => {
    if (i + n > bytes.length) throw new Error("e2e: the random bytes ran out");
    const out = bytes.slice(i, i + n);
    i += n;
    return out;
  };
}
