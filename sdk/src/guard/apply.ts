// What a receiver does with a verdict: the node's scan policy
// (internal/node/rules.go, Node.scan), for rooms whose bodies the node
// cannot read.

import type { ScanMode } from "../policy.js";
import type { ScanResult } from "./scan.js";

/** flagInjection is mesh.FlagInjection, which a flag's finding follows after ":". */
export const flagInjection = "injection";

/** ScanDecision is what applyScan decides for one message. */
export interface ScanDecision {
  /** deliver is false when the policy blocks the message. */
  deliver: boolean;
  /**
   * flags are the flags the node would put on the message: "injection:"
   * and a finding, for each finding, under "flag". A flagged message is
   * also to be treated as untrusted, as the node tags it.
   */
  flags: string[];
}

/**
 * applyScan applies a room's scan mode for the sender's trust level
 * (policy.scan[trust]) to a verdict, as the node does: "off" (or an unknown
 * mode) delivers as is, "flag" delivers an injection with flags, "block"
 * does not deliver it.
 */
export function applyScan(mode: ScanMode, result: ScanResult): ScanDecision {
  if ((mode !== "flag" && mode !== "block") || !result.injection) return { deliver: true, flags: [] };
  if (mode === "block") return { deliver: false, flags: [] };
  if (result.findings.length === 0) return { deliver: true, flags: [flagInjection] };
  return { deliver: true, flags: result.findings.map((f) => flagInjection + ":" + f) };
}
