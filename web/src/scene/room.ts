// One room's static dressing: the glowing grid floor, walls of light, the room's
// name and the portals. Everything here is created by setRoom and disposed by
// the next setRoom (or dispose).
import {
  BufferGeometry, Float32BufferAttribute, LineSegments, LineBasicMaterial, Mesh, MeshBasicMaterial,
  InstancedMesh, Object3D, AdditiveBlending, DoubleSide,
} from "./three.js";
import { Atlas, QuadBatch, roundRect } from "./atlas.js";
import { portalFrameGeometry, glowQuad } from "./geom.js";
import type { PortalInfo, RoomInfo } from "./types.js";

export const PORTAL_W = 2.2, PORTAL_H = 3;
const MAX_PORTALS = 32;

export interface PortalPlace { id: string; name: string; x: number; z: number; nx: number; nz: number }

export class Room {
  readonly half: number;
  readonly portals: PortalPlace[] = [];
  private readonly objects: (Mesh | LineSegments | InstancedMesh)[] = [];
  private readonly disposables: { dispose(): void }[] = [];

  constructor(private readonly scene: Object3D, readonly info: RoomInfo, portals: PortalInfo[]) {
    const h = (this.half = Math.max(2, (info.size || 40) / 2));
    this.lines(h);
    this.walls(h);
    this.title(h, info.name);
    this.placePortals(h, portals.slice(0, MAX_PORTALS));
  }

  private add(o: Mesh | LineSegments | InstancedMesh, ...d: { dispose(): void }[]): void {
    o.frustumCulled = false;
    this.scene.add(o);
    this.objects.push(o);
    this.disposables.push(...d);
  }

  /** Grid lines (1 m faint, 5 m bright), the floor's edge and light curtains up the walls: one draw call. */
  private lines(h: number): void {
    const p: number[] = [], c: number[] = [];
    const seg = (x0: number, y0: number, z0: number, x1: number, y1: number, z1: number, r: number, g: number, b: number, f = 1) => {
      p.push(x0, y0, z0, x1, y1, z1);
      c.push(r, g, b, r * f, g * f, b * f);
    };
    const n = Math.round(h);
    for (let i = -n; i <= n; i++) {
      const major = i % 5 === 0, edge = Math.abs(i) === n;
      const k = edge ? 1 : major ? 0.42 : 0.16;
      seg(i, 0, -h, i, 0, h, 0.1 * k, 0.75 * k, 1.0 * k);
      seg(-h, 0, i, h, 0, i, 0.1 * k, 0.75 * k, 1.0 * k);
    }
    // The spawn circle, 6 m.
    for (let i = 0; i < 32; i++) {
      const a0 = (i / 32) * Math.PI * 2, a1 = ((i + 1) / 32) * Math.PI * 2;
      seg(Math.cos(a0) * 6, 0.005, Math.sin(a0) * 6, Math.cos(a1) * 6, 0.005, Math.sin(a1) * 6, 0.08, 0.35, 0.5);
    }
    // Curtains: vertical lines every 2 m fading upward, and the top edge.
    const top = 3.2;
    for (let i = -n + 4; i <= n - 4; i += 4) {
      seg(i, 0, -h, i, top, -h, 0.15, 0.6, 1, 0);
      seg(i, 0, h, i, top, h, 0.15, 0.6, 1, 0);
      seg(-h, 0, i, -h, top, i, 0.15, 0.6, 1, 0);
      seg(h, 0, i, h, top, i, 0.15, 0.6, 1, 0);
    }
    for (const [x, z] of [[-h, -h], [h, -h], [h, h], [-h, h]]) seg(x, 0, z, x, top * 1.6, z, 0.5, 0.9, 1, 0.05);
    const g = new BufferGeometry();
    g.setAttribute("position", new Float32BufferAttribute(p, 3));
    g.setAttribute("color", new Float32BufferAttribute(c, 3));
    const m = new LineBasicMaterial({ vertexColors: true, transparent: true, blending: AdditiveBlending, depthWrite: false });
    const lines = new LineSegments(g, m);
    this.add(lines, g, m);
  }

