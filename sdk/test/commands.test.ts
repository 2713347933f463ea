// Commands: the router never runs a handler for a sender below its trust
// floor, whatever the node let through (a forged frame), and answers as
// the Go SDK does; against a real node, both the node's refusal and the
// SDK's.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type Answerer,
  Client,
  CommandRouter,
  MeshError,
  type Message,
  parseCommand,
  register,
  Rest,
  refusal,
  truncate,
} from "../src/index.js";
import { agent, cleanup, dial, eventually, next, startNode, type MeshNode } from "./helpers/node.js";

const me = "p_runner";

function message(over: Partial<Message> & { body: Message["body"] }): Message {
  return {
    id: "m_1",
    room: "build",
    seq: 1,
    kind: "command",
    from: { id: "p_sender", name: "sender", kind: "agent", node: "n1" },
    trust: "local",
    ts: "2026-03-01T12:00:00Z",
    to: me,
    ...over,
  };
}

/** answers records what a router sends back. */
function recorder(maxText = 40): { out: Answerer; results: [string, boolean, string][]; says: [string, string][] } {
  const results: [string, boolean, string][] = [];
  const says: [string, string][] = [];
  const out: Answerer = {
    me: () => me,
    maxTextBytes: () => maxText,
    say: async (_room, text, to) => void says.push([to, text]),
    result: async (_room, command, ok, output) => void results.push([command, ok, output]),
    log: {},
  };
  return { out, results, says };
}

describe("the router, with crafted frames", () => {
  test("a sender below the floor never reaches the handler, whatever its frame says", async () => {
    const { out, results, says } = recorder();
    const r = new CommandRouter(out);
    let calls = 0;
    r.register("deploy", "owner", () => {
      calls++;
      return "deployed";
    });
    // The node would not deliver these; a forged or buggy frame might.
    const forged = [
      message({ id: "m_local", trust: "local", body: { command: "deploy" } }),
      message({ id: "m_untrusted", trust: "untrusted", body: { command: "deploy" } }),
      message({ id: "m_federated", trust: "federated", body: { command: "deploy" } }),
      message({ id: "m_unknown", trust: "admin" as Message["trust"], body: { command: "deploy" } }),
      message({ id: "m_flagged", trust: "owner", flags: ["injection:model"], body: { command: "deploy" } }),
      message({ id: "m_chat", kind: "chat", trust: "local", body: { text: "/deploy now" } }),
    ];
    for (const m of forged) r.route(m);
    await r.close();
    assert.equal(calls, 0);
    assert.deepEqual(
      results.map(([id, ok, o]) => [id, ok, o.startsWith("refused: ")]),
      forged.slice(0, 5).map((m) => [m.id, false, true]),
    );
    assert.deepEqual(says, [["p_sender", "refused: trust local may not run this…"]], "a chat command is refused by chat, cut to the text limit");
  });

  test("only commands addressed to me, not from me, are routed; the owner's runs", async () => {
    const { out, results } = recorder();
    const r = new CommandRouter(out);
    const ran: string[] = [];
    r.register("deploy", "owner", (cmd) => {
      ran.push(cmd.message.id);
      return "deployed " + cmd.text;
    });
    r.route(message({ id: "m_other", trust: "owner", to: "p_someone", body: { command: "deploy" } }));
    r.route(message({ id: "m_self", trust: "owner", from: { id: me, name: "me", kind: "agent", node: "n1" }, body: { command: "deploy" } }));
    r.route(message({ id: "m_ok", trust: "owner", body: { command: "deploy", args: "v2" } }));
    await r.close();
    assert.deepEqual(ran, ["m_ok"]);
    assert.deepEqual(results, [["m_ok", true, "deployed v2"]]);
  });

  test("answers: unknown commands, handler errors, busy, and chat without a handler", async () => {
    const { out, results, says } = recorder(200);
    const r = new CommandRouter(out, 1);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    r.register("slow", "local", async () => {
      await gate;
      return "";
    });
    r.register("fail", "local", () => {
      throw Object.assign(new Error("boom"), { output: "half done" });
    });
    r.route(message({ id: "m_slow", body: { command: "slow" } }));
    r.route(message({ id: "m_busy", body: { command: "slow" } })); // one handler may run: busy
    r.route(message({ id: "m_what", body: { command: "what" } })); // one refusal may be in flight: dropped
    r.route(message({ id: "m_chat", kind: "chat", body: { text: "/what is this" } }));
    release();
    await r.close();
    const r2 = new CommandRouter(out);
    r2.register("fail", "local", () => {
      throw Object.assign(new Error("boom"), { output: "half done" });
    });
    r2.route(message({ id: "m_fail", body: { command: "fail" } }));
    r2.route(message({ id: "m_what", body: { command: "what" } }));
    await r2.close();
    assert.deepEqual(results.map(([id, ok, o]) => [id, ok, o]).sort(), [
      ["m_busy", false, "busy: 1 commands are running; try again later"],
      ["m_fail", false, "half done\nerror: boom"],
      ["m_slow", true, ""],
      ["m_what", false, 'unknown command "what"'],
    ]);
    assert.deepEqual(says, [], "a chat /name nobody handles is just chat");
  });

  test("parseCommand and refusal follow the Go SDK", () => {
    const c = parseCommand(message({ kind: "chat", body: { text: "/echo \u00a0 hello world \t" } }));
    assert.deepEqual([c?.name, c?.args, c?.text, c?.chat], ["echo", "hello world", "hello world", true]);
    assert.equal(parseCommand(message({ kind: "chat", body: { text: "/ x" } })), null);
    assert.equal(parseCommand(message({ kind: "chat", body: { text: "no slash" } })), null);
    const j = parseCommand(message({ body: { command: "test", args: { race: true } } }));
    assert.deepEqual([j?.name, j?.text, j?.chat], ["test", '{"race":true}', false]);
    assert.equal(refusal(message({ trust: "owner", body: {} }), "owner"), "");
    assert.equal(refusal(message({ trust: "local", body: {} }), "owner"), "trust local may not run this command; it needs owner");
    assert.equal(truncate("héllo wörld", 8), "héll…");
    assert.throws(() => new CommandRouter(recorder().out).register("x", "admin" as "owner", () => ""), /unknown trust level/);
  });
});

