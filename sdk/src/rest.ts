// The node's REST API: one typed request function, errors as MeshError,
// and a Rest client with a method per endpoint the SDK's users need.

import { decodeMessage, decodeParticipant } from "./codec.js";
import { ErrorCodes, MeshError, statusOfCode } from "./errors.js";
import type { Policy } from "./policy.js";
import type { Member, Message, ModerationAction, NodeInfo, Participant } from "./types.js";

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
  body?: unknown;
  signal?: AbortSignal | undefined;
  fetch?: Fetch | undefined;
}

function badURL(raw: string): Error {
  return new Error(`mesh: node URL ${JSON.stringify(raw)} must be http(s)://host:port`);
}

/** nodeBase checks a node URL (http or https) and returns it without a trailing slash. */
export function nodeBase(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw badURL(raw);
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || u.host === "") throw badURL(raw);
  return `${u.protocol}//${u.host}${u.pathname}`.replace(/\/+$/, "");
}

/** wsEndpoint turns a node URL into its WebSocket endpoint; a ws(s):// URL is taken as it is. */
export function wsEndpoint(raw: string): string {
  if (/^wss?:\/\//i.test(raw)) return raw;
  return nodeBase(raw).replace(/^http/, "ws") + "/api/v1/ws";
}

/**
 * decodeResponse turns a REST answer into its JSON body (undefined when
 * empty), or throws: the node's error body becomes a MeshError with its
 * code, message and the HTTP status; any other failure a MeshError whose
 * code fits the status.
 */
export function decodeResponse(status: number, text: string, what = "request"): unknown {
  if (status >= 300) {
    let e: { code?: unknown; message?: unknown } | undefined;
    try {
      e = (JSON.parse(text) as { error?: typeof e }).error;
    } catch {
      // not a JSON error body
    }
    if (e && typeof e.code === "string" && e.code !== "" && typeof e.message === "string") {
      throw new MeshError(e.code, e.message, { status });
    }
    const code = ErrorCodes.find((c) => statusOfCode[c] === status) ?? "internal";
    throw new MeshError(code, `${what}: HTTP ${status}${text ? ": " + text.slice(0, 200) : ""}`, { status });
  }
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new MeshError("internal", `${what}: the answer is not JSON: ${text.slice(0, 200)}`, { status });
  }
}

/**
 * request sends one REST request to the node at baseUrl and returns the
 * decoded JSON answer. path starts with "/". A refusal is a MeshError
 * (code, message, status); a network failure is the fetch error.
 */
export async function request<T = unknown>(baseUrl: string, method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const url = nodeBase(baseUrl) + path;
  const headers: Record<string, string> = {};
  if (opts.token) headers.Authorization = "Bearer " + opts.token;
  const init: RequestInit = { method, headers };
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  if (opts.signal) init.signal = opts.signal;
  const f = opts.fetch ?? (globalThis.fetch as Fetch);
  const resp = await f(url, init);
  return decodeResponse(resp.status, await resp.text(), `${method} ${path}`) as T;
}

const room = (id: string, rest = ""): string => `/api/v1/rooms/${encodeURIComponent(id)}${rest}`;

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

  async invite(): Promise<{ invite: string; expires: string }> {
    return this.request("POST", "/api/v1/invites");
  }

  async revoke(participant: string): Promise<void> {
    await this.request("DELETE", `/api/v1/participants/${encodeURIComponent(participant)}`);
  }
}
