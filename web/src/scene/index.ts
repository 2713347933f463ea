// The 3D scene (WEB.md). Loaded by dynamic import in 3D mode only; it loads one
// renderer module in turn: renderer-gpu.ts when navigator.gpu gives an adapter
// (and opts.webgpu is "auto"), renderer-gl.ts otherwise.
import { Scene as ThreeScene, PerspectiveCamera, Vector3, ColorManagement, Color, Group } from "./three.js";
import { CLEAR, type RendererInfo, type SceneRenderer } from "./renderer.js";
import { Room } from "./room.js";
import { Atlas, QuadBatch } from "./atlas.js";
import { glowAtlas } from "./glow.js";
import type { LayerKind } from "./layers.js";
import { Avatars, CLOCK_CX, CLOCK_CZ, CLOCK_DT, CLOCK_EX, CLOCK_EY, CLOCK_EZ, CLOCK_NOW } from "./avatars.js";
import { Fx } from "./fx.js";
import type {
  AvatarInfo, Backend, PickHit, PortalInfo, PositionSource, RoomInfo, Scene, SceneMessage, SceneOptions, SceneStats,
} from "./types.js";

export type * from "./types.js";

/** Performance mark set once, after the first frame was rendered. */
export const FIRST_FRAME_MARK = "mesh:first-frame";

export async function createScene(canvas: HTMLCanvasElement, opts: SceneOptions): Promise<Scene> {
  // Colours are authored in display space; no colour management means no output pass.
  ColorManagement.enabled = false;
  let renderer: SceneRenderer | null = null;
  const adapter = opts.webgpu !== "off" ? await webGPUAdapter() : null;
  if (adapter !== null) {
    try {
      renderer = await (await import("./renderer-gpu.js")).createRenderer(canvas, adapter);
    } catch (err) {
      console.warn("mesh: WebGPU renderer failed, using WebGL", err);
    }
  }
  if (!renderer) renderer = (await import("./renderer-gl.js")).createRenderer(canvas);
  Atlas.ranges = renderer.backend === "webgl";
  const layers = opts.layers === "instanced" || opts.layers === "merged" ? opts.layers : renderer.software ? "merged" : "instanced";
  return new MeshScene(canvas, renderer, layers);
}

interface AdapterLike { info?: { vendor?: string; architecture?: string; description?: string; device?: string }; isFallbackAdapter?: boolean }

/** A description of the WebGPU adapter navigator.gpu gives (for software detection), or null when there is none. */
async function webGPUAdapter(): Promise<string | null> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<AdapterLike | null> } }).gpu;
  if (!gpu) return null;
  try {
    const adapter = await Promise.race([
      gpu.requestAdapter(),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 2000)),
    ]);
    if (!adapter) return null;
    const i = adapter.info || {};
    return [i.vendor, i.architecture, i.device, i.description, adapter.isFallbackAdapter ? "software" : ""].filter(Boolean).join(" ");
  } catch {
    return null;
  }
}

const FPS_WINDOW = 64;
const CHORES_MS = 100; // label housekeeping, outside the frame loop
const CAM_NEAR = 24, CAM_FAR = 44; // distance following you / overview

export class MeshScene implements Scene {
  readonly backend: Backend;
  private readonly glow: Atlas;
  private readonly decals: QuadBatch;
  /** The three.js scene graph (tests and profiling). */
  readonly scene = new ThreeScene();
  private readonly camera = new PerspectiveCamera(50, 16 / 9, 0.1, 300);
  private room: Room | null = null;
  private readonly avatars: Avatars;
  private readonly fx: Fx;
  private source: PositionSource | null = null;
  private before: (now: number, dt: number) => void = noop;
  private readonly picks: ((hit: PickHit) => void)[] = [];
  private raf = 0;
  private chores: ReturnType<typeof setInterval> | undefined;
  private running = false;
  private last = 0;
  private firstFrame = false;
  private frameMs = 0;
  private readonly times = new Float64Array(FPS_WINDOW);
  private nTimes = 0;
  private readonly info: RendererInfo = { calls: 0, triangles: 0, geometries: 0, textures: 0 };
  private readonly tick: (t: number) => void;
  private readonly visit: (id: string, x: number, z: number, facing: number) => void;
  // Camera: orbit (yaw, pitch, distance) around a target that follows you.
  private yaw = 0; private pitch = 0.68; private dist = CAM_FAR; private userDist = 0;
  private tx = 0; private tz = 0;
  private readonly v = new Vector3();
  private readonly look = new Vector3();
  /** now, dt, camera target: see Avatars.update. */
  private readonly clock = new Float64Array(7);
  private readonly back = new Group();
  private readonly mid = new Group();
  private readonly front = new Group();
  private readonly hit = [0];
  private w = 1; private h = 1;
  private down = { x: 0, y: 0, id: -1, drag: false };
  private readonly listeners: [string, EventListener][] = [];

