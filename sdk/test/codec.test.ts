// The codec beyond the vectors: what the node sends that is malformed is
// refused with a message naming the fault; what the SDK sends is checked
// before it goes out.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkClientFrame,
  type ClientFrame,
  decodeServerFrame,
  encodeClientFrame,
  goQuote,
  MeshError,
  nodeBase,
  parseStrict,
  UnknownFrameError,
  wsEndpoint,
} from "../src/index.js";

const msg = {
  id: "m_1",
  room: "lobby",
  seq: 3,
  kind: "chat",
  from: { id: "p_1", name: "bob", kind: "human", node: "n1" },
  trust: "local",
  ts: "2026-03-01T12:00:00Z",
  body: { text: "hi" },
};

function refused(text: string, contains: string): void {
  assert.throws(
    () => decodeServerFrame(text),
    (e: unknown) => e instanceof MeshError && e.code === "invalid" && e.message.includes(contains),
    `${text} → want an error containing ${contains}`,
  );
}

test("malformed server frames are refused, naming the fault", () => {
  refused("{", "not JSON");
  refused("[1]", "not a JSON object");
  refused('{"room":"lobby"}', 'no "type"');
  refused(JSON.stringify({ type: "message", message: { ...msg, seq: "3" } }), 'message frame: field "message.seq" must be a non-negative integer, got string');
  refused(JSON.stringify({ type: "message", message: { ...msg, seq: -1 } }), '"message.seq" must be a non-negative integer');
  refused(JSON.stringify({ type: "message", message: { ...msg, from: { ...msg.from, id: undefined } } }), 'field "message.from.id" is missing');
  refused(JSON.stringify({ type: "ack", ref: "r1", seq: 1.5 }), 'ack frame: field "seq"');
  refused(JSON.stringify({ type: "error", message: "no code" }), 'error frame: field "code" is missing');
  refused(JSON.stringify({ type: "joined", room: "lobby", head: 1, history: [{ ...msg, body: "hi" }] }), '"history[0].body" must be an object');
  refused(JSON.stringify({ type: "welcome", you: {}, node: {}, limits: {} }), 'welcome frame: field "you.id" is missing');
  refused(JSON.stringify({ type: "state", room: "lobby", tick: 1, moves: [{ id: "p", pos: [0, "x", 0], facing: 0, ack: 0 }] }), '"moves[0].pos[1]" must be a number');
  assert.throws(() => decodeServerFrame('{"type":"teleport"}'), (e: unknown) => e instanceof UnknownFrameError && e.frameType === "teleport");
});

test("unknown fields from a newer node are dropped, nulls of optional fields too", () => {
  const f = decodeServerFrame(JSON.stringify({ type: "message", colour: "red", message: { ...msg, mood: "happy", to: null } }));
  assert.deepEqual(f, { type: "message", message: msg });
  const j = decodeServerFrame('{"type":"joined","room":"lobby","head":0,"members":null,"history":null}');
  assert.deepEqual(j, { type: "joined", room: "lobby", head: 0, members: [], history: [] });
});

