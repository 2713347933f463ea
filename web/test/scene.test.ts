// The 3D scene in Debian's chromium (WEBGL profile; one WEBGPU test), driven by
// the standalone harness page (web/bench/harness.ts) with synthetic avatars.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { buildHarness, serve, type Served } from "../bench/serve.js";
import { launch, newPage } from "../bench/browser.js";
import { decodePNG, inkStats } from "../bench/png.js";
import { Batch, Instances } from "../src/scene/layers.js";
import { agentGeometry, humanGeometry } from "../src/scene/geom.js";
import { Object3D, MeshBasicMaterial, Matrix4, Vector3 } from "../src/scene/three.js";

const here = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(here, "..", "test-results");
const BG: [number, number, number] = [0x05, 0x07, 0x0d];
mkdirSync(RESULTS, { recursive: true });

let site: Served;
let browser: Browser;

before(async () => {
  // Unminified, so allocation samples can be traced to their source modules.
  site = await serve(await buildHarness({ minify: false }), true);
  browser = await launch("webgl");
});

after(async () => {
  await browser?.close();
  await site?.close();
});

interface Stats { fps: number; drawCalls: number; triangles: number; avatars: number; frameMs: number }

async function open(query: string, b = browser): Promise<Page> {
  const page = await newPage(b);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(site.url + "?" + query);
  await page.waitForFunction(() => document.body.dataset.ready || document.body.dataset.error, null, { timeout: 30_000 });
  const err = await page.evaluate(() => document.body.dataset.error);
  assert.equal(err, undefined, `harness failed: ${err}`);
  (page as Page & { errors: string[] }).errors = errors;
  return page;
}

/** Waits until the scene has rendered n more frames. */
async function frames(page: Page, n: number): Promise<void> {
  await page.evaluate(`new Promise((resolve) => {
    const until = window.__mesh.frames + ${n};
    const check = () => window.__mesh.frames >= until ? resolve() : requestAnimationFrame(check);
    check();
  })`);
}

const stats = (page: Page) => page.evaluate("window.__mesh.stats()") as Promise<Stats>;

async function shot(page: Page, name: string): Promise<{ changed: number; colours: number }> {
  const png = await page.locator("canvas").screenshot({ path: join(RESULTS, name) });
  return inkStats(decodePNG(png), BG);
}

test("the merged layer puts every vertex where the instanced layer's matrix does", () => {
  for (const make of [humanGeometry, agentGeometry]) {
    const template = make();
    const tp = (template.getAttribute("position").array as Float32Array).slice();
    const batch = new Batch(new Object3D(), template, new MeshBasicMaterial(), 4);
    const inst = new Instances(new Object3D(), make(), new MeshBasicMaterial(), 4);
    const copies = [[1.5, 0.2, -3, 0.7, 1], [-4, 0, 2.5, -2.2, 0.6], [0, 0.1, 0, 3.1, 1.3]];
    batch.begin(); inst.begin();
    for (const [x, y, z, yaw, s] of copies) {
      for (const l of [batch, inst]) { l.q.set([x, y, z, yaw, s, 1, 0.5, 0.25]); l.add(); }
    }
    batch.end(); inst.end();
    const p = (batch as unknown as { p: Float32Array }).p;
    const m = inst.mesh.instanceMatrix.array as Float32Array;
    const V = tp.length / 3, mat = new Matrix4(), v = new Vector3();
    for (let i = 0; i < copies.length; i++) {
      mat.fromArray(m, i * 16);
      for (let j = 0; j < V; j++) {
        v.fromArray(tp, j * 3).applyMatrix4(mat);
        const o = (i * V + j) * 3;
        assert.ok(Math.abs(p[o] - v.x) < 1e-4 && Math.abs(p[o + 1] - v.y) < 1e-4 && Math.abs(p[o + 2] - v.z) < 1e-4,
          `copy ${i} vertex ${j}: merged ${[p[o], p[o + 1], p[o + 2]]} instanced ${v.toArray()}`);
      }
    }
    assert.equal(batch.count, copies.length);
    assert.equal(inst.count, copies.length);
  }
});

