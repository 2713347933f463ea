// Federation for tests: a real Interchange relay (`mesh interchange`) and
// nodes linked to it (`mesh up --interchange`), each allowed on the relay
// with a secret of its own, as cmd/mesh's federation tests do. cleanup()
// (helpers/node.ts) stops them all.

import { execFile, spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { Rest } from "../../src/index.js";
import { startNode, track, type MeshNode } from "./node.js";
import { meshBin } from "./paths.js";

const run = promisify(execFile);

export interface Relay {
  url: string;
  dir: string;
  log: string[];
}

/** startRelay runs `mesh interchange` on a free loopback port and waits until it listens. */
export async function startRelay(): Promise<Relay> {
  const dir = await mkdtemp(join(tmpdir(), "mesh-relay-"));
  const proc = spawn(meshBin, ["interchange", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn"], { stdio: ["ignore", "pipe", "pipe"] });
  track(proc, dir);
  const log: string[] = [];
  createInterface({ input: proc.stderr! }).on("line", (l) => log.push(l));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mesh interchange printed no address within 10 s:\n${log.join("\n")}`)), 10000);
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      const m = /listening on (wss?:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once("exit", () => reject(new Error(`mesh interchange exited:\n${log.join("\n")}`)));
  });
  return { url, dir, log };
}

/** FedNode is a node linked to a relay, with its node id. */
export interface FedNode extends MeshNode {
  id: string;
}

/**
 * startFedNode starts a node once (it makes its identity), reads its id,
 * allows it on relay with a new secret, and starts it again linked to the
 * relay (no frame rate limit, fast federation retries).
 */
export async function startFedNode(relay: Relay): Promise<FedNode> {
  const first = await startNode();
  await first.stop();
  const id = (await run(meshBin, ["id", "--data", first.dir])).stdout.trim();
  const secret = (await run(meshBin, ["interchange", "allow", "--data", relay.dir, "--node", id])).stdout.trim();
  if (!secret.startsWith("mis_")) throw new Error(`mesh interchange allow printed ${JSON.stringify(secret)}`);
  const secretFile = join(relay.dir, `${id}.secret`); // removed with the relay's directory
  await writeFile(secretFile, secret + "\n", { mode: 0o600 });
  const flags = ["--rate", "0", "--interchange", relay.url, "--interchange-secret-file", secretFile, "--federation-retry-min", "100ms", "--federation-retry-max", "1s"];
  const n = await startNode({ dir: first.dir, flags });
  return { ...n, id };
}

/** waitDirectory polls node's directory (as its owner) until it lists address, failing after ms. */
export async function waitDirectory(n: MeshNode, address: string, ms = 20000): Promise<void> {
  const rest = new Rest(n.url, n.ownerToken);
  const deadline = Date.now() + ms;
  for (;;) {
    const body = (await rest.request("GET", "/api/v1/directory")) as { rooms?: { address?: string; id?: string }[] };
    if (JSON.stringify(body.rooms ?? []).includes(JSON.stringify(address))) return;
    if (Date.now() > deadline) throw new Error(`node ${n.url} never listed ${address} in its directory: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
