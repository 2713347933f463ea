// Avatars: humans (warm, tapered body and head) and agents (cyan floating
// crystals) as two layers (InstancedMesh or CPU batch, see layers.ts), a marker
// over you (third), name labels from one atlas (fourth) and a trust ring under
// each avatar drawn into the shared floor-decal batch: four draw calls, plus a
// share of one, for any number of avatars.
import { MeshBasicMaterial, Color, type Scene } from "./three.js";
import { makeLayer, type Layer, type LayerKind } from "./layers.js";
import { Atlas, QuadBatch, roundRect } from "./atlas.js";
import { agentGeometry, humanGeometry, markerGeometry } from "./geom.js";
import { GLOW_PX, GLOW_RING } from "./glow.js";
import { clip } from "./room.js";
import type { AvatarInfo, Kind, Trust } from "./types.js";

export const TRUST_RGB: Record<Trust, [number, number, number]> = {
  owner: [1.0, 0.78, 0.2],
  local: [0.3, 1.0, 0.5],
  federated: [0.62, 0.45, 1.0],
  untrusted: [1.0, 0.18, 0.15],
};
const TRUST_CSS: Record<Trust, string> = { owner: "#ffc733", local: "#4dff80", federated: "#9e73ff", untrusted: "#ff3026" };

const ARRIVE_MS = 650, LEAVE_MS = 450;
export const LABEL_SLOTS = 256;
const LABEL_W = 256, LABEL_H = 32, LABEL_M = 0.3; // slot pixels; world height in metres
const RELABEL_MS = 1000;

export class Avatar {
  index = -1;          // position in Avatars.list
  x = 0; z = 0; facing = 0;
  has = false;         // sampled at least once
  born = 0;
  leaving = -1;        // time the departure started, or -1
  idle = false;
  dim = 1;             // current brightness (idle avatars dim)
  flash = 0;           // a pulse just arrived
  label = -1;          // atlas slot or -1
  labelW = 0;          // label width in pixels
  labelDirty = true;
  phase: number;
  r = 1; g = 1; b = 1;
  d2 = 0;
  gone = false;        // removed from the scene (pulses may still point here)
  name: string; kind: Kind; trust: Trust; you: boolean;

  constructor(readonly id: string, info: AvatarInfo, now: number) {
    this.name = info.name; this.kind = info.kind; this.trust = info.trust; this.you = info.you;
    this.born = now;
    const h = hash(id);
    this.phase = (h % 6283) / 1000;
    this.colour(h);
  }

  colour(h: number): void {
    const c = new Color();
    const v = (h % 1000) / 1000;
    if (this.kind === "human") c.setHSL((18 + v * 22) / 360, 0.9, 0.56);
    else c.setHSL((178 + v * 24) / 360, 0.95, 0.55);
    this.r = c.r; this.g = c.g; this.b = c.b;
  }

  /** Height of the label's centre above the floor. */
  labelY(): number { return this.kind === "human" ? 2.0 : 2.3; }
}

export class Avatars {
  readonly list: Avatar[] = [];
  readonly byId = new Map<string, Avatar>();
  private readonly humans: Layer;
  private readonly agents: Layer;
  private readonly marker: Layer;
  private readonly atlas: Atlas;
  readonly labels: QuadBatch;
  private readonly free = new Int32Array(LABEL_SLOTS);
  private nfree = 0;
  private lastRelabel = -1e9;
  private relabelNow = true;
  private sorted = new Float32Array(1024);
  leavingCount = 0;
  you: Avatar | null = null;

  /** decals: the shared floor batch (flat, additive, glow atlas) where trust rings go. */
  constructor(private readonly scene: Scene, layers: LayerKind, private readonly decals: QuadBatch) {
    this.humans = makeLayer(layers, scene, humanGeometry(), new MeshBasicMaterial({ vertexColors: true }), 256);
    this.agents = makeLayer(layers, scene, agentGeometry(), new MeshBasicMaterial({ vertexColors: true }), 256);
    this.marker = makeLayer(layers, scene, markerGeometry(), new MeshBasicMaterial({ vertexColors: true }), 4);
    this.atlas = new Atlas(2048, 1024, LABEL_W, LABEL_H);
    this.labels = new QuadBatch(LABEL_SLOTS, this.atlas);
    this.labels.mesh.renderOrder = 3;
    scene.add(this.labels.mesh);
    for (let i = LABEL_SLOTS - 1; i >= 0; i--) this.free[this.nfree++] = i;
  }

  /** Instances drawn, without those animating out. */
  count(): number { return this.humans.count + this.agents.count - this.leavingCount; }

