/**
 * Just enough PNG decoding (8-bit RGB or RGBA, non-interlaced, what Chromium's screenshots are) to tell a drawn
 * page from a blank one: the distinct colours and the share of the most common one.
 */
import { inflateSync } from "node:zlib";

export interface PngColours {
  readonly width: number;
  readonly height: number;
  /** Distinct RGB colours (counting stops at 100,000). */
  readonly distinct: number;
  /** The share of pixels that have the most common colour, 0..1. */
  readonly dominantShare: number;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Decode `png` and count its colours; throws on anything but 8-bit RGB(A) without interlacing. */
export function pngColours(png: Uint8Array): PngColours {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (buf.subarray(0, 8).toString("hex") !== "89504e470d0a1a0a") throw new Error("not a PNG");
  let width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at + 8 <= buf.length; ) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString("latin1", at + 4, at + 8);
    const body = buf.subarray(at + 8, at + 8 + len);
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const depth = body[8], colourType = body[9], interlace = body[12];
      if (depth !== 8 || (colourType !== 2 && colourType !== 6) || interlace !== 0) throw new Error(`unsupported PNG: depth ${depth}, colour type ${colourType}, interlace ${interlace}`);
      channels = colourType === 6 ? 4 : 3;
    } else if (type === "IDAT") idat.push(body);
    else if (type === "IEND") break;
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const prev = new Uint8Array(stride), cur = new Uint8Array(stride);
  const counts = new Map<number, number>();
  for (let y = 0; y < height; y++) {
    const base = y * (stride + 1);
    const filter = raw[base];
    for (let x = 0; x < stride; x++) {
      const v = raw[base + 1 + x] ?? 0;
      const a = x >= channels ? (cur[x - channels] ?? 0) : 0, b = prev[x] ?? 0, c = x >= channels ? (prev[x - channels] ?? 0) : 0;
      cur[x] = (filter === 0 ? v : filter === 1 ? v + a : filter === 2 ? v + b : filter === 3 ? v + ((a + b) >> 1) : v + paeth(a, b, c)) & 0xff;
    }
    for (let x = 0; x < stride; x += channels) {
      const rgb = ((cur[x] ?? 0) << 16) | ((cur[x + 1] ?? 0) << 8) | (cur[x + 2] ?? 0);
      if (counts.size < 100_000 || counts.has(rgb)) counts.set(rgb, (counts.get(rgb) ?? 0) + 1);
    }
    prev.set(cur);
  }
  const dominant = Math.max(0, ...counts.values());
  return { width, height, distinct: counts.size, dominantShare: width * height === 0 ? 1 : dominant / (width * height) };
}
