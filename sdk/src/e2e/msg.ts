// Messages: an HKDF ratchet derives one key per message from a sender's
// chain key; XChaCha20-Poly1305 seals the plaintext with the room, epoch,
// sender device, keys entry, counter, addressee and reference bound as
// associated data; Ed25519 signs the lot.

import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { expand } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { toWellFormed } from "../json.js";
import type { Body, Sealed } from "../types.js";
import { b64, bytesOf, defaultRandom, Enc, labels, unb64, type Random } from "./bytes.js";
import { signWith, type Identity } from "./device.js";
import { OpenError } from "./errors.js";
import { chainKeySize, e2eVersion, raw } from "./keys.js";

/** Plain is what a message of an E2E room says once opened: the kind and body a plain message would carry. */
export interface Plain {
  kind: "chat" | "command" | "result";
  body: Body;
}

/** Envelope is the part of a posted message outside the body that a sealed message binds. room is the home address. */
export interface Envelope {
  room: string;
  to?: string | undefined;
  ref?: string | undefined;
}

const messageLabel = bytesOf(labels.message);
const chainLabel = bytesOf(labels.chain);

/** Chain is a sender's ratchet: next() returns the next counter and its message key and forgets the chain key it came from. */
export class Chain {
  /** The chain key of counter n. */
  private ck: Uint8Array;
  /** The counter the next next() uses (from 1). */
  private counter: number;

  constructor(ck: Uint8Array, n = 1) {
    this.ck = ck;
    this.counter = n;
  }

  /** state is the chain key and counter the next next() will use, for a key store to save. */
  state(): { ck: Uint8Array; n: number } {
    return { ck: this.ck, n: this.counter };
  }

  /** next returns the next counter and its message key. */
  next(): { n: number; mk: Uint8Array } {
    const mk = expand(sha256, this.ck, messageLabel, chainKeySize);
    const n = this.counter;
    this.step();
    return { n, mk };
  }

  /** keyAt returns message key n (n at or past the counter) and moves the chain past it. */
  keyAt(n: number): Uint8Array {
    if (!(n >= this.counter)) throw new Error(`e2e: chain is at ${this.counter}, past ${n}`);
    while (this.counter < n) this.step();
    return this.next().mk;
  }

  private step(): void {
    this.ck = expand(sha256, this.ck, chainLabel, chainKeySize);
    this.counter++;
  }
}

/** messageKey returns the key of message n (n ≥ 1) of the chain that starts with ck0. */
export function messageKey(ck0: Uint8Array, n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 1) throw new OpenError("corrupt", `message counter ${n} is not 1 or more`);
  return new Chain(ck0).keyAt(n);
}

export function msgAD(env: Envelope, epoch: number, device: string, keys: number, n: number): Enc {
  return new Enc()
    .lp(labels.msg)
    .lp(env.room)
    .u64(epoch)
    .lp(device)
    .u64(keys)
    .u64(n)
    .lp(env.to ?? "")
    .lp(env.ref ?? "");
}

/** msgInput is what a msg's signature covers: its associated data, nonce and ciphertext. */
export function msgInput(s: Sealed, env: Envelope): Uint8Array {
  return msgAD(env, s.epoch, s.device, s.keys ?? 0, s.n ?? 0)
    .lp(raw(s.nonce))
    .lp(raw(s.ct))
    .bytes();
}

/**
 * encodePlain writes p compactly as Go's encoding/json writes e2e.Plain:
 * keys kind, body {text, command, args, ok, output}, absent ones left
 * out, and <, >, &, U+2028 and U+2029 escaped as \u003c and so on, so Go
 * and TypeScript senders make the same bytes.
 */
export function encodePlain(p: Plain): Uint8Array {
  const body: Record<string, unknown> = {};
  const b = p.body;
  if (b.text !== undefined && b.text !== "") body.text = b.text;
  if (b.command !== undefined && b.command !== "") body.command = b.command;
  if (b.args !== undefined) body.args = b.args;
  if (b.ok !== undefined) body.ok = b.ok; // a pointer in Go: false is written too
  if (b.output !== undefined && b.output !== "") body.output = b.output;
  return bytesOf(goJSON({ kind: p.kind, body }));
}

