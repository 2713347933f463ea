// Key stores: the file store writes atomically with mode 0600; the memory
// store hands out copies.

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileKeyStore, memoryKeyStore, type KeyRecord } from "../src/index.js";

const record = (n: number): KeyRecord => ({
  v: 1,
  device: { seed: "c2VlZA==", box: "Ym94" },
  chains: { "team@nabcdefghijklmnop": { epoch: 3, keys: 41, ck: "Y2s=", n } },
});

test("file key store: absent, then saved with mode 0600 and read back; no temporary file left", async () => {
  const dir = mkdtempSync(join(tmpdir(), "keys-"));
  const path = join(dir, "keys.json");
  const s = fileKeyStore(path);
  assert.equal(await s.load(), undefined);
  await s.save(record(1));
  await s.save(record(2));
  assert.deepEqual(await fileKeyStore(path).load(), record(2));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ["keys.json"]);
});

test("file key store: a failed save leaves the old record whole and no temporary file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "keys-"));
  const path = join(dir, "keys.json");
  await fileKeyStore(path).save(record(1));
  const before = readFileSync(path, "utf8");
  // Renaming a file over a non-empty directory fails: the save must not touch the record.
  const blocked = join(dir, "blocked");
  mkdirSync(join(blocked, "x"), { recursive: true });
  await assert.rejects(fileKeyStore(blocked).save(record(2)));
  assert.equal(readFileSync(path, "utf8"), before);
  assert.deepEqual(readdirSync(dir).sort(), ["blocked", "keys.json"]);
});

test("file key store: a file that is not a key record is an error, not replaced", async () => {
  const dir = mkdtempSync(join(tmpdir(), "keys-"));
  const path = join(dir, "keys.json");
  writeFileSync(path, '{"something": "else"}');
  await assert.rejects(fileKeyStore(path).load(), /not a key record/);
  writeFileSync(path, "not json");
  await assert.rejects(fileKeyStore(path).load(), /not JSON/);
});

test("memory key store: saves and loads copies", async () => {
  const s = memoryKeyStore();
  assert.equal(await s.load(), undefined);
  const r = record(1);
  await s.save(r);
  r.chains["team@nabcdefghijklmnop"]!.n = 99;
  assert.equal((await s.load())!.chains["team@nabcdefghijklmnop"]!.n, 1);
});
