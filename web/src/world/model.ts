// The world model: where everyone is, as plain data (no DOM, no three.js).
// Your avatar is predicted from input and reconciled with the node's
// authoritative `state`; the others are interpolated between their last two
// states. sample() and step() allocate nothing.

import type { PositionSource } from "../scene/types.js";

/** Sends a move; returns its seq (undefined if it could not be sent). */
export type MoveSender = (x: number, z: number, facing: number) => number | undefined;

/** One participant's position in a `state` frame or `joined.state`. */
export interface MoveState {
  id: string;
  pos: number[];
  facing: number;
  ack?: number;
}

export const KEY_UP = 1, KEY_DOWN = 2, KEY_LEFT = 4, KEY_RIGHT = 8;
export const MOVE_INTERVAL_MS = 50; // at most one move frame per 50 ms (WORLD.md)
export const INTERP_MS = 100; // others are drawn about this far behind
const PENDING = 128; // moves awaiting an ack (6.4 s at 20 per second)

const KEYS: Record<string, number> = {
  ArrowUp: KEY_UP, KeyW: KEY_UP, ArrowDown: KEY_DOWN, KeyS: KEY_DOWN,
  ArrowLeft: KEY_LEFT, KeyA: KEY_LEFT, ArrowRight: KEY_RIGHT, KeyD: KEY_RIGHT,
};

/** keyBit maps a KeyboardEvent.code to a direction bit (0 if none). */
export function keyBit(code: string): number {
  return KEYS[code] ?? 0;
}

class Other {
  fx = 0; fz = 0; ff = 0; // where the interpolation starts
  tx = 0; tz = 0; tf = 0; // the last state
  t0 = 0; // when it started
  constructor(public id: string) {}
}

export class World implements PositionSource {
  size = 40; // the floor is [-size/2, size/2] on x and z
  speed = 6; // metres per second
  you = "";
  /** Whether the node speaks move/state; without it, nothing is sent. */
  authoritative = false;

  // Your avatar, predicted.
  private known = false; // whether your position is known (spawned)
  private x = 0; private z = 0; private facing = 0;
  private keys = 0;
  private hasTarget = false; private gx = 0; private gz = 0;
  private dirty = false; // moved since the last move frame
  private lastSent = -Infinity;
  private sentX = 0; private sentZ = 0; // predicted position at the last send
  private seqs = new Float64Array(PENDING);
  private dxs = new Float64Array(PENDING);
  private dzs = new Float64Array(PENDING);
  private head = 0; private count = 0;
  private server: { x: number; z: number; facing: number; ack: number } | null = null;

  // Everyone else: a dense array for sampling plus an index by id.
  private others: Other[] = [];
  private index = new Map<string, number>();

  constructor(private send: MoveSender = () => undefined) {}

  /** reset empties the world for a new room. */
  reset(room: { size?: number; speed?: number }, you: string, authoritative: boolean): void {
    this.size = room.size && room.size > 0 ? room.size : 40;
    this.speed = room.speed && room.speed > 0 ? room.speed : 6;
    this.you = you;
    this.authoritative = authoritative;
    this.known = false; this.keys = 0; this.hasTarget = false; this.dirty = false;
    this.lastSent = -Infinity; this.head = 0; this.count = 0; this.server = null;
    this.others.length = 0;
    this.index.clear();
  }

  // ---- input (handlers only record state; step() consumes it)

  setKey(bit: number, down: boolean): void {
    this.keys = down ? this.keys | bit : this.keys & ~bit;
    if (down) this.hasTarget = false;
  }

  releaseKeys(): void { this.keys = 0; }

  walkTo(x: number, z: number): void {
    this.gx = this.clamp(x); this.gz = this.clamp(z); this.hasTarget = true;
  }

  /** moving reports whether you are moving or have a move left to send. */
  get moving(): boolean { return this.keys !== 0 || this.hasTarget || this.dirty; }

  // ---- the loop

  /** step predicts your avatar for dt seconds and sends a move if due. */
  step(now: number, dt: number): void {
    if (!this.known) return;
    if (dt > 0.1) dt = 0.1; // a stalled tab does not teleport you
    let dx = 0, dz = 0;
    const k = this.keys;
    if (k) {
      dx = (k & KEY_RIGHT ? 1 : 0) - (k & KEY_LEFT ? 1 : 0);
      dz = (k & KEY_DOWN ? 1 : 0) - (k & KEY_UP ? 1 : 0);
      const len = Math.hypot(dx, dz);
      if (len > 0) { dx = dx / len * this.speed * dt; dz = dz / len * this.speed * dt; }
    } else if (this.hasTarget) {
      const ex = this.gx - this.x, ez = this.gz - this.z;
      const d = Math.hypot(ex, ez), stepLen = this.speed * dt;
      if (d <= stepLen) { dx = ex; dz = ez; this.hasTarget = false; }
      else { dx = ex / d * stepLen; dz = ez / d * stepLen; }
    }
    if (dx !== 0 || dz !== 0) {
      const nx = this.clamp(this.x + dx), nz = this.clamp(this.z + dz);
      if (nx !== this.x || nz !== this.z) {
        this.facing = Math.atan2(dx, dz);
        this.x = nx; this.z = nz; this.dirty = true;
      }
    }
    if (this.dirty && this.authoritative && now - this.lastSent >= MOVE_INTERVAL_MS) this.flush(now);
  }

