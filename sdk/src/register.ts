// Registering a participant (POST /api/v1/participants).

import { decodeParticipant } from "./codec.js";
import { invalid } from "./errors.js";
import { type Fetch, request } from "./rest.js";
import type { Kind, Participant, Trust } from "./types.js";

export interface Registration {
  /** Display name, 1 to 64 bytes of one line of printable text. */
  name: string;
  /** "human" or "agent" (the node's default). */
  kind?: Kind;
  /** At most the parent's trust; the default is local, or the parent's if lower. */
  trust?: Trust;
  /**
   * An absolute http(s) URL: the node POSTs the participant's inbox items
   * there while it is not connected, signed with the webhookSecret the
   * answer carries (see verifyWebhook).
   */
  webhook?: string;
  /**
   * The token of the participant registering (any participant's): the new
   * one becomes its child, never holding more trust or capabilities. From
   * loopback none is needed.
   */
  token?: string;
  /** With an owner-trusted token: the id of the parent to register under. */
  parent?: string;
  /** An invite (POST /api/v1/invites), to register from another machine without a token. */
  invite?: string;
  signal?: AbortSignal;
  fetch?: Fetch;
}

/** Registered is what the node answers a registration with. */
export interface Registered {
  participant: Participant;
  /** The participant's bearer token, shown only once. */
  token: string;
  /** Signs the participant's webhook deliveries (verifyWebhook); shown only once, and only when a webhook was given. */
  webhookSecret?: string;
}

/**
 * register registers a participant on the node at baseUrl and returns it
 * with its token (and, with a webhook, its webhookSecret), which the node
 * shows only this once. Refusals are MeshError with the node's code
 * (invalid, unauthorized, forbidden, ...).
 */
export async function register(baseUrl: string, r: Registration): Promise<Registered> {
  if (!r || typeof r.name !== "string" || r.name.trim() === "") throw invalid("mesh: register needs a name");
  const body: Record<string, string> = { name: r.name };
  for (const k of ["kind", "trust", "webhook", "parent", "invite"] as const) {
    const v = r[k];
    if (v !== undefined && v !== "") body[k] = v;
  }
  const out = await request<{ participant: unknown; token: unknown; webhookSecret?: unknown }>(baseUrl, "POST", "/api/v1/participants", {
    token: r.token,
    body,
    signal: r.signal,
    fetch: r.fetch,
  });
  if (typeof out?.token !== "string") throw invalid("mesh: the register answer has no token");
  const reg: Registered = { participant: decodeParticipant(out.participant), token: out.token };
  if (typeof out.webhookSecret === "string" && out.webhookSecret !== "") reg.webhookSecret = out.webhookSecret;
  return reg;
}
