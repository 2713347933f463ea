// Text on the GPU with bounded draw calls: a canvas atlas of fixed slots and a
// QuadBatch that draws any number of textured quads in one draw call, their
// corners written on the CPU (billboards face the camera without custom shaders,
// so the same MeshBasicMaterial works in WebGL and WebGPU).
import {
  BufferGeometry, BufferAttribute, DataTexture, Mesh, MeshBasicMaterial, DynamicDrawUsage,
  LinearFilter, LinearMipmapLinearFilter, NormalBlending, AdditiveBlending, DoubleSide, RGBAFormat, UnsignedByteType,
} from "./three.js";
import { upload } from "./layers.js";

export class Atlas {
  /** Partial uploads: WebGL honours texture update ranges; the WebGPU backend does not (and would keep them). */
  static ranges = true;
  readonly canvas: HTMLCanvasElement;
  readonly ctx: CanvasRenderingContext2D;
  /** Pixels live in a DataTexture: a region drawn on the (CPU) canvas is copied
   * in and uploaded alone (texSubImage of its rows), never the whole atlas, and
   * never read back from a GPU canvas. */
  readonly texture: DataTexture;
  private readonly data: Uint8Array;
  readonly cols: number;
  readonly rows: number;
  private full = false;
  private ranged = false;

  constructor(readonly width: number, readonly height: number, readonly slotW: number, readonly slotH: number, mipmaps = false) {
    this.canvas = document.createElement("canvas");
    this.canvas.width = width;
    this.canvas.height = height;
    const ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    if (!ctx) throw new Error("no 2d canvas");
    this.ctx = ctx;
    this.cols = Math.floor(width / slotW);
    this.rows = Math.floor(height / slotH);
    this.data = new Uint8Array(width * height * 4);
    this.texture = new DataTexture(this.data, width, height, RGBAFormat, UnsignedByteType);
    this.texture.flipY = false;
    this.texture.generateMipmaps = mipmaps;
    this.texture.minFilter = mipmaps ? LinearMipmapLinearFilter : LinearFilter;
    this.texture.magFilter = LinearFilter;
    this.texture.needsUpdate = true;
  }

  get slots(): number { return this.cols * this.rows; }
  slotX(slot: number): number { return (slot % this.cols) * this.slotW; }
  slotY(slot: number): number { return Math.floor(slot / this.cols) * this.slotH; }

  /** Copies canvas pixels [x, x+w) x [y, y+h) into the texture and schedules their upload. */
  region(x: number, y: number, w: number, h: number): void {
    const img = this.ctx.getImageData(x, y, w, h).data;
    const W = this.width, d = this.data;
    for (let r = 0; r < h; r++) {
      const start = ((y + r) * W + x) * 4;
      d.set(img.subarray(r * w * 4, (r + 1) * w * 4), start);
      if (Atlas.ranges && !this.full && !this.texture.generateMipmaps) this.texture.addUpdateRange(start, w * 4);
    }
    this.ranged = true;
  }

  /** Copies the whole canvas (static atlases). */
  all(): void {
    this.data.set(this.ctx.getImageData(0, 0, this.width, this.height).data);
    this.full = true;
  }

  slot(slot: number): void { this.region(this.slotX(slot), this.slotY(slot), this.slotW, this.slotH); }

  /** Uploads what changed (called once per frame). */
  flush(): void {
    if (this.full) {
      this.full = this.ranged = false;
      this.texture.clearUpdateRanges();
      this.texture.needsUpdate = true;
    } else if (this.ranged) {
      this.ranged = false;
      this.texture.needsUpdate = true;
    }
  }

  dispose(): void {
    this.texture.dispose();
    this.canvas.width = this.canvas.height = 1;
  }
}

export class QuadBatch {
  readonly mesh: Mesh;
  readonly geometry: BufferGeometry;
  readonly material: MeshBasicMaterial;
  private readonly pos: Float32Array;
  private readonly uv: Float32Array;
  private readonly col: Float32Array;
  private readonly posAttr: BufferAttribute;
  private readonly uvAttr: BufferAttribute;
  private readonly colAttr: BufferAttribute;
  private n = 0;
  /** x y z w h px py pw ph r g b a of the next quad (see add). */
  readonly q = new Float32Array(13);
  // Billboard axes (world units per unit of width/height).
  rx = 1; ry = 0; rz = 0;
  ux = 0; uy = 1; uz = 0;

