// A layer draws many copies of one small mesh (avatar bodies) in one draw call,
// written straight into typed arrays: put() is a few multiplications and stores,
// no Matrix4 or Color objects, so a frame allocates nothing. Two ways:
//
//  - Instances: an InstancedMesh (per-instance matrix and colour). The right
//    choice on a hardware GPU.
//  - Batch: one merged BufferGeometry whose vertices are transformed on the CPU.
//    Software rasterizers (SwiftShader, llvmpipe) pay a fixed cost per instance
//    (measured here: ~25 us per instance, rings for 200 avatars 6.1 ms as
//    instances vs 2.2 ms merged), so there the CPU batch is ~3x cheaper, for
//    ~0.3 ms of JS at 200 avatars.
import {
  BufferGeometry, BufferAttribute, InstancedMesh, InstancedBufferAttribute, Mesh, DynamicDrawUsage,
  type Material, type Object3D,
} from "./three.js";

export interface Layer {
  /** Instances (or copies) drawn last frame: the scene graph's count. */
  readonly count: number;
  /**
   * The next copy, filled in by the caller before add(): x, y, z, yaw (about +y),
   * scale, r, g, b (times the baked shade). Numbers go through this array, not
   * arguments: a call that is not inlined boxes every double argument.
   */
  readonly q: Float32Array;
  begin(): void;
  add(): void;
  end(): void;
  /** Makes room for n copies (outside the frame loop: it allocates when it grows). */
  reserve(n: number): void;
  /** Removes the mesh; the geometry and material are disposed too. */
  dispose(): void;
}

export type LayerKind = "instanced" | "merged";

export function makeLayer(kind: LayerKind, scene: Object3D, geometry: BufferGeometry, material: Material, cap: number): Layer {
  return kind === "instanced" ? new Instances(scene, geometry, material, cap) : new Batch(scene, geometry, material, cap);
}

/**
 * Stands in for BufferAttribute.updateRanges, holding one range. three reads
 * length, [0] and sort(), and sets length = 0 after the upload; a real array
 * would drop its backing store then and allocate a new one on the next push.
 */
class OneRange {
  length = 0;
  readonly 0 = { start: 0, count: 0 };
  sort(): this { return this; }
}

/** Marks the first count elements of attr for upload, allocating nothing. */
export function upload(attr: BufferAttribute, count: number): void {
  let r = attr.updateRanges as unknown as OneRange;
  if (!(r instanceof OneRange)) attr.updateRanges = (r = new OneRange()) as unknown as typeof attr.updateRanges;
  r[0].start = 0;
  r[0].count = count;
  r.length = 1;
  attr.needsUpdate = true;
}

export class Instances implements Layer {
  mesh: InstancedMesh;
  readonly q = new Float32Array(8);
  private m!: Float32Array;
  private c!: Float32Array;
  private cap = 0;
  private n = 0;

  constructor(private readonly scene: Object3D, readonly geometry: BufferGeometry, readonly material: Material, cap: number) {
    this.mesh = this.make(cap);
  }

  private make(cap: number): InstancedMesh {
    const mesh = new InstancedMesh(this.geometry, this.material, cap);
    this.m = new Float32Array(cap * 16);
    this.c = new Float32Array(cap * 3);
    mesh.instanceMatrix = new InstancedBufferAttribute(this.m, 16).setUsage(DynamicDrawUsage);
    mesh.instanceColor = new InstancedBufferAttribute(this.c, 3).setUsage(DynamicDrawUsage);
    mesh.count = 0;
    mesh.frustumCulled = false;
    this.cap = cap;
    this.scene.add(mesh);
    return mesh;
  }

  get count(): number { return this.mesh.count; }

  reserve(n: number): void {
    if (n <= this.cap) return;
    let cap = this.cap;
    while (cap < n) cap *= 2;
    const old = this.mesh;
    this.scene.remove(old);
    old.dispose();
    this.mesh = this.make(cap);
  }

  begin(): void { this.n = 0; }

  add(): void {
    const i = this.n;
    if (i >= this.cap) return;
    this.n = i + 1;
    const q = this.q, s = q[4];
    const cs = Math.cos(q[3]), sn = Math.sin(q[3]);
    const m = this.m, o = i * 16;
    m[o] = cs * s; m[o + 1] = 0; m[o + 2] = -sn * s; m[o + 3] = 0;
    m[o + 4] = 0; m[o + 5] = s; m[o + 6] = 0; m[o + 7] = 0;
    m[o + 8] = sn * s; m[o + 9] = 0; m[o + 10] = cs * s; m[o + 11] = 0;
    m[o + 12] = q[0]; m[o + 13] = q[1]; m[o + 14] = q[2]; m[o + 15] = 1;
    const c = this.c, k = i * 3;
    c[k] = q[5]; c[k + 1] = q[6]; c[k + 2] = q[7];
  }

