// REST calls the shell makes (PROTOCOL.md, REST API), through the SDK.

import { register as registerParticipant, Rest, type Participant, type Room } from "@the-mesh/sdk";

/** origin is the node's base URL: the page is served by the node itself. */
export const origin = (): string => location.origin;

/** register makes a new human participant (open from loopback). */
export function register(name: string): Promise<{ participant: Participant; token: string }> {
  return registerParticipant(origin(), { name, kind: "human" });
}

/** rooms lists every room on the node. */
export function rooms(token: string): Promise<Room[]> {
  return new Rest(origin(), token).rooms();
}
