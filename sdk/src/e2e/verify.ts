// What can be checked of a sealed body without keys: its shape and its
// signature.

import { invalid, MeshError } from "../errors.js";
import type { Sealed } from "../types.js";
import { unb64 } from "./bytes.js";
import { validDeviceId, verifySig } from "./device.js";
import { OpenError } from "./errors.js";
import { verify as fastVerify } from "./fast.js";
import { chainKeySize, e2eVersion, keysInput } from "./keys.js";
import { type Envelope, msgInput } from "./msg.js";

/** The most devices one roster (and so one keys entry) holds. */
export const maxRosterDevices = 256;

/**
 * checkShape checks version, type and field sizes, as the node does
 * (e2e.CheckShape). maxPlain bounds a message's plaintext in bytes. The
 * MeshError (invalid, too_large) names the field as body.e2e.<field>.
 */
export function checkShape(s: Sealed, maxPlain: number): void {
  const bad = (field: string, msg: string): never => {
    throw invalid(`body.e2e.${field} ${msg}.`);
  };
  const size = (field: string, v: string | undefined, n: number): void => {
    const b = unb64(v ?? "");
    if (!b || b.length !== n) bad(field, `must be ${n} bytes, got ${b ? b.length : "no base64"}`);
  };
  if (s.v !== e2eVersion) bad("v", `must be ${e2eVersion}, got ${s.v}`);
  if (!s.epoch) bad("epoch", "is missing");
  if (!validDeviceId(s.device)) bad("device", `${JSON.stringify(s.device)} is not a device id`);
  size("sig", s.sig, 64);
  switch (s.type) {
    case "keys": {
      if (s.keys || s.n || s.nonce !== undefined || s.ct !== undefined) bad("type", '"keys" carries eph and wraps only, not keys, n, nonce or ct');
      size("eph", s.eph, 32);
      const wraps = s.wraps ?? [];
      if (wraps.length === 0 || wraps.length > maxRosterDevices) bad("wraps", `must hold 1 to ${maxRosterDevices} wraps, got ${wraps.length}`);
      wraps.forEach((w, i) => {
        if (!validDeviceId(w.to)) bad(`wraps[${i}].to`, `${JSON.stringify(w.to)} is not a device id`);
        size(`wraps[${i}].nonce`, w.nonce, 24);
        size(`wraps[${i}].ct`, w.ct, chainKeySize + 16);
      });
      return;
    }
    case "msg": {
      if (s.eph !== undefined || s.wraps !== undefined) bad("type", '"msg" carries keys, n, nonce and ct, not eph or wraps');
      if (!s.keys) bad("keys", "must be the seq of the sender's keys entry");
      if (!s.n) bad("n", "must count from 1");
      size("nonce", s.nonce, 24);
      const ct = unb64(s.ct ?? "");
      if (!ct || ct.length < 16) bad("ct", "is shorter than its 16-byte tag");
      const n = ct!.length - 16;
      if (n > maxPlain) throw new MeshError("too_large", `body.e2e.ct holds ${n} bytes of plaintext; the limit is ${maxPlain}.`);
      return;
    }
    default:
      bad("type", `must be "keys" or "msg", got ${JSON.stringify(s.type)}`);
  }
}

/**
 * verify checks a sealed body's signature with the sending device's
 * signing key (base64 or bytes). env.to and env.ref are ignored for keys
 * bodies. OpenError bad_signature when it does not verify.
 */
export function verify(s: Sealed, env: Envelope, sign: string | Uint8Array | undefined): void {
  const pub = typeof sign === "string" ? unb64(sign) : sign;
  if (!pub || pub.length !== 32) throw new OpenError("bad_signature", `no signing key for device ${s.device}`);
  const input = s.type === "keys" ? keysInput(s, env.room) : msgInput(s, env);
  const sig = unb64(s.sig);
  if (!sig || sig.length !== 64 || !verifySig(sig, input, pub)) {
    throw new OpenError("bad_signature", `${s.type} body of device ${s.device} at epoch ${s.epoch}`);
  }
}

/** verifyFast is verify through the platform's WebCrypto where it can (see fast.ts). */
export async function verifyFast(s: Sealed, env: Envelope, sign: string | Uint8Array | undefined): Promise<void> {
  const pub = typeof sign === "string" ? unb64(sign) : sign;
  if (!pub || pub.length !== 32) throw new OpenError("bad_signature", `no signing key for device ${s.device}`);
  const input = s.type === "keys" ? keysInput(s, env.room) : msgInput(s, env);
  const sig = unb64(s.sig);
  if (!sig || sig.length !== 64 || !(await fastVerify(sig, input, pub))) {
    throw new OpenError("bad_signature", `${s.type} body of device ${s.device} at epoch ${s.epoch}`);
  }
}
