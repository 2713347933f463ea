// REST calls the shell makes (PROTOCOL.md, REST API), through the SDK.

import { register as registerParticipant, Rest, type Participant, type Room } from "@the-mesh/sdk";

/** origin is the node's base URL: the page is served by the node itself. */
export const origin = (): string => location.origin;

/** register makes a new human participant (open from loopback). */
export function register(name: string): Promise<{ participant: Participant; token: string }> {
  return registerParticipant(origin(), { name, kind: "human" });
}

/** A federated room of another node, as GET /api/v1/directory lists it. */
interface DirectoryRoom { address: string; name: string; topic?: string; node: string; nodeName?: string; local?: boolean }

/**
 * rooms lists every room on the node, then the federated rooms of other
 * nodes that its relays know (id: their address room@node).
 */
export async function rooms(token: string): Promise<Room[]> {
  const rest = new Rest(origin(), token);
  const [local, dir] = await Promise.all([
    rest.rooms(),
    (rest.request("GET", "/api/v1/directory") as Promise<{ rooms?: DirectoryRoom[] }>).catch(() => undefined),
  ]);
  const remote = (dir?.rooms ?? []).filter((r) => !r.local).map((r) =>
    ({ id: r.address, name: `${r.name} @${r.nodeName ?? r.node.slice(0, 8)}`, topic: r.topic }) as Room);
  return [...local, ...remote];
}
