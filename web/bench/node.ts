// A real node for the benchmark: bin/mesh (built by `make build`) on
// 127.0.0.1:0 with a temporary data directory, and REST helpers for bots.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const MESH = join(ROOT, "bin", "mesh");

export interface MeshNode { url: string; login: string; ownerToken: string; proc: ChildProcess; stop(): Promise<void> }

export async function startNode(flags: string[] = []): Promise<MeshNode> {
  if (!existsSync(MESH)) throw new Error(`${MESH} is missing: run make build first`);
  const dir = mkdtempSync(join(tmpdir(), "mesh-bench-"));
  const proc = spawn(MESH, ["up", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn", ...flags], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  proc.stderr!.on("data", (d) => { err += d; if (err.length > 65536) err = err.slice(-32768); });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const [url, login] = await new Promise<[string, string]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mesh up printed no URL in 15 s:\n${out}\n${err}`)), 15_000);
    proc.stdout!.on("data", (d) => {
      out += d;
      const l = /listening on (http:\/\/\S+)/.exec(out), o = /open (\S+) to log in/.exec(out);
      if (l && o) { clearTimeout(timer); resolve([l[1], o[1]]); }
    });
    proc.once("exit", (code) => { clearTimeout(timer); reject(new Error(`mesh up exited (${code}):\n${err}`)); });
  });
  return {
    url, login, ownerToken: new URL(login).hash.replace(/^#token=/, ""), proc,
    async stop() {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function rest<T = Record<string, unknown>>(node: MeshNode, method: string, path: string, token: string, body?: unknown): Promise<T> {
  const res = await fetch(node.url + path, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { ...(token ? { Authorization: "Bearer " + token } : {}), "Content-Type": "application/json" },
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${JSON.stringify(data)}`);
  return data as T;
}

/**
 * A bot without a WebSocket: it joins by REST and walks with POST …/move (the
 * node walks its avatar, which stays while it keeps walking), so a thousand
 * of them cost the benchmark nothing to receive.
 */
export class Bot {
  x = 0; z = 0;
  /** when it last walked (Date.now()) */
  last = 0;
  constructor(readonly node: MeshNode, readonly id: string, readonly token: string, readonly room: string) {}

  static async create(node: MeshNode, name: string, room: string): Promise<Bot> {
    const r = await rest<{ participant: { id: string }; token: string }>(node, "POST", "/api/v1/participants", "", { name, kind: "agent" });
    await rest(node, "POST", `/api/v1/rooms/${room}/join`, r.token);
    return new Bot(node, r.participant.id, r.token, room);
  }

  /** Walks to (x, z); the node answers at once and walks the avatar at its speed. */
  async walk(x: number, z: number): Promise<void> {
    const r = await rest<{ avatar: { pos: number[] } }>(this.node, "POST", `/api/v1/rooms/${this.room}/move`, this.token, { pos: [x, 0, z] });
    this.x = x; this.z = z;
    void r;
  }

  async say(text: string): Promise<void> {
    await rest(this.node, "POST", `/api/v1/rooms/${this.room}/messages`, this.token, { text });
  }
}

/** Runs fn over items with at most n in flight. */
export async function pool<T>(items: T[], n: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) { const i = next++; await fn(items[i], i); }
  }));
}
