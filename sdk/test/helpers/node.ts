// A real mesh node for tests: the repository's bin/mesh, started on a
// free loopback port with a temporary data directory, stopped and removed
// by cleanup().

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Client, type ClientOptions, register, Rest } from "../../src/index.js";
import { meshBin } from "./paths.js";

export interface MeshNode {
  url: string;
  port: number;
  dir: string;
  proc: ChildProcess;
  /** The node's log (stderr), for failure messages. */
  log: string[];
  ownerToken: string;
  /** stop signals the node and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const procs = new Set<ChildProcess>();
const dirs = new Set<string>();

/**
 * startNode starts `mesh up` on 127.0.0.1 (port 0: a free one) with the
 * data directory dir (default: a new temporary one) and waits until it
 * prints the address it listens on.
 */
export async function startNode(opts: { dir?: string; port?: number; flags?: string[] } = {}): Promise<MeshNode> {
  if (!existsSync(meshBin)) throw new Error(`${meshBin} is missing: build it with "go build -o bin/mesh ./cmd/mesh" at the repository root`);
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "mesh-sdk-")));
  dirs.add(dir);
  const args = ["up", "--data", dir, "--addr", `127.0.0.1:${opts.port ?? 0}`, "--log-level", "warn", ...(opts.flags ?? [])];
  const proc = spawn(meshBin, args, { stdio: ["ignore", "pipe", "pipe"] });
  procs.add(proc);
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  void exited.then(() => procs.delete(proc));
  const log: string[] = [];
  createInterface({ input: proc.stderr! }).on("line", (l) => log.push(l));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mesh up printed no address within 10 s:\n${log.join("\n")}`)), 10000);
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      const m = /listening on (https?:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then(() => reject(new Error(`mesh up exited:\n${log.join("\n")}`)));
  });
  const ownerToken = (await readFile(join(dir, "owner.token"), "utf8")).trim();
  return {
    url,
    port: Number(new URL(url).port),
    dir,
    proc,
    log,
    ownerToken,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill("SIGKILL"), 20000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** track has cleanup kill proc (another mesh process, e.g. a relay) and remove dir. */
export function track(proc: ChildProcess, dir?: string): void {
  procs.add(proc);
  proc.once("exit", () => procs.delete(proc));
  if (dir) dirs.add(dir);
}

/** cleanup kills every node a test started and removes their data directories. */
export async function cleanup(): Promise<void> {
  for (const p of procs) p.kill("SIGKILL");
  await Promise.all([...procs].map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once("exit", r)))));
  await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true })));
  dirs.clear();
}

/** Fast reconnects for tests. */
export const fast: ClientOptions = { minBackoff: 10, maxBackoff: 200 };

/** agent registers a participant from loopback and returns its id and token. */
export async function agent(n: { url: string }, name: string, kind: "agent" | "human" = "agent"): Promise<{ id: string; token: string }> {
  const { participant, token } = await register(n.url, { name, kind });
  return { id: participant.id, token };
}

/** dial connects a client that the returned list closes. */
export async function dial(clients: Client[], url: string, token: string, opts: ClientOptions = {}): Promise<Client> {
  const c = await Client.dial(url, token, { ...fast, ...opts });
  clients.push(c);
  return c;
}

/** unlimitedRoom creates, as the owner, a room with no per-sender message rate limit, and returns its id. */
export async function unlimitedRoom(n: MeshNode, name: string, policy: Record<string, unknown> = {}): Promise<string> {
  const r = await new Rest(n.url, n.ownerToken).createRoom({ name, policy: { limits: { messagesPerMinute: 0 }, ...policy } });
  return r.id;
}

/** next reads the next value of an iterator, failing after ms. */
export async function next<T>(it: AsyncIterator<T>, ms = 5000): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms)));
  try {
    const r = await Promise.race([it.next(), timeout]);
    if (r.done) throw new Error("the iterator ended");
    return r.value;
  } finally {
    clearTimeout(t);
  }
}

/** eventually polls cond until it holds, failing after ms. */
export async function eventually(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
