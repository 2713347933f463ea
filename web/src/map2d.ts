// The 2D view: a top-down SVG map of the room with the same interface as
// the 3D scene, used with ?mode=2d or when neither WebGPU nor WebGL works.
// Its frame loop updates SVG transforms in place and allocates nothing.

import type { AvatarInfo, PickHit, PositionSource, SceneMessage, SceneStats } from "./scene/types.js";
import { svg } from "./ui/dom.js";

/** View is what the shell drives: the 3D scene or this map. */
export interface View {
  readonly backend: "webgpu" | "webgl" | "dom";
  setRoom(room: { id: string; name: string; size: number }, portals: { id: string; name: string }[]): void;
  upsert(a: AvatarInfo): void;
  remove(id: string): void;
  setIdle(id: string, idle: boolean): void;
  message(m: SceneMessage): void;
  start(source: PositionSource, beforeFrame: (now: number, dt: number) => void): void;
  onPick(cb: (hit: PickHit) => void): void;
  stats(): SceneStats;
  resize(w: number, h: number): void;
  dispose(): void;
}

interface Avatar {
  g: SVGGElement;
  move: SVGTransform;
  turn: SVGTransform;
  bubble: SVGTextElement;
  bubbleUntil: number;
  x: number; z: number; f: number;
}

export class Map2D implements View {
  readonly backend = "dom" as const;
  private root: SVGSVGElement;
  private floor: SVGGElement;
  private layer: SVGGElement;
  private avatars = new Map<string, Avatar>();
  private pick: (hit: PickHit) => void = () => {};
  private raf = 0;
  private fps = 0; private frameMs = 0;
  private now = 0;
  private readonly visit = (id: string, x: number, z: number, f: number): void => {
    const a = this.avatars.get(id);
    if (!a) return;
    if (Math.abs(a.x - x) > 0.005 || Math.abs(a.z - z) > 0.005) { a.x = x; a.z = z; a.move.setTranslate(x, z); }
    if (Math.abs(a.f - f) > 0.01) { a.f = f; a.turn.setRotate(-f * 57.29578, 0, 0); }
    if (a.bubbleUntil && this.now > a.bubbleUntil) { a.bubbleUntil = 0; a.bubble.textContent = ""; }
  };

  constructor(host: HTMLElement) {
    this.root = svg("svg", { class: "map", "aria-hidden": "true", preserveAspectRatio: "xMidYMid meet" });
    this.floor = svg("g", { class: "floor" });
    this.layer = svg("g", { class: "avatars" });
    this.root.append(this.floor, this.layer);
    host.append(this.root);
    this.root.addEventListener("click", (ev) => this.clicked(ev));
  }

  setRoom(room: { id: string; name: string; size: number }, portals: { id: string; name: string }[]): void {
    const h = room.size / 2, m = 1.5;
    this.root.setAttribute("viewBox", `${-h - m} ${-h - m} ${room.size + 2 * m} ${room.size + 2 * m}`);
    let d = "";
    for (let v = -h; v <= h; v += 2) d += `M${v} ${-h}V${h}M${-h} ${v}H${h}`;
    this.floor.replaceChildren(
      svg("rect", { class: "edge", x: -h, y: -h, width: room.size, height: room.size, rx: 0.4 }),
      svg("path", { class: "grid", d }),
      svg("circle", { class: "centre", r: 0.3 }));
    portals.slice(0, 12).forEach((p, i) => { // around the edge, clockwise from the top
      const t = (i + 0.5) / Math.min(portals.length, 12) * 4, side = Math.floor(t), u = (t - side) * room.size - h;
      const [x, z] = side === 0 ? [u, -h] : side === 1 ? [h, u] : side === 2 ? [-u, h] : [-h, -u];
      const g = svg("g", { class: "portal", transform: `translate(${x} ${z})` });
      const label = svg("text", { y: z < 0 ? -0.9 : 1.6, "text-anchor": "middle" });
      label.textContent = p.name;
      g.append(svg("circle", { r: 0.7 }), label);
      g.dataset.room = p.id;
      this.floor.append(g);
    });
    for (const id of [...this.avatars.keys()]) this.drop(id);
  }