  upsert(info: AvatarInfo, now: number): Avatar {
    let a = this.byId.get(info.id);
    if (!a) {
      a = new Avatar(info.id, info, now);
      a.index = this.list.length;
      this.list.push(a);
      this.byId.set(info.id, a);
      this.reserve(this.list.length);
    } else {
      if (a.leaving >= 0) { a.leaving = -1; a.born = now; }
      const kindChanged = a.kind !== info.kind;
      if (a.name !== info.name || a.trust !== info.trust || a.you !== info.you || kindChanged) a.labelDirty = true;
      a.name = info.name; a.kind = info.kind; a.trust = info.trust; a.you = info.you;
      if (kindChanged) a.colour(hash(a.id));
    }
    if (info.you) this.you = a; else if (this.you === a) this.you = null;
    this.relabelNow = true;
    return a;
  }

  remove(id: string, now: number): void {
    const a = this.byId.get(id);
    if (!a || a.leaving >= 0) return;
    if (!a.has) { this.drop(a); return; }
    a.leaving = now;
  }

  setIdle(id: string, idle: boolean): void {
    const a = this.byId.get(id);
    if (a) a.idle = idle;
  }

  /** Removes every avatar at once (new room). */
  clear(): void {
    for (let i = this.list.length - 1; i >= 0; i--) this.drop(this.list[i]);
  }

  private drop(a: Avatar): void {
    const last = this.list.pop()!;
    if (last !== a) { this.list[a.index] = last; last.index = a.index; }
    a.index = -1;
    a.gone = true;
    this.byId.delete(a.id);
    if (a.label >= 0) { this.free[this.nfree++] = a.label; a.label = -1; }
    if (this.you === a) this.you = null;
  }

  private reserve(n: number): void {
    this.humans.reserve(n);
    this.agents.reserve(n);
    if (this.sorted.length < n) this.sorted = new Float32Array(this.sorted.length * 2 >= n ? this.sorted.length * 2 : n);
  }

  /** Sets the position of avatar id (called from PositionSource.sample). */
  place(id: string, x: number, z: number, facing: number): void {
    const a = this.byId.get(id);
    if (!a) return;
    a.x = x; a.z = z; a.facing = facing; a.has = true;
  }

  /** Writes every avatar, ring and label for this frame (decals: between the caller's begin and end). (cx, cz): where labels matter most. */
  update(now: number, dt: number, cx: number, cz: number): void {
    if (this.relabelNow || now - this.lastRelabel > RELABEL_MS) this.relabel(now, cx, cz);
    const H = this.humans, A = this.agents, R = this.decals, M = this.marker, L = this.labels;
    H.begin(); A.begin(); M.begin(); L.begin();
    const rx = (GLOW_RING % 4) * GLOW_PX;
    const fade = dt * 4 > 1 ? 1 : dt * 4;
    let leaving = 0;
    for (let i = 0; i < this.list.length; i++) {
      const a = this.list[i];
      let s = 1, glow = 0;
      const age = now - a.born;
      if (age < ARRIVE_MS) {
        const p = age / ARRIVE_MS;
        s = easeOutBack(p);
        glow = 1 - p;
      }
      if (a.leaving >= 0) {
        const p = (now - a.leaving) / LEAVE_MS;
        if (p >= 1) { this.drop(a); i--; continue; }
        s *= 1 - p * p;
        glow = p;
        leaving++;
      }
      if (!a.has) s = 0;
      a.dim += ((a.idle ? 0.3 : 1) - a.dim) * fade;
      if (a.flash > 0) a.flash = a.flash > dt * 2.5 ? a.flash - dt * 2.5 : 0;
      const k = a.dim + a.flash * 0.9 + glow * 0.8;
      if (a.kind === "human") {
        H.put(a.x, 0, a.z, a.facing, s, s, s, a.r * k, a.g * k, a.b * k);
      } else {
        const bob = Math.sin(now * 0.002 + a.phase) * 0.08;
        A.put(a.x, 0.08 + bob, a.z, a.facing + now * 0.0007, s, s, s, a.r * k, a.g * k, a.b * k);
      }
      const t = TRUST_RGB[a.trust], rk = (0.35 + 0.65 * a.dim + a.flash) * (a.you ? 1.3 : 1);
      const rs = 1.35 * s * (a.you ? 1.25 : 1);
      R.push(a.x, 0.02, a.z, rs, rs, rx, 0, GLOW_PX, GLOW_PX, t[0] * rk, t[1] * rk, t[2] * rk, 1);
      if (a.you) M.put(a.x, 2.75 + Math.sin(now * 0.004) * 0.08, a.z, now * 0.002, s, s, s, 1, 1, 1);
      if (a.label >= 0 && s > 0.01) {
        const slot = a.label;
        const la = (a.idle ? 0.55 : 1) * (s < 1 ? s : 1);
        const w = (a.labelW / LABEL_H) * LABEL_M;
        L.push(a.x, a.labelY() * s, a.z, w * s, LABEL_M * s,
          this.atlas.slotX(slot), this.atlas.slotY(slot), a.labelW, LABEL_H, 1, 1, 1, la);
      }
    }
    this.leavingCount = leaving;
    H.end(); A.end(); M.end(); L.end();
    this.atlas.flush();
  }