  constructor(private readonly canvas: HTMLCanvasElement, private readonly renderer: SceneRenderer, readonly layers: LayerKind) {
    this.backend = renderer.backend;
    this.scene.background = new Color(CLEAR);
    this.glow = glowAtlas();
    this.decals = new QuadBatch(4096, this.glow, true);
    this.decals.rx = 1; this.decals.ry = 0; this.decals.rz = 0;
    this.decals.ux = 0; this.decals.uy = 0; this.decals.uz = -1;
    // Draw order is the order of these groups (objects are not sorted): the
    // room, then bodies and glow, then labels and bubbles on top.
    this.scene.add(this.back, this.mid, this.front);
    this.mid.add(this.decals.mesh);
    this.avatars = new Avatars(this.mid, this.front, layers, this.decals);
    this.fx = new Fx(this.mid, this.front, this.avatars, this.glow, this.decals);
    this.tick = this.meshSceneFrame.bind(this);
    const avatars = this.avatars;
    this.visit = function meshSceneVisit(id, x, z, facing) { avatars.place(id, x, z, facing); };
    this.resize(canvas.clientWidth || canvas.width || 1280, canvas.clientHeight || canvas.height || 720);
    this.listen();
  }

  setRoom(room: RoomInfo, portals: PortalInfo[]): void {
    this.room?.dispose();
    this.avatars.clear();
    this.fx.clear();
    this.room = new Room(this.back, room, portals);
    this.tx = this.tz = 0;
  }

  upsert(a: AvatarInfo): void {
    const now = performance.now();
    const isNew = !this.avatars.byId.has(a.id) || this.avatars.byId.get(a.id)!.leaving >= 0;
    const av = this.avatars.upsert(a, now);
    if (isNew && av.has) this.fx.wave(av.x, av.z, now, 0.6, 1, 0.9, 1.6, 700);
  }

  remove(id: string): void {
    const a = this.avatars.byId.get(id);
    const now = performance.now();
    if (a && a.has && a.leaving < 0) this.fx.wave(a.x, a.z, now, 0.5, 0.6, 0.8, 1.4, 500);
    this.avatars.remove(id, now);
  }

  setIdle(id: string, idle: boolean): void { this.avatars.setIdle(id, idle); }

  message(m: SceneMessage): void { this.fx.message(m, performance.now()); }

  start(source: PositionSource, beforeFrame: (now: number, dt: number) => void): void {
    this.source = source;
    this.before = beforeFrame || noop;
    if (this.running) return;
    this.running = true;
    this.chores = setInterval(() => this.avatars.chores(performance.now(), this.tx, this.tz), CHORES_MS);
    this.last = performance.now();
    this.raf = requestAnimationFrame(this.tick);
  }

  onPick(cb: (hit: PickHit) => void): void { this.picks.push(cb); }

  stats(): SceneStats {
    let fps = 0;
    const n = Math.min(this.nTimes, FPS_WINDOW);
    if (n >= 2) {
      const newest = this.times[(this.nTimes - 1) % FPS_WINDOW];
      const oldest = this.times[(this.nTimes - n) % FPS_WINDOW];
      if (newest > oldest) fps = ((n - 1) * 1000) / (newest - oldest);
    }
    return {
      fps: Math.round(fps * 10) / 10,
      drawCalls: this.info.calls,
      triangles: this.info.triangles,
      avatars: this.avatars.count(),
      frameMs: Math.round(this.frameMs * 100) / 100,
    };
  }

