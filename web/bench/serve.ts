// Builds the harness page with esbuild into a temporary directory and serves it
// (and any other directory) over a tiny local HTTP server. Used by the scene
// tests and the benchmark.
import { build } from "esbuild";
import { createServer, type Server } from "node:http";
import { mkdtemp, readFile, rm, copyFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, extname, normalize, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

const MIME: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css",
  ".json": "application/json", ".map": "application/json", ".png": "image/png", ".svg": "image/svg+xml",
};

export interface Served { url: string; dir: string; close(): Promise<void> }

/** Builds web/bench/harness.ts (minified unless minify is false) into a temp dir. */
export async function buildHarness(opts: { minify?: boolean } = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "mesh-harness-"));
  await build({
    entryPoints: [join(here, "harness.ts")],
    bundle: true, format: "esm", splitting: true, outdir: dir, target: "es2022",
    minify: opts.minify !== false, sourcemap: false, logLevel: "error",
  });
  await copyFile(join(here, "harness.html"), join(dir, "index.html"));
  return dir;
}

/** Serves dir on 127.0.0.1 (a free port). */
export async function serve(dir: string, removeOnClose = false): Promise<Served> {
  const server: Server = createServer(async (req, res) => {
    try {
      let path = decodeURIComponent((req.url || "/").split("?")[0]);
      if (path.endsWith("/")) path += "index.html";
      const file = normalize(join(dir, path));
      if (!file.startsWith(dir)) { res.writeHead(403).end(); return; }
      await stat(file);
      const body = await readFile(file);
      res.writeHead(200, { "content-type": MIME[extname(file)] || "application/octet-stream", "cache-control": "no-store" });
      res.end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    dir,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (removeOnClose) await rm(dir, { recursive: true, force: true });
    },
  };
}