  /** Walls of light: a translucent band on each edge, bright at the floor, fading upward. One draw call. */
  private walls(h: number): void {
    const quad = glowQuad(2 * h, 2.4, 0.32, 0);
    const qp = quad.getAttribute("position").array as Float32Array;
    const qc = quad.getAttribute("color").array as Float32Array;
    const idx = quad.getIndex()!.array;
    const p: number[] = [], c: number[] = [], ix: number[] = [];
    // North (z=-h), east (x=h), south (z=h), west (x=-h).
    const walls: [number, number, number][] = [[0, -h, 0], [h, 0, -Math.PI / 2], [0, h, Math.PI], [-h, 0, Math.PI / 2]];
    walls.forEach(([cx, cz, rot], w) => {
      const cs = Math.cos(rot), sn = Math.sin(rot);
      for (let v = 0; v < 4; v++) {
        const x = qp[v * 3], y = qp[v * 3 + 1];
        p.push(cx + x * cs, y, cz - x * sn);
        c.push(0.1, 0.55, 1, qc[v * 4 + 3]);
      }
      for (const i of idx) ix.push(i + w * 4);
    });
    quad.dispose();
    const g = new BufferGeometry();
    g.setAttribute("position", new Float32BufferAttribute(p, 3));
    g.setAttribute("color", new Float32BufferAttribute(c, 4));
    g.setIndex(ix);
    const m = new MeshBasicMaterial({ vertexColors: true, transparent: true, blending: AdditiveBlending, depthWrite: false, side: DoubleSide, forceSinglePass: true });
    const mesh = new Mesh(g, m);
    this.add(mesh, g, m);
  }

  /** The room's name, large on the north wall. */
  private title(h: number, name: string): void {
    const atlas = new Atlas(1024, 128, 1024, 128, true);
    const ctx = atlas.ctx;
    ctx.clearRect(0, 0, 1024, 128);
    ctx.font = "600 72px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.shadowColor = "rgba(80,200,255,0.9)";
    ctx.shadowBlur = 18;
    ctx.fillStyle = "#d8f4ff";
    ctx.fillText(clip(ctx, name || "room", 980), 512, 66);
    atlas.all(); atlas.flush();
    const q = new QuadBatch(1, atlas, true);
    q.rx = 1; q.ry = 0; q.rz = 0; q.ux = 0; q.uy = 1; q.uz = 0;
    q.begin();
    q.push(0, 4.2, -h + 0.05, 13.6, 1.7, 0, 0, 1024, 128, 1, 1, 1, 1);
    q.end();
    this.add(q.mesh, q, atlas);
  }

