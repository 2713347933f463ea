// REST calls the shell makes (PROTOCOL.md, REST API).

import type { Participant, Room } from "./protocol.js";
import { MeshError } from "./client.js";

async function call<T>(method: string, path: string, token: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string } }).error;
    throw new MeshError(e?.code ?? "unavailable", e?.message ?? `HTTP ${res.status}`);
  }
  return data as T;
}

/** register makes a new human participant (open from loopback). */
export function register(name: string): Promise<{ participant: Participant; token: string }> {
  return call("POST", "/api/v1/participants", "", { name, kind: "human" });
}

/** rooms lists every room on the node. */
export async function rooms(token: string): Promise<Room[]> {
  return (await call<{ rooms: Room[] }>("GET", "/api/v1/rooms", token)).rooms;
}

/** wsURL is the node's WebSocket endpoint, on the page's own origin. */
export function wsURL(loc: Location = location): string {
  return (loc.protocol === "https:" ? "wss://" : "ws://") + loc.host + "/api/v1/ws";
}
