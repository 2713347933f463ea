// Avatars: humans (warm, tapered body and head) and agents (cyan floating
// crystals) as two layers (InstancedMesh or CPU batch, see layers.ts), a marker
// over you (third), name labels from one atlas (fourth) and a trust ring under
// each avatar drawn into the shared floor-decal batch: four draw calls, plus a
// share of one, for any number of avatars.
import { MeshBasicMaterial, Color, type Object3D } from "./three.js";
import { makeLayer, type Layer, type LayerKind } from "./layers.js";
import { Atlas, QuadBatch, roundRect } from "./atlas.js";
import { agentFarGeometry, agentGeometry, humanFarGeometry, humanGeometry, markerGeometry } from "./geom.js";
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
export const LABEL_SLOTS = 128;
/** Names shown: the nearest this many (and you). More is clutter, and label fill is a large share of a software frame. */
export const LABELS_SHOWN = 96;
const LABEL_W = 256, LABEL_H = 32, LABEL_M = 0.3; // slot pixels; world height in metres
const RELABEL_MS = 1000;
const LABEL_DRAWS = 16; // label drawings per chore, at most
export const LABEL_Y_HUMAN = 2.0, LABEL_Y_AGENT = 2.3;
/** Slots of the frame clock (a Float64Array shared by the frame's functions). */
export const CLOCK_NOW = 0, CLOCK_DT = 1, CLOCK_CX = 2, CLOCK_CZ = 3, CLOCK_EX = 4, CLOCK_EY = 5, CLOCK_EZ = 6;
/** Bodies farther than this from the camera (squared metres) use the simpler geometry. */
const LOD_FAR2 = 30 * 30;
/** Beyond this distance (metres) labels and bubbles are drawn larger than life. */
export const LABEL_REF = 14;

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
  labelY(): number { return this.kind === "human" ? LABEL_Y_HUMAN : LABEL_Y_AGENT; }
}

export class Avatars {
  readonly list: Avatar[] = [];
  readonly byId = new Map<string, Avatar>();
  private readonly humans: Layer;
  private readonly agents: Layer;
  /** Far from the camera, simpler bodies (a software rasterizer pays per triangle). */
  private readonly humansFar: Layer;
  private readonly agentsFar: Layer;
  private readonly marker: Layer;
  private readonly atlas: Atlas;
  readonly labels: QuadBatch;
  private readonly free = new Int32Array(LABEL_SLOTS);
  private nfree = 0;
  private lastRelabel = -1e9;
  private relabelNow = true;
  private labelsPending = false;
  private sorted = new Float32Array(1024);
  leavingCount = 0;
  you: Avatar | null = null;

  /** decals: the shared floor batch (flat, additive, glow atlas) where trust rings go. */
  /** scene: where bodies go; front: where labels go (drawn last). */
  constructor(scene: Object3D, private readonly front: Object3D, layers: LayerKind, private readonly decals: QuadBatch) {
    this.humans = makeLayer(layers, scene, humanGeometry(), new MeshBasicMaterial({ vertexColors: true }), 256);
    this.agents = makeLayer(layers, scene, agentGeometry(), new MeshBasicMaterial({ vertexColors: true }), 256);
    this.humansFar = makeLayer(layers, scene, humanFarGeometry(), new MeshBasicMaterial({ vertexColors: true }), 256);
    this.agentsFar = makeLayer(layers, scene, agentFarGeometry(), new MeshBasicMaterial({ vertexColors: true }), 256);
    this.marker = makeLayer(layers, scene, markerGeometry(), new MeshBasicMaterial({ vertexColors: true }), 4);
    this.atlas = new Atlas(1024, 1024, LABEL_W, LABEL_H);
    this.labels = new QuadBatch(LABEL_SLOTS, this.atlas);
    front.add(this.labels.mesh);
    for (let i = LABEL_SLOTS - 1; i >= 0; i--) this.free[this.nfree++] = i;
  }

