// Ed25519 through the platform's WebCrypto where it has it (Node 20,
// current browsers): the same deterministic signatures as noble's, tens of
// times faster. Signing and verifying fall back to noble where WebCrypto
// lacks Ed25519. Only the session's hot path uses these; the synchronous
// functions of this package stay pure noble.

import { signWith, verifySig, type Identity } from "./device.js";

type Subtle = SubtleCrypto;

const subtle = (): Subtle | undefined => (globalThis.crypto as Crypto | undefined)?.subtle;
const ed = { name: "Ed25519" };

/** pkcs8 wraps an Ed25519 seed as WebCrypto imports private keys (RFC 8410). */
function pkcs8(seed: Uint8Array): Uint8Array {
  const prefix = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
  const out = new Uint8Array(48);
  out.set(prefix);
  out.set(seed, 16);
  return out;
}

let broken = false; // WebCrypto without Ed25519: noble from then on
const privateKeys = new WeakMap<Identity, Promise<CryptoKey | undefined>>();
const publicKeys = new Map<string, Promise<CryptoKey | undefined>>();

function importPrivate(id: Identity): Promise<CryptoKey | undefined> {
  let p = privateKeys.get(id);
  if (!p) {
    const s = subtle();
    p = broken || !s ? Promise.resolve(undefined) : s.importKey("pkcs8", pkcs8(id.seed) as BufferSource, ed, false, ["sign"]).catch(() => ((broken = true), undefined));
    privateKeys.set(id, p);
  }
  return p;
}

function importPublic(pub: Uint8Array): Promise<CryptoKey | undefined> {
  const k = String.fromCharCode(...pub);
  let p = publicKeys.get(k);
  if (!p) {
    const s = subtle();
    p = broken || !s ? Promise.resolve(undefined) : s.importKey("raw", pub as BufferSource, ed, false, ["verify"]).catch(() => undefined);
    if (publicKeys.size >= 1024) publicKeys.delete(publicKeys.keys().next().value!);
    publicKeys.set(k, p);
  }
  return p;
}

/** sign signs msg with id's key. */
export async function sign(id: Identity, msg: Uint8Array): Promise<Uint8Array> {
  const key = await importPrivate(id);
  if (key) {
    try {
      return new Uint8Array(await subtle()!.sign(ed, key, msg as BufferSource));
    } catch {
      broken = true;
    }
  }
  return signWith(id, msg);
}

/** verify checks an Ed25519 signature; false on any malformed input. */
export async function verify(sig: Uint8Array, msg: Uint8Array, pub: Uint8Array): Promise<boolean> {
  if (sig.length !== 64 || pub.length !== 32) return false;
  const key = await importPublic(pub);
  if (key) {
    try {
      return await subtle()!.verify(ed, key, sig as BufferSource, msg as BufferSource);
    } catch {
      // fall through to noble
    }
  }
  return verifySig(sig, msg, pub);
}
