// Conformance: the same vectors the Go tests read (testdata/protocol),
// through the TypeScript codec, policy parser, governance, spotlighting and
// REST client. Every vector file must be checked by some assertion, and
// every file must belong to an area these tests know.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  capabilitiesOf,
  can,
  capabilities as allCapabilities,
  check,
  decodeClientFrame,
  decodeInboxItem,
  decodeMember,
  decodeMessage,
  decodeParticipant,
  decodeServerFrame,
  encodeClientFrame,
  remoteRoom,
  forPrompt,
  isTrust,
  mayCommand,
  mayReadData,
  mayWriteData,
  MeshError,
  parsePolicy,
  register,
  request,
  Rest,
  statusOfCode,
  validRoomId,
  wsEndpoint,
  type Capability,
  type Fetch,
  type Subject,
} from "../src/index.js";
import { protocolDir } from "./helpers/paths.js";

const areas = ["client-frames", "envelopes", "federation", "governance", "policies", "prompt", "rest", "server-frames"];

interface Vector {
  file: string;
  name: string;
  input?: unknown;
  inputBase64?: string;
  want: Record<string, unknown>;
}

const checked = new Set<string>();
const all = new Set<string>();

/** vectors reads an area's files; each must be {name, want, input | inputBase64} and nothing else. */
function vectors(area: string): Vector[] {
  const dir = join(protocolDir, area);
  const files = readdirSync(dir).sort();
  assert.ok(files.length > 0, `no vectors in ${area}`);
  return files.map((f) => {
    const file = `${area}/${f}`;
    assert.match(f, /^[a-z0-9-]+\.json$/, `${file}: not a vector file name`);
    all.add(file);
    const v = JSON.parse(readFileSync(join(dir, f), "utf8")) as Vector;
    const keys = Object.keys(v).sort();
    const shape = "inputBase64" in v ? ["inputBase64", "name", "want"] : ["input", "name", "want"];
    assert.deepEqual(keys, shape, `${file}: keys`);
    return { ...v, file };
  });
}

/** done marks a vector file as checked once its assertions have passed. */
const done = (v: Vector): void => void checked.add(v.file);

