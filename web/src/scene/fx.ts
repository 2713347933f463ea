// Messages in light: a bubble over the speaker (pooled atlas slots, one draw
// call), pulses of light travelling to listeners (pooled glow sprites in one
// draw call: round orbs for chat and events, diamonds for commands and
// results) and shock waves on the floor (the shared decal batch). Colour says
// what a message is: chat cyan, command violet, result green, event blue-grey;
// untrusted amber, flagged red (and the bubble says so in words).
import { type Object3D } from "./three.js";
import { Atlas, QuadBatch, roundRect } from "./atlas.js";
import { GLOW_DIAMOND, GLOW_ORB, GLOW_PX, GLOW_RING_SOFT } from "./glow.js";
import { CLOCK_EX, CLOCK_EY, CLOCK_EZ, CLOCK_NOW, LABEL_REF, LABEL_Y_AGENT, LABEL_Y_HUMAN, type Avatar, type Avatars } from "./avatars.js";
import type { SceneMessage } from "./types.js";

const PULSES = 768, TRAIL = 3, RINGS = 96, BUBBLES = 16;
const PER_MESSAGE = 64; // pulses from one broadcast, at most
const BUBBLE_W = 512, BUBBLE_H = 128, BUBBLE_M = 0.78; // slot pixels; world height

type RGB = [number, number, number];
const KIND_RGB: Record<string, RGB> = {
  chat: [0.45, 0.88, 1.0],
  command: [0.8, 0.45, 1.0],
  result: [0.35, 1.0, 0.55],
  event: [0.55, 0.62, 0.85],
};
const UNTRUSTED_RGB: RGB = [1.0, 0.66, 0.1];
const FLAGGED_RGB: RGB = [1.0, 0.16, 0.12];

export class Fx {
  // Pulses: structure of arrays over a fixed pool.
  private readonly pFrom: (Avatar | null)[] = new Array(PULSES).fill(null);
  private readonly pTo: (Avatar | null)[] = new Array(PULSES).fill(null);
  private readonly pf = new Float32Array(PULSES * 12); // sx sz t0 dur r g b size shape delay - -
  private readonly pActive = new Int32Array(PULSES);
  private nActive = 0;
  private readonly pFree = new Int32Array(PULSES);
  private nFree = 0;
  // Rings.
  private readonly rf = new Float32Array(RINGS * 8); // x z t0 dur r g b maxR
  private readonly rOn = new Uint8Array(RINGS);
  private rNext = 0;
  // Bubbles.
  private readonly bOwner: (Avatar | null)[] = new Array(BUBBLES).fill(null);
  private readonly bf = new Float32Array(BUBBLES * 4); // t0 life pw ph
  private readonly atlas: Atlas;
  readonly bubbles: QuadBatch;
  /** Billboard glow sprites (pulses). */
  readonly sprites: QuadBatch;

  /** glow: the sprite atlas; decals: the shared floor batch (the caller begins and ends it). */
  /** scene: where pulses go; front: where bubbles go (drawn last). */
  constructor(private readonly scene: Object3D, private readonly front: Object3D, private readonly avatars: Avatars, glow: Atlas, private readonly decals: QuadBatch) {
    this.sprites = new QuadBatch(PULSES * TRAIL, glow, true);
    scene.add(this.sprites.mesh);
    this.atlas = new Atlas(1024, 1024, BUBBLE_W, BUBBLE_H);
    this.bubbles = new QuadBatch(BUBBLES, this.atlas);
    front.add(this.bubbles.mesh);
    this.clear();
  }

  clear(): void {
    this.nActive = 0;
    this.nFree = 0;
    for (let i = PULSES - 1; i >= 0; i--) { this.pFree[this.nFree++] = i; this.pFrom[i] = this.pTo[i] = null; }
    this.rOn.fill(0);
    for (let i = 0; i < BUBBLES; i++) this.bOwner[i] = null;
  }

  /** An arrival or departure: a ring widening from the avatar. */
  wave(x: number, z: number, now: number, r: number, g: number, b: number, maxR: number, dur: number): void {
    const i = this.rNext;
    this.rNext = (i + 1) % RINGS;
    const o = i * 8, f = this.rf;
    f[o] = x; f[o + 1] = z; f[o + 2] = now; f[o + 3] = dur; f[o + 4] = r; f[o + 5] = g; f[o + 6] = b; f[o + 7] = maxR;
    this.rOn[i] = 1;
  }

