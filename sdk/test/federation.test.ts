// Federation naming: the same cases as the Go package's TestAddresses
// (mesh.RoomID.Split, mesh.ViewParticipant), and the conversion of an E2E
// message's "to" into its home's naming.

import assert from "node:assert/strict";
import { test } from "node:test";
import { homeNaming, qualify, remoteRoom, splitRoom, viewParticipant } from "../src/index.js";

test("splitRoom and remoteRoom take only room@node", () => {
  const cases: Record<string, string> = {
    "design-review@nx3b5t7kq2wzm4ha6": "design-review nx3b5t7kq2wzm4ha6",
    "design-review": "",
    "design-review@": "",
    "@nx3b5t7kq2wzm4ha6": "",
    "Design@nx3b5t7kq2wzm4ha6": "",
    "design@nx3b5t7kq2wzm4ha1": "", // 1 is not base32
    "design@rx3b5t7kq2wzm4ha6": "", // a relay is not a node
    "a@b@nx3b5t7kq2wzm4ha6": "",
  };
  for (const [address, want] of Object.entries(cases)) {
    const s = splitRoom(address);
    assert.equal(s ? `${s.room} ${s.node}` : "", want, address);
    assert.equal(remoteRoom(address), s !== undefined, address);
  }
});

const a = "nq4c7ha2lmx5tyvbk";
const b = "nx3b5t7kq2wzm4ha6";

test("viewParticipant converts a writer's naming into a viewer's", () => {
  const cases: { id: string; writer: string; viewer: string; want: string }[] = [
    { id: "p_alice", writer: a, viewer: b, want: `p_alice@${a}` }, // a's own participant, seen from b
    { id: `p_alice@${b}`, writer: a, viewer: b, want: "p_alice" }, // b's participant as a wrote it
    { id: "p_carol@nmmmmmmmmmmmmmmmm", writer: a, viewer: b, want: "p_carol@nmmmmmmmmmmmmmmmm" },
    { id: "", writer: a, viewer: b, want: "" },
  ];
  for (const c of cases) assert.equal(viewParticipant(c.id, c.writer, c.viewer), c.want, `viewParticipant(${JSON.stringify(c.id)}, ${c.writer}, ${c.viewer})`);
  assert.equal(qualify("p_x", a), `p_x@${a}`);
  assert.equal(qualify(`p_x@${b}`, a), `p_x@${b}`);
  assert.equal(qualify("", a), "");
});

test("homeNaming converts to only in a room of another node, when the client's node is known", () => {
  const room = `vault@${b}`;
  assert.equal(homeNaming(room, "p_alice", a), `p_alice@${a}`); // a's participant, signed as b names it
  assert.equal(homeNaming(room, `p_bob@${b}`, a), "p_bob"); // the home's own participant: bare
  assert.equal(homeNaming(room, "p_carol@nmmmmmmmmmmmmmmmm", a), "p_carol@nmmmmmmmmmmmmmmmm");
  assert.equal(homeNaming(room, "p_bob", b), "p_bob"); // a client of the home
  assert.equal(homeNaming(room, "p_alice", ""), "p_alice"); // node unknown
  assert.equal(homeNaming("vault", "p_alice", a), "p_alice"); // a local room
  assert.equal(homeNaming(room, undefined, a), undefined);
  assert.equal(homeNaming(room, "", a), "");
});
