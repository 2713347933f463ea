// Client: a participant in the mesh. It turns the protocol into calls
// (join, say, commands, moves) on top of a Connection that keeps itself
// up, and delivers each room's messages without gap or repeat.

import { checkClientFrame, maxInboxLimit, validRoomId } from "./codec.js";
import { remoteRoom } from "./types.js";
import { type CommandHandler, CommandRouter } from "./commands.js";
import { type CallOptions, Connection, type ConnectionOptions, type FrameEvent, type Status } from "./connection.js";
import type { Plain } from "./e2e/msg.js";
import type { Counts, Scanner, ScanResult, Session } from "./e2e/session.js";
import { ClosedError, invalid, MeshError } from "./errors.js";
import { utf8Length } from "./json.js";
import type { KeyStore } from "./keystore.js";
import { Emitter, listenerFailed, type Logger } from "./emitter.js";
import { type Fetch, Rest } from "./rest.js";
import type {
  AckFrame,
  Inbox,
  InboxAcked,
  InboxAckedFrame,
  InboxFrame,
  InboxItem,
  JoinedFrame,
  LeftFrame,
  Member,
  Message,
  ModerationAction,
  Move,
  MoveFrame,
  Participant,
  PongFrame,
  PresenceFrame,
  Roster,
  Sealed,
  StateFrame,
  Trust,
  Vec3,
  WireLimits,
  WorldState,
} from "./types.js";
import { ItemQueue, MessageQueue } from "./queue.js";
import { arrival, maxStepMs, stepMs, World } from "./world.js";

export interface ClientOptions extends ConnectionOptions {
  /**
   * Deliver the participant's own messages too (sent by its other
   * connections, or replayed on resume). Default false: an agent never
   * sees, and so never reacts to, itself.
   */
  ownMessages?: boolean;
  /** Messages one messages() iterator may hold unread before the connection is held (back-pressure). Default 4096. */
  queueLimit?: number;
  /** fetch for REST calls (default globalThis.fetch). */
  fetch?: Fetch;
  /** Bounds Client.dial's handshake. */
  signal?: AbortSignal;
  /**
   * Where this client keeps its device keys for end-to-end encrypted
   * rooms (fileKeyStore in Node, indexedDbKeyStore in a browser,
   * memoryKeyStore for tests). Without it, joining an E2E room fails.
   */
  keys?: KeyStore;
  /**
   * A prompt-injection scanner for the decrypted text of E2E rooms (the
   * node cannot scan them), e.g. @the-mesh/sdk/guard's. Applied per the
   * room's scan policy; without one, E2E messages arrive unscanned. A
   * function, or an object with a scan method (a guard Scanner).
   */
  scan?: Scanner | { scan(text: string): ScanResult };
  /** How long a send waits for this device to enter an E2E room's roster, in ms (default 15000). */
  e2eRosterWait?: number;
  /**
   * How long a sealed post to an E2E room of another node (room@node)
   * waits, in ms, for the room's home to store it (default 30000). The
   * client's node acks such a post without a seq once it is queued for
   * the home; the stored copy that comes back gives the seq, or the home
   * refuses it later.
   */
  e2eStoredWait?: number;
}

/** E2EInfo describes a client's end-to-end encryption once it has met an E2E room. */
export interface E2EInfo {
  /** This client's device id. */
  device: string;
  /** What it has seen: keys entries, messages opened, undecryptable, blocked and flagged by the scan, re-keys. */
  counts: Counts;
}

/** Joined is the node's answer to join: the history runs up to head; messages() continues after it. */
export interface Joined {
  room: string;
  members: Member[];
  history: Message[];
  head: number;
  state?: WorldState;
  /** The room's roster when it is end-to-end encrypted: history and messages() are then opened by this client. */
  e2e?: Roster;
}

/** Ack tells that a message the client sent is on disk: id and seq name it. */
export interface Ack {
  room: string;
  id: string;
  seq: number;
}

export interface ClientEvents {
  /** A message of a joined room (see messages()). */
  message: Message;
  presence: PresenceFrame;
  state: StateFrame;
  /** An inbox item the node pushed, once inbox() was called (see inboxItems()). */
  inbox: InboxItem;
  /** A join's answer, or a room resumed after a reconnect (resumed: true, empty history). */
  joined: Joined & { resumed: boolean };
  left: LeftFrame;
  /** Every raw frame in and out, for a developer terminal. */
  frame: FrameEvent;
  status: Status;
  error: Error;
}

export interface SayOptions extends CallOptions {
  /** Address the message to one participant: addressing, not privacy. */
  to?: string;
  /** Your own correlation id (default: one the SDK makes). */
  ref?: string;
}

export interface InboxOptions extends CallOptions {
  /** Items with n > after (default 0). */
  after?: number;
  /** 1 to 500; 0 or absent: 100. */
  limit?: number;
}

/** How many pushed items one inboxItems() iterator holds unread before it drops newer ones. */
export const inboxQueueLimit = 256;

