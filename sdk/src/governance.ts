// Governance: what a participant may do in a room, as pure functions of
// who acts, the room and a capability. It mirrors the node's
// internal/governance (PROTOCOL.md, "The rules"); the vectors in
// testdata/protocol/governance pin both, refusal messages included.
//
//  1. Base: the trust level's capabilities, plus grants[id], minus revokes[id].
//  2. The room's creator and its ancestors hold every capability (revokes still apply).
//  3. Never more than the parent: intersected with the parent's, up the chain,
//     with each trust clamped to its parent's.
//  4. An unknown trust level, anywhere in the chain, holds nothing.
//  5. Commands: sender's trust in execute.from, sender holds speak, target holds execute.

import { goQuote } from "./codec.js";
import { MeshError } from "./errors.js";
import { capabilities as allCapabilities, defaultPolicy, type Policy } from "./policy.js";
import { type Capability, trustRank } from "./types.js";

/** Subject is who acts: its id, trust and ancestors (parent first), as the node knows them. */
export interface Subject {
  id: string;
  trust: string;
  ancestors?: { id: string; trust: string }[];
}

/** GovernedRoom is what a decision needs of a room. No policy means the default policy. */
export interface GovernedRoom {
  creator: string;
  /** The creator's own ancestors, parent first (optional). */
  creatorAncestors?: string[];
  policy?: Policy;
}

const all = (1 << allCapabilities.length) - 1;
const defaults = defaultPolicy();

function bit(c: string): number {
  const i = (allCapabilities as readonly string[]).indexOf(c);
  return i < 0 ? 0 : 1 << i;
}

/** own returns o[k] only when k is o's own key (never a prototype's). */
function ownKey<T>(o: Record<string, T>, k: string): T | undefined {
  return Object.hasOwn(o, k) ? o[k] : undefined;
}

function setOf(cs: readonly string[] | undefined): number {
  let s = 0;
  for (const c of cs ?? []) s |= bit(c);
  return s;
}

function list(s: number): Capability[] {
  return allCapabilities.filter((c) => (s & bit(c)) !== 0);
}

/** level returns the id and own trust of level i of s's chain (0 is s itself). */
function level(s: Subject, i: number): { id: string; trust: string } {
  return i === 0 ? { id: s.id, trust: s.trust } : s.ancestors![i - 1]!;
}

function depth(s: Subject): number {
  return s.ancestors?.length ?? 0;
}

/** effective returns level i's trust clamped to every level above it. */
function effective(s: Subject, i: number): string {
  let t = level(s, i).trust;
  for (let j = i + 1; j <= depth(s); j++) {
    const up = level(s, j).trust;
    if (trustRank(up) < trustRank(t)) t = up;
  }
  return t;
}

/** creatorLevel returns the lowest level of s's chain that created r, or -1. */
function creatorLevel(s: Subject, r: GovernedRoom): number {
  if (!r.creator) return -1;
  for (let i = 0; i <= depth(s); i++) if (level(s, i).id === r.creator) return i;
  return -1;
}

function base(p: Policy, r: GovernedRoom, id: string, trust: string, owner: boolean): number {
  if (trustRank(trust) < 0) return 0;
  const b = owner || (id !== "" && (r.creatorAncestors ?? []).includes(id)) ? all : setOf(ownKey(p.capabilities, trust)) | setOf(ownKey(p.grants, id));
  return b & ~setOf(ownKey(p.revokes, id));
}

function heldSet(s: Subject, r: GovernedRoom): number {
  const p = r.policy ?? defaults;
  const owns = creatorLevel(s, r);
  let held = all;
  let eff = "";
  for (let i = depth(s); i >= 0; i--) {
    const lv = level(s, i);
    let t = lv.trust;
    if (i < depth(s) && trustRank(t) > trustRank(eff)) t = eff;
    eff = t;
    held &= base(p, r, lv.id, t, owns >= 0 && i >= owns);
    if (held === 0) return 0;
  }
  return held;
}

/** capabilitiesOf returns what s holds in r, in the order of `capabilities`. */
export function capabilitiesOf(s: Subject, r: GovernedRoom): Capability[] {
  return list(heldSet(s, r));
}

