// One participant's WebSocket to a node, kept up: hello and welcome,
// pacing under the node's frame rate, keepalive, reconnect with backoff
// and resume, and de-duplication by room seq. Browser-safe: no Node APIs.

import { decodeClientFrame, decodeServerFrame, encodeClientFrame, goQuote, UnknownFrameError } from "./codec.js";
import { ClosedError, DisconnectedError, invalid, MeshError } from "./errors.js";
import { Emitter, listenerFailed, type Logger } from "./emitter.js";
import { utf8Length } from "./json.js";
import { TokenBucket } from "./limiter.js";
import { wsEndpoint } from "./rest.js";
import type {
  ClientFrame,
  HelloFrame,
  InboxItem,
  JoinedFrame,
  LeftFrame,
  Message,
  NodeInfo,
  Participant,
  PresenceFrame,
  ServerFrame,
  StateFrame,
  WelcomeFrame,
  WireLimits,
} from "./types.js";
import { kill, OPEN, onControl, resolveWebSocket, type WebSocketConstructor, type WebSocketLike } from "./websocket.js";

/**
 * Status is "connecting" (dialling, or reconnecting after a drop), "open",
 * or "closed": not opened yet, or closed for good (Connection.done).
 */
export type Status = "connecting" | "open" | "closed";

/** FrameEvent is one raw frame, for a developer terminal. Outgoing hello frames have the token replaced by "…". */
export interface FrameEvent {
  dir: "in" | "out";
  text: string;
  /** The decoded frame, when it decoded. */
  frame?: ServerFrame | ClientFrame;
}

export interface ConnectionEvents {
  status: Status;
  welcome: WelcomeFrame;
  frame: FrameEvent;
  /** A message of a joined room, each at most once, in seq order per room. */
  message: Message;
  /** The answer to a join, or a room resumed after a reconnect (no ref). */
  joined: JoinedFrame;
  left: LeftFrame;
  presence: PresenceFrame;
  state: StateFrame;
  /** An inbox item the node pushed (inbox.item), on a connection that has sent an inbox frame; not de-duplicated. */
  inbox: InboxItem;
  /** A refusal no call was waiting for, a malformed frame, or the fatal error that closed the connection. */
  error: Error;
}

export interface ConnectionOptions {
  /** The WebSocket constructor; default globalThis.WebSocket, else the "ws" package. */
  WebSocket?: WebSocketConstructor;
  /** Reconnect backoff in ms: attempt n waits a random time in [0, min(maxBackoff, minBackoff·2ⁿ)). Defaults 250 and 15000. */
  minBackoff?: number;
  maxBackoff?: number;
  /** Dial, hello and welcome, in ms (default 10000). */
  handshakeTimeout?: number;
  /** Silence from the node before a ping, and after it before giving up, in ms (defaults 30000 and 15000). */
  pingAfter?: number;
  pongWait?: number;
  logger?: Logger;
}

/** CallOptions bound a call. */
export interface CallOptions {
  signal?: AbortSignal | undefined;
}

interface Pending {
  room: string | undefined;
  resolve(f: ServerFrame): void;
  reject(err: unknown): void;
}

/** isFatal reports whether err means the node will not take this token again. */
function isFatal(err: unknown): boolean {
  return err instanceof MeshError && err.code === "unauthorized";
}

/**
 * Connection is one participant's connection to a node. open() dials and
 * waits for welcome; after that the connection reconnects by itself when
 * it drops, resuming every joined room from the last seq it has, until
 * close() or a fatal refusal (an unauthorized token, a policy-violation
 * close). Calls made while it reconnects wait for it.
 */
