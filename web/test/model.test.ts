import { test } from "node:test";
import assert from "node:assert/strict";
import { PerformanceObserver, constants } from "node:perf_hooks";
import { World, KEY_UP, KEY_RIGHT, INTERP_MS, keyBit, lerpAngle, spawnPoint } from "../src/world/model.ts";

interface Sent { seq: number; x: number; z: number; facing: number }

function world(): { w: World; sent: Sent[] } {
  const sent: Sent[] = [];
  let seq = 0;
  const w = new World((x, z, facing) => { sent.push({ seq: ++seq, x, z, facing }); return seq; });
  w.reset({ size: 40, speed: 6 }, "me", true);
  w.applyState([{ id: "me", pos: [0, 0, 0], facing: 0, ack: 0 }], 0);
  return { w, sent };
}

/** run steps the world at 60 Hz from t0 for ms milliseconds; returns the end time. */
function run(w: World, t0: number, ms: number): number {
  const dt = 1000 / 60;
  let t = t0;
  for (; t < t0 + ms - 1e-9; t += dt) w.step(t + dt, dt / 1000);
  return t;
}

const near = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `got ${a}, want ${b}`);

test("prediction: held keys move you at the room speed, one move per 50 ms, none while still", () => {
  const { w, sent } = world();
  w.setKey(KEY_UP, true);
  const t = run(w, 0, 1000);
  near(w.pos()!.z, -6, 1e-6); // up is -z
  near(w.pos()!.x, 0);
  near(w.pos()!.facing, Math.PI); // facing -z
  assert.ok(sent.length >= 15 && sent.length <= 20, `sent ${sent.length} moves in 1 s, want 15..20`);
  w.setKey(KEY_UP, false);
  const before = sent.length;
  run(w, t, 1000);
  assert.ok(sent.length - before <= 1, "at most the final position is sent after stopping");
  const after = sent.length;
  run(w, t + 1000, 1000);
  assert.equal(sent.length, after, "nothing is sent while still");
  near(sent[sent.length - 1].z, w.pos()!.z);
});

test("prediction: diagonals are not faster, click-to-walk stops at the target", () => {
  const { w } = world();
  w.setKey(KEY_UP, true); w.setKey(KEY_RIGHT, true);
  run(w, 0, 500);
  near(Math.hypot(w.pos()!.x, w.pos()!.z), 3, 1e-6);
  w.releaseKeys();
  w.walkTo(3, 4);
  const t = run(w, 500, 2000);
  near(w.pos()!.x, 3); near(w.pos()!.z, 4);
  assert.equal(w.moving, false);
  w.setKey(KEY_UP, true);
  w.walkTo(-10, 0); // a key press later cancels a target
  w.setKey(KEY_UP, true);
  run(w, t, 100);
  near(w.pos()!.x, 3);
});

test("prediction: nothing moves before you spawned, nothing is sent without a world", () => {
  const sent: number[] = [];
  const w = new World(() => { sent.push(1); return sent.length; });
  w.reset({}, "me", true);
  w.setKey(KEY_UP, true);
  run(w, 0, 200);
  assert.equal(w.pos(), null);
  w.reset({}, "me", false);
  w.place("me", 1, 1, 0, 0);
  w.setKey(KEY_UP, true);
  run(w, 0, 200);
  assert.ok(w.pos()!.z < 1);
  assert.equal(sent.length, 0);
});

test("bounds: you stop at the edge of the floor; targets are clamped", () => {
  const { w } = world();
  w.setKey(KEY_RIGHT, true);
  run(w, 0, 5000);
  assert.equal(w.pos()!.x, 20);
  w.releaseKeys();
  w.walkTo(-100, -100);
  run(w, 5000, 20000);
  assert.equal(w.pos()!.x, -20);
  assert.equal(w.pos()!.z, -20);
});

test("reconciliation: an ack that agrees changes nothing and drops acknowledged moves", () => {
  const { w, sent } = world();
  w.setKey(KEY_RIGHT, true);
  run(w, 0, 300);
  const before = w.pos()!;
  const k = sent[2];
  w.applyState([{ id: "me", pos: [k.x, 0, k.z], facing: k.facing, ack: k.seq }], 300);
  near(w.pos()!.x, before.x); near(w.pos()!.z, before.z);
  assert.equal(w.pendingCount, sent.length - 3);
  assert.deepEqual(w.serverPos(), { x: k.x, z: k.z, facing: k.facing, ack: k.seq });
});

