// One client's end-to-end encryption (E2ESDK.md): its device, the rosters
// of its E2E rooms, its own sender chains, and opening what it receives.
// The client loads this module (and the crypto under it) only when it
// first meets an E2E room.

import type { Logger } from "../emitter.js";
import { MeshError } from "../errors.js";
import { homeNaming } from "../federation.js";
import type { KeyRecord, KeyStore } from "../keystore.js";
import { defaultPolicy, parsePolicy, type Policy } from "../policy.js";
import type { Rest } from "../rest.js";
import type { Device, Message, Roster, Sealed, Trust } from "../types.js";
import { b64, defaultRandom, type Random, unb64 } from "./bytes.js";
import { deviceOf, identityOf, newIdentity, type Identity } from "./device.js";
import { OpenError } from "./errors.js";
import { sign } from "./fast.js";
import { openKeys, sealKeysUnsigned } from "./keys.js";
import { Chain, open, sealUnsigned, type Envelope, type Plain } from "./msg.js";
import { verifyFast } from "./verify.js";

/** ScanResult is what a scanner says of a text (the shape of @the-mesh/sdk/guard's). */
export interface ScanResult {
  injection: boolean;
  findings: string[];
}

/** Scanner scans a decrypted text for prompt injection. */
export type Scanner = (text: string) => ScanResult;

/** Host is what the session needs of its client. */
export interface Host {
  rest: Rest;
  /** me is the participant's id. */
  me(): string;
  /**
   * node is the id of the client's node (welcome's you.node), "" while
   * unknown: in a room of another node the associated data's "to" is
   * converted to the home's naming.
   */
  node(): string;
  /** post sends a sealed body as a say of kind encrypted and resolves with the ack's seq. */
  post(room: string, sealed: Sealed, to: string | undefined, ref: string | undefined, signal?: AbortSignal): Promise<{ id: string; seq: number }>;
  log: Logger;
  scan?: Scanner | undefined;
  random?: Random | undefined;
  /** How long to wait, in ms, for this device to appear in a roster before sending. */
  rosterWait: number;
}

/** Counts says what the session has seen, for logs and tests (never any content). */
export interface Counts {
  keys: number;
  opened: number;
  undecryptable: number;
  blocked: number;
  flagged: number;
  rekeys: number;
}

/** How often a send re-keys after the epoch moved on (conflict) before giving up. */
export const maxRekeys = 3;

const flagInjection = "injection";

/** Room is one E2E room's state, by the client's name of the room. */
class Room {
  /** Rosters by epoch; current is the highest. */
  readonly rosters = new Map<number, Roster>();
  current: Roster;
  policy: Policy = defaultPolicy();
  /** Keys entries seen or fetched, by seq (and what opening each gave). */
  readonly keys = new Map<number, Promise<KeysEntry>>();
  /** The last send handed to the connection: the next one is handed over after it. */
  issued: Promise<void> = Promise.resolve();
  /** This device's own chain for the current epoch, once it sent. */
  own: Own | undefined;
  /** Epochs whose roster was looked for in the log and not found. */
  readonly missing = new Set<number>();
  private waiters = new Set<() => void>();
  private sending: Promise<unknown> = Promise.resolve();

  constructor(
    readonly name: string,
    roster: Roster,
  ) {
    this.current = roster;
    this.rosters.set(roster.epoch, roster);
  }

  /** home is the room's home address, which every derivation binds. */
  get home(): string {
    return this.current.room;
  }

  addRoster(r: Roster): void {
    const known = this.rosters.get(r.epoch);
    if (!known || (r.seq && !known.seq)) this.rosters.set(r.epoch, r);
    if (r.epoch >= this.current.epoch) this.current = this.rosters.get(r.epoch)!;
    for (const w of this.waiters) w();
  }

