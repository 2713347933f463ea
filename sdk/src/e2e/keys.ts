// Keys entries: a sender's 32-byte chain key for one epoch, wrapped to
// every device of the roster with X25519, HKDF-SHA256 and
// XChaCha20-Poly1305, and signed.

import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { Device, Sealed } from "../types.js";
import { b64, concat, defaultRandom, Enc, labels, unb64, type Random } from "./bytes.js";
import { signWith, type Identity } from "./device.js";
import { OpenError } from "./errors.js";

/** The size of a chain key and of a message key. */
export const chainKeySize = 32;

/** The wire version of every sealed body. */
export const e2eVersion = 1;

/**
 * sealKeys makes a new chain key for id's device in room's epoch and
 * wraps it to every device of roster (id's own included, if listed), in
 * roster order. It returns the keys body to post and the chain key to
 * keep. Random bytes are drawn as the Go package draws them: the chain
 * key, the ephemeral key, then one nonce per wrap.
 */
export function sealKeys(id: Identity, room: string, epoch: number, roster: readonly Device[], random: Random = defaultRandom): { sealed: Sealed; ck0: Uint8Array } {
  const out = sealKeysUnsigned(id, room, epoch, roster, random);
  out.sealed.sig = b64(signWith(id, out.input));
  return { sealed: out.sealed, ck0: out.ck0 };
}

/** sealKeysUnsigned is sealKeys without the signature: also the bytes the signature must cover. */
export function sealKeysUnsigned(id: Identity, room: string, epoch: number, roster: readonly Device[], random: Random = defaultRandom): { sealed: Sealed; ck0: Uint8Array; input: Uint8Array } {
  const ck0 = random(chainKeySize);
  const ephKey = random(32);
  const eph = x25519.getPublicKey(ephKey);
  const s: Sealed = { v: e2eVersion, type: "keys", epoch, device: id.id, eph: b64(eph), wraps: [], sig: "" };
  for (const d of roster) {
    const box = unb64(d.box);
    if (!box || box.length !== 32) throw new Error(`e2e: device ${d.id}: box key is not 32 bytes`);
    const info = wrapInfo(room, epoch, id.id, d.id);
    const k = wrapKey(ephKey, box, concat(eph, box), info, d.id);
    const nonce = random(24);
    s.wraps!.push({ to: d.id, nonce: b64(nonce), ct: b64(xchacha20poly1305(k, nonce, info).encrypt(ck0)) });
  }
  return { sealed: s, ck0, input: keysInput(s, room) };
}

function wrapInfo(room: string, epoch: number, sender: string, to: string): Uint8Array {
  return new Enc().lp(labels.wrap).lp(room).u64(epoch).lp(sender).lp(to).bytes();
}

/** wrapKey derives the key that wraps a chain key: HKDF of X25519(priv, peer) with salt eph || recipient's box. */
function wrapKey(priv: Uint8Array, peer: Uint8Array, salt: Uint8Array, info: Uint8Array, who: string): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(priv, peer); // refuses a low-order (all-zero) result
  } catch (err) {
    throw new OpenError("corrupt", `device ${who}: no X25519 shared secret (${(err as Error).message})`);
  }
  return hkdf(sha256, shared, salt, info, chainKeySize);
}

/** keysInput is what a keys entry's signature covers. */
export function keysInput(s: Sealed, room: string): Uint8Array {
  const wraps = s.wraps ?? [];
  const e = new Enc().lp(labels.keys).lp(room).u64(s.epoch).lp(s.device).lp(raw(s.eph)).u64(wraps.length);
  for (const w of wraps) e.lp(w.to).lp(raw(w.nonce)).lp(raw(w.ct));
  return e.bytes();
}

/** raw decodes a base64 field for a signature input; a malformed one becomes bytes no signature covers. */
export function raw(v: string | undefined): Uint8Array {
  return unb64(v ?? "") ?? new TextEncoder().encode("\u0000malformed:" + String(v));
}

/**
 * openKeys returns the chain key a keys body wraps to id's device. Verify
 * the body's signature first. OpenError no_key: no wrap for this device;
 * corrupt: the wrap does not open.
 */
export function openKeys(id: Identity, room: string, s: Sealed): Uint8Array {
  const w = (s.wraps ?? []).find((w) => w.to === id.id);
  if (!w) throw new OpenError("no_key", `keys entry of ${s.device} at epoch ${s.epoch} has no wrap for device ${id.id}`);
  const eph = unb64(s.eph);
  const nonce = unb64(w.nonce);
  const ct = unb64(w.ct);
  if (!eph || eph.length !== 32) throw new OpenError("corrupt", `keys entry of ${s.device}: eph is not 32 bytes`);
  if (!nonce || nonce.length !== 24 || !ct) throw new OpenError("corrupt", `keys entry of ${s.device}: the wrap to ${id.id} is malformed`);
  const info = wrapInfo(room, s.epoch, s.device, id.id);
  const k = wrapKey(id.boxKey, eph, concat(eph, id.box), info, s.device);
  try {
    return xchacha20poly1305(k, nonce, info).decrypt(ct);
  } catch {
    throw new OpenError("corrupt", `the wrap to ${id.id} does not open`);
  }
}
