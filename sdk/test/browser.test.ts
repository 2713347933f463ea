// The SDK in a browser: bundled for the browser by esbuild (no Node module
// may be pulled in), loaded into Debian's chromium, and talking to a
// client in Node through a real node over the browser's own WebSocket.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { build } from "esbuild";
import type { Client } from "../src/index.js";
import { agent, cleanup, dial, next, startNode, unlimitedRoom } from "./helpers/node.js";
import { sdkDir } from "./helpers/paths.js";

// playwright-core's types (which pull in zod) would double the test type
// check's time, so the few calls used here are typed by hand.
interface Page {
  on(event: "pageerror", fn: (e: Error) => void): void;
  goto(url: string): Promise<unknown>;
  addScriptTag(o: { content: string }): Promise<unknown>;
  evaluate(expression: string): Promise<unknown>;
}
interface Browser {
  newContext(o: { bypassCSP: boolean }): Promise<{ newPage(): Promise<Page> }>;
  close(): Promise<void>;
}
const { chromium } = (await import("playwright-core" as string)) as {
  chromium: { launch(o: { executablePath: string; args: string[] }): Promise<Browser> };
};

const clients: Client[] = [];
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  await Promise.all(clients.map((c) => c.close()));
  await cleanup();
});

test("bundled for the browser, the SDK dials, joins, says and hears in chromium", async () => {
  const out = await build({
    entryPoints: [join(sdkDir, "src", "index.ts")],
    bundle: true,
    format: "iife",
    globalName: "Mesh",
    platform: "browser",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const inputs = Object.keys(out.metafile.inputs);
  // The SDK's sources and its one kind of dependency, the noble crypto libraries (pure JS, for E2E rooms); no Node module.
  const ours = (f: string): boolean => f.startsWith("src/") || f.startsWith("../node_modules/@noble/");
  assert.ok(inputs.length > 5 && inputs.every(ours), `bundled more than the SDK: ${inputs.filter((f) => !ours(f)).join(", ")}`);
  const bundle = out.outputFiles[0]!.text;

  const n = await startNode();
  const room = await unlimitedRoom(n, "browser");
  const inPage = await agent(n, "in-the-browser", "human");
  const inNode = await agent(n, "in-node");
  const c = await dial(clients, n.url, inNode.token);
  const it = c.messages();
  await c.join(room);

  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  // The node's own page, as the web client runs: a local origin (and its
  // content security policy bypassed, to load the bundle as a script).
  const page = await (await browser.newContext({ bypassCSP: true })).newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(n.url + "/healthz");
  await page.addScriptTag({ content: bundle });
  // Strings, not functions: tsx would add helpers the page does not have.
  const me = await page.evaluate(`(async () => {
    const c = await Mesh.Client.dial(${JSON.stringify(n.url)}, ${JSON.stringify(inPage.token)});
    window.client = c;
    window.heard = [];
    window.statuses = [];
    c.on("status", (s) => window.statuses.push(s));
    const it = c.messages();
    await c.join(${JSON.stringify(room)});
    (async () => { for await (const m of it) window.heard.push(Mesh.forPrompt(m)); })();
    await c.say(${JSON.stringify(room)}, "hello from the browser");
    return c.me.id;
  })()`);
  assert.equal(me, inPage.id);
  // Webhook signatures with the browser's WebCrypto (a signature from Go's mesh.SignWebhook).
  const sig = await page.evaluate(`(async () => {
    const want = "v1=fd6640c89555c9481e7c850cd47a4313e03ec29a62f4ffca2a83dd13b3375406";
    await Mesh.verifyWebhook("whsec_\u00fcn\u00ef", new Headers({ "X-Mesh-Timestamp": "17", "X-Mesh-Signature": want }), "h\u00e9llo", 1e12);
    return Mesh.signWebhook("whsec_\u00fcn\u00ef", 17, "h\u00e9llo");
  })()`);
  assert.equal(sig, "v1=fd6640c89555c9481e7c850cd47a4313e03ec29a62f4ffca2a83dd13b3375406");
  const m = await next(it);
  assert.deepEqual([m.from.id, m.body.text], [inPage.id, "hello from the browser"]);

  const ack = await c.say(room, "hello, browser");
  let heard: string[] = [];
  const deadline = Date.now() + 10000;
  while (heard.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    heard = (await page.evaluate("window.heard")) as string[];
  }
  assert.equal(heard.length, 1);
  assert.ok(heard[0]!.startsWith(`[mesh chat ${ack.id} in ${room} from "in-node"`), heard[0]);
  const statuses = await page.evaluate(`(async () => {
    const before = window.client.status;
    await window.client.close();
    return [before, ...window.statuses].join(",");
  })()`);
  assert.equal(statuses, "open,closed");
  assert.deepEqual(errors, []);
});