export class Connection {
  /** The WebSocket endpoint. */
  readonly url: string;
  private readonly events: Emitter<ConnectionEvents>;
  private readonly log: Logger;
  private readonly opts: Required<Omit<ConnectionOptions, "WebSocket" | "logger">> & ConnectionOptions;
  private sock: WebSocketLike | null = null;
  private started = false;
  private stopped = false;
  private fatalError: Error | undefined;
  private held = false;
  private _status: Status = "closed";
  private _me: Participant | undefined;
  private _node: NodeInfo | undefined;
  private _limits: WireLimits = { maxFrameBytes: 65536, maxTextBytes: 8192, rate: 0, burst: 0 };
  private rooms = new Map<string, { last: number }>();
  private pending = new Map<string, Pending>();
  /**
   * lateRefusal is offered a refusal whose ref no call waits for any more
   * (a post to a room of another node is acked first and may be refused
   * by the room's home later); true: it was taken, no "error" event.
   * @internal
   */
  lateRefusal: ((err: MeshError) => boolean) | undefined;
  private waiters = new Set<{ resolve(s: WebSocketLike): void; reject(e: unknown): void }>();
  private refs = 0;
  private bucket = new TokenBucket();
  private lastRecv = 0;
  private pinged = false;
  private lastRefusal: MeshError | undefined;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private cancelDial: (() => void) | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(
    url: string,
    private readonly token: string,
    opts: ConnectionOptions = {},
  ) {
    if (!token) throw invalid("mesh: a token is required");
    this.url = wsEndpoint(url);
    this.log = opts.logger ?? {};
    this.opts = {
      minBackoff: 250,
      maxBackoff: 15000,
      handshakeTimeout: 10000,
      pingAfter: 30000,
      pongWait: 15000,
      ...opts,
    };
    this.opts.maxBackoff = Math.max(this.opts.maxBackoff, this.opts.minBackoff);
    this.events = new Emitter(listenerFailed(this.log));
  }

  on<K extends keyof ConnectionEvents>(event: K, fn: (v: ConnectionEvents[K]) => void): () => void {
    return this.events.on(event, fn);
  }

  off<K extends keyof ConnectionEvents>(event: K, fn: (v: ConnectionEvents[K]) => void): void {
    this.events.off(event, fn);
  }

  get status(): Status {
    return this._status;
  }

  /** me is the participant the token authenticates, as the latest welcome told it. */
  get me(): Participant {
    if (!this._me) throw new Error("mesh: not connected yet");
    return this._me;
  }

  get node(): NodeInfo | undefined {
    return this._node;
  }

  get limits(): WireLimits {
    return this._limits;
  }

  /** done reports whether the connection is closed for good (close(), a fatal error, or a failed open). */
  get done(): boolean {
    return this.stopped;
  }

  /** The error that closed the connection for good, if it was not close(). */
  get error(): Error | undefined {
    return this.fatalError;
  }

  /** lastSeq returns the highest seq received in a joined room, or undefined if it is not joined. */
  lastSeq(room: string): number | undefined {
    return this.rooms.get(room)?.last;
  }

  /** joinedRooms lists the rooms resumed after a reconnect. */
  joinedRooms(): string[] {
    return [...this.rooms.keys()];
  }

  /** forget stops resuming a room (after a leave whose answer was lost). */
  forget(room: string): void {
    this.rooms.delete(room);
  }

  /**
   * open dials the node, says hello and waits for welcome. A refused token
   * is a MeshError (unauthorized); any failure closes the connection for
   * good. Afterwards the connection keeps itself up.
   */
  async open(opts: CallOptions = {}): Promise<WelcomeFrame> {
    if (this.started) throw new Error("mesh: open may be called once");
    this.started = true;
    this.setStatus("connecting");
    try {
      const w = await this.dial(opts.signal);
      const every = Math.min(1000, Math.max(50, this.opts.pingAfter / 4));
      this.ticker = setInterval(() => this.keepalive(), every);
      return w;
    } catch (err) {
      this.stopped = true;
      this.setStatus("closed");
      throw err;
    }
  }