/**
 * Client is one participant's connection to a node. Create it with
 * Client.dial (or new Client and connect()), close it with close().
 * Methods may be called while it reconnects: they wait for it, bounded by
 * their signal option. Refusals by the node are MeshError.
 */
export class Client {
  readonly conn: Connection;
  /** REST calls as the same participant. */
  readonly rest: Rest;
  private readonly events: Emitter<ClientEvents>;
  private readonly router: CommandRouter;
  private readonly world = new World();
  private readonly members = new Map<string, Map<string, Member>>();
  private readonly queues = new Set<MessageQueue>();
  private readonly moveSeq = new Map<string, number>();
  private readonly ownMessages: boolean;
  readonly queueLimit: number;
  private closed = false;
  private readonly log: Logger;
  private readonly inboxQueues = new Set<ItemQueue<InboxItem>>();
  private inboxOn = false; // inbox() was called: ask again after a reconnect
  private inboxLast = 0; // the highest inbox n seen
  // End-to-end encrypted rooms. Their messages are opened one at a time
  // per room (opening may wait for the node), in seq order.
  private readonly keys: KeyStore | undefined;
  private readonly scan: Scanner | undefined;
  private readonly rosterWait: number;
  private readonly storedWait: number;
  /** Sealed posts to rooms of other nodes waiting for their stored copy, by ref. */
  private readonly stored = new Map<string, StoredWait>();
  private sessionP: Promise<Session> | undefined;
  private sessionV: Session | undefined;
  private readonly e2eRooms = new Set<string>();
  private readonly pipelines = new Map<string, Promise<unknown>>();
  private readonly deliveries = new Map<string, Promise<void>>();
  private readonly joinTasks = new Map<string, Promise<Joined>>();
  private readonly roomReady = new Map<string, Promise<unknown>>();
  private refSeq = 0;

  /** dial connects (hello, welcome) and returns the client; a refused token is a MeshError (unauthorized). */
  static async dial(url: string, token: string, opts: ClientOptions = {}): Promise<Client> {
    const c = new Client(url, token, opts);
    await c.connect({ signal: opts.signal });
    return c;
  }

  constructor(url: string, token: string, opts: ClientOptions = {}) {
    this.conn = new Connection(url, token, opts);
    this.rest = new Rest(url, token, opts.fetch);
    this.ownMessages = opts.ownMessages ?? false;
    this.keys = opts.keys;
    const scan = opts.scan;
    this.scan = typeof scan === "function" ? scan : scan ? (text) => scan.scan(text) : undefined;
    this.rosterWait = opts.e2eRosterWait ?? 15000;
    this.storedWait = opts.e2eStoredWait ?? 30000;
    this.queueLimit = opts.queueLimit ?? 4096;
    const log = opts.logger ?? {};
    this.log = log;
    this.events = new Emitter(listenerFailed(log));
    this.router = new CommandRouter({
      me: () => this.conn.me.id,
      maxTextBytes: () => this.conn.limits.maxTextBytes,
      say: (room, text, to) => this.say(room, text, { to }),
      result: (room, command, ok, output, to) =>
        this.e2eRooms.has(room)
          ? this.sendSealed(room, { kind: "result", body: { ok, output } }, to, command)
          : this.conn.request({ type: "result", room, ref: command, ok, output }),
      log,
    });
    const c = this.conn;
    c.lateRefusal = (err) => this.refusedStored(err);
    c.on("message", (m) => this.onMessage(m));
    c.on("joined", (f) => this.onJoined(f));
    c.on("left", (f) => {
      this.world.onLeft(f.room);
      this.members.delete(f.room);
      this.e2eRooms.delete(f.room);
      this.sessionV?.forget(f.room);
      this.events.emit("left", f);
    });
    c.on("presence", (f) => this.onPresence(f));
    c.on("state", (f) => {
      this.world.onState(f);
      this.events.emit("state", f);
    });
    c.on("inbox", (item) => this.pushInbox(item));
    c.on("welcome", () => void this.resumeInbox()); // pushes are per connection: turn them on again
    c.on("frame", (f) => this.events.emit("frame", f));
    c.on("error", (e) => this.events.emit("error", e));
    c.on("status", (s) => {
      if (s === "closed") {
        this.endQueues();
        this.endStored();
      }
      this.events.emit("status", s);
    });
  }

  /** connect dials the node and waits for welcome. */
  async connect(opts: CallOptions = {}): Promise<void> {
    await this.conn.open(opts);
  }

  on<K extends keyof ClientEvents>(event: K, fn: (v: ClientEvents[K]) => void): () => void {
    return this.events.on(event, fn);
  }

  off<K extends keyof ClientEvents>(event: K, fn: (v: ClientEvents[K]) => void): void {
    this.events.off(event, fn);
  }

  /** me is the participant the token authenticates, as the latest welcome told it. */
  get me(): Participant {
    return this.conn.me;
  }

