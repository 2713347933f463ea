// Debian's chromium through playwright-core, with the flag profiles from
// TESTING.md. Never downloads a browser.
import { chromium, type Browser, type Page } from "playwright-core";

const BASE = ["--headless", "--no-sandbox", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--enable-unsafe-swiftshader"];
export const WEBGL = [...BASE, "--disable-gpu"];
export const WEBGPU = [...BASE, "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-webgpu",
  "--enable-features=Vulkan", "--use-vulkan=swiftshader"];

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

export async function launch(profile: "webgl" | "webgpu" = "webgl", extra: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...(profile === "webgpu" ? WEBGPU : WEBGL), ...extra] });
}

export async function newPage(browser: Browser, width = 1280, height = 720): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width, height } });
  // tsx compiles with keepNames: functions passed to page.evaluate call __name.
  await ctx.addInitScript("globalThis.__name = (f) => f;");
  return ctx.newPage();
}
