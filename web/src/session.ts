// Session ties the connection to the room on screen: it turns frames into
// updates of the world model, the view, the chat, the participant list and
// the live region, and carries out what the user asks (go to a room, say,
// run a command).

import type { Client } from "@the-mesh/sdk";
import type { Envelope, Joined, Member, Participant, PresenceFrame, StateFrame } from "./net/protocol.js";
import type { SceneMessage } from "./scene/types.js";
import type { View } from "./map2d.js";
import { World, spawnPoint } from "./world/model.js";
import type { Chat } from "./ui/chat.js";
import type { People } from "./ui/people.js";
import type { Rooms } from "./ui/rooms.js";
import type { Announcer } from "./ui/live.js";
import type { Actions } from "./ui/terminal.js";

export interface Parts {
  client: Client;
  view: View;
  chat: Chat;
  people: People;
  rooms: Rooms;
  live: Announcer;
  onRoom(id: string, name: string, present: number): void;
  /** e2e tells whether the room on screen is end-to-end encrypted. */
  e2e(on: boolean): void;
}

/** The one sentence an end-to-end encrypted room shows in its header and announces. */
export const E2E_SENTENCE = "End-to-end encrypted: the node relays these messages but cannot read or scan them; your browser checks them.";

export class Session implements Actions {
  readonly world: World;
  room = ""; // the room on screen (or being entered)
  private shown = ""; // the room whose transcript is on screen
  private inside = new Set<string>(); // rooms joined and not yet left
  private members = new Map<string, Participant | Member>();
  private pos: [number, number, number] = [0, 0, 0]; // the SDK copies it into the frame
  private e2e = false; // the room on screen is end-to-end encrypted
  private offs: (() => void)[] = [];

  constructor(private you: Participant, private p: Parts) {
    const c = p.client;
    this.world = new World((x, z, facing) => {
      this.pos[0] = x; this.pos[2] = z;
      if (c.status !== "open") return undefined; // the world resets when the room is resumed
      try { return c.move(this.room, this.pos, facing); } catch { return undefined; }
    });
    this.offs.push(
      c.on("joined", (j) => this.joined(j)),
      c.on("presence", (f) => this.presence(f)),
      c.on("message", (m) => this.message(m)),
      c.on("state", (f) => this.state(f)),
      c.on("left", (f) => { if (f.room === this.room) p.chat.note("You are no longer in this room.", "err"); }),
      c.on("error", (e) => p.chat.note(`The node refused a frame: ${e.message}`, "err")));
  }

  nameOf = (id: string): string => this.members.get(id)?.name ?? id;

  /** enter moves you to room: join it, then leave the rooms you were in. */
  async enter(room: string): Promise<void> {
    if (room === this.room) return;
    const old = this.room;
    this.room = room;
    try {
      await this.p.client.join(room);
      // A room of another node can be known to be E2E (by its policy) before its roster reaches this node.
      if (this.room === room && !this.e2e && this.p.client.isE2E(room)) {
        this.e2e = true;
        this.p.e2e(true);
        this.p.live.say(E2E_SENTENCE);
      }
    } catch (e) {
      if (this.room === room) this.room = old; // unless another room was picked meanwhile
      this.p.chat.note(`Could not enter ${room}: ${(e as Error).message}`, "err");
      throw e;
    }
    this.inside.add(room);
    for (const r of [...this.inside]) {
      if (r === this.room) continue;
      this.inside.delete(r);
      await this.p.client.leave(r).catch(() => {}); // already gone is fine
    }
  }

  private joined(j: Joined): void {
    if (j.room !== this.room) return;
    const { view, chat, people, rooms, live } = this.p;
    const now = performance.now();
    const info = rooms.get(j.room) ?? { id: j.room, name: j.room };
    const size = j.state?.size ?? 40;
    rooms.select(j.room);
    view.setRoom({ id: j.room, name: info.name, size }, rooms.all().filter((r) => r.id !== j.room).map((r) => ({ id: r.id, name: r.name })));
    this.world.reset({ size, speed: j.state?.speed }, this.you.id, !!j.state);
    people.reset(this.you.id);
    if (this.shown !== j.room) { chat.clear(); this.shown = j.room; }
    this.members = new Map(j.members.map((m) => [m.id, m]));
    this.members.set(this.you.id, { ...this.you, online: true });
    // Present: online, or walking without a connection (a REST or MCP agent's visit).
    const placed = new Set((j.state?.moves ?? []).map((m) => m.id));
    for (const m of this.members.values()) if (("online" in m && m.online) || placed.has(m.id)) this.arrive(m, now);
    for (const m of j.history ?? []) chat.add(m);
    if (j.state?.moves) this.world.applyState(j.state.moves, now);
    chat.setMembers(people.all(), this.you.id);
    const n = people.all().length;
    this.e2e = !!j.e2e || this.p.client.isE2E(j.room);
    this.p.e2e(this.e2e);
    this.p.onRoom(j.room, info.name, n);
    live.say(`You are in ${info.name}, with ${n - 1} other${n === 2 ? "" : "s"}.${this.e2e ? " " + E2E_SENTENCE : ""}`);
  }