describe("commands through a real node", () => {
  let n: MeshNode;
  const clients: Client[] = [];
  before(async () => {
    n = await startNode();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await cleanup();
  });

  test("an owner-only handler runs for the owner, never for a local sender (command or chat), and the node refuses an untrusted one", async () => {
    const runner = await agent(n, "runner");
    const local = await agent(n, "localbob");
    const owner = new Rest(n.url, n.ownerToken);
    const guest = await register(n.url, { name: "guest", trust: "untrusted", token: n.ownerToken });
    await owner.createRoom({ name: "build", policy: { grants: { [runner.id]: ["execute"] }, capabilities: { untrusted: ["speak", "listen"] } } });
    const r = await dial(clients, n.url, runner.token);
    let calls = 0;
    r.command("deploy", "owner", (cmd) => {
      calls++;
      return "deployed " + cmd.text;
    });
    r.command("fail", "local", () => {
      throw new Error("boom");
    });
    await r.join("build");
    const cl = await dial(clients, n.url, local.token);
    const co = await dial(clients, n.url, n.ownerToken);
    const cg = await dial(clients, n.url, guest.token);
    const fromLocal = cl.messages();
    const fromOwner = co.messages();
    for (const c of [cl, co, cg]) await c.join("build");

    const resultOf = async (it: AsyncIterator<Message>, id: string): Promise<Message> => {
      for (;;) {
        const m = await next(it);
        if (m.kind === "result" && m.ref === id) return m;
      }
    };
    let ack = await cl.sendCommand("build", runner.id, "deploy", { env: "prod" });
    let res = await resultOf(fromLocal, ack.id);
    assert.deepEqual([res.body.ok ?? false, calls], [false, 0]);
    assert.match(res.body.output ?? "", /^refused: trust local may not run this command; it needs owner$/);

    ack = await co.sendCommand("build", runner.id, "deploy", "v2");
    res = await resultOf(fromOwner, ack.id);
    assert.deepEqual([res.body.ok, res.body.output, res.to, calls], [true, "deployed v2", co.me.id, 1]);

    ack = await cl.sendCommand("build", runner.id, "fail");
    res = await resultOf(fromLocal, ack.id);
    assert.deepEqual([res.body.ok ?? false, res.body.output], [false, "error: boom"]);

    // The node refuses the untrusted guest before the runner sees anything.
    await assert.rejects(cg.sendCommand("build", runner.id, "deploy"), (e: unknown) => e instanceof MeshError && e.code === "forbidden" && /may not trigger commands/.test(e.message));

    // Chat commands: refused by chat for the local sender, run for the owner.
    const chatReply = async (it: AsyncIterator<Message>, to: string): Promise<string> => {
      for (;;) {
        const m = await next(it);
        if (m.kind === "chat" && m.from.id === runner.id && m.to === to) return m.body.text ?? "";
      }
    };
    await cl.say("build", "/deploy now", { to: runner.id });
    assert.match(await chatReply(fromLocal, local.id), /^refused:/);
    await co.say("build", "/deploy now", { to: runner.id });
    assert.equal(await chatReply(fromOwner, co.me.id), "deployed now");
    await eventually("two calls", () => calls === 2);
    assert.equal(calls, 2, "the handler ran for the owner only");
  });
});