test("client frames are checked before they are sent", () => {
  const bad = (f: unknown, contains: string): void =>
    assert.throws(
      () => encodeClientFrame(f as ClientFrame),
      (e: unknown) => e instanceof MeshError && e.code === "invalid" && e.message.includes(contains),
      contains,
    );
  bad({ type: "join", room: "Lobby" }, 'join names an invalid room id "Lobby"');
  bad({ type: "say", room: "lobby", text: "" }, 'say needs a non-empty "text"');
  bad({ type: "say", room: "lobby", text: 5 }, 'Field "text" must be a string');
  bad({ type: "say", room: "lobby", text: "hi", colour: "red" }, 'Unknown field "colour"');
  bad({ type: "ping", ref: "r".repeat(129) }, "ref is 129 bytes; the limit is 128.");
  bad({ type: "command", room: "b", target: "p", name: "x".repeat(65) }, 'command needs a "name" of 1 to 64 bytes');
  bad({ type: "move", room: "lobby", pos: [Number.NaN, 0, 0], facing: 0, seq: 1 }, "finite");
  bad({ type: "move", room: "lobby", pos: [1, 2], facing: 0, seq: 1 }, 'move needs "pos" as [x, y, z]; got 2 numbers');
  bad({ type: "shout" }, 'Unknown frame type "shout"');
  assert.equal(encodeClientFrame({ type: "say", room: "lobby", text: "hi", to: "", ref: "" }), '{"type":"say","room":"lobby","text":"hi"}');
  assert.equal(encodeClientFrame({ type: "hello", token: "t", resume: {} }), '{"type":"hello","token":"t"}');
  assert.equal(
    encodeClientFrame({ type: "result", room: "b", ref: "m_1", ok: false, output: "" }),
    '{"type":"result","room":"b","ref":"m_1","ok":false,"output":""}',
  );
  assert.doesNotThrow(() => checkClientFrame({ type: "move", room: "lobby", pos: [1, 0, 2], facing: 3.1, seq: 9 }));
  // The inbox: zero cursors and limits are left out (the node's omitempty); upTo 0 is sent.
  assert.equal(encodeClientFrame({ type: "inbox", after: 0, limit: 0 }), '{"type":"inbox"}');
  assert.equal(encodeClientFrame({ type: "inbox", after: 7, limit: 500, ref: "i" }), '{"type":"inbox","after":7,"limit":500,"ref":"i"}');
  assert.equal(encodeClientFrame({ type: "inbox.ack", upTo: 0 }), '{"type":"inbox.ack","upTo":0}');
  bad({ type: "inbox", limit: 501 }, "inbox limit must be 1 to 500 (0 or absent: 100), got 501.");
  bad({ type: "inbox", limit: -1 }, "got -1.");
  bad({ type: "inbox", after: -1 }, 'Field "after" must be a non-negative integer');
  bad({ type: "inbox", limit: 2.5 }, 'Field "limit" must be an integer');
  bad({ type: "inbox.ack" }, 'inbox.ack needs "upTo"');
  bad({ type: "inbox.ack", upTo: 1.5 }, 'Field "upTo" must be a non-negative integer');
});

test("inbox frames from the node: items checked, a missing items list is empty", () => {
  const item = { n: 1, reason: "to", message: msg };
  assert.deepEqual(decodeServerFrame('{"type":"inbox","next":0,"unacked":0,"items":null}'), { type: "inbox", next: 0, unacked: 0, items: [] });
  assert.deepEqual(decodeServerFrame(JSON.stringify({ type: "inbox.item", item: { ...item, extra: 1 } })), { type: "inbox.item", item });
  refused(JSON.stringify({ type: "inbox.item", item: { ...item, n: -1 } }), 'inbox.item frame: field "item.n" must be a non-negative integer');
  refused(JSON.stringify({ type: "inbox", next: 1, unacked: 1, items: [{ n: 1, reason: "to" }] }), 'field "items[0].message" is missing');
  refused(JSON.stringify({ type: "inbox.acked", acked: 1 }), 'inbox.acked frame: field "unacked" is missing');
});

test("the strict JSON parser refuses keys given twice, with their path, and reads escapes as Go does", () => {
  const p = parseStrict('{"a":{"b":1,"b":2}}');
  assert.deepEqual(
    p.keys.map((k) => [k.path, k.dup]),
    [
      ["a", false],
      ["a.b", false],
      ["a.b", true],
    ],
  );
  assert.equal(parseStrict('"\\ud800x"').value, "\ufffdx", "a lone surrogate becomes U+FFFD");
  assert.equal(parseStrict('"\\ud83d\\ude80"').value, "🚀");
  assert.throws(() => parseStrict('{"a":1} x'), /after top-level value/);
  assert.throws(() => parseStrict('{"a":01}'), /invalid character '1' after object key:value pair/);
  assert.throws(() => parseStrict("[1.]"), /after decimal point/);
  const proto = parseStrict('{"__proto__":{"polluted":true}}').value as Record<string, unknown>;
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(Object.keys(proto), ["__proto__"], "an own key, not the prototype");
});

test("node URLs: http(s) bases and WebSocket endpoints", () => {
  assert.equal(nodeBase("http://127.0.0.1:3000/"), "http://127.0.0.1:3000");
  assert.equal(nodeBase("wss://mesh.example.com/api/v1/ws"), "https://mesh.example.com");
  assert.equal(wsEndpoint("https://mesh.example.com"), "wss://mesh.example.com/api/v1/ws");
  assert.throws(() => nodeBase("ftp://x"), /must be http\(s\):\/\/host:port/);
  assert.throws(() => nodeBase("localhost:3000"), /must be http\(s\):\/\/host:port/);
  assert.equal(goQuote('a"b\n\u200b'), '"a\\"b\\n\\u200b"');
});
