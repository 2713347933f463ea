// The node's REST API: one typed request function, errors as MeshError,
// and a Rest client with a method per endpoint the SDK's users need.

import { decodeBridge, decodeInboxItem, decodeMessage, decodeParticipant } from "./codec.js";
import { ErrorCodes, MeshError, statusOfCode } from "./errors.js";
import type { Policy } from "./policy.js";
import type { Bridge, Device, Inbox, InboxAcked, Member, Message, ModerationAction, NodeInfo, Participant, Roster } from "./types.js";

/** Room is a room as the REST API returns it; policy has every key filled in. */
export interface Room {
  id: string;
  name: string;
  topic?: string;
  creator: string;
  policy: Policy;
  created: string;
  revision: number;
}

/** RoomFile is one of a room's shared files. */
export interface RoomFile {
  path: string;
  size: number;
  modified: string;
  sha256: string;
}

export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

export interface RequestOptions {
  token?: string | undefined;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is (room files). */
  raw?: string | Uint8Array | undefined;
  signal?: AbortSignal | undefined;
  fetch?: Fetch | undefined;
}

function badURL(raw: string): Error {
  return new Error(`mesh: node URL ${JSON.stringify(raw)} must be http(s)://host:port`);
}

/**
 * nodeBase checks a node URL and returns its http(s) base without a
 * trailing slash. A ws(s):// URL of the WebSocket endpoint is turned back
 * into its node's base.
 */
export function nodeBase(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw badURL(raw);
  }
  const schemes: Record<string, string> = { "http:": "http:", "https:": "https:", "ws:": "http:", "wss:": "https:" };
  const scheme = schemes[u.protocol];
  if (!scheme || u.host === "") throw badURL(raw);
  let path = u.pathname.replace(/\/+$/, "");
  if (scheme !== u.protocol) path = path.replace(/\/api\/v1\/ws$/, "");
  return `${scheme}//${u.host}${path}`;
}

