// The `web` benchmark (npm run bench -w web, or make bench-web): the 3D
// client in headless chromium (WEBGL profile, 1280x720) against a real node,
// with N avatars walking and one chat message a second. Prints JSON.
//
// It builds nothing: bin/mesh and internal/webui/dist come from `make build`.
//
//   --sizes 200,1000   avatars in the room (the owner's included)
//   --seconds 5        length of a measured window (after 1 s of warm-up)
//   --harness          drive the scene alone with synthetic avatars
//                      (web/bench/harness.ts), no node, no shell
//   --out FILE         also write the JSON there
//
// A window in which processes other than the benchmark's own (this one, the
// node, chromium) used more than 0.3 of a core is measured again, up to 3
// times; the least disturbed window is kept.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { launch, newPage } from "./browser.js";
import { machine, measure, round, treeCpu, type Window } from "./measure.js";
import { bundleSizes } from "./bundle.js";
import { Bot, pool, ROOT, startNode, type MeshNode } from "./node.js";
import { buildHarness, serve } from "./serve.js";

const FIRST_FRAME = "mesh:first-frame";
const FOREIGN_MAX = 0.3;
const TARGETS = { fps200: 24, fps200Stretch: 30, fps1000: 12, drawCalls200: 64, jsMs200: 4, firstFrameMs: 1500 };

function arg(name: string, def: string): string {
  const i = process.argv.indexOf("--" + name);
  if (i >= 0 && i + 1 < process.argv.length && !process.argv[i + 1].startsWith("--")) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : def;
}
const sizes = arg("sizes", "200,1000").split(",").map(Number).filter((n) => n > 0);
const seconds = Number(arg("seconds", "5"));
const harness = process.argv.includes("--harness");
const out = arg("out", "");
const log = (...a: unknown[]) => console.error("bench:", ...a);

interface Run extends Window { n: number; attempts: number; foreignByAttempt: number[] }

/** Measures a window, again (up to 3 times) while something else used the CPU; keeps the least disturbed. */
async function window(page: Page, ours: number[]): Promise<Omit<Run, "n">> {
  const tries: Window[] = [];
  for (let i = 0; i < 3; i++) {
    await page.waitForTimeout(1000);
    const w = await measure(page, seconds * 1000, ours);
    log(`  window ${i + 1}: ${w.fps} fps, ${w.drawCalls} draw calls, JS ${w.jsP50}/${w.jsP95} ms, foreign ${w.foreignCores} cores`);
    tries.push(w);
    if (w.foreignCores <= FOREIGN_MAX) break;
  }
  const best = tries.reduce((a, b) => (b.foreignCores < a.foreignCores ? b : a));
  return { ...best, attempts: tries.length, foreignByAttempt: tries.map((t) => t.foreignCores) };
}

interface FirstFrame { coldMs: number; warmMs: number; attempts: number; foreignCores: number }

/**
 * The first rendered frame after navigation start (the scene's performance
 * mark), cold: a browser just started, nothing cached. Measured again in a new
 * browser while something else used the CPU (up to 3 times). Then warm: the
 * best of two reloads. Returns the browser and page it ends with, for the rest.
 */
async function firstFrame(url: string, ready: (mark: string) => unknown, ours: number[]): Promise<{ first: FirstFrame; browser: Browser; page: Page }> {
  let best: FirstFrame | null = null;
  let browser: Browser | null = null, page: Page | null = null;
  const load = async (p: Page) => {
    await p.goto(url);
    await p.waitForFunction(ready, FIRST_FRAME, { timeout: 60_000 });
    return round(await p.evaluate(`performance.getEntriesByName(${JSON.stringify(FIRST_FRAME)})[0]?.startTime ?? -1`) as number, 0);
  };
  for (let i = 0; i < 3; i++) {
    if (browser) await browser.close();
    const c0 = treeCpu(ours), m0 = busy(), t0 = Date.now();
    browser = await launch("webgl");
    page = await newPage(browser);
    const ms = await load(page);
    const wall = (Date.now() - t0) / 1000;
    const foreign = round(Math.max(0, ((busy() - m0) - (treeCpu(ours) - c0)) / 100 / wall), 2);
    log(`  first frame, cold: ${ms} ms (foreign ${foreign} cores)`);
    if (!best || foreign < best.foreignCores) best = { coldMs: ms, warmMs: -1, attempts: i + 1, foreignCores: foreign };
    else best.attempts = i + 1;
    if (foreign <= FOREIGN_MAX) break;
  }
  let warm = Infinity;
  for (let i = 0; i < 2; i++) {
    await page!.goto("about:blank");
    warm = Math.min(warm, await load(page!));
  }
  best!.warmMs = warm;
  log(`  first frame, warm: ${warm} ms`);
  return { first: best!, browser: browser!, page: page! };
}

