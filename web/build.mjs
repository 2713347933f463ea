// Builds the web client into internal/webui/dist/ (embedded by the Go
// binary): index.html, content-hashed JS and CSS chunks under assets/, and a
// .gz beside each. The 3D scene (three.js) is reached only by a dynamic
// import, so the 2D path never downloads it. Prints the gzipped size of the
// 2D and the 3D path and fails when the 2D path is over its budget.

import { build } from "esbuild";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const web = dirname(fileURLToPath(import.meta.url));
const dist = join(web, "..", "internal", "webui", "dist");
const assets = join(dist, "assets");
const BUDGET_2D = 40 * 1024, BUDGET_3D = 250 * 1024;

// Until the 3D scene exists (branch web-3d), its import resolves to a stub
// that fails, and the shell falls back to the 2D map.
const sceneEntry = join(web, "src", "scene", "index.ts");
const hasScene = existsSync(sceneEntry);
const sceneStub = {
  name: "scene-stub",
  setup(b) {
    if (hasScene) return;
    b.onResolve({ filter: /^\.\/scene\/index\.js$/ }, () => ({ path: "scene", namespace: "scene-stub" }));
    b.onLoad({ filter: /.*/, namespace: "scene-stub" }, () => ({
      contents: 'export async function createScene() { throw new Error("the 3D scene is not built into this client"); }',
      loader: "js",
    }));
  },
};

// Start from an empty dist (keeping .gitkeep), so no stale chunk is embedded.
for (const f of existsSync(dist) ? readdirSync(dist) : []) if (f !== ".gitkeep") rmSync(join(dist, f), { recursive: true });
mkdirSync(assets, { recursive: true });

const result = await build({
  absWorkingDir: web,
  entryPoints: [{ in: "src/main.ts", out: "main" }, ...(hasScene ? [{ in: "src/scene/index.ts", out: "scene" }] : [])],
  bundle: true,
  splitting: true,
  format: "esm",
  target: ["es2022"],
  minify: true,
  sourcemap: false,
  legalComments: "none",
  outdir: assets,
  entryNames: "[name]-[hash]",
  chunkNames: "chunk-[hash]",
  assetNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning",
  // The SDK from its sources (its package entry is a tsc build for Node).
  alias: { "@the-mesh/sdk": join(web, "..", "sdk", "src", "index.ts") },
  plugins: [sceneStub],
});

const outputs = result.metafile.outputs;
const name = (out) => relative(assets, join(web, out)).replace(/\\/g, "/");
const byEntry = (entry) => Object.keys(outputs).find((o) => outputs[o].entryPoint === entry);
const mainJS = byEntry("src/main.ts");
const mainCSS = outputs[mainJS].cssBundle;

/** closure lists an output and every chunk it imports statically. */
function closure(start, seen = new Set()) {
  if (seen.has(start)) return seen;
  seen.add(start);
  for (const imp of outputs[start].imports) if (imp.kind === "import-statement" && !imp.external) closure(imp.path, seen);
  return seen;
}

const url = (out) => "/assets/" + relative(assets, join(web, out)).replace(/\\/g, "/");
const preload = [...closure(mainJS)].filter((o) => o !== mainJS).map((o) => `<link rel="modulepreload" href="${url(o)}">`).join("\n");
const html = readFileSync(join(web, "src", "index.html"), "utf8")
  .replace("<!--css-->", mainCSS ? `<link rel="stylesheet" href="${url(mainCSS)}">` : "")
  .replace("<!--js-->", `<script type="module" src="${url(mainJS)}"></script>${preload ? "\n" + preload : ""}`);
writeFileSync(join(dist, "index.html"), html);

// A .gz beside every file; the sizes of each path, gzipped.
const gz = new Map();
function compress(file) {
  const z = gzipSync(readFileSync(file), { level: 9 });
  writeFileSync(file + ".gz", z);
  gz.set(file, z.length);
}
compress(join(dist, "index.html"));
for (const f of readdirSync(assets)) if (!f.endsWith(".gz")) compress(join(assets, f));

const size = (outs) => [...outs].reduce((n, o) => n + (gz.get(join(web, o)) ?? 0), 0);
const path2D = new Set([...closure(mainJS), ...(mainCSS ? [mainCSS] : [])]);
const sceneJS = hasScene ? byEntry("src/scene/index.ts") : undefined;
const html2 = gz.get(join(dist, "index.html"));
const two = size(path2D) + html2;
// The scene may load one renderer (or more) by dynamic import in turn: each
// such branch is a 3D path of its own, and the heaviest is the one budgeted.
const path3D = new Set([...path2D, ...(sceneJS ? closure(sceneJS) : [])]);
// The SDK's E2E crypto is a dynamic import of its own, loaded when the first
// end-to-end encrypted room is joined, in 2D and 3D alike: reported apart.
const isE2E = (o) => /e2e\/session\.ts$/.test(outputs[o].entryPoint ?? "");
const e2eJS = Object.keys(outputs).find(isE2E);
const branches = [...path3D].flatMap((o) => outputs[o].imports.filter((i) => i.kind === "dynamic-import" && !path3D.has(i.path) && !isE2E(i.path)).map((i) => i.path));
const paths3D = branches.length ? branches.map((b) => ({ name: outputs[b].entryPoint ?? name(b), size: size(new Set([...path3D, ...closure(b)])) + html2 }))
  : [{ name: "scene", size: size(path3D) + html2 }];
const three = Math.max(...paths3D.map((p) => p.size));
const kb = (n) => (n / 1024).toFixed(1) + " KB";
console.log(`web: 2D path ${kb(two)} gzipped (budget ${kb(BUDGET_2D)}): index.html, ${[...path2D].map(name).join(", ")}`);
console.log(`web: 3D path ${kb(three)} gzipped (budget ${kb(BUDGET_3D)})` + (hasScene
  ? (paths3D.length > 1 ? ": " + paths3D.map((p) => `${p.name.replace(/^src\//, "")} ${kb(p.size)}`).join(", ") : "")
  : " (no 3D scene yet: src/scene/index.ts is missing)"));
if (e2eJS) {
  const extra = size(new Set([...closure(e2eJS)].filter((o) => !path2D.has(o))));
  console.log(`web: E2E crypto ${kb(extra)} gzipped more, loaded on joining the first end-to-end encrypted room (2D path then ${kb(two + extra)})`);
}
if (three > BUDGET_3D) console.warn(`web: warning: the 3D path is over its ${kb(BUDGET_3D)} budget`);
if (two > BUDGET_2D) {
  console.error(`web: the 2D path is ${kb(two)} gzipped, over its ${kb(BUDGET_2D)} budget`);
  process.exit(1);
}
