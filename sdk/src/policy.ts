// Room policies: the document, its defaults, and parsing as the node
// parses it (PROTOCOL.md, "Room policy"): every key optional, null as
// omitted, objects merged key by key into the defaults, arrays replaced.

import { invalid, MeshError } from "./errors.js";
import { goQuote } from "./codec.js";
import { isWellFormed, keysOf, type Parsed, parseStrict, SyntaxFault } from "./json.js";
import { checkTypes, define, refuseKeys, S } from "./shape.js";
import type { Capability, Trust } from "./types.js";
import { isTrust } from "./types.js";

/** Every capability, in the order the design names them. */
export const capabilities: readonly Capability[] = ["speak", "listen", "execute", "moderate", "bridge", "data-read", "data-write"];

export function isCapability(c: unknown): c is Capability {
  return typeof c === "string" && (capabilities as readonly string[]).includes(c);
}

export type ScanMode = "off" | "flag" | "block";

/** Policy is a room's governance document with every key filled in. */
export interface Policy {
  visibility: "private" | "federated";
  capabilities: Record<string, Capability[]>;
  grants: Record<string, Capability[]>;
  revokes: Record<string, Capability[]>;
  execute: { from: Trust[] };
  limits: { messagesPerMinute: number; burst: number; maxMessageBytes: number };
  format: { kind: "text" | "json"; schema?: Record<string, unknown> };
  agents: { reply: "any" | "mention-only" };
  data: { ingress: Trust[]; egress: "deny" | "allow" };
  scan: Record<string, ScanMode>;
  e2e: boolean;
}

/** defaultPolicy returns the policy of a room whose document omits every key. */
export function defaultPolicy(): Policy {
  return {
    visibility: "private",
    capabilities: {
      owner: [...capabilities],
      local: ["speak", "listen", "data-read"],
      federated: ["speak", "listen"],
      untrusted: ["listen"],
    },
    grants: {},
    revokes: {},
    execute: { from: ["owner", "local"] },
    limits: { messagesPerMinute: 60, burst: 10, maxMessageBytes: 8192 },
    format: { kind: "text" },
    agents: { reply: "any" },
    data: { ingress: ["owner", "local"], egress: "deny" },
    scan: { owner: "off", local: "flag", federated: "block", untrusted: "block" },
    e2e: false,
  };
}

const caps = S.array(S.string);
const policyShape = S.object({
  visibility: S.string,
  capabilities: S.map(caps),
  grants: S.map(caps),
  revokes: S.map(caps),
  execute: S.object({ from: S.array(S.string) }),
  limits: S.object({ messagesPerMinute: S.int, burst: S.int, maxMessageBytes: S.int }),
  format: S.object({ kind: S.string, schema: S.map(S.any) }),
  agents: S.object({ reply: S.string }),
  data: S.object({ ingress: S.array(S.string), egress: S.string }),
  scan: S.map(S.string),
  e2e: S.bool,
});

type Doc = Record<string, unknown>;

/**
 * parsePolicy parses a policy document over the defaults. It takes the
 * JSON text (checked strictly: a key given twice or in another case is
 * refused) or an already parsed object. A fault is a MeshError (invalid)
 * whose message names its path, e.g. "policy.capabilities.local[1]:
 * unknown capability "shout".".
 */
export function parsePolicy(doc: string | Doc | null | undefined): Policy {
  let v: unknown = doc;
  try {
    if (typeof doc === "string") {
      if (doc === "") return defaultPolicy();
      if (!isWellFormed(doc)) throw invalid("Body is not valid UTF-8.");
      // As the node's decoder: keys are checked as they are read, then
      // types, then whatever follows the document.
      let parsed: Parsed;
      try {
        parsed = parseStrict(doc, { first: true });
      } catch (e) {
        if (e instanceof SyntaxFault) {
          refuseKeys(e.keys, policyShape);
          if (e.eof) throw invalid("Malformed JSON: unexpected end of input.");
        }
        throw e;
      }
      refuseKeys(parsed.keys, policyShape);
      checkTypes(parsed.value, policyShape);
      if (parsed.trailing) throw invalid("Unexpected data after the JSON object.");
      v = parsed.value;
    } else if (isObject(v)) {
      refuseKeys(keysOf(v), policyShape);
    }
    if (v === null || v === undefined) return defaultPolicy();
    checkTypes(v, policyShape);
  } catch (e) {
    if (e instanceof MeshError) throw invalid("policy: " + e.message);
    throw e;
  }
  const p = merge(v as Doc);
  validate(p);
  return p;
}

