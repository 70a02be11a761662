/**
 * A PNG encoder for 8-bit gray, RGB and RGBA images (PNG spec, ISO/IEC 15948): signature,
 * IHDR, one IDAT (zlib via node:zlib), IEND; every chunk with its CRC-32. Each row gets the
 * filter (None, Sub, Up, Average, Paeth) with the smallest sum of absolute residuals, the usual
 * heuristic of libpng.
 */
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { crc32 } from './crc32.js';

/** Channels per pixel: 1 gray, 3 RGB, 4 RGBA. */
export type PngChannels = 1 | 3 | 4;

const COLOR_TYPE: Record<PngChannels, number> = { 1: 0, 3: 2, 4: 6 };
const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Filters the image rows: each row becomes [filter type, residual bytes...]. */
function filterRows(px: Uint8Array, width: number, height: number, bpp: number): Uint8Array {
  const stride = width * bpp;
  const out = new Uint8Array(height * (stride + 1));
  const cand = Array.from({ length: 5 }, () => new Uint8Array(stride));
  const zero = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = px.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? px.subarray((y - 1) * stride, y * stride) : zero;
    let best = 0;
    let bestScore = Infinity;
    for (let f = 0; f < 5; f++) {
      const c = cand[f]!;
      let score = 0;
      for (let i = 0; i < stride; i++) {
        const a = i >= bpp ? row[i - bpp]! : 0;
        const b = up[i]!;
        const cc = i >= bpp ? up[i - bpp]! : 0;
        const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : paeth(a, b, cc);
        const r = (row[i]! - pred) & 0xff;
        c[i] = r;
        score += r < 128 ? r : 256 - r;
      }
      if (score < bestScore) {
        bestScore = score;
        best = f;
      }
    }
    out[y * (stride + 1)] = best;
    out.set(cand[best]!, y * (stride + 1) + 1);
  }
  return out;
}

/**
 * Encodes interleaved 8-bit pixels (row-major, HWC: `height*width*channels` bytes) as a PNG file.
 * @example encodePng(new Uint8Array([0, 255]), 2, 1, 1) // a 2x1 black-and-white PNG
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: PngChannels, level = 6): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodePng: width and height must be positive integers, got ${width}x${height}`);
  }
  if (!(channels in COLOR_TYPE)) throw new RangeError(`encodePng: channels must be 1, 3 or 4, got ${channels}`);
  if (pixels.length !== width * height * channels) {
    throw new RangeError(`encodePng: expected ${width * height * channels} bytes for ${width}x${height}x${channels}, got ${pixels.length}`);
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOR_TYPE[channels];
  // compression 0, filter method 0, interlace 0
  const z = deflateSync(filterRows(pixels, width, height, channels), { level });
  const idat = new Uint8Array(z.buffer as ArrayBuffer, z.byteOffset, z.byteLength);
  const parts = [Uint8Array.from(SIGNATURE), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Encodes and writes a PNG file. */
export function writePng(path: string, pixels: Uint8Array, width: number, height: number, channels: PngChannels): void {
  writeFileSync(path, encodePng(pixels, width, height, channels));
}

/** Converts planar CHW bytes of one image to interleaved HWC. */
export function chwToHwc(src: Uint8Array, channels: number, height: number, width: number): Uint8Array {
  const out = new Uint8Array(channels * height * width);
  const plane = height * width;
  for (let c = 0; c < channels; c++) for (let i = 0; i < plane; i++) out[i * channels + c] = src[c * plane + i]!;
  return out;
}