  /** Instances drawn, without those animating out. */
  count(): number { return this.humans.count + this.agents.count + this.humansFar.count + this.agentsFar.count - this.leavingCount; }

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
    this.humansFar.reserve(n);
    this.agentsFar.reserve(n);
    if (this.sorted.length < n) this.sorted = new Float32Array(this.sorted.length * 2 >= n ? this.sorted.length * 2 : n);
  }

  /** Sets the position of avatar id (called from PositionSource.sample). */
  place(id: string, x: number, z: number, facing: number): void {
    const a = this.byId.get(id);
    if (!a) return;
    a.x = x; a.z = z; a.facing = facing; a.has = true;
  }

  /**
   * Writes every avatar, ring and label for this frame (decals: between the
   * caller's begin and end). clock: now (ms), dt (s), where labels matter
   * most (cx, cz) and the camera (ex, ey, ez); an array, because double arguments of a call that is not
   * inlined are boxed.
   */
  update(clock: Float64Array): void {
    const now = clock[CLOCK_NOW], dt = clock[CLOCK_DT];
    const H = this.humans, A = this.agents, R = this.decals, M = this.marker, L = this.labels;
    const HF = this.humansFar, AF = this.agentsFar;
    const ex = clock[CLOCK_EX], ey = clock[CLOCK_EY], ez = clock[CLOCK_EZ];
    H.begin(); A.begin(); HF.begin(); AF.begin(); M.begin(); L.begin();
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
      const human = a.kind === "human";
      const fx = a.x - ex, fz = a.z - ez;
      const far = fx * fx + ey * ey + fz * fz > LOD_FAR2;
      const body = human ? (far ? HF : H) : (far ? AF : A), q = body.q;
      q[0] = a.x; q[2] = a.z; q[4] = s;
      q[5] = a.r * k; q[6] = a.g * k; q[7] = a.b * k;
      if (human) { q[1] = 0; q[3] = a.facing; }
      else { q[1] = 0.08 + Math.sin(now * 0.002 + a.phase) * 0.08; q[3] = a.facing + now * 0.0007; }
      body.add();
      // Trust ring (a floor decal).
      const t = TRUST_RGB[a.trust], rk = (0.35 + 0.65 * a.dim + a.flash) * (a.you ? 1.3 : 1);
      const rs = 0.95 * s * (a.you ? 1.3 : 1), d = R.q;
      d[0] = a.x; d[1] = 0.02; d[2] = a.z; d[3] = rs; d[4] = rs;
      d[5] = rx; d[6] = 0; d[7] = GLOW_PX; d[8] = GLOW_PX;
      d[9] = t[0] * rk; d[10] = t[1] * rk; d[11] = t[2] * rk; d[12] = 0.85;
      R.add();
      if (a.you) {
        const m = M.q;
        m[0] = a.x; m[1] = 2.75 + Math.sin(now * 0.004) * 0.08; m[2] = a.z; m[3] = now * 0.002; m[4] = s;
        m[5] = 1; m[6] = 1; m[7] = 1;
        M.add();
      }
      if (a.label >= 0 && !a.labelDirty && s > 0.01) {
        const slot = a.label, l = L.q;
        // Labels grow with distance (less than perspective shrinks them), so far names stay legible.
        const ly = (human ? LABEL_Y_HUMAN : LABEL_Y_AGENT) * s;
        const dy = ly - ey, dist = Math.sqrt(fx * fx + dy * dy + fz * fz);
        const g = s * (dist > LABEL_REF ? 0.45 + 0.55 * dist / LABEL_REF : 1);
        const w = (a.labelW / LABEL_H) * LABEL_M;
        l[0] = a.x; l[1] = ly + (g - s) * LABEL_M * 0.5; l[2] = a.z; l[3] = w * g; l[4] = LABEL_M * g;
        l[5] = this.atlas.slotX(slot); l[6] = this.atlas.slotY(slot); l[7] = a.labelW; l[8] = LABEL_H;
        l[9] = 1; l[10] = 1; l[11] = 1; l[12] = (a.idle ? 0.55 : 1) * (s < 1 ? s : 1);
        L.add();
      }
    }
    this.leavingCount = leaving;
    H.end(); A.end(); HF.end(); AF.end(); M.end(); L.end();
    this.atlas.flush();
  }

  /**
   * Label housekeeping, from a timer outside the frame loop (several times a
   * second): every RELABEL_MS (or after a change) the nearest avatars get the
   * label slots, and a few pending labels are drawn into the atlas. Canvas text
   * and pixel reads allocate; frames must not.
   */
  chores(now: number, cx: number, cz: number): void {
    if (this.relabelNow || now - this.lastRelabel > RELABEL_MS) this.relabel(now, cx, cz);
    if (this.labelsPending) this.drawPending();
  }

  /** Gives labels to the LABELS_SHOWN avatars nearest (cx, cz) (and you); marks for drawing those that changed. */
  private relabel(now: number, cx: number, cz: number): void {
    this.relabelNow = false;
    this.lastRelabel = now;
    const n = this.list.length;
    let limit = Infinity;
    if (n > LABELS_SHOWN) {
      const s = this.sorted;
      for (let i = 0; i < n; i++) {
        const a = this.list[i];
        const dx = a.x - cx, dz = a.z - cz;
        a.d2 = a.you ? -1 : dx * dx + dz * dz;
        s[i] = a.d2;
      }
      limit = select(s, n, LABELS_SHOWN - 1);
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
      if (a.labelDirty) this.labelsPending = true;
    }
  }

  /** Draws at most LABEL_DRAWS pending labels: a crowd arriving costs several chores a little each, not one a lot. */
  private drawPending(): void {
    let budget = LABEL_DRAWS;
    for (let i = 0; i < this.list.length && budget > 0; i++) {
      const a = this.list[i];
      if (a.label >= 0 && a.labelDirty) { this.drawLabel(a); budget--; }
    }
    if (budget > 0) this.labelsPending = false;
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
    this.humans.dispose(); this.agents.dispose(); this.humansFar.dispose(); this.agentsFar.dispose(); this.marker.dispose();
    this.front.remove(this.labels.mesh);
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
