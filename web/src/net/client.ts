// A browser WebSocket client with the TS SDK's planned API (new Client({url,
// token}), connect, join, leave, say, sendCommand, move, on, close), with
// reconnect and resume. It stands in until the SDK's Client lands.

import type { Envelope, Frame, Joined, Welcome } from "./protocol.js";

export type Status = "connecting" | "open" | "reconnecting" | "closed";

export interface Ack { id?: string; seq?: number; ref?: string }

type Events = {
  message: (m: Envelope) => void;
  presence: (f: Frame) => void;
  state: (f: Frame) => void;
  joined: (f: Joined) => void;
  left: (f: Frame) => void;
  error: (f: Frame) => void;
  frame: (f: Frame, dir: "in" | "out") => void;
  status: (s: Status) => void;
};

interface Waiter { room: string; resolve: (f: Frame) => void; reject: (e: Error) => void }

/** MeshError is a refusal from the node: its code and message. */
export class MeshError extends Error {
  constructor(public code: string, message: string) { super(message); }
}

export class Client {
  private ws: WebSocket | null = null;
  private listeners: { [K in keyof Events]?: Events[K][] } = {};
  private waiting = new Map<string, Waiter>();
  private lastSeq = new Map<string, number>(); // rooms joined -> highest seq seen
  private moveSeq = new Map<string, number>();
  private nextRef = 0;
  private closed = false;
  private retries = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  status: Status = "closed";

  constructor(private opts: { url: string; token: string }) {}

  on<K extends keyof Events>(ev: K, fn: Events[K]): () => void {
    const list = (this.listeners[ev] ??= []) as Events[K][];
    list.push(fn);
    return () => { list.splice(list.indexOf(fn) >>> 0, 1); };
  }

  private emit<K extends keyof Events>(ev: K, ...args: Parameters<Events[K]>): void {
    for (const fn of this.listeners[ev] ?? []) (fn as (...a: unknown[]) => void)(...args);
  }

  /** connect opens the connection and resolves with the node's welcome. */
  connect(): Promise<Welcome> {
    this.closed = false;
    return new Promise((resolve, reject) => this.open(resolve, reject));
  }

  private setStatus(s: Status): void { this.status = s; this.emit("status", s); }

  private open(resolve?: (w: Welcome) => void, reject?: (e: Error) => void): void {
    this.setStatus(this.retries ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.opts.url);
    this.ws = ws;
    let welcomed = false;
    ws.onopen = () => {
      const resume: Record<string, number> = {};
      for (const [room, seq] of this.lastSeq) resume[room] = seq;
      this.send(this.lastSeq.size ? { type: "hello", token: this.opts.token, resume } : { type: "hello", token: this.opts.token });
    };
    ws.onmessage = (ev) => {
      let f: Frame;
      try { f = JSON.parse(String(ev.data)); } catch { return; }
      this.emit("frame", f, "in");
      if (f.type === "welcome") {
        welcomed = true; this.retries = 0; this.setStatus("open");
        resolve?.(f as unknown as Welcome);
        return;
      }
      if (!welcomed && f.type === "error") reject?.(new MeshError(String(f.code), String(f.message)));
      this.dispatch(f);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const w of this.waiting.values()) w.reject(new MeshError("unavailable", "The connection closed."));
      this.waiting.clear();
      if (!welcomed) reject?.(new MeshError("unavailable", `Could not connect (${ev.code}).`));
      if (this.closed || ev.code === 1008 || (!welcomed && this.retries === 0 && resolve)) { this.setStatus("closed"); return; }
      const delay = Math.min(10000, 500 * 2 ** this.retries++) * (0.5 + Math.random() / 2);
      this.setStatus("reconnecting");
      this.timer = setTimeout(() => this.open(), delay);
    };
  }

  private dispatch(f: Frame): void {
    const ref = typeof f.ref === "string" ? f.ref : "";
    const w = ref ? this.waiting.get(ref) : undefined;
    if (w && f.type !== "message") {
      this.waiting.delete(ref);
      if (f.type === "error") w.reject(new MeshError(String(f.code), String(f.message)));
      else w.resolve(f);
    }
    switch (f.type) {
      case "message": {
        const m = f.message as Envelope;
        this.seen(m.room, m.seq);
        this.emit("message", m);
        break;
      }
      case "joined": {
        const j = f as unknown as Joined;
        if (!this.lastSeq.has(j.room)) this.lastSeq.set(j.room, j.head);
        for (const m of j.history ?? []) this.seen(j.room, m.seq);
        this.moveSeq.set(j.room, 0);
        this.emit("joined", j);
        break;
      }
      case "left": this.lastSeq.delete(String(f.room)); this.emit("left", f); break;
      case "presence": this.emit("presence", f); break;
      case "state": this.emit("state", f); break;
      case "ack": if (w && typeof f.seq === "number") this.seen(w.room, f.seq); break;
      case "error": if (!w) this.emit("error", f); break;
    }
  }

  private seen(room: string, seq: number): void {
    if (this.lastSeq.has(room) && seq > this.lastSeq.get(room)!) this.lastSeq.set(room, seq);
  }

  private send(f: Frame): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(f));
    this.emit("frame", f, "out");
    return true;
  }

  private request(f: Frame): Promise<Frame> {
    const ref = "w" + ++this.nextRef;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...f, ref })) { reject(new MeshError("unavailable", "Not connected.")); return; }
      this.waiting.set(ref, { room: String(f.room ?? ""), resolve, reject });
    });
  }

  async join(room: string): Promise<Joined> {
    return (await this.request({ type: "join", room })) as unknown as Joined;
  }

  async leave(room: string): Promise<void> {
    this.lastSeq.delete(room);
    await this.request({ type: "leave", room });
  }

  async say(room: string, text: string, opts: { to?: string } = {}): Promise<Ack> {
    return (await this.request(opts.to ? { type: "say", room, text, to: opts.to } : { type: "say", room, text })) as Ack;
  }

  async sendCommand(room: string, target: string, name: string, args?: unknown): Promise<Ack> {
    const f: Frame = { type: "command", room, target, name };
    if (args !== undefined) f.args = args;
    return (await this.request(f)) as Ack;
  }

  /** move sends your position in room; it returns the move's seq (-1 if not connected). */
  move(room: string, pos: [number, number, number], facing: number): number {
    const seq = (this.moveSeq.get(room) ?? 0) + 1;
    if (!this.send({ type: "move", room, pos, facing, seq })) return -1;
    this.moveSeq.set(room, seq);
    return seq;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.close(1000);
    this.ws = null;
    this.setStatus("closed");
  }
}