/** wsEndpoint turns a node URL into its WebSocket endpoint; a ws(s):// URL is taken as it is. */
export function wsEndpoint(raw: string): string {
  if (/^wss?:\/\//i.test(raw)) return raw;
  return nodeBase(raw).replace(/^http/, "ws") + "/api/v1/ws";
}

/** Body is a decoded answer: JSON, text (text/*), or bytes (anything else). */
export type Body = unknown;

/**
 * decodeResponse turns a REST answer into its body: JSON (the default when
 * there is no Content-Type), a string for text/*, bytes for anything else,
 * undefined when empty. An error status throws: the node's error body as
 * a MeshError with its code, message and the HTTP status; anything else
 * as a MeshError whose code fits the status.
 */
export function decodeResponse(status: number, body: string | Uint8Array, what = "request", contentType = ""): Body {
  const text = (): string => (typeof body === "string" ? body : new TextDecoder().decode(body));
  if (status >= 300) {
    let e: { code?: unknown; message?: unknown } | undefined;
    try {
      e = (JSON.parse(text()) as { error?: typeof e }).error;
    } catch {
      // not a JSON error body
    }
    if (e && typeof e.code === "string" && e.code !== "" && typeof e.message === "string") {
      throw new MeshError(e.code, e.message, { status });
    }
    const code = ErrorCodes.find((c) => statusOfCode[c] === status) ?? "internal";
    const t = text();
    throw new MeshError(code, `${what}: HTTP ${status}${t ? ": " + t.slice(0, 200) : ""}`, { status });
  }
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  if (type !== "" && type !== "application/json") {
    if (type.startsWith("text/")) return text();
    return typeof body === "string" ? new TextEncoder().encode(body) : body;
  }
  const t = text();
  if (t === "") return undefined;
  try {
    return JSON.parse(t);
  } catch {
    throw new MeshError("internal", `${what}: the answer is not JSON: ${t.slice(0, 200)}`, { status });
  }
}

/**
 * request sends one REST request to the node at baseUrl and returns the
 * decoded answer (see decodeResponse). path starts with "/". body is sent
 * as JSON; raw (room files) as it is. A refusal is a MeshError (code,
 * message, status); a network failure is the fetch error.
 */
export async function request<T = unknown>(baseUrl: string, method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const url = nodeBase(baseUrl) + path;
  const headers: Record<string, string> = {};
  if (opts.token) headers.Authorization = "Bearer " + opts.token;
  const init: RequestInit = { method, headers };
  if (opts.raw !== undefined) {
    headers["Content-Type"] = "application/octet-stream";
    init.body = opts.raw as BodyInit;
  } else if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  if (opts.signal) init.signal = opts.signal;
  const f = opts.fetch ?? (globalThis.fetch as Fetch);
  const resp = await f(url, init);
  const bytes = new Uint8Array(await resp.arrayBuffer());
  return decodeResponse(resp.status, bytes, `${method} ${path}`, resp.headers.get("Content-Type") ?? "") as T;
}

const room = (id: string, rest = ""): string => `/api/v1/rooms/${encodeURIComponent(id)}${rest}`;
const dataPath = (p: string): string => p.split("/").map(encodeURIComponent).join("/");

/** Rest calls the node's REST API as one participant (the token's). */
export class Rest {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
    private readonly fetch?: Fetch,
  ) {
    nodeBase(baseUrl);
  }

  request<T = unknown>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return request<T>(this.baseUrl, method, path, { token: this.token, body, signal, fetch: this.fetch });
  }

  async node(): Promise<NodeInfo> {
    return (await this.request<{ node: NodeInfo }>("GET", "/api/v1/node")).node;
  }

  async me(): Promise<Participant> {
    return decodeParticipant((await this.request<{ participant: unknown }>("GET", "/api/v1/participants/me")).participant);
  }

  async rooms(): Promise<Room[]> {
    return (await this.request<{ rooms: Room[] }>("GET", "/api/v1/rooms")).rooms;
  }

  async room(id: string): Promise<Room> {
    return (await this.request<{ room: Room }>("GET", room(id))).room;
  }

  async createRoom(r: { name: string; topic?: string; policy?: unknown }): Promise<Room> {
    return (await this.request<{ room: Room }>("POST", "/api/v1/rooms", r)).room;
  }

  async setPolicy(id: string, policy: unknown): Promise<Room> {
    return (await this.request<{ room: Room }>("PUT", room(id, "/policy"), policy)).room;
  }

  async members(id: string): Promise<Member[]> {
    return (await this.request<{ members: Member[] }>("GET", room(id, "/members"))).members;
  }

  async join(id: string): Promise<Room> {
    return (await this.request<{ room: Room }>("POST", room(id, "/join"))).room;
  }

  async leave(id: string): Promise<void> {
    await this.request("POST", room(id, "/leave"));
  }

  /** messages reads a room's messages with seq > after (long-polling up to wait seconds when there are none). */
  async messages(id: string, q: { after?: number; limit?: number; wait?: number } = {}, signal?: AbortSignal): Promise<Message[]> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString() ? "?" + params.toString() : "";
    const out = await this.request<{ messages: unknown[] }>("GET", room(id, "/messages" + qs), undefined, signal);
    return out.messages.map(decodeMessage);
  }

  async say(id: string, m: { text: string; to?: string; ref?: string }): Promise<Message> {
    return decodeMessage((await this.request<{ message: unknown }>("POST", room(id, "/messages"), m)).message);
  }

  async command(id: string, c: { target: string; name: string; args?: unknown; ref?: string }): Promise<Message> {
    return decodeMessage((await this.request<{ message: unknown }>("POST", room(id, "/commands"), c)).message);
  }

  async result(id: string, r: { ref: string; ok: boolean; output: string }): Promise<Message> {
    return decodeMessage((await this.request<{ message: unknown }>("POST", room(id, "/results"), r)).message);
  }

  async moderate(id: string, action: ModerationAction, target: string): Promise<Room> {
    return (await this.request<{ room: Room }>("POST", room(id, "/moderation"), { action, target })).room;
  }

  /**
   * createBridge makes a bridge from room id (a room of this node) to the
   * room to (an id or an address room@node); it carries the chat messages
   * id gets after it (PROTOCOL.md, "Bridges"). Refusals: forbidden (no
   * bridge capability in the source or target, data.egress not "allow"),
   * invalid (an end-to-end encrypted room), not_found, conflict, too_large.
   */
  async createBridge(id: string, to: string): Promise<Bridge> {
    return decodeBridge((await this.request<{ bridge: unknown }>("POST", room(id, "/bridges"), { to })).bridge);
  }

  /** bridges lists room id's bridges, oldest first (for its members). */
  async bridges(id: string): Promise<Bridge[]> {
    return ((await this.request<{ bridges: unknown[] | null }>("GET", room(id, "/bridges"))).bridges ?? []).map(decodeBridge);
  }

  /** deleteBridge removes one of room id's bridges: its creator, a moderator of id or the node's owner may. */
  async deleteBridge(id: string, bridge: string): Promise<void> {
    await this.request("DELETE", room(id, "/bridges/" + encodeURIComponent(bridge)));
  }

  /**
   * inbox reads the participant's unacknowledged inbox items with n >
   * after (limit 1 to 500, default 100); with wait (seconds, up to 55)
   * the node holds the request until an item comes or wait runs out.
   */
  async inbox(q: { after?: number; limit?: number; wait?: number } = {}, signal?: AbortSignal): Promise<Inbox> {
    const params = new URLSearchParams();
    for (const k of ["after", "limit", "wait"] as const) if (q[k] !== undefined) params.set(k, String(q[k]));
    const qs = params.toString() ? "?" + params.toString() : "";
    const out = await this.request<{ items: unknown[] | null; next: number; unacked: number; dropped?: number }>("GET", "/api/v1/inbox" + qs, undefined, signal);
    const page: Inbox = { items: (out.items ?? []).map(decodeInboxItem), next: out.next, unacked: out.unacked };
    if (out.dropped) page.dropped = out.dropped;
    return page;
  }

  /** ackInbox acknowledges every inbox item with n <= upTo and returns the ack cursor and the items left. */
  async ackInbox(upTo: number, signal?: AbortSignal): Promise<InboxAcked> {
    const out = await this.request<InboxAcked>("POST", "/api/v1/inbox/ack", { upTo }, signal);
    return { acked: out.acked, unacked: out.unacked };
  }

  async invite(): Promise<{ invite: string; expires: string }> {
    return this.request("POST", "/api/v1/invites");
  }

  /** readData reads a room file (its bytes), or lists a directory (a path ending in "/", or "" for the root). */
  async readData(id: string, path: string): Promise<Uint8Array | { files: RoomFile[] }> {
    return this.request("GET", room(id, "/data/" + dataPath(path)));
  }

  async writeData(id: string, path: string, content: string | Uint8Array): Promise<RoomFile> {
    const out = await request<{ file: RoomFile }>(this.baseUrl, "PUT", room(id, "/data/" + dataPath(path)), {
      token: this.token,
      raw: content,
      fetch: this.fetch,
    });
    return out.file;
  }

  async deleteData(id: string, path: string): Promise<void> {
    await this.request("DELETE", room(id, "/data/" + dataPath(path)));
  }

  /** registerDevice registers one of the participant's E2E devices ({sign, box, sig}); registering it again is fine. Refusals: invalid, conflict. */
  async registerDevice(d: { sign: string; box: string; sig: string }, signal?: AbortSignal): Promise<Device> {
    return (await this.request<{ device: Device }>("PUT", "/api/v1/participants/me/devices", { sign: d.sign, box: d.box, sig: d.sig }, signal)).device;
  }

  /** devices lists the participant's E2E devices. */
  async devices(signal?: AbortSignal): Promise<Device[]> {
    return (await this.request<{ devices: Device[] | null }>("GET", "/api/v1/participants/me/devices", undefined, signal)).devices ?? [];
  }

  /** deleteDevice removes one of the participant's E2E devices: it leaves every roster. */
  async deleteDevice(id: string, signal?: AbortSignal): Promise<void> {
    await this.request("DELETE", `/api/v1/participants/me/devices/${encodeURIComponent(id)}`, undefined, signal);
  }

  /** roster returns an end-to-end encrypted room's current epoch and roster, with the epoch event's seq. Refusals: invalid (not an E2E room), forbidden. */
  async roster(id: string, signal?: AbortSignal): Promise<Roster> {
    const r = await this.request<Roster>("GET", room(id, "/e2e"), undefined, signal);
    return { ...r, devices: r.devices ?? [] };
  }

  async revoke(participant: string): Promise<void> {
    await this.request("DELETE", `/api/v1/participants/${encodeURIComponent(participant)}`);
  }
}
