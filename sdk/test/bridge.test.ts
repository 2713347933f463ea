// Bridges through the SDK against real nodes: Rest creates, lists and
// deletes them, a bridged message arrives with `bridged` decoded, a
// refusal carries the node's code and message. Across two nodes linked by
// a real relay: a bridge into room@node, and moderation, policy and room
// data of a remote room by its address.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { type Client, MeshError, type Message, Rest } from "../src/index.js";
import { startFedNode, startRelay, waitDirectory } from "./helpers/federation.js";
import { agent, cleanup, dial, next, startNode } from "./helpers/node.js";

const clients: Client[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cleanup();
});

/** nextIn reads an iterator until a message of room comes, failing after ms. */
async function nextIn(it: AsyncIterator<Message>, room: string, ms = 20000): Promise<Message> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await next(it, Math.max(1, deadline - Date.now()));
    if (m.room === room) return m;
  }
}

/** bridgePolicy: no rate limit, bridge granted to who, egress allowed, then extra. */
const bridgePolicy = (who: string[], extra: Record<string, unknown> = {}) => ({
  limits: { messagesPerMinute: 0 },
  grants: Object.fromEntries(who.map((w) => [w, ["bridge"]])),
  data: { egress: "allow" },
  ...extra,
});

test("Rest creates, lists and deletes a bridge; the bridged copy decodes; a refusal names its cause", { timeout: 60000 }, async () => {
  const n = await startNode({ flags: ["--rate", "0"] });
  const alice = await agent(n, "alice");
  const bob = await agent(n, "bob");
  const owner = new Rest(n.url, n.ownerToken);
  for (const name of ["design", "news"]) await owner.createRoom({ name, policy: bridgePolicy([alice.id]) });
  const ra = new Rest(n.url, alice.token);
  const rb = new Rest(n.url, bob.token);
  for (const r of [ra, rb]) for (const room of ["design", "news"]) await r.join(room);

  await assert.rejects(rb.createBridge("design", "news"), (e: unknown) => {
    assert.ok(e instanceof MeshError);
    assert.equal(e.code, "forbidden");
    assert.equal(e.status, 403);
    assert.match(e.message, /You lack "bridge" in room design/);
    return true;
  });

  const br = await ra.createBridge("design", "news");
  assert.match(br.id, /^br_/);
  assert.deepEqual([br.from, br.to, br.by, br.state], ["design", "news", alice.id, "active"]);
  assert.deepEqual((await rb.bridges("design")).map((b) => b.id), [br.id]);

  const bc = await dial(clients, n.url, bob.token);
  await bc.join("news");
  const it = bc.messages()[Symbol.asyncIterator]();
  const said = await rb.say("design", { text: "mock-ups are up" });
  const m = await nextIn(it, "news");
  assert.equal(m.body.text, "mock-ups are up");
  assert.equal(m.from.id, alice.id);
  assert.deepEqual(
    { room: m.bridged?.room, id: m.bridged?.id, seq: m.bridged?.seq, from: m.bridged?.from.id, trust: m.bridged?.trust },
    { room: "design", id: said.id, seq: said.seq, from: bob.id, trust: "local" },
  );

  await assert.rejects(rb.deleteBridge("design", br.id), (e: unknown) => e instanceof MeshError && e.code === "forbidden");
  await ra.deleteBridge("design", br.id);
  assert.deepEqual(await ra.bridges("design"), []);
  await assert.rejects(ra.deleteBridge("design", br.id), (e: unknown) => e instanceof MeshError && e.code === "not_found");
});

test("a bridge into room@node, and moderation, policy and data of a remote room by its address", { timeout: 120000 }, async () => {
  const relay = await startRelay();
  const [a, b] = await Promise.all([startFedNode(relay), startFedNode(relay)]);
  const alice = await agent(a, "alice");
  const bob = await agent(b, "bob");
  const aliceAtB = `${alice.id}@${a.id}`;
  const bobAtA = `${bob.id}@${b.id}`;
  const homePolicy = {
    visibility: "federated",
    limits: { messagesPerMinute: 0 },
    grants: { [aliceAtB]: ["bridge", "moderate", "data-read", "data-write"] },
    data: { ingress: ["owner", "local", "federated"] },
  };
  const ops = (await new Rest(b.url, b.ownerToken).createRoom({ name: "ops", policy: homePolicy })).id;
  const room = `${ops}@${b.id}`;
  await new Rest(a.url, a.ownerToken).createRoom({ name: "src", policy: bridgePolicy([alice.id]) });
  await waitDirectory(a, room);

  const ra = new Rest(a.url, alice.token);
  await ra.join("src");
  await ra.join(room);
  const bc = await dial(clients, b.url, bob.token);
  await bc.join(ops);
  const it = bc.messages()[Symbol.asyncIterator]();

  // A bridge from A's src into B's ops, by address.
  const br = await ra.createBridge("src", room);
  assert.equal(br.to, room);
  const said = await ra.say("src", { text: "from src on A" });
  const m = await nextIn(it, ops);
  assert.equal(m.body.text, "from src on A");
  assert.deepEqual([m.bridged?.room, m.bridged?.id, m.bridged?.seq], [`src@${a.id}`, said.id, said.seq]);

  // Moderation (REST and the WebSocket frame), policy and data by the address.
  const muted = await ra.moderate(room, "mute", bobAtA);
  assert.equal(muted.id, room);
  const ac = await dial(clients, a.url, alice.token);
  await ac.moderate(room, "unmute", bobAtA);
  const changed = await ra.setPolicy(room, { ...homePolicy, agents: { reply: "mention-only" } });
  assert.equal(changed.policy.agents.reply, "mention-only");
  const file = await ra.writeData(room, "notes/plan.txt", "step one");
  assert.equal(file.path, "notes/plan.txt");
  assert.equal(new TextDecoder().decode((await ra.readData(room, "notes/plan.txt")) as Uint8Array), "step one");
  assert.deepEqual(((await ra.readData(room, "notes/")) as { files: { path: string }[] }).files.map((f) => f.path), ["notes/plan.txt"]);
  await ra.deleteData(room, "notes/plan.txt");
  await assert.rejects(ra.readData(room, "notes/plan.txt"), (e: unknown) => e instanceof MeshError && e.code === "not_found");
});