  /** changed resolves at the next roster change, or after ms. */
  changed(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /** serial runs sends one at a time: each takes the next counter of the chain. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.sending.then(fn, fn);
    this.sending = p.catch(() => {});
    return p;
  }
}

/** KeysEntry is a keys entry as this device could use it: its sender and the chain key it unwrapped, or why not. */
interface KeysEntry {
  from: string;
  sealed: Sealed;
  ck0?: Uint8Array;
  error?: OpenError;
  /** The ratchet as far as it was walked: opening in order costs one step a message. */
  chain?: Chain;
  /** Message keys the walk passed over (messages opened out of order, or not yet), bounded. */
  skipped?: Map<number, Uint8Array>;
  /** Chain keys every markEvery counters, so an old counter is derived from the nearest mark below it. */
  marks?: Map<number, Uint8Array>;
  /** The check of the entry's signature, with the signing key it used. */
  verified?: { sign: string; done: Promise<void> };
}

const markEvery = 256;
const maxSkipped = 256;

/**
 * messageKeyOf returns message key n of a keys entry's chain: a key kept
 * when the walk passed it, else the walk onward (keeping what it passes),
 * else a derivation from the nearest mark below n. @internal (exported for tests)
 */
export function messageKeyOf(k: { ck0?: Uint8Array; chain?: Chain; skipped?: Map<number, Uint8Array>; marks?: Map<number, Uint8Array> }, n: number): Uint8Array {
  const kept = k.skipped?.get(n);
  if (kept) {
    k.skipped!.delete(n);
    return kept;
  }
  k.marks ??= new Map([[1, k.ck0!]]);
  k.skipped ??= new Map();
  const c = (k.chain ??= new Chain(k.ck0!));
  if (c.state().n > n) {
    let from = 1;
    for (const m of k.marks.keys()) if (m <= n && m > from) from = m;
    return new Chain(k.marks.get(from)!, from).keyAt(n);
  }
  for (;;) {
    const st = c.state();
    if (st.n % markEvery === 1) k.marks.set(st.n, st.ck);
    const { n: i, mk } = c.next();
    if (i === n) return mk;
    if (k.skipped.size < maxSkipped) k.skipped.set(i, mk);
  }
}

/**
 * Session is a client's E2E state. start loads (or makes and saves) the
 * device identity and registers the device with the node. Methods may be
 * called concurrently; sends in one room are serialised.
 */
export class Session {
  readonly counts: Counts = { keys: 0, opened: 0, undecryptable: 0, blocked: 0, flagged: 0, rekeys: 0 };
  private readonly rooms = new Map<string, Room>();
  /** Every device seen in any roster: its owner and signing key (a device id belongs to one participant for good). */
  private readonly devices = new Map<string, Device>();
  private saving: Promise<void> = Promise.resolve();
  private warnedScan = false;

  private constructor(
    private readonly host: Host,
    private readonly store: KeyStore,
    private readonly record: KeyRecord,
    readonly identity: Identity,
  ) {}

  /** start loads the key store (making a device on first use) and registers the device. */
  static async start(host: Host, store: KeyStore, signal?: AbortSignal): Promise<Session> {
    let record = await store.load();
    let id: Identity;
    if (record) {
      const seed = unb64(record.device.seed);
      const box = unb64(record.device.box);
      if (!seed || !box) throw new Error("mesh: the key store's device keys are not base64");
      id = identityOf(seed, box);
    } else {
      id = newIdentity(host.random ?? defaultRandom);
      record = { v: 1, device: { seed: b64(id.seed), box: b64(id.boxKey) }, chains: {} };
      await store.save(record);
    }
    const d = deviceOf(id);
    await host.rest.registerDevice({ sign: d.sign, box: d.box, sig: d.sig! }, signal);
    host.log.info?.(`mesh: e2e device ${id.id} registered`);
    return new Session(host, store, record, id);
  }

  /** deviceId is this client's device id. */
  get deviceId(): string {
    return this.identity.id;
  }

  has(room: string): boolean {
    return this.rooms.has(room);
  }

  /** roster returns a room's current roster, if the room is known as E2E. */
  roster(room: string): Roster | undefined {
    return this.rooms.get(room)?.current;
  }

  /** policy returns what the session knows of a room's policy. */
  policy(room: string): Policy | undefined {
    return this.rooms.get(room)?.policy;
  }

  /** addRoom starts (or updates) a room's state from a roster (joined.e2e or GET .../e2e) and reads its policy. */
  async addRoom(room: string, roster: Roster): Promise<void> {
    let r = this.rooms.get(room);
    if (!r) this.rooms.set(room, (r = new Room(room, roster)));
    this.addRoster(r, roster);
    await this.refreshPolicy(r);
  }

  forget(room: string): void {
    this.rooms.delete(room);
  }

  private addRoster(r: Room, roster: Roster): void {
    for (const d of roster.devices ?? []) if (d.participant) this.devices.set(d.id, d);
    r.addRoster({ ...roster, devices: roster.devices ?? [] });
  }

  private async refreshPolicy(r: Room): Promise<void> {
    try {
      r.policy = parsePolicy((await this.host.rest.room(r.name)).policy as unknown as Record<string, unknown>);
    } catch (err) {
      this.host.log.warn?.(`mesh: could not read room ${r.name}'s policy; scanning and execute.from use the defaults`, err);
    }
  }

  /**
   * receive handles one message of an E2E room, in seq order: it learns
   * rosters from epoch events and keys entries, and opens messages. It
   * returns the message to deliver (opened, or with undecryptable set),
   * or null for what is not delivered (keys entries, blocked messages).
   */
  async receive(room: string, m: Message, signal?: AbortSignal): Promise<Message | null> {
    const r = this.rooms.get(room);
    if (!r) return m;
    if (m.kind === "event") {
      const ev = m.body.event;
      if (ev?.type === "e2e.epoch" && ev.e2e) this.addRoster(r, { ...ev.e2e, seq: m.seq });
      if (ev?.type === "policy") await this.refreshPolicy(r);
      return m;
    }
    if (m.kind !== "encrypted") return m;
    const s = m.body.e2e;
    if (s?.type === "keys") {
      this.counts.keys++;
      this.host.log.debug?.(`mesh: e2e keys entry ${m.seq} of device ${s.device} (epoch ${s.epoch}) in ${room}`);
      if (!r.keys.has(m.seq)) r.keys.set(m.seq, Promise.resolve(this.unwrap(r, m, s)));
      return null;
    }
    let plain: Plain;
    try {
      if (s?.type !== "msg") throw new OpenError("corrupt", `message ${m.id} carries no sealed msg`);
      plain = await this.openMsg(r, m, s, signal);
    } catch (err) {
      if (!(err instanceof OpenError)) throw err;
      this.counts.undecryptable++;
      this.host.log.debug?.(`mesh: e2e message ${m.seq} in ${room} does not open (${err.reason}): ${err.message}`);
      return { ...m, undecryptable: err.reason };
    }
    this.counts.opened++;
    const out: Message = { ...m, kind: plain.kind, body: plain.body, e2e: true };
    return this.scan(r, out);
  }

  /** openMsg opens a msg in E2E.md's order: roster, keys entry signature, message signature, unwrap, open. */
  private async openMsg(r: Room, m: Message, s: Sealed, signal?: AbortSignal): Promise<Plain> {
    const roster = await this.rosterOf(r, s.epoch, m.seq, signal);
    const dev = roster ? roster.devices.find((d) => d.id === s.device) : this.devices.get(s.device);
    if (!dev) throw new OpenError("not_member", `device ${s.device} is not in room ${r.name}'s roster at epoch ${s.epoch}`);
    if (dev.participant !== m.from.id) throw new OpenError("not_member", `device ${s.device} is not ${m.from.id}'s`);
    // Device owners and from.id arrive in this node's naming (a mirror converts the roster); "to" is signed in the home's.
    const env: Envelope = { room: r.home, to: homeNaming(r.home, m.to, this.host.node()), ref: m.ref };
    const k = await this.keysEntry(r, s.keys ?? 0, signal);
    if (k.sealed.device !== s.device || k.sealed.epoch !== s.epoch || k.from !== m.from.id) {
      throw new OpenError("corrupt", `seq ${s.keys} is not device ${s.device}'s keys entry for epoch ${s.epoch}`);
    }
    if (k.verified?.sign !== dev.sign) k.verified = { sign: dev.sign, done: verifyFast(k.sealed, env, dev.sign) }; // once per keys entry
    await k.verified.done;
    await verifyFast(s, env, dev.sign);
    if (k.error) throw k.error;
    const n = s.n ?? 0;
    if (!Number.isSafeInteger(n) || n < 1) throw new OpenError("corrupt", `message counter ${n}`);
    return open(s, env, messageKeyOf(k, n));
  }

  /** unwrap opens a keys entry's wrap for this device (after checking its shape), remembering why not. */
  private unwrap(r: Room, m: Message, s: Sealed): KeysEntry {
    const k: KeysEntry = { from: m.from.id, sealed: s };
    try {
      k.ck0 = openKeys(this.identity, r.home, s);
    } catch (err) {
      k.error = err instanceof OpenError ? err : new OpenError("corrupt", String(err));
    }
    return k;
  }

  /** keysEntry returns the keys entry at seq, from what was seen or else read from the node (and kept). */
  private keysEntry(r: Room, seq: number, signal?: AbortSignal): Promise<KeysEntry> {
    let p = r.keys.get(seq);
    if (!p) {
      p = this.fetchKeys(r, seq, signal);
      r.keys.set(seq, p);
      p.catch(() => r.keys.delete(seq)); // a failed read is tried again next time
      if (r.keys.size > 1024) r.keys.delete(r.keys.keys().next().value!); // oldest first
    }
    return p;
  }

  private async fetchKeys(r: Room, seq: number, signal?: AbortSignal): Promise<KeysEntry> {
    if (!Number.isSafeInteger(seq) || seq < 1) throw new OpenError("corrupt", `keys seq ${seq}`);
    const page = await this.retry(() => this.host.rest.messages(r.name, { after: seq - 1, limit: 1 }, signal), signal);
    const m = page[0];
    const s = m?.body.e2e;
    if (!m || m.seq !== seq || m.kind !== "encrypted" || s?.type !== "keys") {
      throw new OpenError("corrupt", `seq ${seq} of room ${r.name} is not a keys entry`);
    }
    this.counts.keys++;
    return this.unwrap(r, m, s);
  }

  /**
   * rosterOf returns the roster of epoch, looking back through the log
   * from seq for its epoch event when it is not known yet; undefined when
   * the log does not have it (then the device directory is used).
   */
  private async rosterOf(r: Room, epoch: number, seq: number, signal?: AbortSignal): Promise<Roster | undefined> {
    const known = r.rosters.get(epoch);
    if (known || r.missing.has(epoch) || epoch > r.current.epoch) return known;
    const page = 500;
    for (let before = seq, i = 0; before > 1 && i < 20; i++) {
      const after = Math.max(0, before - 1 - page);
      const ms = await this.retry(() => this.host.rest.messages(r.name, { after, limit: before - 1 - after }, signal), signal);
      let older = false; // an earlier epoch's event: the one sought is not further back
      for (const m of ms) {
        const ev = m.body.event;
        if (m.kind !== "event" || ev?.type !== "e2e.epoch" || !ev.e2e) continue;
        this.addRoster(r, { ...ev.e2e, seq: m.seq });
        if (ev.e2e.epoch < epoch) older = true;
      }
      const found = r.rosters.get(epoch);
      if (found) return found;
      if (ms.length === 0 || older) break;
      before = after + 1;
    }
    r.missing.add(epoch);
    return undefined;
  }

  /** retry runs a read up to three times (a REST hiccup must not turn a message undecryptable). */
  private async retry<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (i >= 2 || err instanceof MeshError || signal?.aborted) throw err;
        await new Promise((res) => setTimeout(res, 200 * 2 ** i));
      }
    }
  }

  /**
   * scan applies the room's scan policy for the message's trust to its
   * decrypted text, as the node does for plain rooms: flag marks it
   * untrusted with the node's flag strings, block drops it.
   */
  private scan(r: Room, m: Message): Message | null {
    const mode = r.policy.scan[m.trust];
    const text = m.kind === "chat" ? m.body.text : m.kind === "result" ? m.body.output : undefined;
    if ((mode !== "flag" && mode !== "block") || !text) return m;
    if (!this.host.scan) {
      if (!this.warnedScan) this.host.log.warn?.(`mesh: room ${r.name} asks to scan ${m.trust} messages but this client has no scanner (the scan option): delivering unscanned`);
      this.warnedScan = true;
      return m;
    }
    const res = this.host.scan(text);
    if (!res.injection) return m;
    if (mode === "block") {
      this.counts.blocked++;
      this.host.log.warn?.(`mesh: e2e message ${m.id} from ${m.from.id} in ${r.name} blocked as a likely prompt injection (${res.findings.join(", ")})`);
      return null;
    }
    this.counts.flagged++;
    const flags = res.findings.length > 0 ? res.findings.map((f) => `${flagInjection}:${f}`) : [flagInjection];
    return { ...m, trust: "untrusted", flags: [...(m.flags ?? []), ...flags] };
  }

  /** mayExecute says why the room's execute.from refuses a decrypted command's trust, or "". */
  mayExecute(room: string, trust: Trust): string {
    const p = this.rooms.get(room)?.policy;
    if (!p || p.execute.from.includes(trust)) return "";
    return `trust ${trust} may not send commands in this room (execute.from: ${p.execute.from.join(", ") || "nobody"})`;
  }

  /**
   * send seals plain for a room and posts it: a keys entry first when
   * this device has no chain for the current epoch; on conflict (the
   * epoch moved on) it reads the new roster, re-keys and sends again, up
   * to maxRekeys times. Sends in a room take their counters and go out in
   * call order; their acks are awaited concurrently.
   */
  async send(room: string, plain: Plain, to: string | undefined, ref: string, signal?: AbortSignal): Promise<{ id: string; seq: number }> {
    const r = this.rooms.get(room);
    if (!r) throw new MeshError("invalid", `Room ${room} is not a joined end-to-end encrypted room.`);
    for (let attempt = 0; ; attempt++) {
      try {
        const { ack } = await r.serial(async () => {
          const roster = await this.rosterWithMe(r, signal);
          const own = await this.own(r, roster, signal);
          // The store holds the counter past a block of them: written ahead, half a block early, so sends rarely wait for it.
          const at = own.chain.state().n;
          if (at >= own.saved - reserveBlock / 2) own.reserving ??= this.reserve(own).finally(() => (own.reserving = undefined));
          if (at >= own.saved) await own.reserving;
          const { n, mk } = own.chain.next();
          const { sealed: s, input } = sealUnsigned(this.identity, { room: roster.room, to: homeNaming(roster.room, to, this.host.node()), ref }, roster.epoch, own.keys, n, mk, plain, this.host.random ?? defaultRandom);
          // Signed concurrently with the sends around it, posted in call order, acks awaited together.
          const signed = sign(this.identity, input);
          const issued = r.issued
            .then(() => signed)
            .then((sig) => {
              s.sig = b64(sig);
              const a = this.host.post(room, s, to, ref, signal);
              a.catch(() => {});
              return { a };
            });
          r.issued = issued.then(
            () => undefined,
            () => undefined,
          );
          return { ack: issued.then(({ a }) => a) };
        });
        return await ack;
      } catch (err) {
        if (!(err instanceof MeshError) || err.code !== "conflict") throw err;
        if (attempt >= maxRekeys) {
          throw new MeshError("conflict", `Room ${room}'s epoch kept changing: the message was not sent after ${maxRekeys} re-keys. ${err.message}`);
        }
        this.counts.rekeys++;
        this.host.log.info?.(`mesh: room ${room} moved to a new epoch while sending; re-keying (${err.message})`);
        this.addRoster(r, await this.host.rest.roster(room, signal));
      }
    }
  }

  /** rosterWithMe returns the current roster once it holds this device, waiting (bounded) for the epoch event that adds it. */
  private async rosterWithMe(r: Room, signal?: AbortSignal): Promise<Roster> {
    const me = this.identity.id;
    const deadline = Date.now() + this.host.rosterWait;
    let asked = false;
    for (;;) {
      if (r.current.devices.some((d) => d.id === me)) return r.current;
      signal?.throwIfAborted();
      const left = deadline - Date.now();
      if (left <= 0) {
        if (!asked) {
          asked = true;
          this.addRoster(r, await this.host.rest.roster(r.name, signal));
          continue;
        }
        throw new MeshError(
          "forbidden",
          `This device (${me}) is not in room ${r.name}'s roster (epoch ${r.current.epoch}) after ${this.host.rosterWait} ms: the participant may lack listen there, or the node did not add the device.`,
        );
      }
      await r.changed(left, signal);
    }
  }

  /** own returns this device's chain for roster's epoch: in memory, else from the key store, else new (posting a keys entry). */
  private async own(r: Room, roster: Roster, signal?: AbortSignal): Promise<Own> {
    if (r.own?.epoch === roster.epoch && r.own.home === roster.room) return r.own;
    const saved = this.record.chains[roster.room];
    const ck = saved?.epoch === roster.epoch ? unb64(saved.ck) : undefined;
    if (saved && ck) return (r.own = { home: roster.room, epoch: saved.epoch, keys: saved.keys, chain: new Chain(ck, saved.n), saved: saved.n });
    const { sealed, ck0, input } = sealKeysUnsigned(this.identity, roster.room, roster.epoch, roster.devices, this.host.random ?? defaultRandom);
    sealed.sig = b64(await sign(this.identity, input));
    const ack = await this.host.post(r.name, sealed, undefined, undefined, signal);
    // Own entries open too: keep it, so reading our own messages needs no fetch.
    r.keys.set(ack.seq, Promise.resolve({ from: this.host.me(), sealed, ck0 }));
    this.host.log.debug?.(`mesh: e2e keys entry ${ack.seq} posted in ${r.name} for epoch ${roster.epoch} (${roster.devices.length} devices)`);
    return (r.own = { home: roster.room, epoch: roster.epoch, keys: ack.seq, chain: new Chain(ck0), saved: 1 });
  }

  /**
   * reserve saves the chain reserveBlock counters past what is saved (or
   * used): the counters below the saved one are this client's to use
   * without writing the store again, and a restart resumes past them (a
   * counter is never used twice; a gap is fine).
   */
  private reserve(own: Own): Promise<void> {
    const { ck, n } = own.chain.state();
    const ahead = new Chain(ck, n);
    ahead.keyAt(Math.max(n, own.saved) + reserveBlock - 1);
    const next = ahead.state();
    this.record.chains[own.home] = { epoch: own.epoch, keys: own.keys, ck: b64(next.ck), n: next.n };
    const rec = this.record;
    const p = this.saving.then(() => this.store.save(rec));
    this.saving = p.catch(() => {});
    return p.then(() => {
      own.saved = Math.max(own.saved, next.n);
    });
  }
}

/** Own is this device's sender chain in a room's epoch: the keys entry's seq, the chain, and the counter the key store holds. */
interface Own {
  home: string;
  epoch: number;
  keys: number;
  chain: Chain;
  saved: number;
  /** A write of the next block, under way. */
  reserving?: Promise<void> | undefined;
}

/** How many counters one key store write reserves. */
export const reserveBlock = 256;
