// Chromium as TESTING.md runs it here: Debian's binary, playwright-core,
// the WEBGL profile for every test and the WEBGPU profile for one.

import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const BASE = ["--headless", "--no-sandbox", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--enable-unsafe-swiftshader"];
export const WEBGL = [...BASE, "--disable-gpu"];
export const WEBGPU = [...BASE, "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-webgpu",
  "--enable-features=Vulkan", "--use-vulkan=swiftshader"];

export const RESULTS = join(import.meta.dirname, "..", "..", "test-results");
mkdirSync(RESULTS, { recursive: true });

const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
export const DIST = join(import.meta.dirname, "..", "..", "..", "internal", "webui", "dist", "assets");

export function launch(args = WEBGL): Promise<Browser> {
  return chromium.launch({ executablePath: "/usr/bin/chromium", args });
}

export interface Tab { ctx: BrowserContext; page: Page; requests: string[]; errors: string[] }

/** open makes a fresh context (with axe injected, optionally without WebGL/WebGPU) and a page. */
export async function open(browser: Browser, opts: { noGL?: boolean; noAxe?: boolean } = {}): Promise<Tab> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  if (!opts.noAxe) await ctx.addInitScript({ path: AXE }); // init scripts are not subject to the page's CSP
  if (opts.noGL) {
    // A string, not a function: tsx would add helpers the page does not have.
    await ctx.addInitScript(`{
      const get = HTMLCanvasElement.prototype.getContext;
      HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
        return /webgl|webgpu/.test(type) ? null : get.call(this, type, ...rest);
      };
      Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined });
    }`);
  }
  const page = await ctx.newPage();
  const tab: Tab = { ctx, page, requests: [], errors: [] };
  page.on("request", (r) => tab.requests.push(r.url()));
  page.on("pageerror", (e) => tab.errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") tab.errors.push(m.text()); });
  return tab;
}

/** axe runs axe-core on the page and returns its violations, one line each. */
export async function axe(page: Page): Promise<string[]> {
  const found = await page.evaluate(async () => {
    const r = await (window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: { id: string; help: string; nodes: { target: string[] }[] }[] }> } })
      .axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
  });
  return found;
}

/** threeChunks names the built chunks that contain three.js. */
export function threeChunks(): string[] {
  return readdirSync(DIST).filter((f) => f.endsWith(".js") && /isWebGLRenderer|isWebGPURenderer/.test(readFileSync(join(DIST, f), "utf8")));
}

/** mesh reads window.__mesh (WEB.md's test hooks). */
export function mesh<T>(page: Page, fn: string): Promise<T> {
  return page.evaluate(`(() => { const m = window.__mesh; return ${fn}; })()`) as Promise<T>;
}

/**
 * until polls expr (over window.__mesh as m) from Node: the page's CSP
 * forbids the string evaluation that page.waitForFunction does in the page.
 */
export async function until(page: Page, expr: string, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      last = await mesh(page, `!!m && (${expr})`);
      if (last === true) return;
    } catch (e) { last = e; } // a navigation in flight
    if (Date.now() > deadline) throw new Error(`not true within ${ms} ms: ${expr} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