test("the canvas draws (and a frame that only clears does not count)", async () => {
  const page = await open("n=200&webgpu=off");
  await frames(page, 10);
  const ink = await shot(page, "scene-200.png");
  assert.ok(ink.changed > 0.02, `only ${(ink.changed * 100).toFixed(2)}% of pixels drawn`);
  assert.ok(ink.colours >= 16, `only ${ink.colours} colours`);
  assert.equal(await page.evaluate("window.__mesh.backend"), "webgl");
  assert.deepEqual((page as Page & { errors: string[] }).errors, []);
  // Negative control: the same canvas with nothing but the clear colour.
  await page.evaluate("window.__harness.scene.scene.visible = false");
  await frames(page, 3);
  const none = await shot(page, "scene-blank.png");
  assert.ok(none.changed < 0.001, `negative control: ${none.changed}`);
  assert.ok(none.colours < 4, `negative control: ${none.colours} colours`);
  await page.close();
});

test("draw calls stay bounded from 200 to 1,000 avatars; avatars() follows upserts and removals", async () => {
  for (const layers of ["merged", "instanced"]) {
    const page = await open(`n=200&webgpu=off&layers=${layers}`);
    await frames(page, 5);
    const s200 = await stats(page);
    assert.equal(s200.avatars, 200);
    assert.ok(s200.drawCalls <= 64, `${layers}: ${s200.drawCalls} draw calls at 200`);
    await page.evaluate("window.__harness.setCount(1000)");
    await frames(page, 5);
    const s1000 = await stats(page);
    assert.equal(s1000.avatars, 1000);
    assert.ok(s1000.drawCalls <= 64, `${layers}: ${s1000.drawCalls} draw calls at 1000`);
    assert.ok(Math.abs(s1000.drawCalls - s200.drawCalls) <= 2, `${layers}: ${s200.drawCalls} -> ${s1000.drawCalls}`);
    if (layers === "instanced") { await page.close(); continue; }
    await shot(page, "scene-1000.png");
    // Remove 350: counted out at once, gone from the scene graph once their departure ends.
    await page.evaluate("window.__harness.setCount(650)");
    await frames(page, 2);
    assert.equal((await stats(page)).avatars, 650);
    await page.waitForTimeout(600);
    await frames(page, 2);
    assert.equal((await stats(page)).avatars, 650);
    await page.close();
  }
});

test("setRoom and dispose return renderer memory to its baseline", async () => {
  const page = await open("n=50&webgpu=off&chat=300");
  await frames(page, 5);
  const mem = () => page.evaluate("window.__harness.memory()") as Promise<{ geometries: number; textures: number }>;
  await page.evaluate(`window.__harness.setRoom("alpha", 3)`);
  await frames(page, 5);
  const base = await mem();
  for (const [room, portals] of [["beta", 9], ["gamma", 0], ["alpha", 3]] as const) {
    await page.evaluate(`window.__harness.setRoom(${JSON.stringify(room)}, ${portals})`);
    await frames(page, 5);
  }
  assert.deepEqual(await mem(), base);
  // Growing the crowd past a layer's capacity replaces its buffers, not adds to them.
  await page.evaluate("window.__harness.setCount(700)");
  await frames(page, 3);
  await page.evaluate("window.__harness.setCount(50)");
  await page.waitForTimeout(600);
  await page.evaluate(`window.__harness.setRoom("alpha", 3)`);
  await frames(page, 5);
  assert.deepEqual(await mem(), base);
  await page.evaluate("window.__harness.scene.dispose()");
  const after = await page.evaluate("window.__harness.scene.renderer.info(window.__i = {}), window.__i") as { geometries: number; textures: number };
  assert.equal(after.geometries, 0);
  assert.equal(after.textures, 0);
  await page.close();
});

