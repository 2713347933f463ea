// An end-to-end encrypted room in the browser: a human in chromium and a
// TypeScript SDK agent, then a Go one (the mesh CLI, built on the Go SDK),
// read each other's sealed messages; the header shows
// the lock and the sentence (and the presence region announces it); after
// a reload the browser still opens its history (its device key stayed in
// IndexedDB); axe stays clean.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Browser } from "playwright-core";
import { Client, memoryKeyStore, Rest, type Message } from "../../sdk/src/index.ts";
import { MESH, rest, startNode, type MeshNode } from "./lib/node.ts";
import { axe, launch, mesh, open, RESULTS, until, type Tab } from "./lib/browser.ts";

const SENTENCE = "End-to-end encrypted: the node relays these messages but cannot read or scan them; your browser checks them.";

let node: MeshNode;
let browser: Browser;
let agent: Client | undefined;
const tabs: Tab[] = [];

before(async () => {
  [node, browser] = await Promise.all([startNode(), launch()]);
});

after(async () => {
  await agent?.close();
  await Promise.all(tabs.map((t) => t.ctx.close()));
  await browser?.close();
  await node?.stop();
});

/** waitFor polls cond from Node until it holds. */
async function waitFor(what: string, cond: () => boolean, ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("E2E room: the browser and an SDK agent read each other; lock and sentence; history opens after a reload; axe clean", async () => {
  const owner = new Rest(node.url, node.ownerToken);
  const room = (await owner.createRoom({ name: "vault", policy: { e2e: true, limits: { messagesPerMinute: 0 } } })).id;
  const you = await owner.me();

  // The agent, with a device of its own, is there first and says something before the browser has a device.
  const reg = await fetch(node.url + "/api/v1/participants", { method: "POST", body: JSON.stringify({ name: "vault-bot", kind: "agent" }) });
  const { token } = (await reg.json()) as { token: string };
  agent = await Client.dial(node.url, token, { keys: memoryKeyStore() });
  const heard: Message[] = [];
  agent.on("message", (m) => heard.push(m));
  await agent.join(room);
  await agent.say(room, "before the browser came");

  const t = await open(browser);
  tabs.push(t);
  const { page } = t;
  await page.goto(`${node.url}/?mode=2d&room=${room}#token=${node.ownerToken}`);
  await until(page, "m.avatars() >= 1");
  const header = page.getByRole("banner");
  await header.getByText(SENTENCE).waitFor();
  assert.ok(await header.locator(".e2e-note .lock").isVisible(), "the lock is shown");
  await page.getByRole("status", { name: "Presence" }).getByText(SENTENCE, { exact: false }).waitFor();
  await waitFor("the browser's and the agent's devices in the roster", () => {
    const devs = agent!.roster(room)?.devices ?? [];
    return devs.some((d) => d.participant === you.id) && devs.some((d) => d.id === agent!.e2e?.device);
  });

  const log = page.getByRole("log", { name: "Messages" });
  // Sealed before this browser's device was in the roster: it says so, in words.
  await log.getByText("Cannot decrypt (this browser was not in the room when it was sent, or lost its key; it needs re-keying)").waitFor();
  await agent.say(room, "sealed hello from the agent");
  const line = log.locator(".msg", { hasText: "sealed hello from the agent" });
  await line.waitFor();
  assert.equal(await line.locator(".lock .sr-only").innerText(), "end-to-end encrypted");

  // The browser's own device must be in the agent's roster before it seals (it is, above); it types and sends.
  await page.getByRole("textbox", { name: "Message", exact: true }).fill("sealed hello from the browser");
  await page.getByRole("button", { name: "Send" }).click();
  await waitFor("the agent to open the browser's message", () => heard.some((m) => m.body.text === "sealed hello from the browser"));
  const m = heard.find((x) => x.body.text === "sealed hello from the browser")!;
  assert.deepEqual([m.kind, m.e2e, m.from.id], ["chat", true, you.id]);

  // The node holds ciphertext only.
  const raw = JSON.stringify(await owner.messages(room, { limit: 500 }));
  assert.ok(!raw.includes("sealed hello"), "plaintext in the node's log");

  assert.deepEqual(await axe(page), [], "axe violations in an E2E room");
  await page.screenshot({ path: join(RESULTS, "e2e-2d.png") });

  // A reload, in 3D this time: the device comes back from IndexedDB and opens the history.
  await page.goto(`${node.url}/?mode=3d&room=${room}`);
  await until(page, "m.avatars() >= 1", 20000);
  await header.getByText(SENTENCE).waitFor();
  await log.getByText("sealed hello from the agent").waitFor();
  await log.getByText("sealed hello from the browser").waitFor();
  assert.equal(await log.getByText("Cannot decrypt").count(), 1, "only the message from before the browser came stays closed");
  assert.equal(await mesh(page, "m.mode"), "3d");
  assert.deepEqual(await axe(page), [], "axe violations in 3D");

  // And it still talks.
  await agent.say(room, "after the reload");
  await log.getByText("after the reload").waitFor();
  assert.deepEqual(t.errors.filter((e) => !/favicon/.test(e)), [], "no page errors");
});

test("E2E room: the browser and a Go agent (the mesh CLI on the Go SDK) read each other", async () => {
  const run = promisify(execFile);
  const owner = new Rest(node.url, node.ownerToken);
  const room = (await owner.createRoom({ name: "vault-go", policy: { e2e: true, limits: { messagesPerMinute: 0 } } })).id;
  const you = await owner.me();
  const cfg = join(mkdtempSync(join(tmpdir(), "mesh-go-agent-")), "config.json");
  const goID = (await run(MESH, ["register", "--node", node.url, "--name", "go-agent", "--config", cfg])).stdout.trim();
  await run(MESH, ["join", room, "--config", cfg]); // registers the Go agent's device

  const t = await open(browser);
  tabs.push(t);
  const { page } = t;
  await page.goto(`${node.url}/?mode=2d&room=${room}#token=${node.ownerToken}`);
  await page.getByRole("banner").getByText(SENTENCE).waitFor();
  const roster = async () => (await rest<{ devices: { participant: string }[] }>(node, "GET", `/api/v1/rooms/${room}/e2e`, node.ownerToken)).devices;
  const deadline = Date.now() + 20000;
  while (!(await roster()).some((d) => d.participant === you.id)) {
    if (Date.now() > deadline) throw new Error("the browser's device never entered the roster");
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok((await roster()).some((d) => d.participant === goID), "the Go agent's device is in the roster");

  // The Go agent listens; the browser seals a line to it.
  const listen = spawn(MESH, ["listen", room, "--json", "--count", "1", "--for", "60s", "--config", cfg]);
  let out = "";
  let err = "";
  listen.stdout.on("data", (b: Buffer) => (out += b));
  listen.stderr.on("data", (b: Buffer) => (err += b));
  const exited = new Promise<number | null>((r) => listen.on("exit", r));
  await waitFor("mesh listen to be ready", () => err.includes("mesh listen: ready"), 20000);
  await page.getByRole("textbox", { name: "Message", exact: true }).fill("sealed hello to the Go agent");
  await page.getByRole("button", { name: "Send" }).click();
  assert.equal(await exited, 0, `mesh listen failed: ${err}`);
  const got = JSON.parse(out.trim()) as { kind: string; e2e?: boolean; from: { id: string }; body: { text?: string } };
  assert.deepEqual([got.kind, got.e2e, got.from.id, got.body.text], ["chat", true, you.id, "sealed hello to the Go agent"]);

  // The Go agent seals a line; the browser opens it.
  await run(MESH, ["say", room, "sealed hello from the Go agent", "--config", cfg]);
  const line = page.getByRole("log", { name: "Messages" }).locator(".msg", { hasText: "sealed hello from the Go agent" });
  await line.waitFor();
  assert.equal(await line.locator(".lock .sr-only").innerText(), "end-to-end encrypted");
  const raw = JSON.stringify(await owner.messages(room, { limit: 500 }));
  assert.ok(!raw.includes("sealed hello"), "plaintext in the node's log");
});