/** plain re-reads a value as JSON, as the wire would carry it. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

function assertRefused(fn: () => unknown, code: string, contains: string, ref?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MeshError, `got ${String(err)}, want a MeshError`);
    assert.equal(err.code, code);
    assert.ok(err.message.includes(contains), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(contains)}`);
    if (ref !== undefined) assert.equal(err.ref ?? "", ref);
    return true;
  });
}

test("testdata/protocol holds only the areas these tests know", () => {
  assert.deepEqual(readdirSync(protocolDir).sort(), areas);
});

describe("client-frames: decodeClientFrame refuses what the node refuses; valid frames re-encode", () => {
  for (const v of vectors("client-frames")) {
    test(v.file, () => {
      const raw = v.inputBase64 !== undefined ? Uint8Array.from(Buffer.from(v.inputBase64, "base64")) : (v.input as string);
      assert.ok(typeof raw !== "string" || typeof v.input === "string", "input must be the frame's text");
      if ("error" in v.want) {
        assertRefused(() => decodeClientFrame(raw), v.want.error as string, v.want.contains as string, (v.want.ref as string) ?? "");
      } else {
        const { frame, ref } = decodeClientFrame(raw);
        const enc = JSON.parse(encodeClientFrame(frame)) as Record<string, unknown>;
        assert.deepEqual(enc, v.want);
        assert.equal(ref, (enc.ref as string) ?? "");
      }
      done(v);
    });
  }
});

describe("server-frames: decoded strictly, re-encoded to the same JSON", () => {
  const seen = new Set<string>();
  for (const v of vectors("server-frames")) {
    test(v.file, () => {
      const f = decodeServerFrame(JSON.stringify(v.input));
      assert.equal(f.type, v.want.type);
      assert.deepEqual(Object.keys(v.want), ["type"]);
      assert.deepEqual(plain(f), v.input, "a field the SDK does not know, or decodes differently");
      if (f.type === "joined") {
        f.history.forEach((m, i) => i > 0 && assert.ok(m.seq > f.history[i - 1]!.seq, "history out of seq order"));
      }
      seen.add(f.type);
      done(v);
    });
  }
  test("every server frame type has a vector", () => {
    const types = ["welcome", "joined", "left", "message", "ack", "presence", "error", "pong", "state", "inbox", "inbox.acked", "inbox.item"];
    for (const t of types) assert.ok(seen.has(t), t);
  });
});

describe("envelopes: round trip through decodeMessage", () => {
  for (const v of vectors("envelopes")) {
    test(v.file, () => {
      const m = decodeMessage(v.input);
      assert.deepEqual(plain(m), v.input);
      assert.deepEqual(v.want, { kind: m.kind });
      assert.ok(isTrust(m.trust) && ["human", "agent"].includes(m.from.kind) && validRoomId(m.room) && m.seq > 0);
      done(v);
    });
  }
});

describe("policies: parsePolicy gives the node's effective policy or refusal", () => {
  for (const v of vectors("policies")) {
    test(v.file, () => {
      for (const input of [JSON.stringify(v.input), v.input as Record<string, unknown>]) {
        if ("error" in v.want) {
          assertRefused(() => parsePolicy(input), v.want.error as string, v.want.contains as string);
          continue;
        }
        assert.equal(v.want.valid, true);
        const p = parsePolicy(input);
        if (v.want.policy !== undefined) assert.deepEqual(plain(p), v.want.policy);
      }
      done(v);
    });
  }
});

interface GovSubject {
  id: string;
  trust: string;
  ancestors?: { id: string; trust: string }[];
}

describe("governance: the same decisions and refusal messages", () => {
  for (const v of vectors("governance")) {
    test(v.file, () => {
      const input = v.input as {
        subject: GovSubject;
        target?: GovSubject;
        room: { creator: string; creatorAncestors?: string[]; policy?: Record<string, unknown> };
        check: string;
      };
      const room = { creator: input.room.creator, creatorAncestors: input.room.creatorAncestors ?? [], policy: parsePolicy(input.room.policy) };
      const s: Subject = input.subject;
      assert.equal(input.check === "command", input.target !== undefined, "target goes with check command, only");
      if (input.check === "capabilities") {
        const got = capabilitiesOf(s, room);
        assert.deepEqual(got, v.want.capabilities);
        for (const c of allCapabilities) assert.equal(can(s, c, room), got.includes(c), `can(${c})`);
        return done(v);
      }
      let err: MeshError | null;
      if (input.check === "command") err = mayCommand(s, input.target!, room);
      else if (input.check === "data-write") err = mayWriteData(s, room);
      else if (input.check === "data-read") err = mayReadData(s, room);
      else {
        assert.ok((allCapabilities as readonly string[]).includes(input.check), `check ${input.check}`);
        err = check(s, input.check as Capability, room);
        assert.equal(can(s, input.check as Capability, room), err === null);
      }
      if (v.want.allowed === true) {
        assert.deepEqual(v.want, { allowed: true });
        assert.equal(err, null, err?.message);
      } else {
        assert.equal(v.want.allowed, false);
        assert.ok(err instanceof MeshError, "want a refusal");
        assert.equal(err.code, "forbidden");
        assert.ok(err.message.includes(v.want.contains as string), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(v.want.contains)}`);
      }
      done(v);
    });
  }
});

/**
 * Bodies nodes send each other (the SDK sends none): the participants they
 * carry are members and participants as the SDK decodes them, all of the
 * receiving node (want.to), which names them bare (want.participants), in a
 * room of the sending node (want.from).
 */