  message(m: SceneMessage, now: number): void {
    const from = this.avatars.byId.get(m.from);
    if (!from || from.gone) return;
    const rgb = m.flagged ? FLAGGED_RGB : m.untrusted ? UNTRUSTED_RGB : (KIND_RGB[m.kind] || KIND_RGB.chat);
    const cube = m.kind === "command" || m.kind === "result";
    this.bubble(from, m, rgb, now);
    const to = m.to ? this.avatars.byId.get(m.to) : undefined;
    if (to && to !== from) {
      this.pulse(from, to, now, 0, rgb, cube ? 0.2 : 0.17, cube);
      this.wave(from.x, from.z, now, rgb[0], rgb[1], rgb[2], 1.6, 500);
      return;
    }
    if (m.to && !to) { this.wave(from.x, from.z, now, rgb[0], rgb[1], rgb[2], 2, 600); return; }
    // Broadcast: a wave, and pulses to listeners, spread evenly when there are many.
    this.wave(from.x, from.z, now, rgb[0], rgb[1], rgb[2], 3.5, 900);
    const list = this.avatars.list, n = list.length;
    const others = n - 1;
    if (others <= 0) return;
    const count = Math.min(others, PER_MESSAGE);
    const step = others / count;
    let sent = 0;
    for (let k = 0; k < count; k++) {
      let j = Math.floor(k * step + (from.index + 1));
      j %= n;
      if (list[j] === from) j = (j + 1) % n;
      const a = list[j];
      if (a === from || a.leaving >= 0 || !a.has) continue;
      this.pulse(from, a, now, (sent++ % 8) * 18, rgb, cube ? 0.14 : 0.12, cube);
    }
  }

  private pulse(from: Avatar, to: Avatar, now: number, delay: number, rgb: RGB, size: number, cube: boolean): void {
    if (this.nFree === 0) return;
    const i = this.pFree[--this.nFree];
    this.pActive[this.nActive++] = i;
    this.pFrom[i] = from; this.pTo[i] = to;
    const dx = to.x - from.x, dz = to.z - from.z;
    const d = Math.sqrt(dx * dx + dz * dz);
    const o = i * 12, f = this.pf;
    f[o] = from.x; f[o + 1] = from.z; f[o + 2] = now + delay;
    f[o + 3] = Math.min(1600, Math.max(380, d * 70)); // ~14 m/s
    f[o + 4] = rgb[0]; f[o + 5] = rgb[1]; f[o + 6] = rgb[2];
    f[o + 7] = size; f[o + 8] = cube ? 1 : 0;
    f[o + 9] = Math.min(2.5, 0.6 + d * 0.12); // arc height
  }

