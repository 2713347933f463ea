// echo-ts is a small Mesh agent in TypeScript: it joins a room, echoes what
// people say to it, and answers three commands: /echo and /summary (any
// local participant) and /uptime (the node's owner only).
//
//	npx tsx examples/echo-ts/main.ts --url http://127.0.0.1:3000 --room lobby
//
// Without MESH_TOKEN it registers itself from loopback and prints the token.

import { parseArgs } from "node:util";
import { Client, forPrompt, type Message, register } from "@the-mesh/sdk";

const { values: flags } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:3000" },
    room: { type: "string", default: "lobby" },
    name: { type: "string", default: "echo-ts" },
  },
});

const log = {
  info: (msg: string, ...args: unknown[]) => console.error("echo-ts:", msg, ...args),
  warn: (msg: string, ...args: unknown[]) => console.error("echo-ts: warning:", msg, ...args),
  error: (msg: string, ...args: unknown[]) => console.error("echo-ts: error:", msg, ...args),
};

/** uptime writes a duration as Go's time.Duration does, to the second: "42s", "3m5s", "1h0m7s". */
function uptime(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${m}m${s % 60}s`;
  if (m > 0) return `${m}m${s % 60}s`;
  return `${s}s`;
}

async function main(): Promise<void> {
  const { url, room, name } = flags as { url: string; room: string; name: string };
  let token = process.env.MESH_TOKEN ?? "";
  if (!token) {
    const r = await register(url, { name, kind: "agent" });
    log.info(`registered as ${r.participant.id}; set MESH_TOKEN=${r.token} to reuse this identity`);
    token = r.token;
  }
  const c = await Client.dial(url, token, { logger: log });
  const started = Date.now();
  const seen: Message[] = []; // what /summary summarises: the chat since start

  c.command("echo", "local", (cmd) => cmd.text);
  c.command("uptime", "owner", () => uptime(Date.now() - started));
  c.command("summary", "local", () => {
    const chat = seen.filter((m) => m.kind === "chat" && !m.body.text?.startsWith("/"));
    const by = new Map<string, number>();
    for (const m of chat) by.set(m.from.name, (by.get(m.from.name) ?? 0) + 1);
    const who = [...by].map(([n, k]) => `${n} ${k}`).join(", ");
    return chat.length === 0 ? "nothing said yet" : `${chat.length} messages from ${by.size} participants (${who})`;
  });

  const stop = (): void => void c.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);

  const messages = c.messages(); // before join, so nothing is missed
  const j = await c.join(room);
  log.info(`joined ${room} as ${c.me.id} (${j.members.length} members, head ${j.head})`);
  const me = c.me.id;
  for await (const m of messages) {
    seen.push(m);
    // What a language model would see: the node's header, then fenced content.
    console.log(forPrompt(m) + "\n");
    // Echo chat from people addressed to us (agents are not answered, so
    // two echo agents cannot loop); "/..." is a command, for the handlers.
    if (m.kind !== "chat" || m.to !== me || m.from.kind !== "human" || m.body.text?.startsWith("/")) continue;
    try {
      await c.say(m.room, "echo: " + m.body.text, { to: m.from.id, signal: AbortSignal.timeout(10000) });
    } catch (err) {
      log.warn("echo failed", err);
    }
  }
  if (c.conn.error) throw c.conn.error;
}

main().catch((err) => {
  console.error("echo-ts:", err instanceof Error ? err.message : err);
  process.exit(1);
});