  private arrive(m: Participant, now: number): void {
    this.p.people.set(m, now);
    this.p.view.upsert({ id: m.id, name: m.name, kind: m.kind, trust: m.trust, you: m.id === this.you.id });
    if (!this.world.authoritative) { // a node without a world: a stable spot of our own choosing
      const [x, z] = spawnPoint(m.id, this.room);
      this.world.place(m.id, x, z, 0, now);
    }
  }

  private presence(f: PresenceFrame): void {
    if (f.room !== this.room) return;
    const { people, view, live, chat } = this.p, who = f.participant;
    if (f.event === "join") {
      this.members.set(who.id, who);
      this.arrive(who, performance.now());
      live.say(`${who.name} (${who.kind}) arrived.`);
    } else if (f.event === "leave") {
      people.remove(who.id);
      view.remove(who.id);
      this.world.remove(who.id);
      live.say(`${who.name} left.`);
    } else return;
    chat.setMembers(people.all(), this.you.id);
    this.p.onRoom(this.room, this.p.rooms.get(this.room)?.name ?? this.room, people.all().length);
  }

  private message(m: Envelope): void {
    if (m.room !== this.room) return;
    this.p.chat.add(m);
    this.p.view.message(toScene(m));
    this.p.people.touch(m.from.id, performance.now());
  }

  private state(f: StateFrame): void {
    if (f.room !== this.room) return;
    const now = performance.now();
    for (const m of f.moves) { // someone placed who is not shown yet: a visitor the page missed arriving
      const who = this.members.get(m.id);
      if (who && !this.p.people.has(m.id)) this.arrive(who, now);
    }
    this.world.applyState(f.moves, now);
    for (const m of f.moves) if (m.id !== this.you.id && m.ack) this.p.people.touch(m.id, now);
  }

  // ---- Actions (the terminal and the chat box)

  async join(room: string): Promise<void> {
    await this.enter(room);
  }

  async say(text: string, to = ""): Promise<void> {
    try {
      const ack = await this.p.client.say(this.room, text, to ? { to } : {});
      this.own(ack.id, ack.seq, "chat", { text }, to);
    } catch (e) {
      this.p.chat.note(`Not sent: ${(e as Error).message}`, "err");
      throw e;
    }
  }

  async cmd(target: string, name: string, args: unknown): Promise<string> {
    const t = this.find(target);
    if (!t) throw new Error(`No one called ${target} is in this room.`);
    const ack = await this.p.client.sendCommand(this.room, t.id, name, args);
    this.own(ack.id, ack.seq, "command", { command: name, args }, t.id);
    return `command ${ack.id} sent to ${t.name}; its result will appear in the chat`;
  }

  who(): string[] {
    const list = this.p.people.all();
    return [`${list.length} in ${this.room}:`, ...list.map((p) =>
      `  ${p.name} (${p.kind}, ${p.trust})${this.p.people.isIdle(p.id) ? ", idle" : ""}${p.id === this.you.id ? ", you" : ""}  ${p.id}`)];
  }

  rooms(): string[] {
    return this.p.rooms.all().map((r) => `${r.id === this.room ? "*" : " "} ${r.id}  ${r.name}${r.topic ? " — " + r.topic : ""}`);
  }

  private find(who: string): Participant | undefined {
    if (this.members.has(who)) return this.members.get(who);
    const low = who.toLowerCase();
    return [...this.members.values()].find((m) => m.name.toLowerCase() === low);
  }

  /** own shows what you sent: the node acknowledges it instead of echoing it. */
  private own(id: string, seq: number, kind: "chat" | "command", body: Envelope["body"], to: string): void {
    const m: Envelope = {
      id, room: this.room, seq, kind, trust: this.you.trust, ts: new Date().toISOString(), body,
      from: { id: this.you.id, name: this.you.name, kind: this.you.kind, node: this.you.node },
      ...(to ? { to } : {}), ...(this.e2e ? { e2e: true as const } : {}),
    };
    this.p.chat.add(m);
    this.p.view.message(toScene(m));
    this.p.people.touch(this.you.id, performance.now());
  }

  dispose(): void {
    this.offs.forEach((off) => off());
  }
}

function toScene(m: Envelope): SceneMessage {
  const b = m.body ?? {};
  const text = m.kind === "command" ? b.command ?? "" : m.kind === "result" ? (b.ok ? "✓ " : "✗ ") + (b.output ?? "") : b.text ?? b.event?.type ?? "";
  return {
    from: m.from.id, ...(m.to ? { to: m.to } : {}), kind: m.kind === "encrypted" ? "event" : m.kind, text,
    flagged: !!m.flags?.length, untrusted: m.trust === "untrusted",
  };
}
