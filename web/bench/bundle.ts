// Gzipped sizes of the client's 2D and 3D paths, read from the build output
// (internal/webui/dist): what a browser downloads for each.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface Bundle {
  /** index.html, the entry module, its static imports and CSS */
  path2D: number;
  /** path2D plus the scene and each renderer branch it may load (one per renderer) */
  paths3D: { branch: string; renderer: string; bytes: number }[];
}

const STATIC = /(?:\bfrom|\bimport)\s*["']\.\/([\w.-]+\.js)["']/g;
const DYNAMIC = /\bimport\(\s*["']\.\/([\w.-]+\.js)["']\s*\)/g;

/** The scene's renderer modules say which backend they are (renderer-gl.ts, renderer-gpu.ts). */
function renderer(js: string): string {
  return /backend:\s*"webgpu"/.test(js) ? "webgpu" : /backend:\s*"webgl"/.test(js) ? "webgl" : "?";
}

export function bundleSizes(dist: string): Bundle | null {
  const html = join(dist, "index.html");
  if (!existsSync(html)) return null;
  const assets = join(dist, "assets");
  const gz = (f: string) => existsSync(f + ".gz") ? readFileSync(f + ".gz").length : 0;
  const text = (f: string) => readFileSync(join(assets, f), "utf8");
  const refs = [...readFileSync(html, "utf8").matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)].map((m) => m[1]);
  const closure = (start: string[], seen = new Set<string>()): Set<string> => {
    for (const f of start) {
      if (seen.has(f) || !f.endsWith(".js")) { seen.add(f); continue; }
      seen.add(f);
      closure([...text(f).matchAll(STATIC)].map((m) => m[1]), seen);
    }
    return seen;
  };
  const dynamic = (files: Iterable<string>) => [...files].filter((f) => f.endsWith(".js")).flatMap((f) => [...text(f).matchAll(DYNAMIC)].map((m) => m[1]));
  const size = (files: Set<string>) => [...files].reduce((n, f) => n + gz(join(assets, f)), gz(html));
  const two = closure(refs);
  const three = closure(dynamic(two).filter((f) => !two.has(f)), new Set(two));
  const branches = [...new Set(dynamic(three).filter((f) => !three.has(f)))];
  return {
    path2D: size(two),
    paths3D: branches.length
      ? branches.map((b) => ({ branch: b, renderer: renderer(text(b)), bytes: size(closure([b], new Set(three))) }))
      : [{ branch: "scene", renderer: "?", bytes: size(three) }],
  };
}
