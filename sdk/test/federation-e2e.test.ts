// A federated end-to-end encrypted room through a real Interchange relay:
// the room lives on node B; a TypeScript client on node A (room@B there)
// and one on B exchange chat both ways, and a command from B's client runs
// at A's and its sealed result opens at B's. Each side's roster names the
// other's participant as its node does; posts from A learn their seq from
// the stored copy the home sends back; the "to" each signs is in B's
// naming.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Client, memoryKeyStore, MeshError, type Message, Rest, type Sealed } from "../src/index.js";
import { startFedNode, startRelay, waitDirectory, type FedNode } from "./helpers/federation.js";
import { agent, cleanup, dial, eventually, next } from "./helpers/node.js";

let a: FedNode;
let b: FedNode;
const clients: Client[] = [];
before(async () => {
  const relay = await startRelay();
  [a, b] = await Promise.all([startFedNode(relay), startFedNode(relay)]);
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cleanup();
});

/** nextWhere reads an iterator until a message matches. */
async function nextWhere(it: AsyncIterator<Message>, what: string, match: (m: Message) => boolean, ms = 20000): Promise<Message> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no ${what} within ${ms} ms`);
    const m = await next(it, left);
    if (match(m)) return m;
  }
}

const owners = (c: Client, room: string): string[] => (c.roster(room)?.devices ?? []).map((d) => d.participant ?? "");

test("a TS client on node A and one on node B, the home, talk and run a command in an E2E room", { timeout: 120000 }, async () => {
  const alice = await agent(a, "alice");
  const bob = await agent(b, "bob");
  const aliceAtB = `${alice.id}@${a.id}`;
  const bobAtA = `${bob.id}@${b.id}`;
  const created = await new Rest(b.url, b.ownerToken).createRoom({
    name: "vault",
    policy: {
      visibility: "federated",
      e2e: true,
      limits: { messagesPerMinute: 0 },
      execute: { from: ["local", "federated"] },
      grants: { [aliceAtB]: ["execute"] },
    },
  });
  const local = created.id;
  const room = `${local}@${b.id}`;
  await waitDirectory(a, room);

  const bc = await dial(clients, b.url, bob.token, { keys: memoryKeyStore() });
  const ac = await dial(clients, a.url, alice.token, { keys: memoryKeyStore() });
  const fromA = ac.messages();
  const fromB = bc.messages();
  const cmdArg = "argon-moss-4411";
  let ran: Message | undefined;
  ac.command("opencask", "federated", (cmd) => {
    ran = cmd.message;
    return `ran ${JSON.stringify(cmd.args)}`;
  });
  await bc.join(local);
  const ja = await ac.join(room);
  assert.equal(ja.room, room);

  // Said at once: A's mirror may not hold the home's roster yet (no e2e in
  // joined), but the room's policy says E2E, so the text goes sealed.
  const early = await ac.say(room, "early: zebra-quartz-7719");
  const first = await nextWhere(fromB, "alice's first chat", (x) => x.kind === "chat" || x.kind === "encrypted");
  assert.deepEqual([first.id, first.kind, first.body.text, first.e2e], [early.id, "chat", "early: zebra-quartz-7719", true]);

  // Each roster holds both participants, each in its node's naming; the derivations bind the home address.
  await eventually("bob's roster with alice", () => owners(bc, local).includes(aliceAtB) && owners(bc, local).includes(bob.id), 20000);
  await eventually("alice's roster with bob", () => owners(ac, room).includes(alice.id) && owners(ac, room).includes(bobAtA), 20000);
  assert.equal(ac.roster(room)!.room, room);
  assert.equal(bc.roster(local)!.room, room);
  await eventually("both devices in both rosters", () =>
    [ac, bc].every((c) => [ac, bc].every((o) => (c.roster(c === ac ? room : local)?.devices ?? []).some((d) => d.id === o.e2e?.device))),
  20000);

  // alice (on A) to bob: her node acks without a seq; the stored copy gives it.
  const ack = await ac.say(room, "from alice: zebra-quartz-7719", { to: bobAtA });
  assert.ok(ack.seq > 0 && ack.id !== "", `alice's ack ${JSON.stringify(ack)}`);
  let m = await nextWhere(fromB, "alice's chat", (x) => x.kind === "chat" || x.kind === "encrypted");
  assert.deepEqual([m.id, m.seq, m.kind, m.body.text, m.from.id, m.to, m.e2e, m.undecryptable], [ack.id, ack.seq, "chat", "from alice: zebra-quartz-7719", aliceAtB, bob.id, true, undefined]);

  // bob (on B, the home) to alice.
  await bc.say(local, "from bob: zebra-quartz-7719", { to: aliceAtB });
  m = await nextWhere(fromA, "bob's chat", (x) => x.kind === "chat" || x.kind === "encrypted");
  assert.deepEqual([m.kind, m.body.text, m.from.id, m.to, m.e2e, m.undecryptable], ["chat", "from bob: zebra-quartz-7719", bobAtA, alice.id, true, undefined]);

  // A command from bob runs at alice's; her sealed result (a post to room@B) opens at bob's.
  const cmd = await bc.sendCommand(local, aliceAtB, "opencask", { arg: cmdArg });
  const res = await nextWhere(fromB, "the result", (x) => (x.kind === "result" && x.ref === cmd.id) || x.kind === "encrypted");
  assert.deepEqual([res.kind, res.body.ok, res.from.id, res.e2e], ["result", true, aliceAtB, true]);
  assert.match(res.body.output ?? "", new RegExp(cmdArg));
  assert.deepEqual([ran?.id, ran?.kind, ran?.from.id, ran?.to, ran?.e2e], [cmd.id, "command", bobAtA, alice.id, true]);

  // alice's command to bob, the other way: sent from A, opened at B.
  const back = await ac.sendCommand(room, bobAtA, "status", { verbose: true });
  assert.ok(back.seq > 0, `alice's command ack ${JSON.stringify(back)}`);
  m = await nextWhere(fromB, "alice's command", (x) => x.kind === "command" || x.kind === "encrypted");
  assert.deepEqual([m.id, m.kind, m.body.command, m.body.args, m.from.id, m.to, m.e2e], [back.id, "command", "status", { verbose: true }, aliceAtB, bob.id, true]);

  // Nothing on either node is readable: the stored bodies are sealed.
  for (const [n, r, tok] of [[a, room, alice.token], [b, local, bob.token]] as const) {
    const stored = await new Rest(n.url, tok).messages(r, { after: 0, limit: 500 });
    assert.ok(stored.length > 0);
    assert.ok(!JSON.stringify(stored).includes("zebra-quartz") && !JSON.stringify(stored).includes(cmdArg), `readable text on ${n.url}`);
  }
  assert.deepEqual([ac.e2e!.counts.undecryptable, bc.e2e!.counts.undecryptable], [0, 0]);
  shared = { ac, room, alice };
});

