// The E2E crypto vectors (testdata/protocol/e2e/crypto.json, made by the Go
// package e2e): every byte reproduced and every message opened or refused
// as Go does. e2e-crypto.test.ts runs these checks one by one;
// vectors.test.ts runs them all to count the file as checked.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  checkShape,
  deviceOf,
  type Envelope,
  type Identity,
  messageKey,
  newIdentity,
  open,
  openKeys,
  randomFrom,
  reasonOf,
  seal,
  sealKeys,
  unb64,
  verify,
  verifyDevice,
  Chain,
  b64,
  encodePlain,
  type Plain,
} from "../../src/e2e/index.js";
import type { Device, Sealed } from "../../src/types.js";
import { protocolDir } from "./paths.js";

export const cryptoFile = "e2e/crypto.json";

export interface CryptoVectors {
  comment: string;
  devices: { name: string; random: string; device: Device }[];
  ratchet: { ck0: string; messageKeys: string[] };
  keys: { room: string; epoch: number; sender: string; roster: string[]; random: string; sealed: Sealed; ck0: string };
  msgs: { room: string; to: string; ref: string; keys: number; n: number; random: string; plain: unknown; sealed: Sealed }[];
  refused: { note: string; reader: string; room: string; keys: Sealed; msg?: Sealed; to: string; ref: string; reason: string }[];
}

export function readCryptoVectors(): CryptoVectors {
  return JSON.parse(readFileSync(join(protocolDir, cryptoFile), "utf8")) as CryptoVectors;
}

const bytes = (s: string): Uint8Array => {
  const b = unb64(s);
  assert.ok(b, `not base64: ${s}`);
  return b;
};

/** plainJSON re-reads a value as Go's encoder would write it (undefined fields gone). */
const plainJSON = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/** cryptoChecks returns each check of the file as a named function. */
export function cryptoChecks(v: CryptoVectors): [string, () => void][] {
  const ids = new Map<string, Identity>();
  const devs = new Map<string, Device>();
  const checks: [string, () => void][] = [];
  for (const d of v.devices) {
    const id = newIdentity(randomFrom(bytes(d.random)));
    ids.set(d.name, id);
    devs.set(d.name, d.device);
  }
  const idOf = (name: string): Identity => ids.get(name) ?? assert.fail(`no device ${name}`);
  const devOf = (name: string): Device => devs.get(name) ?? assert.fail(`no device ${name}`);

  for (const d of v.devices) {
    checks.push([`device ${d.name}: id, keys and signature from its random bytes`, () => {
      assert.deepEqual(deviceOf(idOf(d.name)), d.device);
      verifyDevice(d.device);
    }]);
  }
  checks.push(["device: a signature over another box key is refused", () => {
    const a = devOf("alice");
    assert.throws(() => verifyDevice({ ...a, box: devOf("bob").box }), /sig does not verify/);
    assert.throws(() => verifyDevice({ ...a, id: devOf("bob").id }), /is not the id of this signing key/);
  }]);
  checks.push(["ratchet: message keys 1..n from ck0", () => {
    const ck0 = bytes(v.ratchet.ck0);
    const c = new Chain(ck0);
    v.ratchet.messageKeys.forEach((want, i) => {
      const { n, mk } = c.next();
      assert.equal(n, i + 1);
      assert.equal(b64(mk), want);
      assert.equal(b64(messageKey(ck0, i + 1)), want);
    });
  }]);
  const k = v.keys;
  const roster = k.roster.map(devOf);
  checks.push(["keys: sealed byte for byte from its random bytes", () => {
    const { sealed, ck0 } = sealKeys(idOf(k.sender), k.room, k.epoch, roster, randomFrom(bytes(k.random)));
    assert.deepEqual(plainJSON(sealed), k.sealed);
    assert.equal(b64(ck0), k.ck0);
    checkShape(k.sealed, 8192);
  }]);
  checks.push(["keys: every roster device unwraps the chain key", () => {
    verify(k.sealed, { room: k.room }, devOf(k.sender).sign);
    for (const name of k.roster) assert.equal(b64(openKeys(idOf(name), k.room, k.sealed)), k.ck0);
  }]);
  v.msgs.forEach((m, i) => {
    const env: Envelope = { room: m.room, to: m.to, ref: m.ref };
    checks.push([`msg ${i}: plaintext bytes, then sealed byte for byte`, () => {
      const p = m.plain as Plain;
      assert.equal(new TextDecoder().decode(encodePlain(p)), JSON.stringify(m.plain));
      const mk = messageKey(bytes(k.ck0), m.n);
      const s = seal(idOf(k.sender), env, k.epoch, m.keys, m.n, mk, p, randomFrom(bytes(m.random)));
      assert.deepEqual(plainJSON(s), m.sealed);
      checkShape(m.sealed, 8192);
    }]);
    checks.push([`msg ${i}: every roster device opens it`, () => {
      for (const name of k.roster) {
        assert.deepEqual(openAs(idOf(name), devOf(k.sender), m.room, k.sealed, m.sealed, m.to, m.ref), m.plain);
      }
    }]);
  });
  for (const r of v.refused) {
    checks.push([`refused (${r.reason}): ${r.note}`, () => {
      const m0 = v.msgs[0]!;
      const room = r.room || m0.room;
      let reason = "";
      try {
        openAs(idOf(r.reader), devOf(k.sender), room, r.keys, r.msg!, r.to || m0.to, r.ref || m0.ref);
      } catch (err) {
        reason = reasonOf(err);
      }
      assert.equal(reason, r.reason);
    }]);
  }
  return checks;
}

/** openAs is what a receiver does, in E2E.md's order: verify the keys entry and the message, unwrap, derive, open. */
function openAs(reader: Identity, sender: Device, room: string, keys: Sealed, msg: Sealed, to: string, ref: string): Plain {
  const env: Envelope = { room, to, ref };
  verify(keys, env, sender.sign);
  verify(msg, env, sender.sign);
  const ck0 = openKeys(reader, room, keys);
  return open(msg, env, messageKey(ck0, msg.n!));
}