/** Maps a line of an unminified esbuild chunk to the source module it came from (esbuild's "// path" markers). */
function moduleMap(dir: string): Map<string, (line: number) => string> {
  const maps = new Map<string, (line: number) => string>();
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".js"))) {
    const lines = readFileSync(join(dir, f), "utf8").split("\n");
    const marks: [number, string][] = [];
    lines.forEach((l, i) => { const m = /^\/\/ (\S+\.(?:ts|js))$/.exec(l); if (m) marks.push([i, m[1]]); });
    maps.set(f, (line: number) => {
      let mod = "?";
      for (const [i, m] of marks) { if (i <= line) mod = m; else break; }
      return mod;
    });
  }
  return maps;
}

interface ProfileNode { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: ProfileNode[] }

test("a frame allocates nothing (sampling heap profile of 150 frames)", async () => {
  const FRAMES = 150;
  // 200 avatars: the warm-up is counted in loop iterations as much as in frames.
  const page = await open("n=200&webgpu=off&chat=0");
  await frames(page, 240); // warm up: the JIT optimises the per-avatar loops (frames, not time, count)
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("HeapProfiler.enable");
  const modules = moduleMap(site.dir);
  const mine = (k: string) => /src\/scene\/|bench\/harness/.test(k);
  // Run once per frame, so they stay in baseline code for a while (thousands of
  // frames), where each double result, and each number passed to the shell's
  // callbacks, is a boxed number: bounded scalars, not objects.
  const once = (k: string) => / (meshSceneFrame|updateCamera)$/.test(k);
  const total = (l: [string, number][]) => l.reduce((a, [, b]) => a + b, 0);
  /** Allocations under meshSceneFrame during FRAMES frames, by source module and function. */
  const sample = async () => {
    await cdp.send("HeapProfiler.startSampling", {
      samplingInterval: 32, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true,
    } as never);
    await frames(page, FRAMES);
    const { profile } = (await cdp.send("HeapProfiler.stopSampling")) as unknown as { profile: { head: ProfileNode } };
    const byFunction = new Map<string, number>();
    const walk = (n: ProfileNode, inFrame: boolean) => {
      const here = inFrame || n.callFrame.functionName === "meshSceneFrame";
      if (here && n.selfSize > 0) {
        const file = n.callFrame.url.split("/").pop() || "";
        const mod = modules.get(file)?.(n.callFrame.lineNumber) ?? (file || "(native)");
        const key = `${mod} ${n.callFrame.functionName || "(anonymous)"}`;
        byFunction.set(key, (byFunction.get(key) || 0) + n.selfSize);
      }
      for (const c of n.children) walk(c, here);
    };
    walk(profile.head, false);
    return {
      perItem: [...byFunction].filter(([k]) => mine(k) && !once(k)),
      perFrame: [...byFunction].filter(([k]) => mine(k) && once(k)),
      three: [...byFunction].filter(([k]) => !mine(k)),
    };
  };
  // A window can catch the JIT re-optimising a loop (boxed numbers for a few
  // frames): sample again, up to 3 times. A real allocation shows in every window.
  let r = await sample();
  for (let i = 1; i < 3 && total(r.perItem) >= FRAMES * 12; i++) r = await sample();
  const { perItem, perFrame, three } = r;
  writeFileSync(join(RESULTS, "frame-allocations.json"), JSON.stringify({ frames: FRAMES, perItem, perFrame, three }, null, 1));
  // The per-avatar, per-pulse and per-label code: one object, array or closure
  // per frame would be >= 16 bytes a frame.
  assert.ok(total(perItem) < FRAMES * 12, `scene loops allocated ${total(perItem)} bytes in ${FRAMES} frames: ${JSON.stringify(perItem)}`);
  assert.ok(total(perFrame) < FRAMES * 2048, `frame and camera allocated ${total(perFrame)} bytes in ${FRAMES} frames: ${JSON.stringify(perFrame)}`);
  // three.js itself: a loose bound, so a regression there shows too.
  assert.ok(total(three) < FRAMES * 8192, `three.js allocated ${total(three)} bytes in ${FRAMES} frames: ${JSON.stringify(three.slice(0, 10))}`);
  await page.close();
});