  constructor(readonly capacity: number, readonly atlas: Atlas, additive = false) {
    this.pos = new Float32Array(capacity * 12);
    this.uv = new Float32Array(capacity * 8);
    this.col = new Float32Array(capacity * 16);
    const index = capacity * 4 > 65535 ? new Uint32Array(capacity * 6) : new Uint16Array(capacity * 6);
    for (let i = 0; i < capacity; i++) {
      const v = i * 4, o = i * 6;
      index[o] = v; index[o + 1] = v + 1; index[o + 2] = v + 2;
      index[o + 3] = v; index[o + 4] = v + 2; index[o + 5] = v + 3;
    }
    this.geometry = new BufferGeometry();
    this.posAttr = new BufferAttribute(this.pos, 3).setUsage(DynamicDrawUsage);
    this.uvAttr = new BufferAttribute(this.uv, 2).setUsage(DynamicDrawUsage);
    this.colAttr = new BufferAttribute(this.col, 4).setUsage(DynamicDrawUsage);
    this.geometry.setAttribute("position", this.posAttr);
    this.geometry.setAttribute("uv", this.uvAttr);
    this.geometry.setAttribute("color", this.colAttr);
    this.geometry.setIndex(new BufferAttribute(index, 1));
    this.geometry.setDrawRange(0, 0);
    this.material = new MeshBasicMaterial({
      map: atlas.texture, vertexColors: true, transparent: true, depthWrite: false,
      blending: additive ? AdditiveBlending : NormalBlending, side: DoubleSide, forceSinglePass: true,
    });
    this.mesh = new Mesh(this.geometry, this.material);
    this.mesh.frustumCulled = false;
  }

  begin(): void { this.n = 0; }

  get count(): number { return this.n; }

  /** push() for code outside the frame loop. */
  push(x: number, y: number, z: number, w: number, h: number,
    px: number, py: number, pw: number, ph: number,
    r: number, g: number, b: number, a: number): void {
    const q = this.q;
    q[0] = x; q[1] = y; q[2] = z; q[3] = w; q[4] = h; q[5] = px; q[6] = py; q[7] = pw; q[8] = ph;
    q[9] = r; q[10] = g; q[11] = b; q[12] = a;
    this.add();
  }

  /**
   * Adds the quad described in q: centred at (x, y, z), w by h world units,
   * showing atlas pixels [px, px+pw) x [py, py+ph), tinted (r, g, b, a). The
   * frame loop fills q rather than passing 13 numbers: a call that is not
   * inlined boxes every double argument.
   */
  add(): void {
    const i = this.n;
    if (i >= this.capacity) return;
    this.n = i + 1;
    const q = this.q, x = q[0], y = q[1], z = q[2], w = q[3], h = q[4], px = q[5], py = q[6], pw = q[7], ph = q[8];
    const r = q[9], g = q[10], b = q[11], a = q[12];
    const hw = w * 0.5, hh = h * 0.5;
    const ax = this.rx * hw, ay = this.ry * hw, az = this.rz * hw;
    const bx = this.ux * hh, by = this.uy * hh, bz = this.uz * hh;
    const p = this.pos, o = i * 12;
    p[o] = x - ax - bx; p[o + 1] = y - ay - by; p[o + 2] = z - az - bz;
    p[o + 3] = x + ax - bx; p[o + 4] = y + ay - by; p[o + 5] = z + az - bz;
    p[o + 6] = x + ax + bx; p[o + 7] = y + ay + by; p[o + 8] = z + az + bz;
    p[o + 9] = x - ax + bx; p[o + 10] = y - ay + by; p[o + 11] = z - az + bz;
    const W = this.atlas.width, H = this.atlas.height;
    // The atlas is not flipped: canvas row py is texture row py (v = py / H); the quad's bottom shows the slot's bottom.
    const u0 = px / W, u1 = (px + pw) / W, v0 = (py + ph) / H, v1 = py / H;
    const t = this.uv, e = i * 8;
    t[e] = u0; t[e + 1] = v0; t[e + 2] = u1; t[e + 3] = v0;
    t[e + 4] = u1; t[e + 5] = v1; t[e + 6] = u0; t[e + 7] = v1;
    const c = this.col, k = i * 16;
    for (let j = 0; j < 16; j += 4) { c[k + j] = r; c[k + j + 1] = g; c[k + j + 2] = b; c[k + j + 3] = a; }
  }

  /** Draws the quads pushed since begin(); uploads only those. */
  end(): void {
    const n = this.n;
    this.geometry.setDrawRange(0, n * 6);
    this.mesh.visible = n > 0;
    if (n === 0) return;
    upload(this.posAttr, n * 12);
    upload(this.uvAttr, n * 8);
    upload(this.colAttr, n * 16);
  }

  dispose(): void {
    this.geometry.dispose();
    this.material.dispose();
  }
}

/** Rounded rectangle path (ctx.roundRect is recent; this works everywhere). */
export function roundRect(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number, r: number): void {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}