test("reconciliation: a server correction moves you by the correction, pending moves replayed", () => {
  const { w, sent } = world();
  w.setKey(KEY_RIGHT, true);
  run(w, 0, 300);
  const before = w.pos()!;
  const k = sent[1];
  // The node cut move k short by 0.5 m on x and pushed it 0.25 m on z.
  w.applyState([{ id: "me", pos: [k.x - 0.5, 0, k.z + 0.25], facing: k.facing, ack: k.seq }], 300);
  near(w.pos()!.x, before.x - 0.5); near(w.pos()!.z, before.z + 0.25);
  // Later moves carry on from the corrected position, and a later agreeing ack keeps it.
  const t = run(w, 300, 200);
  const last = sent[sent.length - 1];
  near(last.z, 0.25);
  w.setKey(KEY_RIGHT, false);
  run(w, t, 100);
  const end = sent[sent.length - 1];
  const at = w.pos()!;
  w.applyState([{ id: "me", pos: [end.x, 0, end.z], facing: 0, ack: end.seq }], t + 100);
  near(w.pos()!.x, at.x); near(w.pos()!.z, at.z);
  assert.equal(w.pendingCount, 0);
});

test("reconciliation: the corrected position stays on the floor", () => {
  const { w, sent } = world();
  w.setKey(KEY_RIGHT, true);
  run(w, 0, 200);
  w.applyState([{ id: "me", pos: [19.9, 0, 0], facing: 0, ack: sent[0].seq }], 200);
  assert.ok(w.pos()!.x <= 20);
});

test("interpolation: others glide from their last state to the new one over ~100 ms", () => {
  const { w } = world();
  w.applyState([{ id: "bob", pos: [0, 0, 0], facing: 0, ack: 0 }], 1000);
  const seen = new Map<string, number[]>();
  const visit = (id: string, x: number, z: number, f: number) => { seen.set(id, [x, z, f]); };
  w.sample(1000, visit);
  assert.deepEqual(seen.get("bob"), [0, 0, 0]); // first appearance: at once
  w.applyState([{ id: "bob", pos: [10, 0, -4], facing: 1, ack: 3 }], 2000);
  w.sample(2000, visit); near(seen.get("bob")![0], 0);
  w.sample(2000 + INTERP_MS / 2, visit); near(seen.get("bob")![0], 5); near(seen.get("bob")![1], -2); near(seen.get("bob")![2], 0.5);
  w.sample(2000 + INTERP_MS, visit); near(seen.get("bob")![0], 10);
  w.sample(9000, visit); near(seen.get("bob")![0], 10);
  // A new state mid-glide starts from where bob is drawn, not from where he was.
  w.applyState([{ id: "bob", pos: [20, 0, 0], facing: 1, ack: 4 }], 3000);
  w.applyState([{ id: "bob", pos: [0, 0, 0], facing: 1, ack: 5 }], 3000 + INTERP_MS / 2);
  w.sample(3000 + INTERP_MS / 2, visit); near(seen.get("bob")![0], 15);
  assert.ok(seen.has("me"));
});

test("interpolation: removal, and facing turns the short way", () => {
  const { w } = world();
  w.applyState([{ id: "a", pos: [1, 0, 1], facing: 0 }, { id: "b", pos: [2, 0, 2], facing: 0 }, { id: "c", pos: [3, 0, 3], facing: 0 }], 0);
  w.remove("a");
  const ids: string[] = [];
  w.sample(500, (id) => ids.push(id));
  assert.deepEqual(ids.sort(), ["b", "c", "me"]);
  assert.equal(w.has("a"), false);
  near(lerpAngle(3, -3, 0.5), 3 + (2 * Math.PI - 6) / 2);
});

test("step and sample allocate nothing (no garbage collection while they run)", async () => {
  const { w } = world();
  for (let i = 0; i < 200; i++) w.applyState([{ id: "p" + i, pos: [i % 40 - 20, 0, 0], facing: 0 }], 0);
  let sum = 0;
  const visit = (_id: string, x: number) => { sum += x; };
  w.setKey(KEY_UP, true);
  w.authoritative = false; // sending a move allocates its frame; that is the network's cost, not the loop's
  for (let i = 0; i < 2000; i++) { w.step(i, 0.016); w.sample(i, visit); } // warm up
  // A collection left over from loading may land in any one round; garbage made by
  // the loop would land in every round.
  let least = Infinity;
  for (let round = 0; round < 3; round++) {
    let gcs = 0;
    // Garbage from a loop is swept by young-generation collections; the major
    // ones that the memory reducer starts on a timer say nothing about it.
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs++;
    });
    obs.observe({ entryTypes: ["gc"] });
    for (let i = 0; i < 20000; i++) { w.step(2000 + i, 0.016); w.sample(2000 + i, visit); }
    await new Promise((r) => setTimeout(r, 20)); // gc entries are delivered asynchronously
    obs.disconnect();
    least = Math.min(least, gcs);
  }
  assert.equal(least, 0, "young-generation collections while stepping and sampling 201 avatars 20,000 times");
  assert.ok(Number.isFinite(sum));
});

test("keys and spawn points", () => {
  assert.equal(keyBit("KeyW"), KEY_UP);
  assert.equal(keyBit("ArrowRight"), KEY_RIGHT);
  assert.equal(keyBit("KeyQ"), 0);
  const [x, z] = spawnPoint("p_abc", "lobby");
  assert.deepEqual(spawnPoint("p_abc", "lobby"), [x, z]);
  assert.ok(Math.hypot(x, z) <= 6);
});
