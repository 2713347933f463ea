// Procedural glow sprites in one small atlas: round glow (chat pulses), diamond
// glow (command and result pulses), a ring (trust markers, shock waves).
import { Atlas } from "./atlas.js";

export const GLOW_ORB = 0, GLOW_DIAMOND = 1, GLOW_RING = 2, GLOW_RING_SOFT = 3;
export const GLOW_PX = 128;

export function glowAtlas(): Atlas {
  const a = new Atlas(GLOW_PX * 4, GLOW_PX, GLOW_PX, GLOW_PX, true);
  const ctx = a.ctx, h = GLOW_PX / 2;
  ctx.clearRect(0, 0, a.width, a.height);
  // Orb: a hot core with a soft halo.
  let g = ctx.createRadialGradient(h, h, 0, h, h, h);
  g.addColorStop(0, "rgba(255,255,255,1)");
  g.addColorStop(0.18, "rgba(255,255,255,0.95)");
  g.addColorStop(0.4, "rgba(255,255,255,0.35)");
  g.addColorStop(1, "rgba(255,255,255,0)");
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, GLOW_PX, GLOW_PX);
  // Diamond: a solid rhombus inside a halo.
  const x1 = GLOW_PX;
  g = ctx.createRadialGradient(x1 + h, h, 0, x1 + h, h, h);
  g.addColorStop(0, "rgba(255,255,255,0.5)");
  g.addColorStop(1, "rgba(255,255,255,0)");
  ctx.fillStyle = g;
  ctx.fillRect(x1, 0, GLOW_PX, GLOW_PX);
  ctx.beginPath();
  ctx.moveTo(x1 + h, h - 34); ctx.lineTo(x1 + h + 26, h); ctx.lineTo(x1 + h, h + 34); ctx.lineTo(x1 + h - 26, h);
  ctx.closePath();
  ctx.fillStyle = "rgba(255,255,255,1)";
  ctx.fill();
  // Ring: crisp, with a faint glow either side.
  ring(ctx, 2 * GLOW_PX + h, h, h - 9, 5, 0.95);
  // Soft ring: a wide band for shock waves.
  ring(ctx, 3 * GLOW_PX + h, h, h - 16, 14, 0.6);
  a.all();
  a.flush();
  return a;
}

function ring(ctx: CanvasRenderingContext2D, cx: number, cy: number, r: number, w: number, alpha: number): void {
  const g = ctx.createRadialGradient(cx, cy, Math.max(0, r - w * 1.6), cx, cy, r + w * 1.6);
  g.addColorStop(0, "rgba(255,255,255,0)");
  g.addColorStop(0.5, `rgba(255,255,255,${alpha})`);
  g.addColorStop(1, "rgba(255,255,255,0)");
  ctx.fillStyle = g;
  ctx.beginPath();
  ctx.arc(cx, cy, r + w * 1.6, 0, Math.PI * 2);
  ctx.fill();
}
