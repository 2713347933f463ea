// Measuring frames on a shared machine: frames counted in the page, CPU time of
// chromium's processes and of everything else read from /proc, so a window where
// another process stole the CPU can be measured again.
import { readFileSync, readdirSync } from "node:fs";
import type { Page } from "playwright-core";

const HZ = 100; // USER_HZ

/** Busy and total jiffies of the whole machine. */
export function machine(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] || 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

function procStat(pid: number): { ppid: number; cpu: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // rest[0] = state, [1] = ppid, [11] = utime, [12] = stime (fields 3, 4, 14, 15)
    return { ppid: Number(rest[1]), cpu: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return null;
  }
}

/** Every process descending from (and including) the roots, with its CPU jiffies. */
export function treeCpu(roots: number[]): number {
  const kids = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    const pid = Number(d);
    if (!pid) continue;
    const st = procStat(pid);
    if (!st) continue;
    cpu.set(pid, st.cpu);
    if (!kids.has(st.ppid)) kids.set(st.ppid, []);
    kids.get(st.ppid)!.push(pid);
  }
  let sum = 0;
  const seen = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    sum += cpu.get(p) || 0;
    for (const k of kids.get(p) || []) stack.push(k);
  }
  return sum;
}

/** Chromium browser processes started by this process (playwright spawns them as children). */
export function chromiumRoots(parent = process.pid): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    const pid = Number(d);
    if (!pid) continue;
    const st = procStat(pid);
    if (!st || st.ppid !== parent) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("chrom")) out.push(pid);
    } catch { /* gone */ }
  }
  return out;
}

export interface Window {
  fps: number;
  frames: number;
  seconds: number;
  /** page JS ms per frame (scene.stats().frameMs sampled every frame) */
  jsP50: number;
  jsP95: number;
  drawCalls: number;
  triangles: number;
  avatars: number;
  /** CPU ms per frame of chromium's processes */
  browserCpuMsPerFrame: number;
  /** cores used by processes other than ours during the window */
  foreignCores: number;
}

/**
 * Counts frames for ms milliseconds after warmMs of warm-up. ours: pids whose
 * trees are not foreign (this process, the node, chromium).
 */
export async function measure(page: Page, ms: number, ours: number[]): Promise<Window> {
  const browserRoots = chromiumRoots();
  const allOurs = [...ours, ...browserRoots];
  const m0 = machine(), o0 = treeCpu(allOurs), b0 = treeCpu(browserRoots);
  const t0 = Date.now();
  const r = await page.evaluate(`new Promise((resolve) => {
    const js = [];
    let frames = 0, dc = 0, tri = 0, av = 0;
    const start = performance.now();
    const step = () => {
      const s = window.__mesh.stats();
      js.push(s.frameMs); dc = Math.max(dc, s.drawCalls); tri = s.triangles; av = s.avatars;
      frames++;
      const el = performance.now() - start;
      if (el < ${ms}) requestAnimationFrame(step);
      else resolve({ frames, el, js, dc, tri, av });
    };
    requestAnimationFrame(step);
  })`) as { frames: number; el: number; js: number[]; dc: number; tri: number; av: number };
  const wall = (Date.now() - t0) / 1000;
  const m1 = machine(), o1 = treeCpu(allOurs), b1 = treeCpu(browserRoots);
  const busyCores = (m1.busy - m0.busy) / HZ / wall;
  const oursCores = (o1 - o0) / HZ / wall;
  const js = r.js.slice().sort((a, b) => a - b);
  const q = (p: number) => js.length ? js[Math.min(js.length - 1, Math.floor(p * js.length))] : 0;
  return {
    fps: round((r.frames - 1) * 1000 / r.el, 1),
    frames: r.frames,
    seconds: round(r.el / 1000, 2),
    jsP50: round(q(0.5), 2),
    jsP95: round(q(0.95), 2),
    drawCalls: r.dc,
    triangles: r.tri,
    avatars: r.av,
    browserCpuMsPerFrame: round(((b1 - b0) * 1000) / HZ / Math.max(1, r.frames), 1),
    foreignCores: round(Math.max(0, busyCores - oursCores), 2),
  };
}

export function round(v: number, d: number): number { const k = 10 ** d; return Math.round(v * k) / k; }
