// The wire codec: client frames are checked and encoded, server frames are
// decoded strictly (every known field of the right type, required fields
// present; unknown fields are dropped, as clients must ignore them), and
// decodeClientFrame refuses exactly what the node's decoder refuses, in
// its words, so a developer terminal can check a frame before sending it.

import { invalid, MeshError } from "./errors.js";
import { isWellFormed, parseStrict, utf8Length } from "./json.js";
import { checkTypes, pick, refuseKeys, S, type Shape } from "./shape.js";
import type { Bridge, ClientFrame, InboxItem, Member, Message, Participant, SayFrame, ServerFrame, WebhookEvent } from "./types.js";
import { remoteRoom, validRoomId } from "./types.js";

export * from "./types.js";

/** The longest client ref, in bytes. */
export const maxRefBytes = 128;
/** The longest command name, in bytes. */
export const maxCommandNameBytes = 64;
/** The most items an inbox page holds, and how many one holds when no limit is given. */
export const maxInboxLimit = 500;
export const defaultInboxLimit = 100;

// Shapes of what the node sends.

const participantFields = {
  id: S.string,
  name: S.string,
  kind: S.string,
  trust: S.string,
  parent: S.string,
  webhook: S.string,
  node: S.string,
  created: S.string,
};
const participantRequired = ["id", "name", "kind", "trust", "node", "created"];

export const participantShape = S.object(participantFields, participantRequired);
export const memberShape = S.object({ ...participantFields, online: S.bool }, [...participantRequired, "online"]);

// End-to-end encrypted rooms: devices, rosters, sealed bodies (binary values in base64).
const deviceShape = S.object(
  { id: S.string, participant: S.string, sign: S.string, box: S.string, sig: S.string, created: S.string },
  ["id", "sign", "box"],
);
export const rosterShape = S.object({ epoch: S.uint, room: S.string, devices: S.array(deviceShape), seq: S.uint }, ["epoch", "room"]);
export const sealedShape = S.object(
  {
    v: S.int,
    type: S.string,
    epoch: S.uint,
    device: S.string,
    eph: S.string,
    wraps: S.array(S.object({ to: S.string, nonce: S.string, ct: S.string }, ["to", "nonce", "ct"])),
    keys: S.uint,
    n: S.uint,
    nonce: S.string,
    ct: S.string,
    sig: S.string,
  },
  ["v", "type", "epoch", "device", "sig"],
);

const senderShape = S.object({ id: S.string, name: S.string, kind: S.string, node: S.string }, ["id", "name", "kind", "node"]);

export const messageShape = S.object(
  {
    id: S.string,
    room: S.string,
    seq: S.uint,
    kind: S.string,
    from: senderShape,
    trust: S.string,
    ts: S.string,
    body: S.object({
      text: S.string,
      command: S.string,
      args: S.any,
      ok: S.bool,
      output: S.string,
      event: S.object(
        {
          type: S.string,
          path: S.string,
          size: S.int,
          sha256: S.string,
          action: S.string,
          target: S.string,
          by: S.string,
          e2e: rosterShape,
        },
        ["type"],
      ),
      e2e: sealedShape,
    }),
    to: S.string,
    ref: S.string,
    flags: S.array(S.string),
    provenance: S.array(S.object({ node: S.string, ts: S.string, sig: S.string })),
    bridged: S.object(
      { room: S.string, id: S.string, seq: S.uint, from: senderShape, trust: S.string },
      ["room", "id", "seq", "from", "trust"],
    ),
  },
  ["id", "room", "seq", "kind", "from", "trust", "ts", "body"],
);

/** bridgeShape is a bridge as the bridges endpoints answer it. */
export const bridgeShape = S.object(
  { id: S.string, from: S.string, to: S.string, by: S.string, created: S.string, state: S.string, reason: S.string, cursor: S.uint },
  ["id", "from", "to", "by", "created", "state", "cursor"],
);

/** decodeBridge decodes a bridge (POST and GET /api/v1/rooms/{id}/bridges). */
export function decodeBridge(v: unknown): Bridge {
  return pick(v, bridgeShape, "bridge") as Bridge;
}

export const inboxItemShape = S.object({ n: S.uint, reason: S.string, message: messageShape }, ["n", "reason", "message"]);