  private flush(now: number): void {
    const seq = this.send(this.x, this.z, this.facing);
    if (seq === undefined) return; // not connected: try again next frame
    this.lastSent = now;
    this.dirty = false;
    const i = (this.head + this.count) % PENDING;
    if (this.count === PENDING) this.head = (this.head + 1) % PENDING; // drop the oldest
    else this.count++;
    this.seqs[i] = seq; this.dxs[i] = this.x - this.sentX; this.dzs[i] = this.z - this.sentZ;
    this.sentX = this.x; this.sentZ = this.z;
  }

  // ---- the node's state

  /** applyState takes a `state` frame's moves (or `joined.state.moves`). */
  applyState(moves: readonly MoveState[], now: number): void {
    for (let i = 0; i < moves.length; i++) {
      const m = moves[i];
      const x = m.pos[0], z = m.pos[2];
      if (m.id === this.you) this.reconcile(x, z, m.facing, m.ack ?? 0);
      else this.place(m.id, x, z, m.facing, now);
    }
  }

  /** reconcile: the node's position at `ack`, plus the moves it has not applied yet. */
  private reconcile(x: number, z: number, facing: number, ack: number): void {
    this.server = { x, z, facing, ack };
    if (!this.known) {
      this.known = true;
      this.x = this.sentX = x; this.z = this.sentZ = z; this.facing = facing;
      return;
    }
    while (this.count > 0 && this.seqs[this.head] <= ack) {
      this.head = (this.head + 1) % PENDING; this.count--;
    }
    let px = x, pz = z;
    for (let n = 0; n < this.count; n++) {
      const i = (this.head + n) % PENDING;
      px += this.dxs[i]; pz += this.dzs[i];
    }
    const unsentX = this.x - this.sentX, unsentZ = this.z - this.sentZ;
    this.sentX = px; this.sentZ = pz;
    this.x = this.clamp(px + unsentX); this.z = this.clamp(pz + unsentZ);
  }

  /** place puts someone else at (x, z): the first time at once, then interpolated. */
  place(id: string, x: number, z: number, facing: number, now: number): void {
    if (id === this.you) {
      if (!this.known) { this.known = true; this.x = this.sentX = x; this.z = this.sentZ = z; this.facing = facing; }
      return;
    }
    const i = this.index.get(id);
    if (i === undefined) {
      const o = new Other(id);
      o.fx = o.tx = x; o.fz = o.tz = z; o.ff = o.tf = facing; o.t0 = now - INTERP_MS;
      this.index.set(id, this.others.length);
      this.others.push(o);
      return;
    }
    const o = this.others[i];
    const a = alpha(o.t0, now);
    o.fx = o.fx + (o.tx - o.fx) * a; o.fz = o.fz + (o.tz - o.fz) * a; o.ff = lerpAngle(o.ff, o.tf, a);
    o.tx = x; o.tz = z; o.tf = facing; o.t0 = now;
  }

  remove(id: string): void {
    const i = this.index.get(id);
    if (i === undefined) return;
    const last = this.others.pop()!;
    this.index.delete(id);
    if (last.id !== id) { this.others[i] = last; this.index.set(last.id, i); }
  }

  has(id: string): boolean { return id === this.you ? this.known : this.index.has(id); }

  // ---- reading

  sample(now: number, visit: (id: string, x: number, z: number, facing: number) => void): void {
    if (this.known) visit(this.you, this.x, this.z, this.facing);
    const list = this.others;
    for (let i = 0; i < list.length; i++) {
      const o = list[i], a = alpha(o.t0, now);
      visit(o.id, o.fx + (o.tx - o.fx) * a, o.fz + (o.tz - o.fz) * a, lerpAngle(o.ff, o.tf, a));
    }
  }

  /** pos is your predicted position (null before you spawned). */
  pos(): { x: number; z: number; facing: number } | null {
    return this.known ? { x: this.x, z: this.z, facing: this.facing } : null;
  }

  /** serverPos is the node's last word on your position, with its ack. */
  serverPos(): { x: number; z: number; facing: number; ack: number } | null {
    return this.server && { ...this.server };
  }

  /** pendingCount is the number of moves sent and not yet acknowledged. */
  get pendingCount(): number { return this.count; }

  private clamp(v: number): number {
    const h = this.size / 2;
    return v < -h ? -h : v > h ? h : v;
  }
}

function alpha(t0: number, now: number): number {
  const a = (now - t0) / INTERP_MS;
  return a <= 0 ? 0 : a >= 1 ? 1 : a;
}

/** lerpAngle turns from a to b by fraction t along the shorter way. */
export function lerpAngle(a: number, b: number, t: number): number {
  let d = (b - a) % (2 * Math.PI);
  if (d > Math.PI) d -= 2 * Math.PI;
  else if (d < -Math.PI) d += 2 * Math.PI;
  return a + d * t;
}

/** spawnPoint is a stable spot within 6 m of the centre, for nodes without a world. */
export function spawnPoint(id: string, room: string): [number, number] {
  let h = 2166136261;
  const s = id + "@" + room;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  const u = (h >>> 0) / 4294967296, v = (Math.imul(h, 2654435761) >>> 0) / 4294967296;
  const r = 2 + 4 * Math.sqrt(v), t = u * 2 * Math.PI;
  return [r * Math.cos(t), r * Math.sin(t)];
}