const busy = () => machine().busy;

const CHAT = ["hello everyone", "running the build now", "tests pass here", "who owns the deploy?", "see data/run.txt", "ok", "moving to design"];

async function benchNode(): Promise<Record<string, unknown>> {
  const node = await startNode(["--max-conns-per-ip", "0"]);
  let browser: Browser | null = null;
  const bots: Bot[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    const ours = [process.pid];
    log(`node ${node.url}; first frame`);
    // (Functions, not strings: the client's CSP forbids eval.)
    const ready = (mark: string) => (window as unknown as { __mesh?: { mode?: string } }).__mesh?.mode && performance.getEntriesByName(mark).length > 0;
    const ff = await firstFrame(node.login, ready, ours);
    browser = ff.browser;
    const { page, first } = ff;
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const mode = await page.evaluate("window.__mesh.mode");
    const backend = await page.evaluate("window.__mesh.backend");
    if (mode !== "3d") throw new Error(`the client opened in ${mode} mode`);

    // While measuring, bots walk (a step of a few metres, each about every 3 s)
    // and one of them talks every second. While more arrive, they only keep
    // their avatars (a REST walker's avatar stays 2 minutes after its last walk).
    let active = false;
    const walk = (b: Bot) => {
      const a = Math.random() * Math.PI * 2, d = 1 + Math.random() * 3;
      b.last = Date.now();
      return b.walk(clamp(b.x + Math.cos(a) * d), clamp(b.z + Math.sin(a) * d)).catch(() => {});
    };
    timers.push(setInterval(() => {
      if (!active || bots.length === 0) return;
      for (let k = Math.ceil(bots.length / 30); k > 0; k--) void walk(bots[Math.floor(Math.random() * bots.length)]);
    }, 100));
    timers.push(setInterval(() => {
      for (const b of bots) if (Date.now() - b.last > 60_000) void walk(b);
    }, 1000));
    let said = 0;
    timers.push(setInterval(() => {
      if (active && bots.length) void bots[Math.floor(Math.random() * bots.length)].say(CHAT[said++ % CHAT.length]).catch(() => {});
    }, 1000));

    const runs: Run[] = [];
    for (const n of sizes) {
      // The bots arrive while the page is open (each a presence join). Loading
      // the page after they arrived would be quicker, but the client shows only
      // avatars of members online, and REST walkers are present without being
      // online: they would not show.
      active = false;
      const want = Math.max(0, n - 1); // and the owner
      log(`${n} avatars: ${want - bots.length} more bots`);
      await pool(Array.from({ length: want - bots.length }, (_, i) => bots.length + i), 8, async (i) => {
        const b = await Bot.create(node, `bot-${i}`, "lobby");
        b.last = Date.now();
        await b.walk(clamp(Math.random() * 4 - 2), clamp(Math.random() * 4 - 2));
        bots.push(b);
      });
      let most = 0;
      for (let t = Date.now(); ; await page.waitForTimeout(2000)) {
        const seen = await page.evaluate("window.__mesh.avatars()") as number;
        if (seen === n) break;
        if (seen < most / 2) throw new Error(`the client lost its avatars (${most} -> ${seen}): it reconnected, and shows REST walkers only from presence joins`);
        most = Math.max(most, seen);
        if (Date.now() - t > 300_000) throw new Error(`${seen} avatars shown after 5 minutes, not ${n}`);
        log(`  ${seen} avatars shown`);
      }
      active = true;
      const w = await window(page, ours);
      if (w.avatars !== n) throw new Error(`${w.avatars} avatars at the end of the window, not ${n}`);
      runs.push({ n, ...w });
    }
    active = false;
    return { mode: "node", backend, firstFrameMs: first.coldMs, firstFrame: first, runs, pageErrors: errors.slice(0, 5) };
  } finally {
    timers.forEach(clearInterval);
    await browser?.close();
    await node.stop();
  }
}