const moveShape = S.object({ id: S.string, pos: S.array(S.number), facing: S.number, ack: S.uint }, ["id", "pos", "facing", "ack"]);

const serverShapes: Record<ServerFrame["type"], Shape> = {
  welcome: S.object(
    {
      type: S.string,
      you: participantShape,
      node: S.object({ id: S.string, name: S.string, publicKey: S.string, version: S.string }, ["id", "name", "publicKey"]),
      limits: S.object({ maxFrameBytes: S.uint, maxTextBytes: S.uint, rate: S.number, burst: S.uint }, [
        "maxFrameBytes",
        "maxTextBytes",
        "rate",
        "burst",
      ]),
    },
    ["type", "you", "node", "limits"],
  ),
  joined: S.object(
    {
      type: S.string,
      room: S.string,
      ref: S.string,
      members: S.array(memberShape),
      state: S.object({ tick: S.uint, size: S.number, speed: S.number, moves: S.array(moveShape) }, ["tick", "moves"]),
      history: S.array(messageShape),
      head: S.uint,
      e2e: rosterShape,
    },
    ["type", "room", "head"],
  ),
  left: S.object({ type: S.string, room: S.string, ref: S.string }, ["type", "room"]),
  message: S.object({ type: S.string, message: messageShape }, ["type", "message"]),
  ack: S.object({ type: S.string, ref: S.string, id: S.string, seq: S.uint }, ["type"]),
  presence: S.object({ type: S.string, room: S.string, event: S.string, participant: participantShape }, [
    "type",
    "room",
    "event",
    "participant",
  ]),
  error: S.object({ type: S.string, ref: S.string, code: S.string, message: S.string }, ["type", "code", "message"]),
  pong: S.object({ type: S.string, ref: S.string }, ["type"]),
  state: S.object({ type: S.string, room: S.string, tick: S.uint, moves: S.array(moveShape) }, ["type", "room", "tick", "moves"]),
  inbox: S.object({ type: S.string, ref: S.string, items: S.array(inboxItemShape), next: S.uint, unacked: S.uint, dropped: S.uint }, [
    "type",
    "next",
    "unacked",
  ]),
  "inbox.acked": S.object({ type: S.string, ref: S.string, acked: S.uint, unacked: S.uint }, ["type", "acked", "unacked"]),
  "inbox.item": S.object({ type: S.string, item: inboxItemShape }, ["type", "item"]),
};

/** UnknownFrameError is a well-formed frame of a type this SDK does not know (from a newer node). */
export class UnknownFrameError extends MeshError {
  constructor(readonly frameType: string) {
    super("invalid", `Unknown frame type ${goQuote(frameType)} from the node.`);
    this.name = "UnknownFrameError";
  }
}

/**
 * decodeServerFrame decodes one text frame from the node. A malformed
 * frame is a MeshError (code invalid) whose message names the fault, e.g.
 * `message frame: field "message.seq" must be a non-negative integer, got
 * string.`; a frame of an unknown type is an UnknownFrameError.
 */
