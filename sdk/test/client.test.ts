// The Client against a real node: talking, history, refusals, presence,
// leave, close, raw frames and back-pressure.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, ClosedError, MeshError, type FrameEvent, type Message, type PresenceFrame, type Status } from "../src/index.js";
import { agent, cleanup, dial, eventually, fast, next, startNode, unlimitedRoom, type MeshNode } from "./helpers/node.js";

let n: MeshNode;
const clients: Client[] = [];
before(async () => {
  n = await startNode();
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cleanup();
});

test("two clients talk; a burst over the node's frame rate is paced, not refused", async () => {
  const a = await agent(n, "alice");
  const b = await agent(n, "bob");
  const room = await unlimitedRoom(n, "talk");
  const ca = await dial(clients, n.url, a.token);
  const cb = await dial(clients, n.url, b.token);
  assert.equal(ca.me.id, a.id);
  assert.equal(cb.limits.rate, 30, "the node's default rate (the burst below goes over it)");
  const fromA = ca.messages();
  const fromB = cb.messages();
  const events: Message[] = [];
  cb.on("message", (m) => events.push(m));
  await ca.join(room);
  await cb.join(room);

  const ack = await ca.say(room, "hello, bob", { to: b.id });
  const m = await next(fromB);
  assert.deepEqual([m.id, m.seq, m.body.text, m.from.id, m.to, m.trust], [ack.id, ack.seq, "hello, bob", a.id, b.id, "local"]);
  assert.equal(events[0]?.id, ack.id, "the message event carries it too");
  await cb.say(room, "hi alice");
  assert.equal((await next(fromA)).body.text, "hi alice");

  const burst = 100;
  const acks = await Promise.all(Array.from({ length: burst }, (_, i) => ca.say(room, `burst ${i}`)));
  assert.deepEqual(
    acks.map((x) => x.seq),
    acks.map((_, i) => acks[0]!.seq + i),
    "sent in order",
  );
  for (let i = 0; i < burst; i++) assert.equal((await next(fromB)).body.text, `burst ${i}`);
  // Neither saw its own messages.
  const race = await Promise.race([fromA.next(), new Promise((r) => setTimeout(() => r("nothing"), 200))]);
  assert.equal(race, "nothing");
});

test("join returns members and history up to head; messages continue after it", async () => {
  const a = await agent(n, "historian");
  const b = await agent(n, "late");
  const room = await unlimitedRoom(n, "history");
  const ca = await dial(clients, n.url, a.token);
  await ca.join(room);
  let last;
  for (let i = 0; i < 3; i++) last = await ca.say(room, `line ${i}`);
  const cb = await dial(clients, n.url, b.token);
  const it = cb.messages();
  const j = await cb.join(room);
  assert.equal(j.head, last!.seq);
  assert.deepEqual(
    j.history.map((m) => m.body.text),
    ["line 0", "line 1", "line 2"],
  );
  assert.equal(j.history[2]!.id, last!.id);
  assert.deepEqual(j.members.map((m) => m.id).sort(), [a.id, b.id, j.members.find((m) => m.trust === "owner")!.id].sort());
  const ack = await ca.say(room, "after");
  const m = await next(it);
  assert.deepEqual([m.seq, m.body.text], [ack.seq, "after"]);
  assert.equal(m.seq, j.head + 1);
});

test("refusals are MeshErrors with the node's code; the connection stays good", async () => {
  const a = await agent(n, "refused");
  const room = await unlimitedRoom(n, "elsewhere");
  const c = await dial(clients, n.url, a.token);
  await assert.rejects(c.say(room, "not joined"), (e: unknown) => e instanceof MeshError && e.code === "forbidden");
  await assert.rejects(c.join("no-such-room"), (e: unknown) => e instanceof MeshError && e.code === "not_found");
  await assert.rejects(c.join("Not A Room"), (e: unknown) => e instanceof MeshError && e.code === "invalid" && /invalid room id/.test(e.message));
  await assert.rejects(c.say(room, "x".repeat(70000)), (e: unknown) => e instanceof MeshError && e.code === "too_large");
  await c.join(room);
  await assert.rejects(c.join(room), (e: unknown) => e instanceof MeshError && e.code === "conflict");
  const ack = await c.say(room, "now joined");
  assert.ok(ack.seq > 0);
  assert.ok((await c.ping()) >= 0);
});

test("a bad token is refused with unauthorized, and the client does not retry", async () => {
  const statuses: Status[] = [];
  const c = new Client(n.url, "mesh_nope", fast);
  c.on("status", (s) => statuses.push(s));
  await assert.rejects(c.connect(), (e: unknown) => e instanceof MeshError && e.code === "unauthorized");
  assert.deepEqual(statuses, ["connecting", "closed"]);
  await assert.rejects(c.say("lobby", "x"), ClosedError);
});