async function benchHarness(): Promise<Record<string, unknown>> {
  const site = await serve(await buildHarness({ minify: true }), true);
  let browser: Browser | null = null;
  try {
    const ours = [process.pid];
    const ready = (mark: string) => document.body.dataset.ready && performance.getEntriesByName(mark).length > 0;
    const ff = await firstFrame(site.url + `?n=${sizes[0]}&webgpu=off`, ready, ours);
    browser = ff.browser;
    const { page, first } = ff;
    const backend = await page.evaluate("window.__mesh.backend");
    const runs: Run[] = [];
    for (const n of sizes) {
      log(`${n} avatars (synthetic)`);
      await page.evaluate(`window.__harness.setCount(${n})`);
      await page.waitForFunction((n) => (window as unknown as { __mesh: { avatars(): number } }).__mesh.avatars() === n, n, { timeout: 60_000 });
      runs.push({ n, ...(await window(page, ours)) });
    }
    return { mode: "harness", backend, firstFrameMs: first.coldMs, firstFrame: first, runs };
  } finally {
    await browser?.close();
    await site.close();
  }
}

function clamp(v: number): number { return Math.max(-19, Math.min(19, v)); }

async function main(): Promise<void> {
  const started = Date.now();
  const result = harness ? await benchHarness() : await benchNode();
  const runs = result.runs as Run[];
  const at = (n: number) => runs.find((r) => r.n === n);
  const bundle = bundleSizes(join(ROOT, "internal", "webui", "dist"));
  const gl = bundle?.paths3D.find((p) => p.renderer === "webgl"), gpu = bundle?.paths3D.find((p) => p.renderer === "webgpu");
  const report = {
    bench: "web",
    when: new Date().toISOString(),
    viewport: "1280x720",
    profile: "WEBGL",
    ...result,
    runs: runs.map((r) => ({
      avatars: r.n, fps: r.fps, drawCalls: r.drawCalls, triangles: r.triangles, jsMsP50: r.jsP50, jsMsP95: r.jsP95,
      browserCpuMsPerFrame: r.browserCpuMsPerFrame, frames: r.frames, seconds: r.seconds,
      foreignCores: r.foreignCores, attempts: r.attempts, foreignByAttempt: r.foreignByAttempt, avatarsSeen: r.avatars,
    })),
    jsGzipBytes: bundle ? { path2D: bundle.path2D, path3DWebGL: gl?.bytes ?? null, path3DWebGPU: gpu?.bytes ?? null } : null,
    targets: TARGETS,
    meets: {
      fps200: at(200) ? at(200)!.fps >= TARGETS.fps200 : null,
      fps200Stretch: at(200) ? at(200)!.fps >= TARGETS.fps200Stretch : null,
      fps1000: at(1000) ? at(1000)!.fps >= TARGETS.fps1000 : null,
      drawCalls200: at(200) ? at(200)!.drawCalls <= TARGETS.drawCalls200 : null,
      jsMs200: at(200) ? at(200)!.jsP50 <= TARGETS.jsMs200 : null,
      firstFrame: (result.firstFrameMs as number) >= 0 ? (result.firstFrameMs as number) <= TARGETS.firstFrameMs : null,
      bundle3D: bundle ? Math.max(...bundle.paths3D.map((p) => p.bytes)) <= 250 * 1024 : null,
    },
    wallSeconds: round((Date.now() - started) / 1000, 1),
  };
  const json = JSON.stringify(report, null, 2);
  console.log(json);
  if (out) writeFileSync(out, json + "\n");
}

main().catch((err) => {
  console.error("bench: failed:", err);
  process.exit(1);
});