export function decodeServerFrame(text: string): ServerFrame {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw invalid(`Frame from the node is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalid("Frame from the node is not a JSON object.");
  const type = (v as { type?: unknown }).type;
  if (typeof type !== "string") throw invalid('Frame from the node has no "type" string.');
  if (!Object.hasOwn(serverShapes, type)) throw new UnknownFrameError(type);
  const f = pick(v, serverShapes[type as ServerFrame["type"]], `${type} frame`) as Record<string, unknown>;
  if (type === "joined") {
    f.members ??= [];
    f.history ??= [];
  }
  if (type === "inbox") f.items ??= [];
  return f as unknown as ServerFrame;
}

/** decodeMessage decodes an envelope (from REST, or a vector), checking it as decodeServerFrame does. */
export function decodeMessage(v: unknown): Message {
  return pick(v, messageShape, "message") as Message;
}

/** decodeMember decodes a room member (a participant with online). */
export function decodeMember(v: unknown): Member {
  return pick(v, memberShape, "member") as Member;
}

/** decodeInboxItem decodes an inbox item {n, reason, message} (from REST, or a webhook), checking it as decodeServerFrame does. */
export function decodeInboxItem(v: unknown): InboxItem {
  return pick(v, inboxItemShape, "inbox item") as InboxItem;
}

const webhookEventShape = S.object({ type: S.string, participant: S.string, item: inboxItemShape }, ["type", "participant", "item"]);

/**
 * decodeWebhookEvent decodes the body of a webhook delivery,
 * {type: "inbox.item", participant, item}. Verify it first (verifyWebhook).
 */
export function decodeWebhookEvent(body: string | Uint8Array): WebhookEvent {
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw invalid(`Webhook body is not JSON: ${(e as Error).message}`);
  }
  return pick(v, webhookEventShape, "webhook event") as WebhookEvent;
}

/** decodeParticipant decodes a participant, checking it as decodeServerFrame does. */
export function decodeParticipant(v: unknown): Participant {
  return pick(v, participantShape, "participant") as Participant;
}

// Client frames.

const ref = S.string;
const clientShapes: Record<ClientFrame["type"], Shape> = {
  hello: S.object({ type: S.string, token: S.string, resume: S.map(S.uint) }),
  join: S.object({ type: S.string, room: S.string, ref }),
  leave: S.object({ type: S.string, room: S.string, ref }),
  say: S.object({ type: S.string, room: S.string, kind: S.string, text: S.string, body: S.object({ e2e: sealedShape }), to: S.string, ref }),
  command: S.object({ type: S.string, room: S.string, target: S.string, name: S.string, args: S.any, ref }),
  result: S.object({ type: S.string, room: S.string, ref: S.string, ok: S.bool, output: S.string }),
  moderate: S.object({ type: S.string, room: S.string, action: S.string, target: S.string, ref }),
  ping: S.object({ type: S.string, ref }),
  move: S.object({ type: S.string, room: S.string, pos: S.array(S.number), facing: S.number, seq: S.uint, ref }),
  inbox: S.object({ type: S.string, after: S.uint, limit: S.int, ref }),
  "inbox.ack": S.object({ type: S.string, upTo: S.uint, ref }),
};

const moderationActions = ["mute", "unmute", "kick", "ban", "unban"];

/** The field order of each client frame as encoded. */
const clientOrder: Record<ClientFrame["type"], string[]> = {
  hello: ["type", "token", "resume"],
  join: ["type", "room", "ref"],
  leave: ["type", "room", "ref"],
  say: ["type", "room", "kind", "text", "body", "to", "ref"],
  command: ["type", "room", "target", "name", "args", "ref"],
  result: ["type", "room", "ref", "ok", "output"],
  moderate: ["type", "room", "action", "target", "ref"],
  ping: ["type", "ref"],
  move: ["type", "room", "pos", "facing", "seq", "ref"],
  inbox: ["type", "after", "limit", "ref"],
  "inbox.ack": ["type", "upTo", "ref"],
};

/** Fields always encoded, even when empty (the others are left out when empty). */
const alwaysEncoded = new Set(["type", "ok", "output", "pos", "facing", "seq", "upTo"]);
/** Numbers left out when 0, as the node's omitempty does. */
const omitZero = new Set(["after", "limit"]);

/**
 * decodeClientFrame parses one client frame exactly as the node does and
 * returns it with its ref; what the node refuses is refused here with a
 * MeshError of the same code and message (carrying the ref when it could
 * be read). Bytes that are not UTF-8 are refused first.
 */
export function decodeClientFrame(data: string | Uint8Array): { frame: ClientFrame; ref: string } {
  let text: string;
  if (typeof data === "string") {
    if (!isWellFormed(data)) throw invalid("Frame is not valid UTF-8.");
    text = data;
  } else {
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(data);
    } catch {
      throw invalid("Frame is not valid UTF-8.");
    }
  }
  const { value, keys } = parseStrict(text);
  if (value !== null && (typeof value !== "object" || Array.isArray(value))) {
    throw invalid(`Expected a JSON object, got ${Array.isArray(value) ? "array" : typeof value === "boolean" ? "bool" : typeof value}.`);
  }
  const obj = (value ?? {}) as Record<string, unknown>;
  const type = obj.type;
  if (type !== undefined && type !== null && typeof type !== "string") {
    throw invalid(`Field "type" must be a string, got ${typeof type === "boolean" ? "bool" : Array.isArray(type) ? "array" : typeof type}.`);
  }
  let r = "";
  if (typeof obj.ref === "string") {
    if (utf8Length(obj.ref) > maxRefBytes) throw invalid(`ref is ${utf8Length(obj.ref)} bytes; the limit is ${maxRefBytes}.`);
    r = obj.ref;
  }
  const fail = (e: unknown): never => {
    if (e instanceof MeshError) throw invalid(e.message, r === "" ? undefined : r);
    throw e;
  };
  if (typeof type !== "string") return fail(invalid('Frame has no "type" field.'));
  if (!Object.hasOwn(clientShapes, type)) return fail(invalid(`Unknown frame type ${goQuote(type)}.`));
  const shape = clientShapes[type as ClientFrame["type"]];
  try {
    refuseKeys(keys, shape);
    checkTypes(obj, shape);
    if (type === "say") checkBase64(obj);
    const frame = normalise(obj, type as ClientFrame["type"]);
    checkClientFrame(frame);
    return { frame, ref: r };
  } catch (e) {
    return fail(e);
  }
}

const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** checkBase64 refuses a say's sealed body whose binary field is not standard base64, naming it as the node does. */
function checkBase64(obj: Record<string, unknown>): void {
  const e2e = (obj.body as { e2e?: Record<string, unknown> } | null | undefined)?.e2e;
  if (!e2e) return;
  const need = (v: unknown, field: string): void => {
    if (typeof v === "string" && !base64.test(v)) throw invalid(`Field ${goQuote("body.e2e." + field)} is not standard base64 with padding.`);
  };
  need(e2e.eph, "eph");
  ((e2e.wraps as Record<string, unknown>[] | null) ?? []).forEach((w, i) => {
    need(w?.nonce, `wraps[${i}].nonce`);
    need(w?.ct, `wraps[${i}].ct`);
  });
  for (const k of ["nonce", "ct", "sig"]) need(e2e[k], k);
}

/** normalise drops null and empty optional fields, as the node's types do. */
function normalise(obj: Record<string, unknown>, type: ClientFrame["type"]): ClientFrame {
  const out: Record<string, unknown> = { type };
  for (const k of clientOrder[type]) {
    const v = obj[k];
    if (k === "type" || v === undefined) continue;
    if (v === null) {
      if (k === "ok") out.ok = false;
      if (k === "output") out.output = "";
      if (k === "args") out.args = null;
      continue;
    }
    out[k] = v;
  }
  if (type === "result") {
    out.ok ??= false;
    out.output ??= "";
  }
  if (type === "move") out.facing ??= 0;
  return out as unknown as ClientFrame;
}

/** needRoomOrAddress is needRoom that also takes a federated address room@node. */
function needRoomOrAddress(frame: string, room: unknown): void {
  if (typeof room === "string" && remoteRoom(room)) return;
  needRoom(frame, room);
}

function needRoom(frame: string, room: unknown): void {
  if (room === undefined || room === "") throw invalid(`${frame} needs a "room".`);
  if (typeof room !== "string" || !validRoomId(room)) {
    throw invalid(`${frame} names an invalid room id ${goQuote(String(room))}: lowercase letters, digits and dashes, up to 64.`);
  }
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/**
 * checkClientFrame checks a frame's values as the node does (room ids,
 * required fields, limits) and, since JavaScript callers may pass
 * anything, the types of its fields. It throws a MeshError (invalid).
 */
export function checkClientFrame(f: ClientFrame): void {
  const o = f as unknown as Record<string, unknown>;
  if (typeof o !== "object" || o === null || typeof o.type !== "string" || !Object.hasOwn(clientShapes, o.type)) {
    throw invalid(`Unknown frame type ${goQuote(String(o?.type))}.`);
  }
  for (const k of Object.keys(o)) {
    if (!clientOrder[f.type].includes(k) && o[k] !== undefined) throw invalid(`Unknown field ${goQuote(k)}.`);
  }
  checkTypes(o, clientShapes[f.type]);
  if (typeof o.ref === "string" && utf8Length(o.ref) > maxRefBytes) {
    throw invalid(`ref is ${utf8Length(o.ref)} bytes; the limit is ${maxRefBytes}.`);
  }
  switch (f.type) {
    case "hello":
      if (!f.token) throw invalid('hello needs a "token".');
      for (const room of Object.keys(f.resume ?? {})) {
        if (!validRoomId(room) && !remoteRoom(room)) throw invalid(`hello.resume names an invalid room id ${goQuote(room)}.`);
      }
      return;
    case "join":
    case "leave":
      return needRoomOrAddress(f.type, f.room);
    case "say":
      needRoomOrAddress("say", f.room);
      return checkSayKind(f);
    case "command":
      needRoomOrAddress("command", f.room);
      if (!f.target) throw invalid('command needs a "target".');
      if (!f.name || utf8Length(f.name) > maxCommandNameBytes) {
        throw invalid(`command needs a "name" of 1 to ${maxCommandNameBytes} bytes.`);
      }
      return;
    case "result":
      needRoomOrAddress("result", f.room);
      if (!f.ref) throw invalid('result needs "ref": the id of the command it answers.');
      return;
    case "moderate":
      needRoomOrAddress("moderate", f.room);
      if (!f.target) throw invalid('moderate needs a "target".');
      if (!moderationActions.includes(f.action)) {
        throw invalid(`action must be mute, unmute, kick, ban or unban; got ${goQuote(String(f.action))}.`);
      }
      return;
    case "move": {
      needRoom("move", f.room);
      const pos = (f.pos ?? []) as unknown[];
      if (pos.length !== 3) throw invalid(`move needs "pos" as [x, y, z]; got ${pos.length} numbers.`);
      if (!f.seq) throw invalid('move needs a positive "seq".');
      // JSON has no NaN or infinity: a frame built in JavaScript might.
      if (!pos.every(isFiniteNumber) || !isFiniteNumber(f.facing ?? 0)) throw invalid("move needs finite numbers in pos and facing.");
      return;
    }
    case "inbox": {
      const limit = f.limit ?? 0;
      if (limit < 0 || limit > maxInboxLimit) {
        throw invalid(`inbox limit must be 1 to ${maxInboxLimit} (0 or absent: ${defaultInboxLimit}), got ${limit}.`);
      }
      return;
    }
    case "inbox.ack":
      if (f.upTo === undefined || f.upTo === null) throw invalid('inbox.ack needs "upTo": the n of the last item to acknowledge.');
      return;
    case "ping":
      return;
  }
}

/** checkSayKind checks what a say carries for its kind, as the node does: a chat line has text, an encrypted message a body holding e2e. */
function checkSayKind(f: SayFrame): void {
  switch (f.kind ?? "") {
    case "":
    case "chat":
      if (f.body) throw invalid('say of kind "chat" carries "text", not "body" (only kind "encrypted" has a body).');
      if (!f.text) throw invalid('say needs a non-empty "text".');
      return;
    case "encrypted":
      if (f.text) throw invalid('say of kind "encrypted" carries "body", not "text": the text is inside the ciphertext.');
      if (!f.body?.e2e) throw invalid('say of kind "encrypted" needs "body": {"e2e": {...}}.');
      return;
    default:
      throw invalid(`say kind must be "chat" or "encrypted", got ${goQuote(String(f.kind))} (commands and results have frames of their own).`);
  }
}

/**
 * encodeClientFrame checks f (checkClientFrame) and encodes it as the
 * text of one WebSocket frame, with empty optional fields left out.
 */
export function encodeClientFrame(f: ClientFrame): string {
  checkClientFrame(f);
  const o = f as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of clientOrder[f.type]) {
    const v = o[k];
    if (v === undefined) continue;
    if (!alwaysEncoded.has(k) && (v === "" || (k === "resume" && Object.keys(v as object).length === 0))) continue;
    if (omitZero.has(k) && v === 0) continue;
    out[k] = v;
  }
  if (f.type === "result") {
    out.ok = f.ok === true;
    out.output = f.output ?? "";
  }
  return JSON.stringify(out);
}

/**
 * goQuote quotes s as Go's %q does (strconv.Quote): printable characters
 * as they are, \" and \\, \n-style escapes and \x, \u or \U for the rest.
 * The node's messages quote with it.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const named: Record<number, string> = { 7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\" };
    if (named[c]) out += named[c];
    else if (c >= 0xd800 && c <= 0xdfff) out += "\\ufffd";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else if (c < 0x80 || /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch)) out += ch;
    else if (c < 0x10000) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += "\\U" + c.toString(16).padStart(8, "0");
  }
  return out + '"';
}
