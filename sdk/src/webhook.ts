// Webhook deliveries (PROTOCOL.md, "Webhooks"): checking that a POST came
// from the node, as the Go SDK's agent.VerifyWebhook does. WebCrypto only,
// so it runs in Node 20+ and in browsers alike.

/** The headers of a webhook delivery. */
export const webhookHeaders = {
  /** Unix seconds when the attempt was made. */
  timestamp: "X-Mesh-Timestamp",
  /** "v1=" + lowercase hex HMAC-SHA256 of timestamp + "." + body, keyed with the webhookSecret. */
  signature: "X-Mesh-Signature",
  /** The same for every attempt at one item: drop repeats by it. */
  delivery: "X-Mesh-Delivery",
} as const;

/** How far from now, in seconds, a delivery's timestamp may be when verifyWebhook is given no tolerance. */
export const defaultWebhookTolerance = 300;

/** WebhookSignatureError refuses a delivery that is not signed with the secret, or is too old or too far in the future. */
export class WebhookSignatureError extends Error {
  constructor(reason: string) {
    super(`mesh: webhook signature does not verify: ${reason}`);
    this.name = "WebhookSignatureError";
  }
}

/**
 * WebhookRequestHeaders are a request's headers: a fetch Headers, or a
 * record such as Node's IncomingHttpHeaders (names in any case; a value
 * given twice as an array).
 */
export type WebhookRequestHeaders = Headers | Record<string, string | readonly string[] | undefined>;

/** WebhookBody is a request's exact body bytes (a string is taken as its UTF-8). */
export type WebhookBody = string | Uint8Array | ArrayBuffer;

const maxInt64 = 2n ** 63n - 1n;

/**
 * verifyWebhook checks a webhook delivery from a node: headers are the
 * request's, body its exact bytes, secret the participant's webhookSecret
 * from registration. It resolves when X-Mesh-Timestamp is within
 * toleranceSeconds of now (0 or absent: 300) and one of the v1= signatures
 * in X-Mesh-Signature (comma-separated) is the HMAC-SHA256 of timestamp +
 * "." + body keyed with the secret, compared in constant time; otherwise
 * it rejects with a WebhookSignatureError. Deduplicate deliveries by
 * X-Mesh-Delivery: a node delivers at least once.
 */
export async function verifyWebhook(
  secret: string,
  headers: WebhookRequestHeaders,
  body: WebhookBody,
  toleranceSeconds = 0,
): Promise<void> {
  const tolerance = toleranceSeconds > 0 ? toleranceSeconds : defaultWebhookTolerance;
  if (!secret) throw new WebhookSignatureError("no secret");
  const raw = headerValues(headers, webhookHeaders.timestamp)[0] ?? "";
  // As Go's strconv.ParseInt: decimal digits only, no sign, within int64.
  if (!/^[0-9]+$/.test(raw) || BigInt(raw) > maxInt64) {
    throw new WebhookSignatureError(`${webhookHeaders.timestamp} ${JSON.stringify(raw)} is not unix seconds`);
  }
  const ts = BigInt(raw);
  const d = Date.now() / 1000 - Number(ts);
  if (d > tolerance || d < -tolerance) {
    throw new WebhookSignatureError(`timestamp ${ts} is ${Math.round(d)}s from now (tolerance ${tolerance}s)`);
  }
  const want = await signWebhook(secret, ts, body);
  for (const v of headerValues(headers, webhookHeaders.signature)) {
    for (const sig of v.split(",")) {
      if (constantTimeEqual(sig.trim(), want)) return;
    }
  }
  throw new WebhookSignatureError(`no matching v1 signature in ${webhookHeaders.signature}`);
}

/**
 * signWebhook returns the X-Mesh-Signature value for a delivery, as the
 * node computes it: "v1=" and the lowercase hex HMAC-SHA256, keyed with
 * the secret's UTF-8 bytes, of the decimal unix timestamp, ".", and the
 * body.
 */
export async function signWebhook(secret: string, ts: number | bigint, body: WebhookBody): Promise<string> {
  if (typeof ts === "number" && !Number.isSafeInteger(ts)) throw new RangeError(`mesh: timestamp ${ts} is not an integer`);
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error("mesh: webhook signatures need WebCrypto (crypto.subtle): Node 20+, or a browser page on a secure origin");
  const enc = new TextEncoder();
  const key = await subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const head = enc.encode(String(ts) + ".");
  const bytes = typeof body === "string" ? enc.encode(body) : body instanceof Uint8Array ? body : new Uint8Array(body);
  const msg = new Uint8Array(head.length + bytes.length);
  msg.set(head);
  msg.set(bytes, head.length);
  const mac = new Uint8Array(await subtle.sign("HMAC", key, msg));
  let hex = "v1=";
  for (const b of mac) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** headerValues returns every value of the header name (any case). */
function headerValues(headers: WebhookRequestHeaders, name: string): string[] {
  if (typeof (headers as Headers).get === "function") {
    const v = (headers as Headers).get(name);
    return v === null ? [] : v.split(", "); // Headers joins repeated values with ", "
  }
  const out: string[] = [];
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
    if (k.toLowerCase() !== want || v === undefined) continue;
    if (typeof v === "string") out.push(v);
    else out.push(...v);
  }
  return out;
}

/** constantTimeEqual compares two strings in time that depends on their length only. */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}