/** can reports whether s holds c in r. */
export function can(s: Subject, c: Capability, r: GovernedRoom): boolean {
  const b = bit(c);
  return b !== 0 && (heldSet(s, r) & b) === b;
}

/** effectiveTrust is s's trust clamped to its ancestors': the level its messages carry. */
export function effectiveTrust(s: Subject): string {
  return effective(s, 0);
}

function forbidden(msg: string): MeshError {
  return new MeshError("forbidden", msg);
}

/** check returns null if s holds c in r, or a forbidden MeshError naming c and why s lacks it. */
export function check(s: Subject, c: Capability, r: GovernedRoom): MeshError | null {
  if (can(s, c, r)) return null;
  return forbidden(`You lack ${goQuote(c)} in this room: ${why(s, c, r, true)}.`);
}

/**
 * mayCommand returns null if sender may send target a command in r, or a
 * forbidden MeshError saying which rule failed: the sender's trust in
 * execute.from, the sender's speak, the target's execute, in that order.
 */
export function mayCommand(sender: Subject, target: Subject, r: GovernedRoom): MeshError | null {
  const p = r.policy ?? defaults;
  const t = effective(sender, 0);
  if (trustRank(t) < 0 || !(p.execute.from as string[]).includes(t)) {
    return forbidden(
      `Your trust ${trustPhrase(sender)} may not trigger commands in this room: execute.from allows ${trustList(p.execute.from)}.`,
    );
  }
  if (!can(sender, "speak", r)) {
    return forbidden(`You lack "speak" in this room, so you cannot send commands: ${why(sender, "speak", r, true)}.`);
  }
  if (!can(target, "execute", r)) {
    return forbidden(`${target.id} lacks "execute" in this room, so it cannot receive commands: ${why(target, "execute", r, false)}.`);
  }
  return null;
}

/** mayWriteData returns null if s holds data-write and its trust is in data.ingress. */
export function mayWriteData(s: Subject, r: GovernedRoom): MeshError | null {
  const err = check(s, "data-write", r);
  if (err) return err;
  const p = r.policy ?? defaults;
  if (!(p.data.ingress as string[]).includes(effective(s, 0))) {
    return forbidden(`Your trust ${trustPhrase(s)} may not write this room's data: data.ingress allows ${trustList(p.data.ingress)}.`);
  }
  return null;
}

/** mayReadData returns null if s holds data-read in r. */
export function mayReadData(s: Subject, r: GovernedRoom): MeshError | null {
  return check(s, "data-read", r);
}

/** why explains why s lacks c; self says whether s reads it ("you") or is named by id. */
function why(s: Subject, c: Capability, r: GovernedRoom, self: boolean): string {
  if (bit(c) === 0) return "there is no such capability";
  const p = r.policy ?? defaults;
  const owns = creatorLevel(s, r);
  for (let i = 0; i <= depth(s); i++) {
    const { id, trust: own } = level(s, i);
    const eff = effective(s, i);
    if (trustRank(eff) < 0 && trustRank(own) >= 0) continue; // name the ancestor whose trust is unknown
    if ((base(p, r, id, eff, owns >= 0 && i >= owns) & bit(c)) !== 0) continue;
    const you = self && i === 0 ? "you" : id;
    const your = self && i === 0 ? "your" : "its";
    let cause: string;
    if (trustRank(eff) < 0) cause = `trust ${goQuote(own)} is unknown and holds nothing`;
    else if ((setOf(ownKey(p.revokes, id)) & bit(c)) !== 0) cause = "it is revoked for " + you;
    else if (eff !== own) cause = `trust ${eff} does not grant it (${your} trust ${own} is clamped to ${your} parent's)`;
    else cause = `trust ${eff} does not grant it`;
    if (i === 0) return cause;
    const possessive = self ? "your" : "its";
    const parent = level(s, 1).id;
    if (i === 1) return `${possessive} parent ${parent} lacks it (${cause})`;
    return `${possessive} parent ${parent} lacks it, as its ancestor ${id} does (${cause})`;
  }
  return "it is not granted";
}

function trustPhrase(s: Subject): string {
  const eff = effective(s, 0);
  return eff !== s.trust ? `${eff} (${s.trust}, clamped to your parent's)` : s.trust;
}

function trustList(ts: readonly string[]): string {
  return ts.length === 0 ? "none" : ts.join(", ");
}
