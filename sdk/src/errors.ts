// Errors of the SDK. A refusal by the node is a MeshError; the client's own
// failures are ClosedError and DisconnectedError.

/** The node's error codes (PROTOCOL.md, "Errors"). Only ever appended to. */
export const ErrorCodes = [
  "unauthorized",
  "forbidden",
  "not_found",
  "invalid",
  "too_large",
  "rate_limited",
  "blocked",
  "conflict",
  "unavailable",
  "internal",
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

/** The HTTP status of each error code, as the node answers REST requests. */
export const statusOfCode: Record<ErrorCode, number> = {
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  invalid: 400,
  too_large: 413,
  rate_limited: 429,
  blocked: 422,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

/**
 * MeshError is a refusal with one of the node's codes: from the node (a
 * REST error body or a WebSocket error frame) or from the SDK's own checks
 * of what it is about to send. `message` is a sentence for humans; match
 * on `code`, never on `message`.
 */
export class MeshError extends Error {
  /** One of ErrorCodes (a newer node may send a code this SDK does not know). */
  readonly code: string;
  /** The HTTP status, for REST answers. */
  readonly status?: number;
  /** The ref of the refused frame, when the node echoed it. */
  readonly ref?: string;

  constructor(code: string, message: string, opts: { status?: number; ref?: string } = {}) {
    super(message);
    this.name = "MeshError";
    this.code = code;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.ref !== undefined) this.ref = opts.ref;
  }

  override toString(): string {
    return `MeshError ${this.code}: ${this.message}`;
  }
}

/** invalid returns a MeshError with code invalid. */
export function invalid(message: string, ref?: string): MeshError {
  return new MeshError("invalid", message, ref === undefined ? {} : { ref });
}

/** ClosedError fails calls on a client (or connection) after close(). */
export class ClosedError extends Error {
  constructor(message = "mesh: client closed") {
    super(message);
    this.name = "ClosedError";
  }
}

/**
 * DisconnectedError fails a call whose answer was pending when the
 * connection dropped. The frame may or may not have reached the node; the
 * client reconnects by itself and the caller may retry (a retried say may
 * then be stored twice).
 */
export class DisconnectedError extends Error {
  constructor(message = "mesh: disconnected before the node answered") {
    super(message);
    this.name = "DisconnectedError";
  }
}

/** errorCode returns the code of a MeshError, or "internal" for any other error. */
export function errorCode(err: unknown): string {
  return err instanceof MeshError ? err.code : "internal";
}