  get limits(): WireLimits {
    return this.conn.limits;
  }

  get status(): Status {
    return this.conn.status;
  }

  /** error is why the client stopped on its own (a refused token, a policy-violation close), if it did. */
  get error(): Error | undefined {
    return this.conn.error;
  }

  /**
   * messages returns an iterator over the messages of every joined room
   * that arrive from now on (after a join's head), in seq order per room,
   * each at most once, across reconnects. Create it before joining so
   * nothing is missed. It ends when the client closes, the signal aborts,
   * or the loop breaks. An iterator that falls queueLimit messages behind
   * holds the connection until it catches up (nothing is lost: the client
   * resumes where it was).
   */
  messages(opts: { signal?: AbortSignal } = {}): AsyncIterableIterator<Message> {
    const q = new MessageQueue(this, opts.signal);
    if (this.closed || this.conn.done) q.end();
    else this.queues.add(q);
    return q;
  }

  /**
   * join subscribes the client to a room (and makes it a member) and
   * returns the members, the latest history up to head and the world.
   * The room is resumed after every reconnect until leave. Refusals:
   * forbidden, not_found, conflict (joined already).
   */
  async join(room: string, opts: CallOptions = {}): Promise<Joined> {
    const f = (await this.conn.request({ type: "join", room }, opts)) as JoinedFrame;
    if (!f.e2e && remoteRoom(room) && !this.e2eRooms.has(room)) await this.mirrorE2E(room, opts.signal);
    const task = this.joinTasks.get(room);
    if (!task) return joinedOf(f);
    this.joinTasks.delete(room);
    try {
      return await task;
    } catch (err) {
      // Joined on the node, but this client cannot take part: stop following the room.
      this.conn.forget(room);
      this.e2eRooms.delete(room);
      throw err;
    }
  }

  /** leave ends the participant's membership of a room and stops resuming it. */
  async leave(room: string, opts: CallOptions = {}): Promise<void> {
    if (!validRoomId(room) && !remoteRoom(room)) throw invalid(`leave names an invalid room id ${JSON.stringify(room)}.`);
    if (this.conn.lastSeq(room) === undefined) {
      // Not joined on this client: leave over REST, which needs no subscription.
      await this.rest.request("POST", `/api/v1/rooms/${room}/leave`, undefined, opts.signal);
      return;
    }
    try {
      await this.conn.request({ type: "leave", room }, opts);
    } finally {
      this.conn.forget(room);
    }
  }

  /**
   * say posts a chat message to a joined room and resolves once the node
   * has it on disk. Refusals: forbidden, rate_limited, too_large, blocked,
   * invalid. A DisconnectedError means it may or may not be stored.
   */
  async say(room: string, text: string, opts: SayOptions = {}): Promise<Ack> {
    if (this.e2eRooms.has(room)) {
      if (typeof text !== "string" || text === "") throw invalid('say needs a non-empty "text".');
      return this.sendSealed(room, { kind: "chat", body: { text } }, opts.to, opts.ref, opts.signal);
    }
    const f: { type: "say"; room: string; text: string; to?: string; ref?: string } = { type: "say", room, text };
    if (opts.to) f.to = opts.to;
    if (opts.ref) f.ref = opts.ref;
    const a = (await this.conn.request(f, opts)) as AckFrame;
    return { room, id: a.id ?? "", seq: a.seq ?? 0 };
  }

  /**
   * sendCommand asks target, a member holding execute, to run name with
   * args (any JSON value), and resolves with the ack: its id is what the
   * target's result refers to (a message of kind result with ref = id).
   */
  async sendCommand(room: string, target: string, name: string, args?: unknown, opts: CallOptions = {}): Promise<Ack> {
    if (this.e2eRooms.has(room)) {
      if (!target) throw invalid('command needs a "target".');
      if (typeof name !== "string" || !name || utf8Length(name) > 64) throw invalid('command needs a "name" of 1 to 64 bytes.');
      const body = args === undefined ? { command: name } : { command: name, args };
      return this.sendSealed(room, { kind: "command", body }, target, undefined, opts.signal);
    }
    const f: { type: "command"; room: string; target: string; name: string; args?: unknown } = { type: "command", room, target, name };
    if (args !== undefined) f.args = args;
    const a = (await this.conn.request(f, opts)) as AckFrame;
    return { room, id: a.id ?? "", seq: a.seq ?? 0 };
  }

  /**
   * history reads a page of a room's log over REST (messages with seq >
   * after, at most limit, oldest first), opened as messages() delivers
   * them: in an end-to-end encrypted room each is decrypted or marked
   * undecryptable, and keys entries and blocked messages are left out.
   */
  async history(room: string, q: { after?: number; limit?: number } = {}, opts: CallOptions = {}): Promise<Message[]> {
    const ms = await this.rest.messages(room, q, opts.signal);
    if (!this.e2eRooms.has(room) && !ms.some((m) => m.kind === "encrypted" || isEpochEvent(m))) return ms;
    const s = await this.session();
    if (!s.has(room)) await s.addRoom(room, await this.rest.roster(room, opts.signal));
    const opened = ms.map((m) => s.receive(room, m, opts.signal)); // started in seq order, opened together
    return (await Promise.all(opened)).filter((o): o is Message => o !== null);
  }