/** What the first test set up, for the ones after it. */
let shared: { ac: Client; room: string; alice: { id: string; token: string } } | undefined;

/** postSealed is the client's internal post of a sealed body, for posting one the home refuses. */
type PostSealed = (room: string, e2e: Sealed, to: string | undefined, ref: string | undefined) => Promise<{ id: string; seq: number }>;

test("alice's inbox on A holds what bob sealed to her in the room of B, by the room's address", { timeout: 60000 }, async () => {
  assert.ok(shared, "the first test set up the room");
  const { ac, room, alice } = shared;
  // bob's chat, his command and his client's answer to alice's command
  // (a result addressed to her) entered her inbox from A's mirror;
  // inbox() gives the stored envelopes as they are (sealed: messages()
  // is what opens them).
  let page = await ac.inbox();
  for (const deadline = Date.now() + 20000; page.items.length < 3; page = await ac.inbox()) {
    if (Date.now() > deadline) throw new Error(`alice's inbox holds ${JSON.stringify(page.items)}, want bob's chat, command and result`);
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.deepEqual(
    page.items.map((it) => [it.reason, it.message.room, it.message.kind, it.message.to]),
    [
      ["to", room, "encrypted", alice.id],
      ["to", room, "encrypted", alice.id],
      ["to", room, "encrypted", alice.id],
    ],
  );
  assert.deepEqual(await ac.ackInbox(page.next), { acked: page.next, unacked: 0 });
});

test("a sealed post to a room of another node that its home refuses fails with the home's code, after the ack", { timeout: 60000 }, async () => {
  assert.ok(shared, "the first test set up the room");
  const { ac, room } = shared;
  // A sealed say as alice's client sent it, posted again with another ref:
  // A checks its shape only and acks it; B finds the signature (which binds
  // the ref) wrong and refuses it, and the refusal comes back to A.
  let sent: Sealed | undefined;
  const off = ac.on("frame", (f) => {
    const fr = f.frame as { type?: string; kind?: string; body?: { e2e?: Sealed } } | undefined;
    if (f.dir === "out" && fr?.type === "say" && fr.kind === "encrypted" && fr.body?.e2e?.type === "msg") sent = fr.body.e2e;
  });
  await ac.say(room, "once");
  off();
  assert.ok(sent, "alice's sealed say was seen");
  const acked: string[] = [];
  const offAck = ac.on("frame", (f) => {
    const fr = f.frame as { type?: string; ref?: string; seq?: number } | undefined;
    if (f.dir === "in" && fr?.type === "ack" && fr.ref === "refused-1") acked.push(JSON.stringify(fr));
  });
  const post = (ac as unknown as { postSealed: PostSealed }).postSealed.bind(ac);
  const err = await post(room, sent, undefined, "refused-1").then(
    () => undefined,
    (e: unknown) => e,
  );
  offAck();
  assert.ok(err instanceof MeshError, `got ${String(err)}`);
  assert.deepEqual([err.code, err.ref], ["invalid", "refused-1"]);
  assert.equal(acked.length, 1, "A acked the post before the home refused it");
  assert.ok(!JSON.parse(acked[0]!).seq, `A's ack ${acked[0]} has no seq`);
});

test("a sealed post to a room whose home is gone fails after e2eStoredWait", { timeout: 60000 }, async () => {
  assert.ok(shared, "the first test set up the room");
  const { room, alice } = shared;
  const keys = memoryKeyStore();
  const c = await dial(clients, a.url, alice.token, { keys, e2eStoredWait: 1500 });
  await c.join(room);
  await eventually("the new device in its roster", () => (c.roster(room)?.devices ?? []).some((d) => d.id === c.e2e?.device), 20000);
  await b.stop();
  const t0 = Date.now();
  const err = await c.say(room, "into the void").then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof MeshError, `got ${String(err)}`);
  assert.equal(err.code, "unavailable");
  assert.match(err.message, /did not store/);
  assert.ok(Date.now() - t0 < 15000, "bounded by e2eStoredWait");
});