  /** Gives labels to the LABEL_SLOTS avatars nearest (cx, cz) (and you); redraws those that changed. */
  private relabel(now: number, cx: number, cz: number): void {
    this.relabelNow = false;
    this.lastRelabel = now;
    const n = this.list.length;
    let limit = Infinity;
    if (n > LABEL_SLOTS) {
      const s = this.sorted;
      for (let i = 0; i < n; i++) {
        const a = this.list[i];
        const dx = a.x - cx, dz = a.z - cz;
        a.d2 = a.you ? -1 : dx * dx + dz * dz;
        s[i] = a.d2;
      }
      limit = select(s, n, LABEL_SLOTS - 1);
    } else {
      for (let i = 0; i < n; i++) this.list[i].d2 = 0;
    }
    // Free the slots of those now too far, then label those in range.
    for (let i = 0; i < n; i++) {
      const a = this.list[i];
      if (a.label >= 0 && a.d2 > limit) { this.free[this.nfree++] = a.label; a.label = -1; }
    }
    for (let i = 0; i < n; i++) {
      const a = this.list[i];
      if (a.d2 > limit || a.leaving >= 0) continue;
      if (a.label < 0) {
        if (this.nfree === 0) continue;
        a.label = this.free[--this.nfree];
        a.labelDirty = true;
      }
      if (a.labelDirty) this.drawLabel(a);
    }
  }

  private drawLabel(a: Avatar): void {
    a.labelDirty = false;
    const ctx = this.atlas.ctx, x = this.atlas.slotX(a.label), y = this.atlas.slotY(a.label);
    ctx.clearRect(x, y, LABEL_W, LABEL_H);
    ctx.font = "600 19px system-ui, sans-serif";
    const text = clip(ctx, a.name || a.id, LABEL_W - 44);
    const tw = ctx.measureText(text).width;
    const w = Math.min(LABEL_W, Math.ceil(tw) + 40);
    a.labelW = w;
    ctx.fillStyle = a.you ? "rgba(30,40,60,0.85)" : "rgba(6,10,20,0.72)";
    roundRect(ctx, x + 1, y + 2, w - 2, LABEL_H - 4, 12);
    ctx.fill();
    if (a.you) { ctx.strokeStyle = "rgba(255,255,255,0.9)"; ctx.lineWidth = 2; ctx.stroke(); }
    // Trust dot, and a kind glyph: agents square, humans round.
    ctx.fillStyle = TRUST_CSS[a.trust];
    ctx.beginPath();
    if (a.kind === "agent") ctx.rect(x + 10, y + 10, 12, 12); else ctx.arc(x + 16, y + 16, 6.5, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = a.kind === "agent" ? "#c9f7ff" : "#ffe6d2";
    ctx.textBaseline = "middle";
    ctx.fillText(text, x + 30, y + 17);
    this.atlas.slot(a.label);
  }

  /** Ray against avatars (spheres around the bodies); returns the nearest hit distance and sets out[0] to its index. */
  pick(ox: number, oy: number, oz: number, dx: number, dy: number, dz: number, out: number[]): number {
    let best = Infinity;
    out[0] = -1;
    for (let i = 0; i < this.list.length; i++) {
      const a = this.list[i];
      if (!a.has || a.leaving >= 0) continue;
      const cy = a.kind === "human" ? 0.85 : 1.15, r = 0.6;
      const px = ox - a.x, py = oy - cy, pz = oz - a.z;
      const b = px * dx + py * dy + pz * dz;
      const c = px * px + py * py + pz * pz - r * r;
      const disc = b * b - c;
      if (disc < 0) continue;
      const t = -b - Math.sqrt(disc);
      if (t > 0 && t < best) { best = t; out[0] = i; }
    }
    return best;
  }

  dispose(): void {
    this.clear();
    this.humans.dispose(); this.agents.dispose(); this.marker.dispose();
    this.scene.remove(this.labels.mesh);
    this.labels.dispose();
    this.atlas.dispose();
  }
}

function hash(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** The k-th smallest of a[0..n) (quickselect, in place, no allocation). */
export function select(a: Float32Array, n: number, k: number): number {
  let lo = 0, hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (k <= j) hi = j; else if (k >= i) lo = i; else return a[k];
  }
  return a[k];
}

function easeOutBack(p: number): number {
  const c1 = 1.70158, c3 = c1 + 1, q = p - 1;
  return 1 + c3 * q * q * q + c1 * q * q;
}
