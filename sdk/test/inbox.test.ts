// The durable inbox against a real node: what came while a participant was
// away is waiting when it connects, pushes arrive once it has read its
// inbox, acknowledgements survive a restart, and after a reconnect the
// client reads again and pushes what it missed.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Client, type InboxItem, MeshError, Rest } from "../src/index.js";
import { agent, cleanup, dial, next, startNode, unlimitedRoom, type MeshNode } from "./helpers/node.js";

let n: MeshNode;
const clients: Client[] = [];
before(async () => {
  n = await startNode();
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cleanup();
});

/** pair registers alice and bob and makes both members of a new room over REST, bob never connecting. */
async function pair(node: MeshNode, room: string) {
  const a = await agent(node, "alice");
  const b = await agent(node, "bob");
  const id = await unlimitedRoom(node, room);
  const ra = new Rest(node.url, a.token);
  const rb = new Rest(node.url, b.token);
  await ra.join(id);
  await rb.join(id);
  return { a, b, ra, rb, room: id };
}

test("a message addressed to an offline participant is in its inbox when it connects; pushes once it has read it", async () => {
  const { a, b, ra, rb, room } = await pair(n, "inbox-offline");
  await ra.say(room, { text: "while you were out", to: b.id });
  await ra.say(room, { text: "not for bob" });

  const cb = await dial(clients, n.url, b.token);
  const pushed = cb.inboxItems();
  const events: InboxItem[] = [];
  cb.on("inbox", (it) => events.push(it));
  const page = await cb.inbox();
  assert.equal(page.items.length, 1);
  const [first] = page.items;
  assert.deepEqual([first!.reason, first!.message.body.text, first!.message.from.id, first!.message.to], ["to", "while you were out", a.id, b.id]);
  assert.deepEqual([page.next, page.unacked, page.dropped], [first!.n, 1, undefined]);
  assert.deepEqual(await rb.inbox(), page, "REST reads the same page");

  // Live: the connection has sent an inbox frame, so the node pushes.
  const ack = await ra.say(room, { text: "are you there?", to: b.id });
  const it = await next(pushed);
  assert.deepEqual([it.n, it.reason, it.message.id, it.message.body.text], [first!.n + 1, "to", ack.id, "are you there?"]);
  assert.deepEqual(events, [it], "the inbox event carries it too");

  // Acknowledging moves the cursor; what is acknowledged is gone.
  assert.deepEqual(await cb.ackInbox(first!.n), { acked: first!.n, unacked: 1 });
  assert.deepEqual(
    (await cb.inbox()).items.map((x) => x.n),
    [it.n],
  );
  await assert.rejects(cb.ackInbox(it.n + 5), (e: unknown) => e instanceof MeshError && e.code === "invalid" && /past the newest/.test(e.message));
  assert.deepEqual(await rb.ackInbox(it.n), { acked: it.n, unacked: 0 });
  assert.deepEqual(await cb.inbox({ after: 0, limit: 10 }), { items: [], next: it.n, unacked: 0 }, "next passes the acknowledged");
  await assert.rejects(cb.inbox({ limit: 501 }), (e: unknown) => e instanceof MeshError && e.code === "invalid");
});

test("a connection that never read its inbox gets no pushes", async () => {
  const { b, ra, room } = await pair(n, "inbox-quiet");
  const cb = await dial(clients, n.url, b.token);
  const events: InboxItem[] = [];
  cb.on("inbox", (it) => events.push(it));
  await cb.join(room);
  const messages = cb.messages();
  await ra.say(room, { text: "hi bob", to: b.id });
  assert.equal((await next(messages)).body.text, "hi bob");
  await cb.ping(); // a push would have come before the pong
  assert.deepEqual(events, []);
});

test("acknowledgements persist across a node restart; after the reconnect the client pushes what came meanwhile", async () => {
  const n1 = await startNode();
  const { a, b, ra, room } = await pair(n1, "inbox-restart");
  await ra.say(room, { text: "one", to: b.id });
  await ra.say(room, { text: "two", to: b.id });
  const cb = await dial(clients, n1.url, b.token);
  const pushed = cb.inboxItems();
  const page = await cb.inbox();
  assert.deepEqual(
    page.items.map((x) => x.message.body.text),
    ["one", "two"],
  );
  const [one, two] = page.items;
  assert.deepEqual(await cb.ackInbox(one!.n), { acked: one!.n, unacked: 1 });

  // Away (held: no reconnect) while the node restarts and alice writes.
  cb.conn.hold(true);
  await n1.stop();
  const n2 = await startNode({ dir: n1.dir, port: n1.port });
  const away = await new Rest(n2.url, a.token).say(room, { text: "while away", to: b.id });
  cb.conn.hold(false);

  // The reconnected client reads from the last n it saw and pushes only what is new.
  const it = await next(pushed, 10000);
  assert.deepEqual([it.n, it.message.id, it.message.body.text], [two!.n + 1, away.id, "while away"]);
  // The acknowledgement survived the restart: item one is gone.
  const after = await cb.inbox();
  assert.deepEqual(
    after.items.map((x) => x.n),
    [two!.n, it.n],
  );
  assert.equal(after.unacked, 2);
  await n2.stop();
});