  upsert(a: AvatarInfo): void {
    const old = this.avatars.get(a.id);
    const g = old?.g ?? svg("g", { class: "avatar arriving" });
    g.setAttribute("class", `avatar kind-${a.kind} trust-${a.trust}${a.you ? " you" : ""}${old ? "" : " arriving"}`);
    g.dataset.id = a.id;
    const body = svg("g", {});
    body.append(a.kind === "agent"
      ? svg("polygon", { class: "body", points: "0,-0.75 0.75,0 0,0.75 -0.75,0" })
      : svg("circle", { class: "body", r: 0.6 }),
    svg("path", { class: "nose", d: "M0 0.55L0 1.25" }));
    const label = svg("text", { class: "label", y: -1.1, "text-anchor": "middle" });
    label.textContent = a.you ? a.name + " (you)" : a.name;
    const bubble = old?.bubble ?? svg("text", { class: "bubble", y: -2.2, "text-anchor": "middle" });
    g.replaceChildren(body, label, bubble);
    if (old) { old.turn = body.transform.baseVal.appendItem(this.root.createSVGTransform()); old.turn.setRotate(-old.f * 57.29578, 0, 0); return; }
    const move = g.transform.baseVal.appendItem(this.root.createSVGTransform());
    const turn = body.transform.baseVal.appendItem(this.root.createSVGTransform());
    move.setTranslate(0, 0);
    this.avatars.set(a.id, { g, move, turn, bubble, bubbleUntil: 0, x: 0, z: 0, f: 0 });
    this.layer.append(g);
    setTimeout(() => g.classList.remove("arriving"), 600);
  }

  remove(id: string): void { this.drop(id); }

  private drop(id: string): void {
    const a = this.avatars.get(id);
    if (!a) return;
    this.avatars.delete(id);
    a.g.classList.add("leaving");
    setTimeout(() => a.g.remove(), 500);
  }

  setIdle(id: string, idle: boolean): void {
    this.avatars.get(id)?.g.classList.toggle("idle", idle);
  }

  message(m: SceneMessage): void {
    const a = this.avatars.get(m.from);
    if (!a) return;
    const text = m.kind === "command" ? "⌘ " + m.text : m.text;
    a.bubble.textContent = text.length > 40 ? text.slice(0, 39) + "…" : text;
    a.bubble.classList.toggle("untrusted", m.untrusted || m.flagged);
    a.bubbleUntil = this.now + 5000;
    const to = m.to ? this.avatars.get(m.to) : undefined;
    if (to) { // a pulse of light from speaker to addressee
      const line = svg("line", { class: "pulse", x1: a.x, y1: a.z, x2: to.x, y2: to.z });
      this.layer.prepend(line);
      setTimeout(() => line.remove(), 900);
    }
  }

  start(source: PositionSource, beforeFrame: (now: number, dt: number) => void): void {
    let last = performance.now(), frames = 0, since = last;
    const frame = (t: number): void => {
      this.raf = requestAnimationFrame(frame);
      const dt = Math.min(0.1, Math.max(0, (t - last) / 1000));
      last = t; this.now = t;
      const t0 = performance.now();
      beforeFrame(t, dt);
      source.sample(t, this.visit);
      this.frameMs = performance.now() - t0;
      frames++;
      if (t - since >= 1000) { this.fps = frames * 1000 / (t - since); frames = 0; since = t; }
    };
    this.raf = requestAnimationFrame(frame);
  }

  onPick(cb: (hit: PickHit) => void): void { this.pick = cb; }

  private clicked(ev: MouseEvent): void {
    const target = ev.target as Element;
    const portal = target.closest(".portal") as SVGGElement | null;
    if (portal?.dataset.room) return this.pick({ kind: "portal", room: portal.dataset.room });
    const avatar = target.closest(".avatar") as SVGGElement | null;
    if (avatar?.dataset.id) return this.pick({ kind: "avatar", id: avatar.dataset.id });
    const ctm = this.root.getScreenCTM();
    if (!ctm) return;
    const p = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(ctm.inverse());
    this.pick({ kind: "floor", x: p.x, z: p.y });
  }

  stats(): SceneStats {
    return { fps: this.fps, drawCalls: 0, triangles: 0, avatars: this.layer.querySelectorAll(".avatar:not(.leaving)").length, frameMs: this.frameMs };
  }

  resize(): void {} // the SVG scales with its box

  dispose(): void {
    cancelAnimationFrame(this.raf);
    this.root.remove();
    this.avatars.clear();
  }
}
