// E2E against plain, same node, same run: messages per second (one sender,
// one receiver, many says in flight) and say→ack latency (one say at a
// time) in a plain room and in an end-to-end encrypted room, with the
// ratios. The E2E clients keep their keys in files (fileKeyStore), as an
// agent would. Plain and E2E runs alternate, rounds times each, and the
// best of each counts (a shared machine's load only ever slows a run).
// Prints one JSON object.
//
//	npm run bench -w sdk -- --e2e [--messages 5000 --in-flight 64 --latency 300 --bytes 200 --rounds 3]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client, fileKeyStore, type KeyStore } from "../src/index.js";
import { agent, cleanup, startNode, unlimitedRoom, type MeshNode } from "../test/helpers/node.js";

const { values } = parseArgs({
  options: {
    e2e: { type: "boolean", default: true },
    messages: { type: "string", default: "5000" },
    "in-flight": { type: "string", default: "64" },
    latency: { type: "string", default: "300" },
    bytes: { type: "string", default: "200" },
    rounds: { type: "string", default: "3" },
  },
});
const total = Number(values.messages);
const inFlight = Number(values["in-flight"]);
const rounds = Number(values.latency);
const text = "x".repeat(Number(values.bytes));

interface Figures {
  msgsPerSecond: number;
  ackMedianMs: number;
  ackP95Ms: number;
}

/** pair dials a sender and a receiver into a fresh room (E2E with key stores when keys are given). */
async function pair(n: MeshNode, name: string, keys?: [KeyStore, KeyStore]): Promise<{ room: string; s: Client; r: Client }> {
  const room = await unlimitedRoom(n, name, keys ? { e2e: true } : {});
  const s = await Client.dial(n.url, (await agent(n, name + "-sender")).token, keys ? { keys: keys[0] } : {});
  const r = await Client.dial(n.url, (await agent(n, name + "-receiver")).token, keys ? { keys: keys[1] } : {});
  await s.join(room);
  await r.join(room);
  if (keys) {
    // Both devices in the sender's roster before timing starts; the first say posts the keys entry.
    const deadline = Date.now() + 10000;
    while ((s.roster(room)?.devices.length ?? 0) < 2) {
      if (Date.now() > deadline) throw new Error("the devices never reached the roster");
      await new Promise((res) => setTimeout(res, 10));
    }
    const it = r.messages();
    await s.say(room, "warm-up");
    for await (const m of it) if (m.kind === "chat") break;
  }
  return { room, s, r };
}

async function measure(n: MeshNode, name: string, keys?: [KeyStore, KeyStore]): Promise<Figures> {
  const { room, s, r } = await pair(n, name, keys);
  // Throughput: total says with inFlight in flight, until the receiver has them all.
  const it = r.messages();
  const start = performance.now();
  let sent = 0;
  const senders = Array.from({ length: inFlight }, async () => {
    while (sent < total) {
      sent++;
      await s.say(room, text);
    }
  });
  let received = 0;
  for await (const m of it) {
    if (m.kind === "chat" && m.body.text === text && ++received === total) break;
    if (m.undecryptable) throw new Error(`message ${m.seq} did not open: ${m.undecryptable}`);
  }
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(senders);
  // Latency: one say at a time, say→ack.
  const lat: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await s.say(room, text);
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  await s.close();
  await r.close();
  return {
    msgsPerSecond: Math.round(total / seconds),
    ackMedianMs: Number(lat[Math.floor(lat.length / 2)]!.toFixed(3)),
    ackP95Ms: Number(lat[Math.floor(lat.length * 0.95)]!.toFixed(3)),
  };
}

const dir = mkdtempSync(join(tmpdir(), "mesh-e2e-bench-"));
const n = await startNode({ flags: ["--rate", "0"] });
try {
  const runs: { plain: Figures[]; e2e: Figures[] } = { plain: [], e2e: [] };
  for (let i = 0; i < Number(values.rounds); i++) {
    runs.plain.push(await measure(n, `plain${i}`));
    runs.e2e.push(await measure(n, `sealed${i}`, [fileKeyStore(join(dir, `sender${i}.json`)), fileKeyStore(join(dir, `receiver${i}.json`))]));
  }
  const best = (fs: Figures[]): Figures => ({
    msgsPerSecond: Math.max(...fs.map((f) => f.msgsPerSecond)),
    ackMedianMs: Math.min(...fs.map((f) => f.ackMedianMs)),
    ackP95Ms: Math.min(...fs.map((f) => f.ackP95Ms)),
  });
  const plain = best(runs.plain);
  const e2e = best(runs.e2e);
  console.log(
    JSON.stringify(
      {
        benchmark: "E2E vs plain room: say throughput (one sender, one receiver) and say→ack latency, same local node, best of each",
        messages: total,
        inFlight,
        latencyRounds: rounds,
        textBytes: text.length,
        plain,
        e2e,
        ratio: {
          msgsPerSecond: Number((e2e.msgsPerSecond / plain.msgsPerSecond).toFixed(3)),
          ackMedian: Number((e2e.ackMedianMs / plain.ackMedianMs).toFixed(3)),
        },
        runs,
        node: process.version,
      },
      null,
      2,
    ),
  );
} finally {
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
}