function isObject(v: unknown): v is Doc {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** merge lays d over the defaults as Go's decoder does over DefaultPolicy, then fills nulls. */
function merge(d: Doc): Policy {
  const p = defaultPolicy();
  const def = defaultPolicy();
  const str = <T>(v: unknown, dflt: T): T => (v === null || v === undefined ? dflt : (v as T));
  p.visibility = str(d.visibility, p.visibility);
  p.e2e = str(d.e2e, p.e2e);
  // Maps: keys merged into the default; a null map takes the default.
  const mergeMap = <T>(into: Record<string, T>, v: unknown, onNull: (k: string) => T | undefined): Record<string, T> => {
    if (!isObject(v)) return into;
    for (const [k, e] of Object.entries(v)) {
      if (e === null) {
        const dv = onNull(k);
        if (dv === undefined) delete into[k];
        else define(into, k, dv);
      } else define(into, k, (Array.isArray(e) ? [...e] : e) as T);
    }
    return into;
  };
  p.capabilities = mergeMap(p.capabilities, d.capabilities, (k) => def.capabilities[k] ?? []);
  p.grants = mergeMap(p.grants, d.grants, () => undefined);
  p.revokes = mergeMap(p.revokes, d.revokes, () => undefined);
  p.scan = mergeMap(p.scan, d.scan, (k) => def.scan[k] ?? ("" as ScanMode));
  // Structs: fields merged; null fields keep the default; arrays replaced.
  const sub = (v: unknown): Doc => (isObject(v) ? v : {});
  const ex = sub(d.execute);
  p.execute.from = str(ex.from, p.execute.from);
  const lim = sub(d.limits);
  for (const k of ["messagesPerMinute", "burst", "maxMessageBytes"] as const) p.limits[k] = str(lim[k], p.limits[k]);
  const fmt = sub(d.format);
  p.format.kind = str(fmt.kind, p.format.kind);
  if (isObject(fmt.schema) && Object.keys(fmt.schema).length > 0) p.format.schema = fmt.schema;
  p.agents.reply = str(sub(d.agents).reply, p.agents.reply);
  const data = sub(d.data);
  p.data.ingress = str(data.ingress, p.data.ingress);
  p.data.egress = str(data.egress, p.data.egress);
  return p;
}

/** validate checks every value and names the first bad one by its path. */
function validate(p: Policy): void {
  const bad = (path: string, msg: string): MeshError => invalid(`policy.${path}: ${msg}`);
  const q = (s: unknown): string => goQuote(String(s ?? ""));
  if (p.visibility !== "private" && p.visibility !== "federated") {
    throw bad("visibility", `must be "private" or "federated", got ${q(p.visibility)}.`);
  }
  for (const t of Object.keys(p.capabilities).sort()) {
    if (!isTrust(t)) throw bad("capabilities." + t, `unknown trust level ${q(t)}.`);
    validCaps("capabilities." + t, p.capabilities[t]!);
  }
  for (const who of Object.keys(p.grants).sort()) validCaps("grants." + who, p.grants[who]!);
  for (const who of Object.keys(p.revokes).sort()) validCaps("revokes." + who, p.revokes[who]!);
  validTrusts("execute.from", p.execute.from);
  validTrusts("data.ingress", p.data.ingress);
  const l = p.limits;
  if (l.messagesPerMinute < 0 || l.burst < 0 || l.maxMessageBytes < 0) throw bad("limits", "limits cannot be negative.");
  if (p.format.kind !== "text" && p.format.kind !== "json") throw bad("format.kind", `must be "text" or "json", got ${q(p.format.kind)}.`);
  if (p.agents.reply !== "any" && p.agents.reply !== "mention-only") {
    throw bad("agents.reply", `must be "any" or "mention-only", got ${q(p.agents.reply)}.`);
  }
  if (p.data.egress !== "deny" && p.data.egress !== "allow") throw bad("data.egress", `must be "deny" or "allow", got ${q(p.data.egress)}.`);
  for (const t of Object.keys(p.scan).sort()) {
    const mode = p.scan[t];
    if (!isTrust(t)) throw bad("scan." + t, `unknown trust level ${q(t)}.`);
    if (mode !== "off" && mode !== "flag" && mode !== "block") throw bad("scan." + t, `must be "off", "flag" or "block", got ${q(mode)}.`);
  }
}

function validCaps(path: string, cs: unknown[]): void {
  cs.forEach((c, i) => {
    if (!isCapability(c)) throw invalid(`policy.${path}[${i}]: unknown capability ${goQuote(String(c ?? ""))}.`);
  });
}

function validTrusts(path: string, ts: unknown[]): void {
  ts.forEach((t, i) => {
    if (!isTrust(t)) throw invalid(`policy.${path}[${i}]: unknown trust level ${goQuote(String(t ?? ""))}.`);
  });
}
