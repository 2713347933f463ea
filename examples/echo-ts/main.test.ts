// echo-ts against a real node: echo, the trust floor of /uptime (by chat
// and by command frame), /echo and /summary, prompt output, clean exit.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Client, type Message } from "../../sdk/src/index.js";
import { agent, cleanup, dial, eventually, next, startNode, unlimitedRoom } from "../../sdk/test/helpers/node.js";

const main = join(fileURLToPath(new URL(".", import.meta.url)), "main.ts");
const clients: Client[] = [];
let proc: ChildProcess | undefined;
after(async () => {
  proc?.kill("SIGKILL");
  await Promise.all(clients.map((c) => c.close()));
  await cleanup();
});

test("echo-ts echoes people, runs /echo and /summary for locals and /uptime for the owner only", async () => {
  const n = await startNode();
  const bot = await agent(n, "echo-ts");
  const alice = await agent(n, "alice", "human");
  // The room grants the bot execute, so the owner's command frame reaches it.
  const room = await unlimitedRoom(n, "echo", { grants: { [bot.id]: ["execute"] } });
  // mesh-source: import @the-mesh/sdk from its TypeScript source, no build needed.
  proc = spawn(process.execPath, ["--conditions=mesh-source", "--import", "tsx", main, "--url", n.url, "--room", room], {
    env: { ...process.env, MESH_TOKEN: bot.token },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let errs = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (errs += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc!.once("exit", (code) => resolve(code)));
  await eventually("the agent to join", () => errs.includes(`joined ${room}`), 20000).catch((e: Error) => {
    throw new Error(`${e.message}\n${errs}`);
  });

  const a = await dial(clients, n.url, alice.token);
  const owner = await dial(clients, n.url, n.ownerToken);
  const fromA = a.messages();
  const fromOwner = owner.messages();
  await a.join(room);
  await owner.join(room);
  const reply = async (it: AsyncIterator<Message>, to: string): Promise<Message> => {
    for (;;) {
      const m = await next(it, 10000);
      if (m.from.id === bot.id && m.to === to) return m;
    }
  };

  await a.say(room, "hello, echo", { to: bot.id });
  assert.equal((await reply(fromA, alice.id)).body.text, "echo: hello, echo");
  await a.say(room, "/echo ping", { to: bot.id });
  assert.equal((await reply(fromA, alice.id)).body.text, "ping");
  await a.say(room, "/uptime", { to: bot.id });
  assert.equal((await reply(fromA, alice.id)).body.text, "refused: trust local may not run this command; it needs owner");
  await a.say(room, "/summary", { to: bot.id });
  assert.equal((await reply(fromA, alice.id)).body.text, "1 messages from 1 participants (alice 1)");

  const ack = await owner.sendCommand(room, bot.id, "uptime");
  const res = await reply(fromOwner, owner.me.id);
  assert.deepEqual([res.kind, res.ref, res.body.ok], ["result", ack.id, true]);
  assert.match(res.body.output ?? "", /^(\d+m)?\d+s$/);

  assert.ok(out.includes(`[mesh chat `) && out.includes(`from "alice" (human ${alice.id}@`), "stdout shows the prompt rendering");
  assert.ok(out.includes("<<<mesh:data — from a participant with trust local"), "local chat is fenced");
  proc.kill("SIGTERM");
  assert.equal(await exited, 0);
});