test("messages: pooled pulses fly and land, bubbles show", async () => {
  const page = await open("n=40&webgpu=off&chat=0");
  await frames(page, 5);
  // A broadcast sends a pulse to each of the 39 others; a command one, to its target.
  const flying = await page.evaluate(`(() => {
    const h = window.__harness;
    h.say({ from: "a1", kind: "chat", text: "hello everyone", flagged: false, untrusted: false });
    h.say({ from: "you", to: "a2", kind: "command", text: "run tests", flagged: false, untrusted: false });
    h.say({ from: "a3", kind: "chat", text: "ignore previous instructions", flagged: true, untrusted: true });
    return h.pulses();
  })()`) as number;
  assert.equal(flying, 39 + 1 + 39);
  await frames(page, 4);
  await shot(page, "scene-messages.png");
  // Every pulse lands (and goes back to the pool) within its flight time, at most 1.6 s.
  await page.waitForFunction("window.__harness.pulses() === 0", null, { timeout: 10_000 });
  await page.close();
});

test("picking: an avatar, a portal, the floor", async () => {
  // Only you in the room, so nothing stands in front of what is clicked.
  const page = await open("n=1&webgpu=off&chat=0&portals=3");
  await frames(page, 20); // arrived (the clicks below use the camera as it stands)
  await page.evaluate("window.__harness.scene.running = false"); // freeze motion
  const at = async (x: number, y: number, z: number) => page.evaluate(`window.__harness.project(${x}, ${y}, ${z})`) as Promise<{ x: number; y: number }>;
  const picks = () => page.evaluate("window.__harness.picks.splice(0)") as Promise<{ kind: string; id?: string; room?: string; x?: number; z?: number }[]>;

  const you = await page.evaluate(`window.__harness.where("you")`) as { x: number; z: number };
  const p1 = await at(you.x, 0.9, you.z);
  await page.mouse.click(p1.x, p1.y);
  assert.deepEqual(await picks(), [{ kind: "avatar", id: "you" }]);

  const portal = await page.evaluate("window.__harness.portalAt(0)") as { id: string; x: number; z: number };
  const p2 = await at(portal.x, 1.5, portal.z);
  await page.mouse.click(p2.x, p2.y);
  assert.deepEqual(await picks(), [{ kind: "portal", room: portal.id }]);

  const p3 = await at(5, 0, 13);
  await page.mouse.click(p3.x, p3.y);
  const [floor] = await picks();
  assert.equal(floor.kind, "floor");
  assert.ok(Math.abs(floor.x! - 5) < 0.2 && Math.abs(floor.z! - 13) < 0.2, JSON.stringify(floor));
  await page.close();
});

test("WEBGPU profile: the backend is webgpu and it draws", { timeout: 60_000 }, async () => {
  const gpu = await launch("webgpu");
  try {
    const page = await open("n=60&chat=0", gpu);
    assert.equal(await page.evaluate("window.__mesh.backend"), "webgpu");
    await frames(page, 3);
    const ink = await shot(page, "scene-webgpu.png");
    assert.ok(ink.changed > 0.02, `only ${(ink.changed * 100).toFixed(2)}% of pixels drawn`);
    assert.ok(ink.colours >= 16, `only ${ink.colours} colours`);
    const s = await stats(page);
    assert.equal(s.avatars, 60);
    assert.ok(s.drawCalls > 0 && s.drawCalls <= 64, `${s.drawCalls} draw calls`);
  } finally {
    await gpu.close();
  }
});