  /** roster returns an end-to-end encrypted room's current roster as this client knows it (undefined for other rooms). */
  roster(room: string): Roster | undefined {
    return this.sessionV?.roster(room);
  }

  /** isE2E tells whether the client treats room as end-to-end encrypted (its roster, or, for room@node before the roster, the home's policy). */
  isE2E(room: string): boolean {
    return this.e2eRooms.has(room);
  }

  /** e2e describes this client's end-to-end encryption, once it has met an E2E room. */
  get e2e(): E2EInfo | undefined {
    const s = this.sessionV;
    return s && { device: s.deviceId, counts: { ...s.counts } };
  }

  /** moderate mutes, unmutes, kicks, bans or unbans target in room (needs moderate). */
  async moderate(room: string, action: ModerationAction, target: string, opts: CallOptions = {}): Promise<void> {
    await this.conn.request({ type: "moderate", room, action, target }, opts);
  }

  /** ping asks the node for a pong and returns the round trip in milliseconds. */
  async ping(opts: CallOptions = {}): Promise<number> {
    const t = Date.now();
    (await this.conn.request({ type: "ping" }, opts)) as PongFrame;
    return Date.now() - t;
  }

  /**
   * inbox reads up to limit (0: 100, at most 500) of the participant's
   * unacknowledged inbox items with n > after, oldest first. The first
   * call also turns on pushes: from then on the "inbox" event and
   * inboxItems() get each new item, on this connection and, after a
   * reconnect, on the next one (the client reads again from the last n it
   * saw, so items that came meanwhile are pushed too). Refusals are
   * MeshError (invalid).
   */
  async inbox(opts: InboxOptions = {}): Promise<Inbox> {
    const was = this.inboxOn;
    this.inboxOn = true; // before the answer: a push may overtake it
    let f: InboxFrame;
    try {
      f = (await this.conn.request({ type: "inbox", after: opts.after ?? 0, limit: opts.limit ?? 0 }, opts)) as InboxFrame;
    } catch (err) {
      this.inboxOn = was; // a refused first read turns nothing on
      throw err;
    }
    const out: Inbox = { items: f.items, next: f.next, unacked: f.unacked };
    if (f.dropped) out.dropped = f.dropped;
    this.inboxLast = Math.max(this.inboxLast, f.next);
    return out;
  }

  /**
   * ackInbox acknowledges every inbox item with n <= upTo; the node drops
   * them for good. It resolves with the node's ack cursor and the items
   * left. An upTo past the newest item is refused (invalid).
   */
  async ackInbox(upTo: number, opts: CallOptions = {}): Promise<InboxAcked> {
    const f = (await this.conn.request({ type: "inbox.ack", upTo }, opts)) as InboxAckedFrame;
    return { acked: f.acked, unacked: f.unacked };
  }

  /**
   * inboxItems returns an iterator over the items the node pushes once
   * inbox() was called. It is a prompt, not the record: when 256 items
   * wait unread, newer ones are dropped (and logged), and an item may come
   * both in inbox()'s page and here around the first call. Read inbox()
   * and ackInbox() for every item exactly; the node keeps them until
   * acknowledged. It ends when the client closes or the signal aborts.
   */
  inboxItems(opts: { signal?: AbortSignal } = {}): AsyncIterableIterator<InboxItem> {
    const q = new ItemQueue<InboxItem>(
      inboxQueueLimit,
      (item) => this.log.warn?.(`mesh: inbox push ${item.n} dropped: inboxItems() is not read; the item stays in the inbox`),
      (q) => this.inboxQueues.delete(q),
      opts.signal,
    );
    if (this.closed || this.conn.done) q.end();
    else this.inboxQueues.add(q);
    return q;
  }

  /**
   * command registers handler for commands named name addressed to this
   * participant: messages of kind command with to = me, and chat messages
   * to me starting "/name". The handler runs only when the message's
   * trust ranks at or above minTrust (owner > local > federated >
   * untrusted) and it carries no guard flags, checked here whatever the
   * node allowed; anything else is answered "refused: ..." without
   * calling it. A command message gets a result; a chat command a chat
   * reply to its sender. At most 8 handlers run at once.
   */
  command(name: string, minTrust: Trust, handler: CommandHandler): this {
    this.router.register(name, minTrust, handler);
    return this;
  }

