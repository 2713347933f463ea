// The client's token bucket: paced, in order even when a busy event loop
// lets many timers expire at once, and an aborted wait gives its token back.

import assert from "node:assert/strict";
import { test } from "node:test";
import { TokenBucket } from "../src/index.js";

test("waiters are released in the order they asked, at the bucket's rate", async () => {
  const b = new TokenBucket();
  b.set({ rate: 1000, burst: 10 }); // 900 a second, bursts of 8
  const order: number[] = [];
  const start = Date.now();
  await Promise.all(Array.from({ length: 60 }, (_, i) => b.wait().then(() => order.push(i))));
  assert.deepEqual(
    order,
    order.map((_, i) => i),
  );
  assert.ok(Date.now() - start >= (60 - 8) / 0.9 - 5, `60 tokens in ${Date.now() - start} ms`);
});

test("a token that is free again does not let a later sender overtake one still waiting", async () => {
  let now = 0;
  const b = new TokenBucket(() => now);
  b.set({ rate: 1000, burst: 1 }); // one token, 0.9 a millisecond
  const order: number[] = [];
  const first = b.wait().then(() => order.push(1)); // the token
  const second = b.wait().then(() => order.push(2)); // due in 1.1 ms: waits
  now = 5; // time passes before the waiter's timer runs (a busy event loop)
  const third = b.wait().then(() => order.push(3)); // a token is free again, but 2 asked first
  await Promise.all([first, second, third]);
  assert.deepEqual(order, [1, 2, 3]);
});

test("an aborted wait rejects with the signal's reason and gives its token back", async () => {
  const b = new TokenBucket();
  b.set({ rate: 10, burst: 1 }); // 9 a second, bursts of 1
  await b.wait();
  const ac = new AbortController();
  const w = b.wait(ac.signal);
  ac.abort(new Error("no longer"));
  await assert.rejects(w, /no longer/);
  assert.ok(b.reserve() < 150, "the next token is due within one interval, not two");
  const off = new TokenBucket();
  off.set({ rate: 0, burst: 0 });
  assert.equal(off.reserve(), 0, "rate 0: no limit");
});