  private bubble(from: Avatar, m: SceneMessage, rgb: RGB, now: number): void {
    // One bubble per speaker: reuse theirs, else a free slot, else the oldest.
    let slot = -1, oldest = 0, oldestT = Infinity;
    for (let i = 0; i < BUBBLES; i++) {
      const o = this.bOwner[i];
      if (o === from) { slot = i; break; }
      const t0 = this.bf[i * 4], alive = o !== null && now - t0 < this.bf[i * 4 + 1];
      if (!alive && slot < 0) slot = i;
      if (t0 < oldestT) { oldestT = t0; oldest = i; }
    }
    if (slot < 0) slot = oldest;
    const ctx = this.atlas.ctx, x = this.atlas.slotX(slot), y = this.atlas.slotY(slot);
    ctx.clearRect(x, y, BUBBLE_W, BUBBLE_H);
    const css = `rgb(${(rgb[0] * 255) | 0},${(rgb[1] * 255) | 0},${(rgb[2] * 255) | 0})`;
    const tag = m.flagged ? "\u26a0 flagged" : m.untrusted ? "\u26a0 untrusted" : m.kind === "chat" ? "" : m.kind;
    const icon = m.kind === "command" ? "\u2318 " : m.kind === "result" ? "\u21a9 " : m.kind === "event" ? "\u2022 " : "";
    ctx.font = "500 22px system-ui, sans-serif";
    const lines = wrap(ctx, icon + (m.text || "").replace(/\s+/g, " ").trim(), BUBBLE_W - 40, tag ? 2 : 3);
    let tw = 0;
    for (const l of lines) tw = Math.max(tw, ctx.measureText(l).width);
    ctx.font = "700 15px system-ui, sans-serif";
    if (tag) tw = Math.max(tw, ctx.measureText(tag).width);
    const pw = Math.min(BUBBLE_W, Math.ceil(tw) + 40);
    const rows = lines.length + (tag ? 1 : 0);
    const ph = Math.min(BUBBLE_H, 20 + rows * 28 + 12);
    // Body, a tail pointing down at the speaker, a coloured border.
    ctx.fillStyle = m.flagged ? "rgba(60,6,8,0.9)" : m.untrusted ? "rgba(48,30,4,0.9)" : "rgba(8,14,26,0.88)";
    roundRect(ctx, x + 2, y + 2, pw - 4, ph - 16, 14);
    ctx.fill();
    ctx.strokeStyle = css;
    ctx.lineWidth = m.kind === "command" || m.kind === "result" || m.flagged ? 4 : 2.5;
    if (m.kind === "command") ctx.setLineDash([10, 6]);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.beginPath();
    ctx.moveTo(x + pw / 2 - 9, y + ph - 15); ctx.lineTo(x + pw / 2, y + ph - 3); ctx.lineTo(x + pw / 2 + 9, y + ph - 15);
    ctx.closePath(); ctx.fillStyle = css; ctx.fill();
    let ty = y + 14;
    ctx.textBaseline = "top";
    if (tag) {
      ctx.fillStyle = css;
      ctx.fillText(tag, x + 20, ty);
      ty += 24;
    }
    ctx.font = "500 22px system-ui, sans-serif";
    ctx.fillStyle = "#eef6ff";
    for (const l of lines) { ctx.fillText(l, x + 20, ty); ty += 28; }
    this.atlas.slot(slot);
    this.bOwner[slot] = from;
    const o = slot * 4;
    this.bf[o] = now;
    this.bf[o + 1] = Math.min(9000, 3500 + (m.text || "").length * 40);
    this.bf[o + 2] = pw; this.bf[o + 3] = ph;
  }