describe("federation: node-to-node bodies carry members the SDK decodes", () => {
  for (const v of vectors("federation")) {
    test(v.file, () => {
      const b = v.input as { kind: string; room: string; event: string; members?: unknown[]; participant?: unknown; msg?: Record<string, unknown> };
      const want = v.want as { kind: string; from: string; to: string; capability?: string; action?: string; participants: string[] };
      assert.equal(b.kind, want.kind);
      if (["say", "command", "result"].includes(b.kind)) {
        // A post from a member's node (want.from) to the room's home
        // (want.to): the envelope as sent, without seq and trust.
        const m = b.msg as { id: string; room: string; kind: string; from: { id: string; node: string }; ts: string; provenance: { node: string }[] };
        assert.ok(remoteRoom(b.room) && b.room.endsWith(`@${want.to}`) && m.room === b.room, `room ${b.room}`);
        assert.ok(!("seq" in m) && !("trust" in m), "a post's msg has no seq and no trust");
        assert.equal(m.from.node, want.from);
        assert.deepEqual(m.provenance.map((p) => p.node), [want.from]);
        assert.deepEqual([m.from.id.includes("@") ? m.from.id : `${m.from.id}@${m.from.node}`], want.participants);
        done(v);
        return;
      }
      assert.ok(remoteRoom(b.room) && b.room.endsWith(`@${want.from}`), `room ${b.room}`);
      let people: { id: string; node: string }[];
      if (b.kind === "access") {
        assert.ok((allCapabilities as readonly string[]).includes(b.event) && b.event === want.capability, `capability ${b.event}`);
        people = (b.members ?? []).map((m) => {
          const d = decodeMember(m);
          assert.deepEqual(plain(d), m);
          return d;
        });
      } else {
        assert.equal(b.kind, "leave");
        assert.ok(["kick", "ban"].includes(b.event) && b.event === want.action, `action ${b.event}`);
        const d = decodeParticipant(b.participant);
        assert.deepEqual(plain(d), b.participant);
        people = [d];
      }
      for (const p of people) assert.equal(p.node, want.to, `${p.id} is not of node ${want.to}`);
      assert.deepEqual(
        people.map((p) => p.id.replace(`@${want.to}`, "")),
        want.participants,
      );
      done(v);
    });
  }
});

describe("prompt: forPrompt gives Go's bytes", () => {
  for (const v of vectors("prompt")) {
    test(v.file, () => {
      const m = decodeMessage(v.input);
      assert.deepEqual(plain(m), v.input);
      assert.equal(typeof v.want.text, "string");
      assert.equal(forPrompt(m), v.want.text);
      done(v);
    });
  }
});

interface RestVector {
  method: string;
  path: string;
  auth: "none" | "participant" | "owner";
  headers?: Record<string, string>;
  body?: unknown;
}

describe("rest: each exchange replayed through request(), answers decoded and checked", () => {
  const base = "http://127.0.0.1:3000";
  for (const v of vectors("rest")) {
    test(v.file, async () => {
      const input = v.input as RestVector;
      const want = v.want as { status: number; headers?: Record<string, string>; body?: unknown };
      if (want.status === 101) {
        // The upgrade is the WebSocket's, not fetch's: check the endpoint the SDK dials.
        assert.equal(new URL(wsEndpoint(base)).pathname, input.path);
        assert.equal(input.headers?.Upgrade, "websocket");
        return done(v);
      }
      const raw = typeof input.body === "string";
      let sent: { url: string; init: RequestInit } | undefined;
      const fetch: Fetch = async (url, init) => {
        sent = { url, init };
        const body = want.body === undefined || want.status === 204 ? null : typeof want.body === "string" ? want.body : JSON.stringify(want.body);
        return new Response(body, { status: want.status, headers: want.headers ?? { "Content-Type": "application/json" } });
      };
      const token = input.auth === "none" ? undefined : "mesh_test";
      const call = request(base, input.method, input.path, raw ? { token, raw: input.body as string, fetch } : { token, body: input.body, fetch });
      const body = want.body as Record<string, unknown> | string | undefined;
      if (want.status >= 400) {
        const e = (body as { error: { code: string; message: string } }).error;
        await assert.rejects(call, (err: unknown) => {
          assert.ok(err instanceof MeshError);
          assert.deepEqual([err.code, err.message, err.status], [e.code, e.message, want.status]);
          return true;
        });
        assert.equal(statusOfCode[e.code as keyof typeof statusOfCode], want.status, `the status of ${e.code}`);
      } else {
        const got = await call;
        if (typeof body === "string") {
          const text = got instanceof Uint8Array ? new TextDecoder().decode(got) : got;
          assert.equal(text, body);
        } else {
          assert.deepEqual(got, body);
          checkShapes(body);
        }
      }
      // The request went out as the vector says.
      assert.ok(sent);
      assert.equal(sent.url, base + input.path);
      assert.equal(sent.init.method, input.method);
      const headers = sent.init.headers as Record<string, string>;
      assert.equal(headers.Authorization !== undefined, input.auth !== "none");
      if (input.body === undefined) assert.equal(sent.init.body, undefined);
      else if (raw) assert.equal(sent.init.body, input.body);
      else assert.deepEqual(JSON.parse(sent.init.body as string), input.body);
      done(v);
    });
  }
});

