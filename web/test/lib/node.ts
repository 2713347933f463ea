// startNode runs bin/mesh (built by make) on 127.0.0.1:0 with a temporary
// data directory and reads the address and owner login URL it prints.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const MESH = join(import.meta.dirname, "..", "..", "..", "bin", "mesh");

export interface MeshNode { url: string; login: string; ownerToken: string; dir: string; proc: ChildProcess; stop(): Promise<void> }

export async function startNode(...flags: string[]): Promise<MeshNode> {
  if (!existsSync(MESH)) throw new Error(`${MESH} is missing: run make (the browser tests expect a built binary)`);
  const dir = mkdtempSync(join(tmpdir(), "mesh-web-test-"));
  const proc = spawn(MESH, ["up", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn", ...flags], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  proc.stderr!.on("data", (d) => { err += d; });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const [url, login] = await new Promise<[string, string]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mesh up printed no URL in 10 s:\n${out}\n${err}`)), 10_000);
    proc.stdout!.on("data", (d) => {
      out += d;
      const l = /listening on (http:\/\/\S+)/.exec(out), o = /open (\S+) to log in/.exec(out);
      if (l && o) { clearTimeout(timer); resolve([l[1], o[1]]); }
    });
    proc.once("exit", (code) => { clearTimeout(timer); reject(new Error(`mesh up exited (${code}):\n${err}`)); });
  });
  const ownerToken = new URL(login).hash.replace(/^#token=/, "");
  return {
    url, login, ownerToken, dir, proc,
    async stop() {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** rest calls the node's REST API. */
export async function rest<T = Record<string, unknown>>(node: MeshNode, method: string, path: string, token: string, body?: unknown): Promise<T> {
  const res = await fetch(node.url + path, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { ...(token ? { Authorization: "Bearer " + token } : {}), "Content-Type": "application/json" },
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${JSON.stringify(data)}`);
  return data as T;
}
