// Device identities: an Ed25519 signing key and an X25519 box key, the
// device id derived from the signing key, and the self-signature binding
// the box key to it.

import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { invalid } from "../errors.js";
import type { Device } from "../types.js";
import { b64, defaultRandom, Enc, labels, unb64, type Random } from "./bytes.js";

/** Identity is a device's private keys: the Ed25519 seed and the X25519 private key. It never leaves the client. */
export interface Identity {
  readonly seed: Uint8Array;
  readonly boxKey: Uint8Array;
  /** The public halves and the id, derived once. */
  readonly sign: Uint8Array;
  readonly box: Uint8Array;
  readonly id: string;
}

/**
 * newIdentity makes a device's keys from random (crypto.getRandomValues
 * by default): 32 bytes of Ed25519 seed, then 32 bytes of X25519 private
 * key, the order the Go package draws them in.
 */
export function newIdentity(random: Random = defaultRandom): Identity {
  const seed = random(32);
  const boxKey = random(32);
  return identityOf(seed, boxKey);
}

/** identityOf rebuilds an identity from its stored private keys. */
export function identityOf(seed: Uint8Array, boxKey: Uint8Array): Identity {
  if (seed.length !== 32 || boxKey.length !== 32) throw new Error("e2e: an identity is a 32-byte seed and a 32-byte box key");
  const sign = ed25519.getPublicKey(seed);
  return { seed, boxKey, sign, box: x25519.getPublicKey(boxKey), id: deviceId(sign) };
}

const alphabet = "abcdefghijklmnopqrstuvwxyz234567";

/** deviceId returns "d" + base32 (lowercase, no padding) of the first 10 bytes of SHA-256(sign). */
export function deviceId(sign: Uint8Array): string {
  const sum = sha256(sign).subarray(0, 10);
  let out = "d";
  let bits = 0;
  let acc = 0;
  for (const b of sum) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

const deviceIdPattern = /^d[a-z2-7]{16}$/;

/** validDeviceId reports whether s has the shape of a device id. */
export function validDeviceId(s: unknown): s is string {
  return typeof s === "string" && deviceIdPattern.test(s);
}

function deviceInput(box: Uint8Array): Uint8Array {
  return new Enc().lp(labels.device).lp(box).bytes();
}

/** deviceOf returns an identity's public half, signed, as it is registered with a node. */
export function deviceOf(id: Identity): Device {
  return { id: id.id, sign: b64(id.sign), box: b64(id.box), sig: b64(ed25519.sign(deviceInput(id.box), id.seed)) };
}

/**
 * verifyDevice checks a device's key sizes, that its id is its signing
 * key's, and its self-signature. The MeshError (invalid) names the field.
 */
export function verifyDevice(d: Device): void {
  const bad = (field: string, msg: string): never => {
    throw invalid(`${field} ${msg}.`);
  };
  const sign = unb64(d.sign);
  const box = unb64(d.box);
  const sig = unb64(d.sig);
  if (!sign || sign.length !== 32) bad("sign", `must be a 32-byte Ed25519 public key`);
  if (!box || box.length !== 32) bad("box", `must be a 32-byte X25519 public key`);
  if (!sig || sig.length !== 64) bad("sig", `must be a 64-byte Ed25519 signature`);
  if (d.id && d.id !== deviceId(sign!)) bad("id", `${JSON.stringify(d.id)} is not the id of this signing key (${deviceId(sign!)})`);
  if (!verifySig(sig!, deviceInput(box!), sign!)) bad("sig", "does not verify: it must sign the box key with the device's signing key");
}

/** verifySig checks an Ed25519 signature strictly (RFC 8032, as Go's crypto/ed25519), false on any malformed input. */
export function verifySig(sig: Uint8Array, msg: Uint8Array, pub: Uint8Array): boolean {
  try {
    return ed25519.verify(sig, msg, pub, { zip215: false });
  } catch {
    return false;
  }
}

/** signWith signs msg with an identity's key. */
export function signWith(id: Identity, msg: Uint8Array): Uint8Array {
  return ed25519.sign(msg, id.seed);
}
