// How the transcript words a message a bridge carried in: from the
// original room and sender, the carrier named by the line's sender.

import type { Envelope } from "../net/protocol.js";

/** bridgedText says where a bridged message comes from, or "" for any other. */
export function bridgedText(m: Pick<Envelope, "bridged">): string {
  const b = m.bridged;
  if (!b) return "";
  const at = b.from.id.indexOf("@");
  const home = at < 0 ? "" : ` (node ${b.from.id.slice(at + 1, at + 9)})`;
  return `via bridge from room ${b.room}, originally by ${b.from.name}${home}, trust ${b.trust} there`;
}
