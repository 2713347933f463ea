// Throughput: messages per second from one sender to one receiver through
// a local node (frame rate limit off, room rate limit off), with many says
// in flight. Prints one JSON object.
//
//	npm run bench -w sdk [-- --messages 20000 --in-flight 256]
//	npm run bench -w sdk -- --e2e   (an E2E room against a plain one: bench/e2e.ts)

import { parseArgs } from "node:util";
import { Client } from "../src/index.js";
import { agent, cleanup, startNode, unlimitedRoom } from "../test/helpers/node.js";

if (process.argv.includes("--e2e")) {
  await import("./e2e.js");
  process.exit(0);
}

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "20000" },
    "in-flight": { type: "string", default: "256" },
    bytes: { type: "string", default: "64" },
  },
});
const total = Number(values.messages);
const inFlight = Number(values["in-flight"]);
const text = "x".repeat(Number(values.bytes));

const n = await startNode({ flags: ["--rate", "0", ...(process.env.MESH_FLAGS?.split(" ").filter(Boolean) ?? [])] });
try {
  const room = await unlimitedRoom(n, "bench");
  const s = await Client.dial(n.url, (await agent(n, "sender")).token);
  const r = await Client.dial(n.url, (await agent(n, "receiver")).token);
  const it = r.messages();
  await s.join(room);
  await r.join(room);

  const start = performance.now();
  let sent = 0;
  const senders = Array.from({ length: inFlight }, async () => {
    while (sent < total) {
      sent++;
      await s.say(room, text);
    }
  });
  let received = 0;
  let firstSeq = 0;
  let lastSeq = 0;
  for await (const m of it) {
    if (received === 0) firstSeq = m.seq;
    lastSeq = m.seq;
    if (++received === total) break;
  }
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(senders);
  if (lastSeq - firstSeq + 1 !== total) throw new Error(`received seqs ${firstSeq}..${lastSeq} for ${total} messages`);
  console.log(
    JSON.stringify({
      benchmark: "say throughput, one sender to one receiver, local node",
      messages: total,
      inFlight,
      textBytes: text.length,
      seconds: Number(seconds.toFixed(3)),
      msgsPerSecond: Math.round(total / seconds),
      node: process.version,
    }),
  );
  await s.close();
  await r.close();
} finally {
  await cleanup();
}
