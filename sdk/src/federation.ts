// Federation naming (PROTOCOL.md, "Federation" and "Naming in
// signatures"): a federated room lives on its home node and other nodes
// address it as "room@home"; every node names its own participants bare
// and every other node's participants "id@node". These mirror the Go
// package's RoomID.Split, Qualify and ViewParticipant exactly.

import { remoteRoom } from "./types.js";

/** splitRoom returns the room id and home node of a federated address "room@node", or undefined for anything else (a local room id included). */
export function splitRoom(address: string): { room: string; node: string } | undefined {
  if (!remoteRoom(address)) return undefined;
  const at = address.indexOf("@");
  return { room: address.slice(0, at), node: address.slice(at + 1) };
}

/** qualify returns id as "id@node" unless it already names its node (or is empty). */
export function qualify(id: string, node: string): string {
  if (id === "" || id.includes("@")) return id;
  return `${id}@${node}`;
}

/**
 * viewParticipant converts a participant id as node writer names it into
 * how node viewer names it: bare for the viewer's own participants,
 * "id@node" for every other node's.
 */
export function viewParticipant(id: string, writer: string, viewer: string): string {
  const q = qualify(id, writer);
  const suffix = `@${viewer}`;
  return q.endsWith(suffix) ? q.slice(0, -suffix.length) : q;
}

/**
 * homeNaming returns participant to, as the node mine names it, as the
 * home of room (an address "room@home", or a local room) names it: the
 * naming of an E2E message's associated data. No conversion when mine is
 * unknown (""), the room is not an address, or mine is the home.
 */
export function homeNaming(room: string, to: string | undefined, mine: string): string | undefined {
  const home = splitRoom(room)?.node;
  if (!to || !mine || !home || mine === home) return to;
  return viewParticipant(to, mine, home);
}