  /** Renderer memory counters (tests: setRoom and dispose return them to a baseline). */
  memory(): { geometries: number; textures: number } {
    this.renderer.info(this.info);
    return { geometries: this.info.geometries, textures: this.info.textures };
  }

  /** Pulses in flight (tests). */
  pulses(): number { return this.fx.pulses; }

  resize(w: number, h: number): void {
    this.w = Math.max(1, w | 0);
    this.h = Math.max(1, h | 0);
    this.camera.aspect = this.w / this.h;
    this.camera.updateProjectionMatrix();
    this.renderer.setSize(this.w, this.h, Math.min(2, globalThis.devicePixelRatio || 1));
  }

  dispose(): void {
    this.running = false;
    cancelAnimationFrame(this.raf);
    clearInterval(this.chores);
    for (const [type, fn] of this.listeners) this.canvas.removeEventListener(type, fn);
    this.listeners.length = 0;
    this.room?.dispose();
    this.room = null;
    this.avatars.dispose();
    this.fx.dispose();
    this.mid.remove(this.decals.mesh);
    this.decals.dispose();
    this.glow.dispose();
    this.picks.length = 0;
    this.renderer.dispose();
  }

  /** One frame. Allocates nothing: every object it touches was made before. */
  private meshSceneFrame(): void {
    if (!this.running) return;
    this.raf = requestAnimationFrame(this.tick);
    const t0 = performance.now();
    let dt = t0 - this.last;
    if (dt > 100) dt = 100;
    this.last = t0;
    this.before(t0, dt);
    if (this.source) this.source.sample(t0, this.visit);
    const clock = this.clock;
    clock[CLOCK_NOW] = t0;
    clock[CLOCK_DT] = dt / 1000;
    this.updateCamera();
    clock[CLOCK_CX] = this.tx;
    clock[CLOCK_CZ] = this.tz;
    const eye = this.camera.position;
    clock[CLOCK_EX] = eye.x; clock[CLOCK_EY] = eye.y; clock[CLOCK_EZ] = eye.z;
    this.decals.begin();
    this.avatars.update(clock);
    this.fx.update(clock);
    this.decals.end();
    this.renderer.render(this.scene, this.camera);
    this.renderer.info(this.info);
    if (!this.firstFrame) {
      this.firstFrame = true;
      performance.mark(FIRST_FRAME_MARK);
    }
    const t1 = performance.now();
    this.frameMs = t1 - t0;
    this.times[this.nTimes % FPS_WINDOW] = t1;
    this.nTimes++;
  }

  private updateCamera(): void {
    const dt = this.clock[CLOCK_DT];
    const you = this.avatars.you;
    let gx = 0, gz = 0, gd = CAM_FAR;
    if (you && you.has) { gx = you.x; gz = you.z; gd = CAM_NEAR; }
    if (this.userDist > 0) gd = this.userDist;
    const k = dt * 3 > 1 ? 1 : dt * 3;
    this.tx += (gx - this.tx) * k;
    this.tz += (gz - this.tz) * k;
    this.dist += (gd - this.dist) * k;
    const cp = Math.cos(this.pitch), d = this.dist;
    const cam = this.camera;
    cam.position.set(this.tx + d * cp * Math.sin(this.yaw), d * Math.sin(this.pitch), this.tz + d * cp * Math.cos(this.yaw));
    // Look a little past the target, so the far wall and the room's name stay in view.
    this.look.set(this.tx - Math.sin(this.yaw) * 3, 0, this.tz - Math.cos(this.yaw) * 3);
    cam.lookAt(this.look);
    cam.updateMatrixWorld();
    // Billboards face the camera: its right and up axes.
    const e = cam.matrixWorld.elements;
    const L = this.avatars.labels, B = this.fx.bubbles, S = this.fx.sprites;
    L.rx = B.rx = S.rx = e[0]; L.ry = B.ry = S.ry = e[1]; L.rz = B.rz = S.rz = e[2];
    L.ux = B.ux = S.ux = e[4]; L.uy = B.uy = S.uy = e[5]; L.uz = B.uz = S.uz = e[6];
  }