/** goJSON is JSON.stringify with Go's HTML-safe escapes and lone surrogates replaced, as encoding/json does. */
export function goJSON(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === "string" ? toWellFormed(x) : x)).replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/**
 * seal encrypts p as message n of id's chain in epoch, whose keys entry
 * has seq keys, with message key mk. The nonce is 24 random bytes.
 */
export function seal(id: Identity, env: Envelope, epoch: number, keys: number, n: number, mk: Uint8Array, p: Plain, random: Random = defaultRandom): Sealed {
  const { sealed, input } = sealUnsigned(id, env, epoch, keys, n, mk, p, random);
  sealed.sig = b64(signWith(id, input));
  return sealed;
}

/** sealUnsigned is seal without the signature: the body (sig empty) and the bytes its signature must cover. */
export function sealUnsigned(id: Identity, env: Envelope, epoch: number, keys: number, n: number, mk: Uint8Array, p: Plain, random: Random = defaultRandom): { sealed: Sealed; input: Uint8Array } {
  const nonce = random(24);
  const ad = msgAD(env, epoch, id.id, keys, n).bytes();
  const ct = xchacha20poly1305(mk, nonce, ad).encrypt(encodePlain(p));
  const sealed: Sealed = { v: e2eVersion, type: "msg", epoch, device: id.id, keys, n, nonce: b64(nonce), ct: b64(ct), sig: "" };
  return { sealed, input: msgInput(sealed, env) };
}

const plainKinds = new Set(["chat", "command", "result"]);
const bodyKeys = new Set(["text", "command", "args", "ok", "output"]);

/**
 * open decrypts a msg body with message key mk. Verify its signature
 * first. OpenError corrupt: it does not open, or the plaintext is not a
 * chat, command or result.
 */
export function open(s: Sealed, env: Envelope, mk: Uint8Array): Plain {
  const nonce = unb64(s.nonce);
  const ct = unb64(s.ct);
  if (!nonce || nonce.length !== 24 || !ct) throw new OpenError("corrupt", `message ${s.n} of ${s.device} is malformed`);
  let text: Uint8Array;
  try {
    text = xchacha20poly1305(mk, nonce, msgAD(env, s.epoch, s.device, s.keys ?? 0, s.n ?? 0).bytes()).decrypt(ct);
  } catch {
    throw new OpenError("corrupt", `message ${s.n} of ${s.device} does not open`);
  }
  return decodePlain(text, s);
}

function decodePlain(text: Uint8Array, s: Sealed): Plain {
  const fault = (why: string): never => {
    throw new OpenError("corrupt", `message ${s.n} of ${s.device}: plaintext ${why}`);
  };
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(text));
  } catch {
    return fault("is not JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return fault("is not an object");
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== "kind" && k !== "body") fault(`has an unknown field ${JSON.stringify(k)}`);
  if (typeof o.kind !== "string" || !plainKinds.has(o.kind)) return fault(`kind ${JSON.stringify(o.kind)} is not chat, command or result`);
  const b = o.body ?? {};
  if (typeof b !== "object" || b === null || Array.isArray(b)) return fault("body is not an object");
  const body: Body = {};
  for (const [k, x] of Object.entries(b as Record<string, unknown>)) {
    if (!bodyKeys.has(k)) fault(`body has an unknown field ${JSON.stringify(k)}`);
    if (x === null) continue;
    if ((k === "text" || k === "command" || k === "output") && typeof x !== "string") fault(`body.${k} is not a string`);
    if (k === "ok" && typeof x !== "boolean") fault("body.ok is not a boolean");
    (body as Record<string, unknown>)[k] = x;
  }
  return { kind: o.kind as Plain["kind"], body };
}
