// MCP: the official TypeScript MCP SDK against the node's /mcp, with a
// bearer token; a message from a participant on the TypeScript SDK comes
// back through wait_for_messages rendered exactly as forPrompt renders it.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { type Client, forPrompt } from "../src/index.js";
import { agent, cleanup, dial, startNode, unlimitedRoom } from "./helpers/node.js";

// The MCP SDK's types (zod schemas) would double the test type check's
// time, so the few calls used here are typed by hand and the modules are
// loaded by name.
interface MCPClient {
  connect(transport: unknown): Promise<void>;
  listTools(): Promise<{ tools: { name: string }[] }>;
  callTool(p: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
  close(): Promise<void>;
}
type MCPClientClass = new (info: { name: string; version: string }) => MCPClient;
type TransportClass = new (url: URL, opts: { requestInit: RequestInit }) => unknown;
const load = async (m: string): Promise<Record<string, unknown>> => (await import(m)) as Record<string, unknown>;
const MCPClient = (await load("@modelcontextprotocol/sdk/client/index.js")).Client as MCPClientClass;
const StreamableHTTPClientTransport = (await load("@modelcontextprotocol/sdk/client/streamableHttp.js"))
  .StreamableHTTPClientTransport as TransportClass;

const clients: Client[] = [];
let mcp: MCPClient | undefined;
after(async () => {
  await mcp?.close();
  await Promise.all(clients.map((c) => c.close()));
  await cleanup();
});

interface ToolResult {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
}

test("an MCP client lists tools, joins, sends, and hears another participant through wait_for_messages", async () => {
  const n = await startNode();
  const room = await unlimitedRoom(n, "mcp");
  const a = await agent(n, "mcp-agent");
  const b = await agent(n, "ts-peer", "human");

  mcp = new MCPClient({ name: "mesh-sdk-test", version: "1" });
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(n.url + "/mcp"), { requestInit: { headers: { Authorization: `Bearer ${a.token}` } } }),
  );
  const call = async (name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const res = (await mcp!.callTool({ name, arguments: args })) as ToolResult;
    assert.ok(!res.isError, `${name}: ${res.content[0]?.text}`);
    return res.structuredContent ?? {};
  };

  const { tools } = await mcp.listTools();
  const names = tools.map((t) => t.name);
  for (const want of ["list_rooms", "join_room", "send_message", "read_messages", "wait_for_messages", "run_command"]) {
    assert.ok(names.includes(want), `tool ${want} in ${names.join(", ")}`);
  }

  assert.deepEqual((await call("join_room", { room })).room, { id: room, name: "mcp" });
  const peer = await dial(clients, n.url, b.token);
  const it = peer.messages();
  await peer.join(room);

  const sent = await call("send_message", { room, text: "hello from MCP" });
  const heard = await it.next();
  assert.equal(heard.value?.id, sent.id);
  assert.equal(heard.value?.body.text, "hello from MCP");

  const ack = await peer.say(room, "hello back, over the TS SDK", { to: a.id });
  const waited = await call("wait_for_messages", { room, after: sent.seq, timeout_seconds: 10 });
  const msgs = waited.messages as string[];
  assert.equal(msgs.length, 1);
  assert.equal(waited.next_cursor, ack.seq);
  const stored = (await peer.rest.messages(room, { after: ack.seq - 1 }))[0]!;
  assert.equal(stored.id, ack.id);
  assert.equal(msgs[0], forPrompt(stored), "the node's rendering and the SDK's are the same bytes");

  // A bad token is refused.
  const bad = new MCPClient({ name: "mesh-sdk-test", version: "1" });
  await assert.rejects(
    bad.connect(new StreamableHTTPClientTransport(new URL(n.url + "/mcp"), { requestInit: { headers: { Authorization: "Bearer mesh_nope" } } })),
  );
});