  private listen(): void {
    const on = (type: string, fn: (e: Event) => void, opts?: AddEventListenerOptions) => {
      this.canvas.addEventListener(type, fn, opts);
      this.listeners.push([type, fn]);
    };
    on("pointerdown", (e) => {
      const p = e as PointerEvent;
      if (p.button !== 0) return;
      this.down.x = p.clientX; this.down.y = p.clientY; this.down.id = p.pointerId; this.down.drag = false;
    });
    on("pointermove", (e) => {
      const p = e as PointerEvent;
      if (p.pointerId !== this.down.id || !(p.buttons & 1)) return;
      const dx = p.clientX - this.down.x, dy = p.clientY - this.down.y;
      if (!this.down.drag && dx * dx + dy * dy < 25) return;
      if (!this.down.drag) { this.down.drag = true; this.canvas.setPointerCapture?.(p.pointerId); }
      this.yaw -= dx * 0.006;
      this.pitch = Math.min(1.45, Math.max(0.12, this.pitch + dy * 0.005));
      this.down.x = p.clientX; this.down.y = p.clientY;
    });
    on("pointerup", (e) => {
      const p = e as PointerEvent;
      if (p.pointerId !== this.down.id) return;
      this.down.id = -1;
      if (this.down.drag) return;
      const r = this.canvas.getBoundingClientRect();
      this.pick(p.clientX - r.left, p.clientY - r.top, r.width, r.height);
    });
    on("wheel", (e) => {
      const w = e as WheelEvent;
      w.preventDefault();
      const base = this.userDist || this.dist;
      this.userDist = Math.min(90, Math.max(6, base * Math.exp(w.deltaY * 0.001)));
    }, { passive: false });
  }

  /** Picks at canvas pixel (x, y) of a w x h canvas; tells onPick callbacks. Returns the hit too. */
  pick(x: number, y: number, w = this.w, h = this.h): PickHit | null {
    const cam = this.camera;
    this.v.set((x / w) * 2 - 1, -(y / h) * 2 + 1, 0.5).unproject(cam);
    const ox = cam.position.x, oy = cam.position.y, oz = cam.position.z;
    let dx = this.v.x - ox, dy = this.v.y - oy, dz = this.v.z - oz;
    const len = Math.hypot(dx, dy, dz);
    dx /= len; dy /= len; dz /= len;
    let hit: PickHit | null = null;
    const ta = this.avatars.pick(ox, oy, oz, dx, dy, dz, this.hit);
    const ai = this.hit[0];
    const tp = this.room ? this.room.pickPortal(ox, oy, oz, dx, dy, dz, this.hit) : Infinity;
    const pi = this.hit[0];
    if (ai >= 0 && ta <= tp) hit = { kind: "avatar", id: this.avatars.list[ai].id };
    else if (pi >= 0 && this.room) hit = { kind: "portal", room: this.room.portals[pi].id };
    else if (dy < 0 && this.room) {
      const t = -oy / dy, fx = ox + dx * t, fz = oz + dz * t, half = this.room.half;
      if (Math.abs(fx) <= half + 0.5 && Math.abs(fz) <= half + 0.5) {
        hit = { kind: "floor", x: clamp(fx, -half, half), z: clamp(fz, -half, half) };
      }
    }
    if (hit) for (const cb of this.picks) cb(hit);
    return hit;
  }

  /** Screen position (CSS pixels) of a world point (tests aim clicks with it). */
  project(x: number, y: number, z: number): { x: number; y: number } {
    this.v.set(x, y, z).project(this.camera);
    return { x: (this.v.x + 1) / 2 * this.w, y: (1 - this.v.y) / 2 * this.h };
  }

  /** Where avatar id stands, if known (tests). */
  where(id: string): { x: number; z: number } | null {
    const a = this.avatars.byId.get(id);
    return a && a.has ? { x: a.x, z: a.z } : null;
  }

  portalAt(i: number): { id: string; x: number; z: number } | null {
    const p = this.room?.portals[i];
    return p ? { id: p.id, x: p.x, z: p.z } : null;
  }
}

function clamp(v: number, lo: number, hi: number): number { return v < lo ? lo : v > hi ? hi : v; }
function noop(): void {}
