// Keepalive and fatal refusals on reconnect: a silent network is noticed
// by the client's ping and healed by a reconnect that loses nothing; a
// token revoked while the client was away stops it for good.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Client, MeshError, Rest, type Status } from "../src/index.js";
import { agent, cleanup, dial, eventually, next, startNode, unlimitedRoom, type MeshNode } from "./helpers/node.js";
import { type Proxy, startProxy } from "./helpers/proxy.js";

let n: MeshNode;
let proxy: Proxy | undefined;
const clients: Client[] = [];
before(async () => {
  n = await startNode();
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await proxy?.close();
  await cleanup();
});

test("an idle client pings and stays; a silent one is dropped after pongWait and resumes without loss", async () => {
  proxy = await startProxy(n.port);
  const room = await unlimitedRoom(n, "quiet");
  const a = await agent(n, "listener");
  const b = await agent(n, "talker");
  const c = await dial(clients, proxy.url, a.token, { pingAfter: 300, pongWait: 400 });
  const talker = await dial(clients, n.url, b.token);
  const statuses: Status[] = [];
  c.on("status", (s) => statuses.push(s));
  const pings: string[] = [];
  c.on("frame", (f) => f.dir === "out" && f.frame?.type === "ping" && pings.push(f.text));
  const it = c.messages();
  await c.join(room);
  await talker.join(room);

  await new Promise((r) => setTimeout(r, 1500)); // idle: pings answered, no reconnect
  assert.ok(pings.length >= 1, "the idle client pinged");
  assert.equal(statuses.join(","), "", "no reconnect while pings are answered");

  proxy.freeze(); // the network goes silent
  const acks = [];
  for (let i = 0; i < 5; i++) acks.push(await talker.say(room, `while silent ${i}`));
  await eventually("a reconnect", () => statuses.includes("open"), 10000);
  assert.equal(statuses[0], "connecting");
  for (const ack of acks) assert.equal((await next(it)).id, ack.id);
  const after = await talker.say(room, "after");
  assert.equal((await next(it)).id, after.id);
});

test("a token revoked while the client is away: the reconnect is refused and the client stops", async () => {
  const a = await agent(n, "away");
  const c = await dial(clients, n.url, a.token);
  await c.join("lobby");
  const errors: Error[] = [];
  c.on("error", (e) => errors.push(e));
  c.conn.hold(true); // away, as a consumer that fell behind would be
  await eventually("connecting", () => c.status === "connecting");
  await new Rest(n.url, n.ownerToken).revoke(a.id);
  c.conn.hold(false);
  await eventually("closed", () => c.status === "closed", 10000);
  assert.ok(c.conn.error instanceof MeshError && c.conn.error.code === "unauthorized", String(c.conn.error));
  assert.ok(errors.includes(c.conn.error!));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(c.status, "closed", "no further attempt");
});
