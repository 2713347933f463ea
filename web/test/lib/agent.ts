// A test agent speaking the raw WebSocket protocol (PROTOCOL.md).

import WebSocket from "ws";
import { rest, type MeshNode } from "./node.ts";

export type Frame = { type: string; [k: string]: any };

export class Agent {
  frames: Frame[] = [];
  id = "";
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private constructor(private ws: WebSocket, public token: string) {
    ws.on("message", (data) => {
      const f = JSON.parse(String(data)) as Frame;
      this.frames.push(f);
      this.waiters = this.waiters.filter((w) => (w.pred(f) ? (w.resolve(f), false) : true));
    });
  }

  /** register makes an agent participant from loopback. */
  static async register(node: MeshNode, name: string): Promise<{ id: string; token: string }> {
    const r = await rest<{ participant: { id: string }; token: string }>(node, "POST", "/api/v1/participants", "", { name, kind: "agent" });
    return { id: r.participant.id, token: r.token };
  }

  /** connect registers an agent (or uses token), says hello and joins room. */
  static async connect(node: MeshNode, name: string, room = "lobby", token = ""): Promise<Agent> {
    if (!token) token = (await rest<{ token: string }>(node, "POST", "/api/v1/participants", "", { name, kind: "agent" })).token;
    const ws = new WebSocket(node.url.replace(/^http/, "ws") + "/api/v1/ws");
    await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
    const a = new Agent(ws, token);
    a.send({ type: "hello", token });
    a.id = (await a.waitFor((f) => f.type === "welcome")).you.id;
    a.send({ type: "join", room, ref: "j" });
    await a.waitFor((f) => f.type === "joined" && f.room === room);
    return a;
  }

  send(f: Frame): void { this.ws.send(JSON.stringify(f)); }

  /** waitFor resolves with the first frame (already seen or coming) matching pred. */
  waitFor(pred: (f: Frame) => boolean, ms = 5000): Promise<Frame> {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching frame in ${ms} ms; got ${JSON.stringify(this.frames.slice(-5))}`)), ms);
      this.waiters.push({ pred, resolve: (f) => { clearTimeout(t); resolve(f); } });
    });
  }

  close(): void { this.ws.close(); }
}