/**
 * The SDK's own calls for some routes, replayed against their vectors: the
 * request each sends must be the vector's, and its result the vector's
 * answer as the SDK returns it (refusals as MeshError).
 */
describe("rest: register(), Rest.inbox() and Rest.ackInbox() send and return what the vectors say", () => {
  const base = "http://127.0.0.1:3000";
  const registrationKeys = new Set(["name", "kind", "trust", "webhook", "parent", "invite"]);
  for (const v of vectors("rest")) {
    const input = v.input as RestVector;
    const want = v.want as { status: number; body?: Record<string, unknown> };
    const path = new URL(input.path, base);
    let call: ((fetch: Fetch, token: string | undefined) => Promise<unknown>) | undefined;
    let expect: unknown = want.body;
    if (input.method === "POST" && input.path === "/api/v1/participants") {
      const body = input.body as Record<string, string>;
      if (Object.keys(body).some((k) => !registrationKeys.has(k))) continue; // register() sends only what it knows
      call = (fetch, token) => register(base, { ...(body as { name: string }), token, fetch });
    } else if (input.method === "GET" && path.pathname === "/api/v1/inbox") {
      const q = Object.fromEntries([...path.searchParams].map(([k, x]) => [k, Number(x)]));
      call = (fetch, token) => new Rest(base, token, fetch).inbox(q);
    } else if (input.method === "POST" && input.path === "/api/v1/inbox/ack") {
      const upTo = (input.body as { upTo?: number }).upTo;
      if (upTo === undefined) continue; // ackInbox always sends upTo
      call = (fetch, token) => new Rest(base, token, fetch).ackInbox(upTo);
    } else continue;
    test(v.file, async () => {
      let sent: { url: string; init: RequestInit } | undefined;
      const fetch: Fetch = async (url, init) => {
        sent = { url, init };
        return new Response(JSON.stringify(want.body), { status: want.status, headers: { "Content-Type": "application/json" } });
      };
      const p = call(fetch, input.auth === "none" ? undefined : "mesh_test");
      if (want.status >= 400) {
        const e = (want.body as { error: { code: string; message: string } }).error;
        await assert.rejects(p, (err: unknown) => err instanceof MeshError && err.code === e.code && err.message === e.message);
      } else {
        assert.deepEqual(plain(await p), expect);
      }
      assert.ok(sent);
      assert.equal(sent.url, base + input.path);
      assert.equal(sent.init.method, input.method);
      assert.equal((sent.init.headers as Record<string, string>).Authorization !== undefined, input.auth !== "none");
      if (input.body === undefined) assert.equal(sent.init.body, undefined);
      else assert.deepEqual(JSON.parse(sent.init.body as string), input.body);
    });
  }
});

/** checkShapes decodes the known things in a REST answer and checks they round-trip. */
function checkShapes(body: Record<string, unknown> | undefined): void {
  if (!body) return;
  const same = (decoded: unknown, original: unknown): void => assert.deepEqual(plain(decoded), original);
  if (body.participant) same(decodeParticipant(body.participant), body.participant);
  if (body.message) same(decodeMessage(body.message), body.message);
  for (const m of (body.messages as unknown[]) ?? []) same(decodeMessage(m), m);
  for (const m of (body.members as unknown[]) ?? []) same(decodeMember(m), m);
  for (const it of (body.items as unknown[]) ?? []) same(decodeInboxItem(it), it);
  const rooms = [...((body.rooms as unknown[]) ?? []), ...(body.room ? [body.room] : [])] as { policy: Record<string, unknown> }[];
  for (const r of rooms) if (r.policy !== undefined) same(parsePolicy(r.policy), r.policy); // the effective policy, every key known (directory entries have none)
}

test("every vector file was checked by an assertion", () => {
  assert.ok(all.size > 200, `only ${all.size} vector files`);
  assert.deepEqual([...all].filter((f) => !checked.has(f)), []);
});
