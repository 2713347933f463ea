// Low-poly geometry with shading baked into vertex colours: the scene needs no
// lights, and MeshBasicMaterial costs the same in WebGL and WebGPU.
import { BufferGeometry, Float32BufferAttribute, CylinderGeometry, OctahedronGeometry, BoxGeometry } from "./three.js";

const LX = 0.35, LY = 0.8, LZ = 0.48; // light direction (normalised below)
const LN = Math.hypot(LX, LY, LZ);

/** Flat-shaded: non-indexed, one normal per face, colour = ambient + diffuse + height glow. */
export function baked(g: BufferGeometry, ambient = 0.45, diffuse = 0.55, rim = 0): BufferGeometry {
  const flat = g.index ? g.toNonIndexed() : g;
  if (flat !== g) g.dispose();
  flat.deleteAttribute("normal");
  flat.deleteAttribute("uv");
  flat.computeVertexNormals();
  const pos = flat.getAttribute("position");
  const nrm = flat.getAttribute("normal");
  const col = new Float32Array(pos.count * 3);
  let maxY = 0.0001;
  for (let i = 0; i < pos.count; i++) maxY = Math.max(maxY, pos.getY(i));
  for (let i = 0; i < pos.count; i++) {
    const d = Math.max(0, (nrm.getX(i) * LX + nrm.getY(i) * LY + nrm.getZ(i) * LZ) / LN);
    const s = ambient + diffuse * d + rim * (pos.getY(i) / maxY);
    col[i * 3] = col[i * 3 + 1] = col[i * 3 + 2] = s;
  }
  flat.setAttribute("color", new Float32BufferAttribute(col, 3));
  flat.deleteAttribute("normal");
  return flat;
}

/** Concatenates non-indexed geometries that have position and color. */
export function merge(parts: BufferGeometry[]): BufferGeometry {
  let n = 0;
  for (const p of parts) n += p.getAttribute("position").count;
  const pos = new Float32Array(n * 3), col = new Float32Array(n * 3);
  let o = 0;
  for (const p of parts) {
    const pa = p.getAttribute("position").array as Float32Array;
    const ca = p.getAttribute("color").array as Float32Array;
    pos.set(pa, o); col.set(ca, o); o += pa.length;
    p.dispose();
  }
  const g = new BufferGeometry();
  g.setAttribute("position", new Float32BufferAttribute(pos, 3));
  g.setAttribute("color", new Float32BufferAttribute(col, 3));
  g.computeBoundingSphere();
  return g;
}

/** A human: a six-sided tapered body (no bottom: never seen) and a faceted head. 26 triangles. */
export function humanGeometry(): BufferGeometry {
  const body = new CylinderGeometry(0.2, 0.36, 1.1, 6, 1, true);
  body.translate(0, 0.55, 0);
  const top = new CylinderGeometry(0.2, 0.2, 0.001, 6, 1);
  dropBottom(top);
  top.translate(0, 1.1, 0);
  const head = new OctahedronGeometry(0.27, 0);
  head.rotateY(Math.PI / 4);
  head.translate(0, 1.42, 0);
  return merge([baked(body, 0.62, 0.5), baked(top, 0.62, 0.5), baked(head, 0.68, 0.45)]);
}

/** A far human (level of detail): a four-sided pyramid and a small head. 12 triangles. */
export function humanFarGeometry(): BufferGeometry {
  const body = new CylinderGeometry(0.04, 0.38, 1.3, 4, 1, true);
  body.translate(0, 0.65, 0);
  const head = new OctahedronGeometry(0.27, 0);
  head.translate(0, 1.42, 0);
  return merge([baked(body, 0.62, 0.5), baked(head, 0.68, 0.45)]);
}

/** A far agent: the crystal alone. 8 triangles. */
export function agentFarGeometry(): BufferGeometry {
  const crystal = new OctahedronGeometry(0.42, 0);
  crystal.scale(0.9, 1.55, 0.9);
  crystal.translate(0, 1.15, 0);
  return merge([baked(crystal, 0.62, 0.5)]);
}

/** Keeps only the triangles of a closed cylinder facing up (its top cap). */
function dropBottom(g: BufferGeometry): void {
  const flat = g.toNonIndexed();
  const p = flat.getAttribute("position");
  const keep: number[] = [];
  for (let t = 0; t < p.count; t += 3) {
    const y = p.getY(t) + p.getY(t + 1) + p.getY(t + 2);
    if (y > 0 && Math.abs(p.getY(t) - p.getY(t + 1)) < 1e-6 && Math.abs(p.getY(t) - p.getY(t + 2)) < 1e-6) {
      for (let k = 0; k < 3; k++) keep.push(p.getX(t + k), p.getY(t + k), p.getZ(t + k));
    }
  }
  for (const name of Object.keys(g.attributes)) g.deleteAttribute(name);
  g.setIndex(null);
  g.setAttribute("position", new Float32BufferAttribute(keep, 3));
  flat.dispose();
}

/** An agent: a tall floating crystal (two stacked octahedra) over a small base shard. */
export function agentGeometry(): BufferGeometry {
  const crystal = new OctahedronGeometry(0.42, 0);
  crystal.scale(0.9, 1.55, 0.9);
  crystal.translate(0, 1.15, 0);
  const shard = new OctahedronGeometry(0.16, 0);
  shard.translate(0, 0.25, 0);
  return merge([baked(crystal, 0.62, 0.5), baked(shard, 0.75, 0.3)]);
}

/** The "you" marker: a small downward cone above the head. */
export function markerGeometry(): BufferGeometry {
  const g = new CylinderGeometry(0.16, 0.0, 0.32, 4, 1);
  return baked(g, 0.7, 0.3);
}


/** A portal frame: two posts and a lintel, 2.2 m wide, 3 m tall, in the xy plane facing +z. */
export function portalFrameGeometry(w: number, h: number): BufferGeometry {
  const t = 0.12;
  const l = new BoxGeometry(t, h, t); l.translate(-w / 2, h / 2, 0);
  const r = new BoxGeometry(t, h, t); r.translate(w / 2, h / 2, 0);
  const top = new BoxGeometry(w + t, t, t); top.translate(0, h, 0);
  return merge([baked(l, 0.8, 0.2), baked(r, 0.8, 0.2), baked(top, 0.8, 0.2)]);
}

/** A vertical quad with colour fading upward (RGBA vertex colours), facing +z, base at y = 0. */
export function glowQuad(w: number, h: number, a0: number, a1: number): BufferGeometry {
  const g = new BufferGeometry();
  g.setAttribute("position", new Float32BufferAttribute([-w / 2, 0, 0, w / 2, 0, 0, w / 2, h, 0, -w / 2, h, 0], 3));
  g.setAttribute("color", new Float32BufferAttribute([1, 1, 1, a0, 1, 1, 1, a0, 1, 1, 1, a1, 1, 1, 1, a1], 4));
  g.setIndex([0, 1, 2, 0, 2, 3]);
  return g;
}
