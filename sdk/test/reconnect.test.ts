// Reconnect and resume across a node restart: the receiver gets every
// acknowledged message exactly once, in one gap-free run of seqs, while
// the sender keeps sending through the restart.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { type Ack, type Client, DisconnectedError, MeshError, type Status } from "../src/index.js";
import { agent, cleanup, dial, eventually, next, startNode, unlimitedRoom } from "./helpers/node.js";

const clients: Client[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cleanup();
});

/** retriable errors: the connection dropped, or the node was shutting down. */
const retriable = (e: unknown): boolean => e instanceof DisconnectedError || (e instanceof MeshError && e.code === "unavailable");

for (const signal of ["SIGTERM", "SIGKILL"] as const) {
  test(`no message lost or doubled while the node restarts (${signal})`, async () => {
    const flags = ["--rate", "0"];
    const n1 = await startNode({ flags });
    const room = await unlimitedRoom(n1, "firehose");
    const r = await agent(n1, "receiver");
    const s = await agent(n1, "sender");
    const rc = await dial(clients, n1.url, r.token);
    const sc = await dial(clients, n1.url, s.token);
    const statuses: Status[] = [];
    rc.on("status", (st) => statuses.push(st));
    const it = rc.messages();
    const head = (await rc.join(room)).head;
    await sc.join(room);

    const total = 300;
    const acks: Ack[] = [];
    let retries = 0;
    const sending = (async () => {
      for (let i = 0; i < total; i++) {
        for (let attempt = 0; ; attempt++) {
          try {
            acks.push(await sc.say(room, `m${String(i).padStart(3, "0")}`, { signal: AbortSignal.timeout(10000) }));
            break;
          } catch (e) {
            if (!retriable(e) || attempt > 100) throw e;
            retries++;
          }
        }
      }
    })();

    await eventually("a third of the messages", () => acks.length >= total / 3, 10000);
    await n1.stop(signal);
    const n2 = await startNode({ dir: n1.dir, port: n1.port, flags });
    await sending;
    assert.equal(acks.length, total);

    const want = new Set(acks.map((a) => a.id));
    const seen = new Set<string>();
    const texts = new Set<string>();
    let last = head;
    while ([...want].some((id) => !seen.has(id))) {
      const m = await next(it, 20000);
      assert.equal(m.seq, last + 1, `seq ${m.seq} after ${last}: lost or doubled`);
      last = m.seq;
      assert.ok(!seen.has(m.id), `${m.id} delivered twice`);
      seen.add(m.id);
      texts.add(m.body.text ?? "");
    }
    assert.equal(texts.size, total);
    assert.ok(statuses.includes("connecting") && rc.status === "open", `statuses ${statuses.join(",")}`);
    // Still live on the new node.
    const ack = await sc.say(room, "after the restart");
    assert.equal((await next(it)).id, ack.id);
    const stored = last - head;
    assert.ok(stored >= total && stored <= total + retries, `${stored} stored for ${total} sent with ${retries} retries`);
    await n2.stop();
  });
}