  /** Portals round-robin over the north, east, west and south walls, evenly spaced on each. */
  private placePortals(h: number, portals: PortalInfo[]): void {
    const n = portals.length;
    if (n === 0) return;
    const order: [number, number, number, number, number, number][] = [
      // centre x, z, along x, along z, normal x, normal z
      [0, -h, 1, 0, 0, 1], [h, 0, 0, 1, -1, 0], [-h, 0, 0, -1, 1, 0], [0, h, -1, 0, 0, -1],
    ];
    const perWall = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) perWall[i % 4]++;
    const frameGeo = portalFrameGeometry(PORTAL_W, PORTAL_H);
    const frameMat = new MeshBasicMaterial({ vertexColors: true, color: 0xc9a8ff });
    const frames = new InstancedMesh(frameGeo, frameMat, n);
    const innerGeo = glowQuad(PORTAL_W, PORTAL_H, 0.42, 0.06);
    const innerMat = new MeshBasicMaterial({ vertexColors: true, color: 0x8a5cff, transparent: true, blending: AdditiveBlending, depthWrite: false, side: DoubleSide, forceSinglePass: true });
    const inner = new InstancedMesh(innerGeo, innerMat, n);
    const atlas = new Atlas(1024, 512, 256, 40, true);
    const labels = new QuadBatch(n, atlas, false);
    const o = new Object3D();
    for (let i = 0; i < n; i++) {
      const w = i % 4, slot = Math.floor(i / 4);
      const [cx, cz, ax, az, nx, nz] = order[w];
      const t = ((slot + 1) / (perWall[w] + 1) - 0.5) * 2 * (h - 2);
      const x = cx + ax * t + nx * 0.15, z = cz + az * t + nz * 0.15;
      this.portals.push({ id: portals[i].id, name: portals[i].name, x, z, nx, nz });
      o.position.set(x, 0, z);
      o.rotation.set(0, Math.atan2(nx, nz), 0);
      o.updateMatrix();
      frames.setMatrixAt(i, o.matrix);
      inner.setMatrixAt(i, o.matrix);
      // Label: "⇢ name" over the lintel.
      const ctx = atlas.ctx, sx = atlas.slotX(i), sy = atlas.slotY(i);
      ctx.font = "600 24px system-ui, sans-serif";
      const text = clip(ctx, "\u21e2 " + (portals[i].name || portals[i].id), 236);
      const tw = Math.min(256, ctx.measureText(text).width + 20);
      ctx.fillStyle = "rgba(20,8,40,0.75)";
      roundRect(ctx, sx, sy + 2, tw, 36, 10); ctx.fill();
      ctx.fillStyle = "#e6d8ff"; ctx.textBaseline = "middle";
      ctx.fillText(text, sx + 10, sy + 21);
      labels.rx = nz; labels.ry = 0; labels.rz = -nx; // along the wall, readable from inside
      labels.ux = 0; labels.uy = 1; labels.uz = 0;
      labels.push(x + nx * 0.05, PORTAL_H + 0.45, z + nz * 0.05, tw / 40 * 0.55, 0.55, sx, sy, tw, 40, 1, 1, 1, 1);
    }
    labels.end();
    atlas.all(); atlas.flush();
    this.add(frames, frameGeo, frameMat);
    this.add(inner, innerGeo, innerMat);
    this.add(labels.mesh, labels, atlas);
  }

  /** Ray (origin o, direction d) against the portals; returns the hit distance or Infinity, and the index in hit[0]. */
  pickPortal(ox: number, oy: number, oz: number, dx: number, dy: number, dz: number, hit: number[]): number {
    let best = Infinity;
    hit[0] = -1;
    for (let i = 0; i < this.portals.length; i++) {
      const p = this.portals[i];
      const den = dx * p.nx + dz * p.nz;
      if (Math.abs(den) < 1e-6) continue;
      const t = ((p.x - ox) * p.nx + (p.z - oz) * p.nz) / den;
      if (t <= 0 || t >= best) continue;
      const hx = ox + dx * t - p.x, hy = oy + dy * t, hz = oz + dz * t - p.z;
      const along = hx * -p.nz + hz * p.nx;
      if (Math.abs(along) <= PORTAL_W / 2 + 0.1 && hy >= 0 && hy <= PORTAL_H + 0.8) { best = t; hit[0] = i; }
    }
    return best;
  }

  dispose(): void {
    for (const o of this.objects) {
      this.scene.remove(o);
      if (o instanceof InstancedMesh) o.dispose();
    }
    for (const d of this.disposables) d.dispose();
    this.objects.length = 0;
    this.disposables.length = 0;
  }
}

/** Shortens text with an ellipsis to fit maxW pixels in ctx's current font. */
export function clip(ctx: CanvasRenderingContext2D, text: string, maxW: number): string {
  if (ctx.measureText(text).width <= maxW) return text;
  let lo = 0, hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ctx.measureText(text.slice(0, mid) + "\u2026").width <= maxW) lo = mid; else hi = mid - 1;
  }
  return text.slice(0, lo) + "\u2026";
}