  /** presence returns the members of a joined room as last told (online per presence frames), ordered by id. */
  presence(room: string): Member[] {
    return [...(this.members.get(room)?.values() ?? [])].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** positions returns every avatar the client knows in a joined room, as of the node's last state. */
  positions(room: string): Move[] {
    return [...(this.world.room(room)?.avatars.values() ?? [])];
  }

  /**
   * move sends one move of the client's avatar in a joined room and
   * returns its seq (fire and forget: the node's state frame acks it;
   * a refusal comes as an "error" event). Send at most one per 50 ms.
   */
  move(room: string, pos: Vec3, facing: number): number {
    if (this.conn.lastSeq(room) === undefined) throw invalid(`mesh: join room ${JSON.stringify(room)} before moving in it`);
    const seq = (this.moveSeq.get(room) ?? 0) + 1;
    const f: MoveFrame = { type: "move", room, pos: [pos[0], pos[1], pos[2]], facing, seq };
    checkClientFrame(f);
    this.moveSeq.set(room, seq);
    this.conn.send(f).catch((err: Error) => this.events.emit("error", err));
    return seq;
  }

  /**
   * moveTo walks the client's avatar in a joined room to (x, z) (clamped
   * to the floor), one move per 50 ms tick at nine tenths of the room's
   * speed, and resolves with the node's final word on where it stands.
   * The node cuts short a move that comes sooner than the speed allows
   * (after a stalled event loop or a late frame); moveTo then walks on
   * from where the node has the avatar, until it arrives or a walk gains
   * nothing.
   */
  async moveTo(room: string, x: number, z: number, opts: CallOptions = {}): Promise<Move> {
    if (!Number.isFinite(x) || !Number.isFinite(z)) throw invalid("mesh: moveTo needs finite x and z");
    const signal = opts.signal;
    for (;;) {
      const w = this.world.room(room);
      const start = w?.avatars.get(this.me.id);
      if (!w || this.conn.lastSeq(room) === undefined) throw invalid(`mesh: join room ${JSON.stringify(room)} before moving in it`);
      if (!start || !(w.speed > 0)) throw invalid(`mesh: the node has not placed this client in room ${JSON.stringify(room)} (no listen capability?)`);
      const half = w.size / 2;
      const tx = Math.max(-half, Math.min(half, x));
      const tz = Math.max(-half, Math.min(half, z));
      let pos: Vec3 = [start.pos[0], 0, start.pos[2]];
      let last = Date.now();
      let resumed = false;
      const off = this.conn.on("joined", (f) => {
        if (f.room === room && !f.ref) resumed = true;
      });
      try {
        for (;;) {
          const dx = tx - pos[0];
          const dz = tz - pos[2];
          const d = Math.hypot(dx, dz);
          if (d < arrival || resumed) break;
          await sleep(stepMs, signal);
          const now = Date.now();
          const step = Math.min(d, (0.9 * w.speed * Math.min(Math.max(now - last, 0), maxStepMs)) / 1000);
          last = now;
          pos = [pos[0] + (dx * step) / d, 0, pos[2] + (dz * step) / d];
          if (this.conn.status === "open") this.move(room, pos, Math.atan2(dx, dz));
        }
        if (!resumed) {
          const a = await this.settled(room, () => resumed, signal);
          const gained = a && (a.pos[0] !== start.pos[0] || a.pos[2] !== start.pos[2]);
          if (a && (Math.hypot(tx - a.pos[0], tz - a.pos[2]) < arrival || !gained)) return a;
        }
      } finally {
        off();
      }
      // The node cut a move short, or the connection was replaced meanwhile: walk on from where the node has us now.
    }
  }

  /** settled waits until the node has applied the last move sent to room; undefined if the room was resumed meanwhile. */
  private settled(room: string, resumed: () => boolean, signal?: AbortSignal): Promise<Move | undefined> {
    return new Promise((resolve, reject) => {
      const me = this.me.id;
      const check = (): void => {
        if (resumed()) return done(undefined);
        const a = this.world.room(room)?.avatars.get(me);
        if (!this.world.room(room)) return fail(invalid(`mesh: room ${JSON.stringify(room)} was left while moving`));
        if (a && a.ack >= (this.moveSeq.get(room) ?? 0)) done(a);
      };
      const offs = [this.events.on("state", check), this.events.on("joined", check), this.events.on("left", check)];
      const stop = (): void => {
        offs.forEach((off) => off());
        signal?.removeEventListener("abort", abort);
      };
      const done = (a: Move | undefined): void => {
        stop();
        resolve(a);
      };
      const fail = (e: unknown): void => {
        stop();
        reject(e);
      };
      const abort = (): void => fail(signal!.reason);
      const closed = this.events.on("status", (s) => s === "closed" && fail(this.conn.error ?? new ClosedError()));
      offs.push(closed);
      signal?.addEventListener("abort", abort, { once: true });
      check();
    });
  }

  /**
   * close closes the connection, stops reconnecting, aborts the command
   * handlers' signal and waits for them. Pending calls fail with
   * ClosedError; iterators end. Safe to call more than once.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.conn.close();
    await this.router.close();
    this.endQueues();
  }

  // Internals.

  /** pushInbox hands an item to the "inbox" event and the iterators unless it was seen already. */
  private pushInbox(item: InboxItem): void {
    if (item.n <= this.inboxLast || this.closed) return;
    this.inboxLast = item.n;
    this.events.emit("inbox", item);
    for (const q of this.inboxQueues) q.push(item);
  }

  /**
   * resumeInbox turns pushes on again on a new connection, if inbox() was
   * ever called, and pushes what came while the client was away.
   */
  private async resumeInbox(): Promise<void> {
    if (!this.inboxOn) return;
    let after = this.inboxLast;
    const signal = AbortSignal.timeout(30000);
    try {
      for (;;) {
        const f = (await this.conn.request({ type: "inbox", after, limit: maxInboxLimit }, { signal })) as InboxFrame;
        for (const item of f.items) this.pushInbox(item);
        if (f.items.length === 0 || f.next <= after) return;
        after = f.next;
      }
    } catch (err) {
      if (!this.closed && !this.conn.done) this.log.warn?.("mesh: could not read the inbox after reconnecting", err);
    }
  }

  private onMessage(m: Message): void {
    if (this.stored.size > 0 && m.from.id === this.conn.me.id) this.storedCopy(m);
    const hidden = !this.ownMessages && m.from.id === this.conn.me.id; // our own: the ack told the caller
    const epoch = isEpochEvent(m); // our own too (a device we registered): the roster changed
    if (hidden && !epoch) return;
    if (this.e2eRooms.has(m.room) || epoch) {
      if (!this.keys) return hidden ? undefined : this.deliver(m); // not opened: it stays kind encrypted
      this.e2eRooms.add(m.room);
      const room = m.room;
      const failed = (err: unknown): void => {
        if (this.closed) return;
        this.log.warn?.(`mesh: could not handle message ${m.seq} of end-to-end encrypted room ${room}`, err);
        this.events.emit("error", err as Error);
      };
      // Messages start opening in seq order (what they teach, rosters and
      // keys entries, is taken in that order), open concurrently (the
      // signature checks overlap), and are delivered in seq order.
      void this.inOrder(room, async () => {
        const s = await this.session();
        if (!s.has(room)) {
          const roster = isEpochEvent(m) ? m.body.event!.e2e! : await this.rest.roster(room);
          await s.addRoom(room, roster);
        }
        const opened = s.receive(room, m);
        opened.catch(() => {}); // handled in order below
        const prev = this.deliveries.get(room) ?? Promise.resolve();
        const done = prev
          .then(() => opened)
          .then((o) => {
            if (o && !hidden && !this.closed) this.deliver(o);
          }, failed);
        this.deliveries.set(room, done);
        void done.then(() => {
          if (this.deliveries.get(room) === done) this.deliveries.delete(room);
        });
        if (m.kind === "event" && m.body.event?.type === "policy") await done; // later messages are scanned under the new policy
      }).catch(failed);
      return;
    }
    this.deliver(m);
  }

  /** deliver hands a message (opened, in an E2E room) to the command router, the listeners and the iterators. */
  private deliver(m: Message): void {
    let policy = "";
    if (m.e2e && m.kind === "command" && m.to === this.conn.me.id) policy = this.sessionV?.mayExecute(m.room, m.trust) ?? "";
    this.router.route(m, policy);
    this.events.emit("message", m);
    for (const q of this.queues) q.push(m);
  }

  private onJoined(f: JoinedFrame): void {
    this.world.onJoined(f);
    this.members.set(f.room, new Map(f.members.map((m) => [m.id, m])));
    if (!f.e2e && !this.e2eRooms.has(f.room)) {
      this.events.emit("joined", { ...joinedOf(f), resumed: !f.ref });
      return;
    }
    // An end-to-end encrypted room: its history opens before it is told.
    this.e2eRooms.add(f.room);
    const task = this.inOrder(f.room, () => this.joinedE2E(f));
    this.roomReady.set(f.room, task);
    if (f.ref) this.joinTasks.set(f.room, task);
    task.catch((err: unknown) => {
      if (!f.ref && !this.closed) this.events.emit("error", err as Error);
    });
  }

  /**
   * mirrorE2E handles a room of another node whose joined frame had no
   * roster: this node's mirror may not hold the home's first epoch event
   * yet. The room's policy (the home's, from the roster body) says whether
   * it is end-to-end encrypted; if it is, the room is E2E at once (a say
   * is sealed, never sent in the clear) and sends wait until the roster
   * arrives (its epoch event, or GET .../e2e once the mirror has one).
   */
  private async mirrorE2E(room: string, signal?: AbortSignal): Promise<void> {
    let e2e = false;
    try {
      e2e = (await this.rest.room(room)).policy?.e2e === true;
    } catch (err) {
      this.log.warn?.(`mesh: could not read room ${room}'s policy after joining; treating it as plain until an epoch event says otherwise`, err);
    }
    if (!e2e || this.e2eRooms.has(room)) return;
    if (!this.keys) {
      this.conn.forget(room);
      await this.session(); // rejects: no key store
    }
    this.e2eRooms.add(room);
    const ready = this.inOrder(room, async () => {
      const s = await this.session();
      const deadline = Date.now() + this.rosterWait;
      for (let wait = 25; !s.has(room); wait = Math.min(wait * 2, 500)) {
        try {
          await s.addRoom(room, await this.rest.roster(room, signal));
        } catch (err) {
          if (!(err instanceof MeshError) || err.code !== "invalid" || Date.now() > deadline) throw err; // invalid: no epoch event on the mirror yet
          await sleep(wait, signal);
        }
      }
    });
    ready.catch(() => {}); // a send awaits it and fails with its error
    this.roomReady.set(room, ready);
  }

  private async joinedE2E(f: JoinedFrame): Promise<Joined> {
    const s = await this.session();
    await s.addRoom(f.room, f.e2e ?? (await this.rest.roster(f.room)));
    const opened = f.history.map((m) => s.receive(f.room, m)); // started in seq order, opened together
    const history = (await Promise.all(opened)).filter((o): o is Message => o !== null);
    const j: Joined = { ...joinedOf(f), history };
    if (!this.closed) this.events.emit("joined", { ...j, resumed: !f.ref });
    return j;
  }

  /** inOrder runs fn after everything queued before it for room (whatever became of that). */
  private inOrder<T>(room: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.pipelines.get(room) ?? Promise.resolve();
    const p = prev.then(fn, fn);
    const tail = p.catch(() => {});
    this.pipelines.set(room, tail);
    void tail.then(() => {
      if (this.pipelines.get(room) === tail) this.pipelines.delete(room);
    });
    return p;
  }

  /**
   * session loads the E2E machinery (a dynamic import: clients that never
   * meet an E2E room never load the crypto), the key store and registers
   * the device, once.
   */
  private session(): Promise<Session> {
    const keys = this.keys;
    if (!keys) {
      return Promise.reject(
        new MeshError(
          "invalid",
          "This room is end-to-end encrypted and this client has no key store: pass the keys option (fileKeyStore(path) in Node, indexedDbKeyStore(name) in a browser).",
        ),
      );
    }
    this.sessionP ??= (async () => {
      const { Session } = await import("./e2e/session.js");
      const s = await Session.start(
        {
          rest: this.rest,
          me: () => this.conn.me.id,
          node: () => this.myNode(),
          post: (room, sealed, to, ref, signal) => this.postSealed(room, sealed, to, ref, signal),
          log: this.log,
          scan: this.scan,
          rosterWait: this.rosterWait,
        },
        keys,
      );
      this.sessionV = s;
      return s;
    })();
    const p = this.sessionP;
    p.catch(() => {
      if (this.sessionP === p) this.sessionP = undefined; // try again at the next E2E room
    });
    return p;
  }

  /** sendSealed seals and sends one message in an E2E room (see Session.send). */
  private async sendSealed(room: string, plain: Plain, to: string | undefined, ref: string | undefined, signal?: AbortSignal): Promise<Ack> {
    await this.roomReady.get(room);
    const s = await this.session();
    // The envelope's ref is bound by the signature and stored: the SDK picks one when the caller does not.
    const r = ref || `e${Date.now().toString(36)}${(++this.refSeq).toString(36)}`;
    const a = await s.send(room, plain, to, r, signal);
    return { room, id: a.id, seq: a.seq };
  }

  /** myNode is the id of this client's node as the last welcome told it, "" before one. */
  private myNode(): string {
    try {
      return this.conn.me.node ?? "";
    } catch {
      return ""; // not connected yet
    }
  }

  /**
   * postSealed sends a sealed body as a say of kind encrypted and resolves
   * with the stored message's id and seq. In a room of another node
   * (room@home) the node acks without a seq once the post is queued for
   * the home: it then waits for the stored copy (the message with the
   * ack's id) or the home's refusal (an error with the post's ref), at
   * most e2eStoredWait ms.
   */
  private async postSealed(room: string, e2e: Sealed, to: string | undefined, ref: string | undefined, signal?: AbortSignal): Promise<{ id: string; seq: number }> {
    const f: { type: "say"; room: string; kind: "encrypted"; body: { e2e: Sealed }; to?: string; ref?: string } = { type: "say", room, kind: "encrypted", body: { e2e } };
    if (to) f.to = to;
    const home = remoteRoom(room); // as the Go SDK: only such a post is acked without a seq
    if (home && !ref) ref = `e${Date.now().toString(36)}${(++this.refSeq).toString(36)}`;
    if (ref) f.ref = ref;
    const w = home ? this.awaitStored(room, ref!) : undefined;
    try {
      const a = (await this.conn.request(f, { signal })) as AckFrame;
      if (!w || a.seq) return { id: a.id ?? "", seq: a.seq ?? 0 };
      if (a.id && w.id === undefined) w.id = a.id;
      return await this.waitStored(w, signal);
    } finally {
      if (w && this.stored.get(w.ref) === w) this.stored.delete(w.ref);
    }
  }

  /** awaitStored registers a wait for the stored copy of the post with ref, before it is sent. */
  private awaitStored(room: string, ref: string): StoredWait {
    if (this.stored.has(ref)) throw invalid(`ref ${JSON.stringify(ref)} is already waiting for its stored copy.`);
    let settle!: StoredWait["settle"];
    const done = new Promise<{ id: string; seq: number }>((resolve, reject) => {
      settle = (v, err) => (err ? reject(err) : resolve(v!));
    });
    done.catch(() => {}); // awaited by waitStored, unless the request fails first
    const w: StoredWait = { room, ref, done, settle };
    this.stored.set(ref, w);
    return w;
  }

  /** waitStored waits for w's stored copy or refusal, bounded by e2eStoredWait and the signal. */
  private waitStored(w: StoredWait, signal?: AbortSignal): Promise<{ id: string; seq: number }> {
    return new Promise((resolve, reject) => {
      const stop = (): void => {
        clearTimeout(t);
        signal?.removeEventListener("abort", abort);
      };
      const abort = (): void => {
        stop();
        reject(signal!.reason);
      };
      const t = setTimeout(() => {
        stop();
        reject(
          new MeshError(
            "unavailable",
            `Room ${w.room}'s home node did not store message ${w.id ?? "(no id)"} within ${this.storedWait} ms: this node queued it for the home, which has neither stored nor refused it yet (is the home linked to the Interchange?). It may still be stored later.`,
            { ref: w.ref },
          ),
        );
      }, this.storedWait);
      signal?.addEventListener("abort", abort, { once: true });
      w.done.then(
        (v) => {
          stop();
          resolve(v);
        },
        (err: unknown) => {
          stop();
          reject(err);
        },
      );
    });
  }

  /** storedCopy hands a stored copy of this participant's own post to its wait: by the ack's id, or by ref before the ack came. */
  private storedCopy(m: Message): void {
    for (const w of this.stored.values()) {
      if (m.room !== w.room || (w.id !== undefined ? m.id !== w.id : m.ref !== w.ref)) continue;
      w.id = m.id;
      this.stored.delete(w.ref);
      w.settle({ id: m.id, seq: m.seq });
      return;
    }
  }

  /** refusedStored hands a late refusal (the home's, after the ack) to the wait for its ref, and reports whether there was one. */
  private refusedStored(err: MeshError): boolean {
    const w = err.ref === undefined ? undefined : this.stored.get(err.ref);
    if (!w) return false;
    this.stored.delete(w.ref);
    w.settle(undefined, err);
    return true;
  }

  /** endStored fails every wait for a stored copy: the client closed. */
  private endStored(): void {
    for (const w of this.stored.values()) w.settle(undefined, this.conn.error ?? new ClosedError());
    this.stored.clear();
  }

  private onPresence(f: PresenceFrame): void {
    this.world.onPresence(f);
    const ms = this.members.get(f.room);
    if (ms && (f.event === "join" || f.event === "update")) ms.set(f.participant.id, { ...f.participant, online: true });
    if (ms && f.event === "leave") {
      const m = ms.get(f.participant.id);
      if (m) ms.set(m.id, { ...m, online: false });
    }
    this.events.emit("presence", f);
  }

  /** pressure holds the connection while an iterator is queueLimit behind, and releases it at half. @internal */
  pressure(): void {
    let most = 0;
    for (const q of this.queues) most = Math.max(most, q.size);
    if (most >= this.queueLimit) this.conn.hold(true);
    else if (most <= this.queueLimit / 2) this.conn.hold(false);
  }

  /** @internal */
  forgetQueue(q: MessageQueue): void {
    this.queues.delete(q);
    this.pressure();
  }

  private endQueues(): void {
    for (const q of [...this.queues]) q.end();
    for (const q of [...this.inboxQueues]) q.end();
  }
}

/** StoredWait is a sealed post to a room of another node waiting for its stored copy (which carries the seq) or a refusal. */
interface StoredWait {
  room: string;
  ref: string;
  /** The message's id, from the ack (or the stored copy, if it came first). */
  id?: string;
  done: Promise<{ id: string; seq: number }>;
  settle(v: { id: string; seq: number } | undefined, err?: unknown): void;
}

/** isEpochEvent reports whether m is an e2e.epoch event (a roster change of an E2E room). */
function isEpochEvent(m: Message): boolean {
  return m.kind === "event" && m.body.event?.type === "e2e.epoch" && m.body.event.e2e !== undefined;
}

function joinedOf(f: JoinedFrame): Joined {
  const j: Joined = { room: f.room, members: f.members, history: f.history, head: f.head };
  if (f.state) j.state = f.state;
  if (f.e2e) j.e2e = f.e2e;
  return j;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}
