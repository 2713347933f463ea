// The E2E cryptography against the Go package's vectors
// (testdata/protocol/e2e/crypto.json): every byte reproduced, every
// message opened, every refusal given its reason.

import assert from "node:assert/strict";
import { test } from "node:test";
import { checkShape, deviceOf, messageKey, newIdentity, open, openKeys, randomFrom, seal, sealKeys, unb64, verify, reasonOf } from "../src/e2e/index.js";
import { cryptoChecks, readCryptoVectors } from "./helpers/e2e-vectors.js";

for (const [name, check] of cryptoChecks(readCryptoVectors())) test(name, check);

test("a round trip with real randomness, and shape refusals", () => {
  const alice = newIdentity();
  const bob = newIdentity();
  const roster = [deviceOf(alice), deviceOf(bob)].sort((a, b) => (a.id < b.id ? -1 : 1));
  const room = "team@nabcdefghijklmnop";
  const { sealed: keys, ck0 } = sealKeys(alice, room, 1, roster);
  const env = { room, to: "p_bob", ref: "" };
  const s = seal(alice, env, 1, 7, 1, messageKey(ck0, 1), { kind: "chat", body: { text: "<b>hi</b> & \u2028" } });
  verify(keys, env, roster.find((d) => d.id === alice.id)!.sign);
  verify(s, env, deviceOf(alice).sign);
  const p = open(s, env, messageKey(openKeys(bob, room, keys), 1));
  assert.deepEqual(p, { kind: "chat", body: { text: "<b>hi</b> & \u2028" } });
  assert.throws(() => checkShape({ ...s, n: 0 }, 8192), /body\.e2e\.n must count from 1/);
  assert.throws(() => checkShape(s, 4), (e: Error & { code?: string }) => e.code === "too_large");
  assert.throws(() => checkShape({ ...keys, wraps: [] }, 8192), /body\.e2e\.wraps must hold 1 to 256/);
  let reason = "";
  try {
    verify(s, { ...env, to: "" }, deviceOf(alice).sign);
  } catch (err) {
    reason = reasonOf(err);
  }
  assert.equal(reason, "bad_signature");
});

test("the WebCrypto path signs byte for byte as noble does, and verifies the vectors", async () => {
  const { sign } = await import("../src/e2e/fast.js");
  const { verifyFast } = await import("../src/e2e/verify.js");
  const { signWith } = await import("../src/e2e/device.js");
  const v = readCryptoVectors();
  const id = newIdentity(randomFrom(unb64(v.devices[0]!.random)!));
  const msg = new TextEncoder().encode("mesh-e2e-v1/test");
  assert.deepEqual(await sign(id, msg), signWith(id, msg));
  const m = v.msgs[0]!;
  const env = { room: m.room, to: m.to, ref: m.ref };
  await verifyFast(v.keys.sealed, env, v.devices[0]!.device.sign);
  await verifyFast(m.sealed, env, v.devices[0]!.device.sign);
  await assert.rejects(verifyFast(m.sealed, { ...env, to: "p_carol" }, v.devices[0]!.device.sign), (e: unknown) => reasonOf(e) === "bad_signature");
});

test("a receiver's ratchet gives the same keys in any order, walking each step once in order", async () => {
  const { messageKeyOf } = await import("../src/e2e/session.js");
  const ck0 = new Uint8Array(32).fill(7);
  const want = (n: number): string => Buffer.from(messageKey(ck0, n)).toString("hex");
  const entry = { ck0 };
  const order = [1, 2, 5, 3, 4, 700, 6, 699, 300, 257, 256, 1000, 10, 999];
  for (const n of order) assert.equal(Buffer.from(messageKeyOf(entry, n)).toString("hex"), want(n), `key ${n}`);
});