  /** clock: see Avatars.update. */
  update(clock: Float64Array): void {
    const now = clock[CLOCK_NOW];
    // Pulses: a head and two fading trail beads along an arc.
    const S = this.sprites;
    S.begin();
    const f = this.pf;
    for (let k = 0; k < this.nActive; k++) {
      const i = this.pActive[k], o = i * 12;
      const to = this.pTo[i]!;
      const p = (now - f[o + 2]) / f[o + 3];
      if (p >= 1) {
        to.flash = 1;
        this.pFrom[i] = this.pTo[i] = null;
        this.pActive[k] = this.pActive[--this.nActive];
        this.pFree[this.nFree++] = i;
        k--;
        continue;
      }
      if (p < 0) continue;
      const px = (f[o + 8] > 0 ? GLOW_DIAMOND : GLOW_ORB) * GLOW_PX;
      const sx = f[o], sz = f[o + 1], tx = to.x, tz = to.z, arc = f[o + 9], size = f[o + 7];
      for (let t = 0; t < TRAIL; t++) {
        const u = p - t * 0.06;
        if (u < 0) break;
        const e = u * u * (3 - 2 * u);
        const x = sx + (tx - sx) * e, z = sz + (tz - sz) * e;
        const y = 1.5 + 4 * arc * u * (1 - u);
        const fall = t === 0 ? 1 : t === 1 ? 0.55 : 0.28;
        const s = 3.2 * size * (t === 0 ? 1 : 0.7 - t * 0.15) * (p > 0.9 ? 0.4 + (1 - p) * 6 : 1);
        const q = S.q;
        q[0] = x; q[1] = y; q[2] = z; q[3] = s; q[4] = s; q[5] = px; q[6] = 0; q[7] = GLOW_PX; q[8] = GLOW_PX;
        q[9] = f[o + 4]; q[10] = f[o + 5]; q[11] = f[o + 6]; q[12] = fall;
        S.add();
      }
    }
    S.end();
    // Waves widen and fade on the floor (decals: begun and ended by the caller).
    const R = this.decals, rf = this.rf, wx = GLOW_RING_SOFT * GLOW_PX;
    for (let i = 0; i < RINGS; i++) {
      if (!this.rOn[i]) continue;
      const o = i * 8, p = (now - rf[o + 2]) / rf[o + 3];
      if (p >= 1) { this.rOn[i] = 0; continue; }
      const e = 1 - (1 - p) * (1 - p), d = 2 * (0.3 + rf[o + 7] * e);
      const q = R.q;
      q[0] = rf[o]; q[1] = 0.03; q[2] = rf[o + 1]; q[3] = d; q[4] = d; q[5] = wx; q[6] = 0; q[7] = GLOW_PX; q[8] = GLOW_PX;
      q[9] = rf[o + 4]; q[10] = rf[o + 5]; q[11] = rf[o + 6]; q[12] = 1 - p;
      R.add();
    }
    // Bubbles over their speakers, fading in and out.
    const B = this.bubbles, bf = this.bf;
    B.begin();
    for (let i = 0; i < BUBBLES; i++) {
      const a = this.bOwner[i];
      if (a === null) continue;
      const o = i * 4, age = now - bf[o], life = bf[o + 1];
      if (age >= life) { this.bOwner[i] = null; continue; }
      const alpha = age < 150 ? age / 150 : age > life - 700 ? (life - age) / 700 : 1;
      const pw = bf[o + 2], ph = bf[o + 3];
      // Bubbles keep about the size they have at LABEL_REF metres, however far: they are for reading.
      const dx = a.x - clock[CLOCK_EX], dy = 2.6 - clock[CLOCK_EY], dz = a.z - clock[CLOCK_EZ];
      const dist = Math.sqrt(dx * dx + dy * dy + dz * dz), g = dist > LABEL_REF ? dist / LABEL_REF : 1;
      const h = (ph / BUBBLE_H) * BUBBLE_M * g, w = (pw / BUBBLE_H) * BUBBLE_M * g;
      const q = B.q;
      q[0] = a.x; q[1] = (a.kind === "human" ? LABEL_Y_HUMAN : LABEL_Y_AGENT) + 0.3 * g + h / 2 + (1 - alpha) * 0.2; q[2] = a.z;
      q[3] = w; q[4] = h; q[5] = this.atlas.slotX(i); q[6] = this.atlas.slotY(i); q[7] = pw; q[8] = ph;
      q[9] = 1; q[10] = 1; q[11] = 1; q[12] = alpha;
      B.add();
    }
    B.end();
    this.atlas.flush();
  }

  /** Active pulses (tests). */
  get pulses(): number { return this.nActive; }

  dispose(): void {
    this.clear();
    this.scene.remove(this.sprites.mesh);
    this.sprites.dispose();
    this.front.remove(this.bubbles.mesh);
    this.bubbles.dispose();
    this.atlas.dispose();
  }
}

/** Word-wraps text into at most maxLines lines of maxW pixels, the last one ellipsised. */
function wrap(ctx: CanvasRenderingContext2D, text: string, maxW: number, maxLines: number): string[] {
  const words = text.split(" ");
  const lines: string[] = [];
  let cur = "";
  for (let i = 0; i < words.length; i++) {
    let w = words[i];
    const next = cur ? cur + " " + w : w;
    if (ctx.measureText(next).width <= maxW) { cur = next; continue; }
    if (cur) { lines.push(cur); cur = ""; }
    if (lines.length === maxLines) break;
    // A word longer than a line is cut.
    while (ctx.measureText(w).width > maxW) {
      let k = w.length - 1;
      while (k > 1 && ctx.measureText(w.slice(0, k)).width > maxW) k--;
      lines.push(w.slice(0, k));
      w = w.slice(k);
      if (lines.length === maxLines) break;
    }
    if (lines.length === maxLines) break;
    cur = w;
  }
  if (cur && lines.length < maxLines) lines.push(cur);
  const consumed = lines.join(" ").length;
  if (consumed < text.length && lines.length) {
    let last = lines[lines.length - 1];
    while (last && ctx.measureText(last + "\u2026").width > maxW) last = last.slice(0, -1);
    lines[lines.length - 1] = last + "\u2026";
  }
  return lines.length ? lines : [""];
}
