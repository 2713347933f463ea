import { test } from "node:test";
import assert from "node:assert/strict";
import { bridgedText } from "../src/ui/bridged.ts";

test("a bridged message names its original room and sender; any other says nothing", () => {
  const from = { id: "p_bob", name: "bob", kind: "human" as const, node: "nq4c7ha2lmx5tyvbk" };
  assert.equal(bridgedText({ bridged: { room: "design", id: "m_1", seq: 17, from, trust: "owner" } }),
    "via bridge from room design, originally by bob, trust owner there");
  assert.equal(bridgedText({ bridged: { room: "src@nq4c7ha2lmx5tyvbk", id: "m_1", seq: 3, from: { ...from, id: "p_bob@nq4c7ha2lmx5tyvbk" }, trust: "untrusted" } }),
    "via bridge from room src@nq4c7ha2lmx5tyvbk, originally by bob (node nq4c7ha2), trust untrusted there");
  assert.equal(bridgedText({}), "");
});
