// Why a sealed body does not open: one error type carrying the wire word.

import type { Undecryptable } from "../types.js";

/**
 * OpenError says why this device cannot open a sealed body; reason is the
 * wire word (no_key, bad_signature, not_member, corrupt). Its message
 * names devices and counters, never plaintext.
 */
export class OpenError extends Error {
  constructor(
    readonly reason: Undecryptable,
    message: string,
  ) {
    super(`e2e: ${message}`);
    this.name = "OpenError";
  }
}

/** reasonOf returns the wire word for an error met while opening: an OpenError's reason, else corrupt. */
export function reasonOf(err: unknown): Undecryptable {
  return err instanceof OpenError ? err.reason : "corrupt";
}