test("a revoked token ends the session: status closed, error unauthorized, no reconnect", async () => {
  const a = await agent(n, "doomed");
  const c = await dial(clients, n.url, a.token);
  const errors: Error[] = [];
  c.on("error", (e) => errors.push(e));
  const it = c.messages();
  await c.rest.revoke(a.id);
  await eventually("status closed", () => c.status === "closed");
  assert.ok(errors.some((e) => e instanceof MeshError && e.code === "unauthorized"), errors.map(String).join("; "));
  assert.equal((await it.next()).done, true, "the iterator ends");
  await assert.rejects(c.say("lobby", "x"), (e: unknown) => e instanceof MeshError && e.code === "unauthorized");
});

test("presence tells arrivals and departures; after leave nothing more comes and say is refused", async () => {
  const a = await agent(n, "watcher", "human");
  const b = await agent(n, "visitor");
  const room = await unlimitedRoom(n, "porch");
  const ca = await dial(clients, n.url, a.token);
  const cb = await dial(clients, n.url, b.token);
  const seen: PresenceFrame[] = [];
  ca.on("presence", (p) => seen.push(p));
  await ca.join(room);
  await cb.join(room);
  await eventually("presence join", () => seen.some((p) => p.event === "join" && p.participant.id === b.id));
  assert.equal(ca.presence(room).find((m) => m.id === b.id)?.online, true);
  await cb.leave(room);
  await eventually("presence leave", () => seen.some((p) => p.event === "leave" && p.participant.id === b.id));
  assert.equal(ca.presence(room).find((m) => m.id === b.id)?.online, false);
  await assert.rejects(cb.say(room, "still here?"), (e: unknown) => e instanceof MeshError && e.code === "forbidden");
  // Leaving a room this client never joined goes over REST.
  await cb.join(room);
  const other = await dial(clients, n.url, b.token);
  await other.leave(room);
  await eventually("the first client's room is left", () => seen.filter((p) => p.event === "leave" && p.participant.id === b.id).length === 2);
});

test("close ends iterators, fails later calls with ClosedError, and may be called twice", async () => {
  const a = await agent(n, "closer");
  const c = await Client.dial(n.url, a.token, fast);
  const it = c.messages();
  await c.join("lobby");
  const pending = it.next();
  await c.close();
  assert.equal((await pending).done, true);
  assert.equal(c.status, "closed");
  await assert.rejects(c.say("lobby", "late"), ClosedError);
  await c.close();
});

test("frame events show every raw frame in and out, the hello's token hidden; sendRaw checks as the node does", async () => {
  const a = await agent(n, "terminal");
  const c = new Client(n.url, a.token, fast);
  clients.push(c);
  const frames: FrameEvent[] = [];
  c.on("frame", (f) => frames.push(f));
  const it = c.messages(); // before connect: it lives on
  const logged: unknown[] = [];
  const listened: string[] = [];
  const c2 = await dial(clients, n.url, (await agent(n, "terminal-peer")).token, { logger: { error: (...a) => logged.push(a) } });
  c2.on("message", () => {
    throw new Error("a listener's bug");
  });
  c2.on("message", (m) => listened.push(m.body.text ?? ""));
  await c2.join("lobby");
  await c.connect();
  await c.join("lobby");
  await c2.say("lobby", "to the terminal");
  assert.equal((await next(it)).body.text, "to the terminal");
  await c.say("lobby", "from the terminal");
  await eventually("the second listener", () => listened.includes("from the terminal"));
  assert.equal(logged.length, 1, "the throwing listener was logged, the next one still ran");
  assert.deepEqual(
    frames.slice(0, 4).map((f) => `${f.dir} ${f.frame?.type}`),
    ["out hello", "in welcome", "out join", "in joined"],
  );
  assert.ok(frames.some((f) => f.dir === "in" && f.frame?.type === "message") && frames.some((f) => f.dir === "out" && f.frame?.type === "say"));
  assert.ok(!frames.some((f) => f.text.includes(a.token)), "the token never shows");
  await assert.rejects(c.conn.sendRaw('{"type":"say","room":"lobby","text":"hi","text":"again"}'), /given twice/);
  await assert.rejects(c.conn.sendRaw('{"type":"hello","token":"x"}'), /hello is sent by the connection/);
  await c.conn.sendRaw('{"type":"ping","ref":"t1"}');
  await eventually("the pong", () => frames.some((f) => f.dir === "in" && f.text.includes('"pong"') && f.text.includes('"t1"')));
});

test("an iterator that falls behind holds the connection; once read, every message arrives once, in order", async () => {
  const a = await agent(n, "flooder");
  const b = await agent(n, "slowpoke");
  const room = await unlimitedRoom(n, "flood");
  const ca = await dial(clients, n.url, a.token, { ownMessages: false });
  const cb = await dial(clients, n.url, b.token, { queueLimit: 20 });
  await ca.join(room);
  const it = cb.messages();
  const statuses: Status[] = [];
  cb.on("status", (s) => statuses.push(s));
  await cb.join(room);
  const total = 120;
  const acks = [];
  for (let i = 0; i < total; i++) acks.push(await ca.say(room, `m${i}`));
  await eventually("the hold", () => statuses.includes("connecting"));
  for (let i = 0; i < total; i++) {
    const m = await next(it);
    assert.equal(m.seq, acks[i]!.seq, `message ${i}`);
  }
  await eventually("the connection back", () => cb.status === "open");
});
