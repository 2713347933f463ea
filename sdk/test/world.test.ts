// The world against a real node: moveTo walks at the room's speed and
// ends where the node says; another client sees the avatar arrive.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { type Client, MeshError, type StateFrame } from "../src/index.js";
import { agent, cleanup, dial, eventually, startNode } from "./helpers/node.js";

const clients: Client[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cleanup();
});

test("moveTo walks to a point and the node's state agrees; off the floor it stops at the edge", async () => {
  const n = await startNode();
  const walker = await agent(n, "walker");
  const watcher = await agent(n, "watcher");
  const w = await dial(clients, n.url, walker.token);
  const v = await dial(clients, n.url, watcher.token);
  const jw = await w.join("lobby");
  assert.equal(jw.state?.size, 40);
  assert.ok(jw.state?.moves.some((m) => m.id === walker.id), "joined.state places the walker");
  await v.join("lobby");
  const states: StateFrame[] = [];
  v.on("state", (s) => states.push(s));

  // The spawn point is within 6 m of the centre, so (-12, 12) is at least
  // 11 m away: a walk of two seconds at 6 m/s, told to watchers tick by tick.
  // The signals' timeouts bound a stuck walk; they are no schedule.
  const start = Date.now();
  const far = await w.moveTo("lobby", -12, 12, { signal: AbortSignal.timeout(60000) });
  assert.deepEqual([far.id, far.pos[0], far.pos[2]], [walker.id, -12, 12]);
  assert.ok(Date.now() - start >= 1500, `11 m in ${Date.now() - start} ms: faster than the room's speed`);
  await eventually("the watcher sees the walker arrive", () => {
    const a = v.positions("lobby").find((p) => p.id === walker.id);
    return a?.pos[0] === -12 && a.pos[2] === 12;
  }, 20000);
  // At most 5.4 m a step (a second's walk, the most a step claims even
  // after a stall), so 11 m is three moves at least: the watcher sees the
  // walker on the way, not only where it ends.
  const seen = states.flatMap((s) => s.moves.filter((m) => m.id === walker.id));
  assert.ok(
    seen.some((m) => m.pos[0] !== -12 || m.pos[2] !== 12),
    `the walk came only as its end: ${JSON.stringify(seen)}`,
  );

  const got = await w.moveTo("lobby", -12, 10, { signal: AbortSignal.timeout(60000) });
  assert.deepEqual([got.pos[0], got.pos[2]], [-12, 10]);

  const edge = await w.moveTo("lobby", -40, 10, { signal: AbortSignal.timeout(60000) });
  assert.deepEqual([edge.pos[0], edge.pos[2]], [-20, 10], "off the floor: stopped at the edge");

  await assert.rejects(w.moveTo("elsewhere", 1, 1), (e: unknown) => e instanceof MeshError && /join room/.test(e.message));
  assert.throws(() => w.move("lobby", [Number.NaN, 0, 0], 0), /finite/);
  const aborted = w.moveTo("lobby", -15, 15, { signal: AbortSignal.timeout(100) });
  await assert.rejects(aborted, (e: unknown) => e instanceof Error && e.name === "TimeoutError");
});

// A move that claims more walking than the node allows is cut short;
// moveTo walks on from where the node has the avatar and still arrives.
// A clock running a second ahead at every reading makes every step such a
// move: 5.4 m claimed where the node, seeing moves a tick apart, allows
// about 1.3 m (the same as an event loop stalled under load, or a late frame).
test("moveTo walks on when the node cuts a move short", async (t) => {
  const n = await startNode();
  const walker = await agent(n, "walker");
  const w = await dial(clients, n.url, walker.token);
  await w.join("lobby");
  const realNow = Date.now;
  let skew = 0;
  const clock = t.mock.method(Date, "now", () => realNow() + (skew += 1000));
  try {
    const got = await w.moveTo("lobby", -12, 12, { signal: AbortSignal.timeout(60000) });
    assert.deepEqual([got.id, got.pos[0], got.pos[2]], [walker.id, -12, 12], "moveTo with moves cut short arrived");
  } finally {
    clock.mock.restore();
  }
});
