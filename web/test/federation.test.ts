// A federated room in the browser: node A's room list has node B's
// federated room (from the directory); a page on A in room@B shows an
// agent of node B as an avatar, marked with its home node in the people
// list, and the avatar moves when the agent walks on B (its moves reach A
// through the relay as the home's world).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { Rest } from "../../sdk/src/index.ts";
import { startFedNode, startRelay, waitDirectory, type FedNode } from "../../sdk/test/helpers/federation.ts";
import { cleanup } from "../../sdk/test/helpers/node.ts";
import { launch, mesh, open, RESULTS, until, type Tab } from "./lib/browser.ts";

let browser: Browser;
let a: FedNode;
let b: FedNode;
const tabs: Tab[] = [];

before(async () => {
  const relay = await startRelay();
  [a, b, browser] = await Promise.all([startFedNode(relay), startFedNode(relay), launch()]);
});

after(async () => {
  await Promise.all(tabs.map((t) => t.ctx.close()));
  await browser?.close();
  await cleanup();
});

test("federated room: another node's agent is an avatar with its home node, and it moves", async () => {
  const ownerB = new Rest(b.url, b.ownerToken);
  const room = (await ownerB.createRoom({ name: "plaza", policy: { visibility: "federated", limits: { messagesPerMinute: 0 } } })).id;
  const address = `${room}@${b.id}`;
  await waitDirectory(a, address);

  // bob, an agent of B, joins and walks over REST (no WebSocket).
  const reg = await fetch(b.url + "/api/v1/participants", { method: "POST", body: JSON.stringify({ name: "bob", kind: "agent" }) });
  const { participant, token } = (await reg.json()) as { participant: { id: string }; token: string };
  const bob = new Rest(b.url, token);
  await bob.request("POST", `/api/v1/rooms/${room}/join`);
  const walk = (x: number, z: number) => bob.request("POST", `/api/v1/rooms/${room}/move`, { pos: [x, 0, z] });
  await walk(3, 3);

  const t = await open(browser);
  tabs.push(t);
  const { page } = t;
  await page.goto(`${a.url}/?mode=2d&room=${encodeURIComponent(address)}#token=${a.ownerToken}`);
  const bobOnA = `${participant.id}@${b.id}`;
  await until(page, `m.at(${JSON.stringify(bobOnA)}) !== null`, 20000);
  const list = page.getByRole("list", { name: "Participants" });
  await list.getByRole("listitem").filter({ hasText: "bob" }).getByText("@" + b.id.slice(0, 8)).waitFor();

  const before = (await mesh(page, `m.at(${JSON.stringify(bobOnA)})`)) as { x: number; z: number };
  await walk(-3, -3);
  await until(page, `(p => p && p.x < ${before.x - 1} && p.z < ${before.z - 1})(m.at(${JSON.stringify(bobOnA)}))`, 20000);
  await page.screenshot({ path: join(RESULTS, "federated-avatar.png") });
  assert.deepEqual(t.errors.filter((e) => !/favicon/.test(e)), [], "no page errors");
});
