// Decodes a PNG screenshot (8-bit RGB or RGBA, not interlaced) and measures
// how much of it is drawn: TESTING.md's "is the canvas really drawing?".

import { inflateSync } from "node:zlib";

export interface Image { width: number; height: number; rgba: Uint8Array }

export function decodePNG(buf: Buffer): Image {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error("not a PNG");
  let pos = 8, width = 0, height = 0, type = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos), kind = buf.toString("latin1", pos + 4, pos + 8), data = buf.subarray(pos + 8, pos + 8 + len);
    if (kind === "IHDR") {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4); type = data[9];
      if (data[8] !== 8 || (type !== 2 && type !== 6) || data[12] !== 0) throw new Error("unsupported PNG (want 8-bit RGB/RGBA, not interlaced)");
    } else if (kind === "IDAT") idat.push(data);
    else if (kind === "IEND") break;
    pos += 12 + len;
  }
  const bpp = type === 6 ? 4 : 3, stride = width * bpp, raw = inflateSync(Buffer.concat(idat));
  const px = new Uint8Array(stride * height), rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)], src = y * (stride + 1) + 1, row = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? px[row + x - bpp] : 0, b = y > 0 ? px[row - stride + x] : 0, c = x >= bpp && y > 0 ? px[row - stride + x - bpp] : 0;
      let v = raw[src + x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) { const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c); v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c; }
      px[row + x] = v & 255;
    }
  }
  for (let i = 0, j = 0; i < width * height; i++, j += bpp) {
    rgba[i * 4] = px[j]; rgba[i * 4 + 1] = px[j + 1]; rgba[i * 4 + 2] = px[j + 2]; rgba[i * 4 + 3] = bpp === 4 ? px[j + 3] : 255;
  }
  return { width, height, rgba };
}

/** drawn: the share of pixels far (sum |Δrgb| > 30) from the most common colour, and the colours seen at 4 bits per channel. */
export function drawn(img: Image): { share: number; colours: number } {
  const counts = new Map<number, number>(), coarse = new Set<number>();
  const n = img.width * img.height, p = img.rgba;
  for (let i = 0; i < n * 4; i += 4) {
    const key = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    counts.set(key, (counts.get(key) ?? 0) + 1);
    coarse.add(((p[i] >> 4) << 8) | ((p[i + 1] >> 4) << 4) | (p[i + 2] >> 4));
  }
  let bg = 0, most = -1;
  for (const [k, c] of counts) if (c > most) { most = c; bg = k; }
  const br = bg >> 16, bgG = (bg >> 8) & 255, bb = bg & 255;
  let far = 0;
  for (let i = 0; i < n * 4; i += 4) if (Math.abs(p[i] - br) + Math.abs(p[i + 1] - bgG) + Math.abs(p[i + 2] - bb) > 30) far++;
  return { share: far / n, colours: coarse.size };
}