  end(): void {
    const n = this.n, mesh = this.mesh;
    mesh.count = n;
    mesh.visible = n > 0;
    if (n === 0) return;
    upload(mesh.instanceMatrix, n * 16);
    upload(mesh.instanceColor!, n * 3);
  }

  dispose(): void {
    this.scene.remove(this.mesh);
    this.mesh.dispose();
    this.geometry.dispose();
    this.material.dispose();
  }
}

export class Batch implements Layer {
  mesh: Mesh;
  readonly q = new Float32Array(8);
  private geo!: BufferGeometry;
  private p!: Float32Array;
  private c!: Uint8Array; // RGBA bytes: a third of the float upload
  private posAttr!: BufferAttribute;
  private colAttr!: BufferAttribute;
  private readonly tp: Float32Array; // template positions
  private readonly ts: Float32Array; // template shade (red channel of its colours)
  private readonly v: number;        // vertices per copy
  private cap = 0;
  private n = 0;
  private drawn = 0;

  constructor(private readonly scene: Object3D, readonly template: BufferGeometry, readonly material: Material, cap: number) {
    this.tp = template.getAttribute("position").array as Float32Array;
    const col = template.getAttribute("color").array as Float32Array;
    this.v = this.tp.length / 3;
    this.ts = new Float32Array(this.v);
    for (let i = 0; i < this.v; i++) this.ts[i] = col[i * 3] > 1 ? 1 : col[i * 3]; // shade * colour stays <= 255
    this.mesh = this.make(cap);
  }

  private make(cap: number): Mesh {
    const g = (this.geo = new BufferGeometry());
    this.p = new Float32Array(cap * this.v * 3);
    this.c = new Uint8Array(cap * this.v * 4).fill(255);
    this.posAttr = new BufferAttribute(this.p, 3).setUsage(DynamicDrawUsage);
    this.colAttr = new BufferAttribute(this.c, 4, true).setUsage(DynamicDrawUsage);
    g.setAttribute("position", this.posAttr);
    g.setAttribute("color", this.colAttr);
    g.setDrawRange(0, 0);
    const mesh = new Mesh(g, this.material);
    mesh.frustumCulled = false;
    this.cap = cap;
    this.drawn = 0;
    this.scene.add(mesh);
    return mesh;
  }

  get count(): number { return this.drawn; }

  reserve(n: number): void {
    if (n <= this.cap) return;
    let cap = this.cap;
    while (cap < n) cap *= 2;
    this.scene.remove(this.mesh);
    this.geo.dispose();
    this.mesh = this.make(cap);
  }

  begin(): void { this.n = 0; }

  add(): void {
    const i = this.n;
    if (i >= this.cap) return;
    this.n = i + 1;
    const q = this.q, x = q[0], y = q[1], z = q[2], s = q[4], r = q[5], g = q[6], b = q[7];
    const cs = Math.cos(q[3]), sn = Math.sin(q[3]);
    const a00 = cs * s, a02 = sn * s, a20 = -sn * s, a22 = cs * s;
    const tp = this.tp, ts = this.ts, p = this.p, c = this.c, V = this.v;
    // Bytes wrap, so clamp: brighter than full (flash, arrival glow) saturates.
    const R = r > 1 ? 255 : r * 255, G = g > 1 ? 255 : g * 255, B = b > 1 ? 255 : b * 255;
    let o = i * V * 3, k = i * V * 4;
    for (let j = 0, t = 0; j < V; j++, t += 3, o += 3, k += 4) {
      const px = tp[t], py = tp[t + 1], pz = tp[t + 2], shade = ts[j];
      p[o] = a00 * px + a02 * pz + x;
      p[o + 1] = s * py + y;
      p[o + 2] = a20 * px + a22 * pz + z;
      c[k] = shade * R; c[k + 1] = shade * G; c[k + 2] = shade * B;
    }
  }

  end(): void {
    const n = this.n;
    this.drawn = n;
    this.geo.setDrawRange(0, n * this.v);
    this.mesh.visible = n > 0;
    if (n === 0) return;
    upload(this.posAttr, n * this.v * 3);
    upload(this.colAttr, n * this.v * 4);
  }

  dispose(): void {
    this.scene.remove(this.mesh);
    this.geo.dispose();
    this.template.dispose();
    this.material.dispose();
  }
}