  /**
   * request sends a frame that the node answers (join, leave, say,
   * command, result, moderate, ping, inbox, inbox.ack) and resolves with
   * the answer: joined, left, ack, pong, inbox or inbox.acked. A refusal rejects with the node's MeshError; a drop
   * before the answer with DisconnectedError. A frame without a ref gets
   * one (a result's ref is its command's id, which the ack echoes).
   */
  async request(frame: ClientFrame, opts: CallOptions = {}): Promise<ServerFrame> {
    if (frame.type === "hello") throw invalid("mesh: hello is sent by the connection itself");
    const f = { ...frame } as ClientFrame & { ref?: string; room?: string };
    if (!f.ref) f.ref = "a" + (++this.refs).toString(36);
    const key = f.ref;
    const text = this.encode(f);
    const sock = await this.live(opts.signal);
    await this.bucket.wait(opts.signal);
    if (sock !== this.sock) throw new DisconnectedError();
    if (this.pending.has(key)) throw invalid(`ref ${goQuote(key)} is already waiting for an answer.`);
    return new Promise<ServerFrame>((resolve, reject) => {
      const signal = opts.signal;
      const abort = (): void => {
        if (this.pending.get(key) === p) this.pending.delete(key);
        reject(signal!.reason);
      };
      const p: Pending = {
        room: f.room,
        resolve: (v) => {
          signal?.removeEventListener("abort", abort);
          resolve(v);
        },
        reject: (e) => {
          signal?.removeEventListener("abort", abort);
          reject(e);
        },
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.pending.set(key, p);
      this.write(sock, text, f);
    });
  }

  /** send sends a frame no call waits for (a move); refusals come as "error" events. */
  async send(frame: ClientFrame, opts: CallOptions = {}): Promise<void> {
    if (frame.type === "hello") throw invalid("mesh: hello is sent by the connection itself");
    const text = this.encode(frame);
    const sock = await this.live(opts.signal);
    await this.bucket.wait(opts.signal);
    if (sock !== this.sock) throw new DisconnectedError();
    this.write(sock, text, frame);
  }

  /**
   * sendRaw sends the text of a frame as typed in a developer terminal,
   * after checking it as the node would (decodeClientFrame). Its answer
   * arrives as a "frame" event. Refs of the form a<n> are the SDK's own:
   * use others.
   */
  async sendRaw(text: string, opts: CallOptions = {}): Promise<void> {
    const { frame } = decodeClientFrame(text);
    if (frame.type === "hello") throw invalid("mesh: hello is sent by the connection itself");
    this.checkSize(text);
    const sock = await this.live(opts.signal);
    await this.bucket.wait(opts.signal);
    if (sock !== this.sock) throw new DisconnectedError();
    this.write(sock, text, frame);
  }

  /**
   * hold(true) closes the socket and keeps the connection from
   * reconnecting until hold(false), which resumes every room where it
   * was: back-pressure for a consumer that does not keep up.
   */
  hold(on: boolean): void {
    if (on === this.held || this.stopped) return;
    this.held = on;
    if (on && this.sock) {
      this.log.info?.("mesh: holding the connection until the consumer catches up");
      const s = this.sock;
      kill(s, true);
      this.dropped(s, 1000, "held");
    } else if (!on) {
      this.wakeUp?.();
    }
  }

  /**
   * close closes the socket with a normal closure and stops reconnecting.
   * Pending calls fail with ClosedError. It is safe to call more than once.
   */
  async close(): Promise<void> {
    if (this.stopped && !this.sock) {
      this.setStatus("closed");
      return;
    }
    this.stopped = true;
    this.stop(new ClosedError());
    const sock = this.sock;
    this.sock = null;
    if (sock) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          kill(sock, false);
          resolve();
        }, 1000);
        sock.onclose = () => {
          clearTimeout(t);
          resolve();
        };
        sock.onmessage = null;
        kill(sock, true);
      });
    }
    this.setStatus("closed");
  }

  // Internals.

  private setStatus(s: Status): void {
    if (s === this._status) return;
    this._status = s;
    this.events.emit("status", s);
  }

  /** stop ends everything waiting: timers, a dial, pending calls, waiters. */
  private stop(err: Error): void {
    clearInterval(this.ticker);
    this.cancelDial?.();
    this.wakeUp?.();
    for (const [ref, p] of this.pending) {
      this.pending.delete(ref);
      p.reject(err);
    }
    for (const w of this.waiters) w.reject(err);
    this.waiters.clear();
  }

  /** fail closes the connection for good after a fatal error. */
  private fail(err: Error): void {
    this.log.error?.("mesh: giving up on the connection", err);
    this.stopped = true;
    this.fatalError = err;
    this.stop(err);
    if (this.sock) kill(this.sock, true);
    this.sock = null;
    this.setStatus("closed");
    this.events.emit("error", err);
  }

  private encode(f: ClientFrame): string {
    const text = encodeClientFrame(f);
    this.checkSize(text);
    return text;
  }

  private checkSize(text: string): void {
    const n = utf8Length(text);
    if (this._limits.maxFrameBytes > 0 && n > this._limits.maxFrameBytes) {
      throw new MeshError("too_large", `The frame is ${n} bytes; the node's limit is ${this._limits.maxFrameBytes}.`);
    }
  }

  private write(sock: WebSocketLike, text: string, frame: ClientFrame): void {
    try {
      sock.send(text);
    } catch (err) {
      this.log.warn?.("mesh: write failed", err);
      kill(sock, false);
      this.dropped(sock, 1006, String(err));
      return;
    }
    if (this.events.has("frame")) this.events.emit("frame", { dir: "out", text, frame });
  }

  /** live returns the open socket, waiting (bounded by signal) while the connection reconnects. */
  private live(signal?: AbortSignal): Promise<WebSocketLike> {
    signal?.throwIfAborted();
    if (this.sock && this._status === "open") return Promise.resolve(this.sock);
    if (!this.started) return Promise.reject(new Error("mesh: not connected: call open() (Client.connect()) first"));
    if (this.stopped) return Promise.reject(this.fatalError ?? new ClosedError());
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (s: WebSocketLike) => {
          signal?.removeEventListener("abort", abort);
          resolve(s);
        },
        reject: (e: unknown) => {
          signal?.removeEventListener("abort", abort);
          reject(e);
        },
      };
      const abort = (): void => {
        this.waiters.delete(w);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.waiters.add(w);
    });
  }

  /** dial opens a socket, says hello (resuming every joined room) and installs it on welcome. */
  private async dial(signal?: AbortSignal): Promise<WelcomeFrame> {
    const Ctor = await resolveWebSocket(this.opts.WebSocket);
    signal?.throwIfAborted();
    if (this.stopped) throw this.fatalError ?? new ClosedError();
    return new Promise<WelcomeFrame>((resolve, reject) => {
      let sock: WebSocketLike;
      try {
        sock = new Ctor(this.url);
      } catch (err) {
        reject(err);
        return;
      }
      let done = false;
      const finish = (err: unknown, w?: WelcomeFrame): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", abort);
        this.cancelDial = undefined;
        if (w) return resolve(w);
        sock.onopen = sock.onmessage = sock.onclose = null;
        kill(sock, false);
        reject(err);
      };
      const timer = setTimeout(() => finish(new Error(`mesh: no welcome within ${this.opts.handshakeTimeout} ms`)), this.opts.handshakeTimeout);
      const abort = (): void => finish(signal!.reason);
      signal?.addEventListener("abort", abort, { once: true });
      this.cancelDial = () => finish(this.fatalError ?? new ClosedError());
      sock.onerror = () => {}; // onclose follows
      sock.onclose = (ev) => finish(new Error(`mesh: the connection closed before welcome (${ev.code}${ev.reason ? " " + ev.reason : ""})`));
      sock.onopen = () => {
        const hello: HelloFrame = { type: "hello", token: this.token };
        if (this.rooms.size > 0) hello.resume = Object.fromEntries([...this.rooms].map(([r, s]) => [r, s.last]));
        try {
          sock.send(encodeClientFrame(hello));
          if (this.events.has("frame")) {
            const shown = { ...hello, token: "…" };
            this.events.emit("frame", { dir: "out", text: JSON.stringify(shown), frame: shown });
          }
        } catch (err) {
          finish(err);
        }
      };
      sock.onmessage = (ev) => {
        if (typeof ev.data !== "string") return;
        let f: ServerFrame;
        try {
          f = decodeServerFrame(ev.data);
        } catch (err) {
          return finish(err);
        }
        if (this.events.has("frame")) this.events.emit("frame", { dir: "in", text: ev.data, frame: f });
        if (f.type === "error") return finish(new MeshError(f.code, f.message, f.ref ? { ref: f.ref } : {}));
        if (f.type !== "welcome") return finish(invalid(`mesh: expected welcome, got ${f.type}`));
        this.install(sock, f);
        finish(undefined, f);
      };
    });
  }

  /** install makes sock the live socket after its welcome. */
  private install(sock: WebSocketLike, w: WelcomeFrame): void {
    this.sock = sock;
    this._me = w.you;
    this._node = w.node;
    this._limits = w.limits;
    this.bucket.set(w.limits);
    this.lastRecv = Date.now();
    this.pinged = false;
    this.lastRefusal = undefined;
    sock.onmessage = (ev) => this.receive(sock, ev.data);
    sock.onclose = (ev) => this.dropped(sock, ev.code, ev.reason);
    onControl(sock, () => {
      this.lastRecv = Date.now();
      this.bucket.reserve(); // our pong takes one of the node's tokens
    });
    this.log.info?.(`mesh: connected to ${this.url} as ${w.you.id}; resuming ${this.rooms.size} rooms`);
    this.setStatus("open");
    this.events.emit("welcome", w);
    for (const wt of this.waiters) wt.resolve(sock);
    this.waiters.clear();
  }

  /** dropped handles the end of the live socket: pending calls fail, then reconnect or give up. */
  private dropped(sock: WebSocketLike, code: number, reason: string): void {
    if (sock !== this.sock) return;
    this.sock = null;
    sock.onmessage = sock.onclose = null;
    const err = this.stopped ? new ClosedError() : new DisconnectedError();
    for (const [ref, p] of this.pending) {
      this.pending.delete(ref);
      p.reject(err);
    }
    if (this.stopped) return;
    if (code === 1008) {
      // A policy violation: reconnecting with the same token would not help.
      const code = /rate limit/.test(reason) ? "rate_limited" : "unauthorized";
      this.fail(this.lastRefusal ?? new MeshError(code, `The node closed the connection: ${reason || "policy violation"}.`));
      return;
    }
    this.log.warn?.(`mesh: connection lost (${code}${reason ? " " + reason : ""}); reconnecting`);
    this.setStatus("connecting");
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      while (this.held && !this.stopped) await this.sleep(Infinity);
      const ceiling = Math.min(this.opts.maxBackoff, this.opts.minBackoff * 2 ** Math.min(attempt, 30));
      await this.sleep(Math.random() * ceiling + 1);
      if (this.stopped || this.held) continue;
      try {
        await this.dial();
        if (this.held && this.sock) {
          // Held while dialling: close again and wait for the release.
          const s = this.sock;
          kill(s, true);
          this.dropped(s, 1000, "held");
        }
        return;
      } catch (err) {
        if (this.stopped) return;
        if (isFatal(err)) return this.fail(err as Error);
        this.log.warn?.(`mesh: reconnect attempt ${attempt + 1} failed`, err);
      }
    }
  }

  /** sleep waits ms, or until wakeUp (hold released, close). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = ms === Infinity ? undefined : setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** keepalive pings after pingAfter of silence and drops the socket when pongWait more pass. */
  private keepalive(): void {
    const sock = this.sock;
    if (!sock || sock.readyState !== OPEN) return;
    const idle = Date.now() - this.lastRecv;
    if (idle > this.opts.pingAfter + this.opts.pongWait) {
      this.log.warn?.(`mesh: no answer from the node for ${idle} ms; reconnecting`);
      kill(sock, false);
      this.dropped(sock, 1006, "no answer");
    } else if (idle > this.opts.pingAfter && !this.pinged) {
      this.pinged = true;
      this.send({ type: "ping" }).catch(() => {});
    }
  }

  /** receive handles one frame from the live socket. */
  private receive(sock: WebSocketLike, data: unknown): void {
    if (sock !== this.sock) return;
    this.lastRecv = Date.now();
    this.pinged = false;
    if (typeof data !== "string") return; // the node sends text only
    let f: ServerFrame;
    try {
      f = decodeServerFrame(data);
    } catch (err) {
      if (this.events.has("frame")) this.events.emit("frame", { dir: "in", text: data });
      if (err instanceof UnknownFrameError) this.log.debug?.(`mesh: ignoring a frame of type ${err.frameType}`);
      else this.events.emit("error", err as Error);
      return;
    }
    if (this.events.has("frame")) this.events.emit("frame", { dir: "in", text: data, frame: f });
    switch (f.type) {
      case "message":
        return this.onMessage(f.message);
      case "joined": {
        const rs = this.rooms.get(f.room);
        if (f.ref || !rs) this.rooms.set(f.room, { last: f.head });
        else if (f.head < rs.last) {
          this.log.warn?.(`mesh: room ${f.room}'s log is shorter than what the client has (${f.head} < ${rs.last}); starting over from its head`);
          rs.last = f.head;
        }
        this.events.emit("joined", f);
        this.answer(f);
        return;
      }
      case "left":
        this.rooms.delete(f.room);
        this.events.emit("left", f);
        this.answer(f);
        return;
      case "ack":
      case "pong":
      case "inbox":
      case "inbox.acked":
        this.answer(f);
        return;
      case "inbox.item":
        return this.events.emit("inbox", f.item);
      case "error": {
        const err = new MeshError(f.code, f.message, f.ref ? { ref: f.ref } : {});
        if (!f.ref) this.lastRefusal = err;
        if (!this.answer(f, err) && !(f.ref && this.lateRefusal?.(err))) {
          this.log.warn?.(`mesh: the node refused a frame (${f.code}): ${f.message}`);
          this.events.emit("error", err);
        }
        return;
      }
      case "presence":
        return this.events.emit("presence", f);
      case "state":
        return this.events.emit("state", f);
    }
  }

  /** answer settles the call waiting for f.ref, if any. An ack moves its room's last seq. */
  private answer(f: ServerFrame, err?: MeshError): boolean {
    const ref = (f as { ref?: string }).ref;
    if (!ref) return false;
    const p = this.pending.get(ref);
    if (!p) return false;
    this.pending.delete(ref);
    if (err) {
      p.reject(err);
      return true;
    }
    if (f.type === "ack" && f.seq !== undefined && p.room !== undefined) {
      const rs = this.rooms.get(p.room);
      if (rs && f.seq > rs.last) rs.last = f.seq; // the node queues the ack where the message is in the room's order
    }
    p.resolve(f);
    return true;
  }

  /** onMessage drops what the connection already has, by room and seq. */
  private onMessage(m: Message): void {
    const rs = this.rooms.get(m.room);
    if (!rs || m.seq <= rs.last) return; // not joined (any more), or a repeat
    if (m.seq > rs.last + 1) this.log.warn?.(`mesh: gap in room ${m.room}: after ${rs.last} came ${m.seq}`);
    rs.last = m.seq;
    this.events.emit("message", m);
  }
}

