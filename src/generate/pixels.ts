/**
 * Images as canvas pixels: NCHW floats in [-1, 1] to RGBA bytes, the same 8-bit mapping as
 * src/image/grid.ts toByte (round((x + 1) 127.5), clamped; test/generate.test.ts holds them equal),
 * kept here because grid.ts also writes files and cannot go into a browser bundle.
 */
import type { Images } from './generator.js';

/** One float in [-1, 1] as a byte. */
export function floatToByte(x: number): number {
  const v = Math.round((x + 1) * 127.5);
  return v > 255 ? 255 : v >= 0 ? v : 0;
}

/** Image `index` of a batch as RGBA bytes [H, W, 4] (gray images repeat their one channel; alpha 255). */
export function imageToRgba(images: Images, index: number): Uint8ClampedArray<ArrayBuffer> {
  const [n, C, H, W] = images.shape;
  if (!Number.isSafeInteger(index) || index < 0 || index >= n) throw new RangeError(`imageToRgba: index must be in [0, ${n - 1}], got ${index}`);
  if (C !== 1 && C !== 3) throw new RangeError(`imageToRgba: images must have 1 or 3 channels, got ${C}`);
  const plane = H * W;
  const base = index * C * plane;
  const out = new Uint8ClampedArray(plane * 4);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[p * 4 + c] = floatToByte(images.data[base + (C === 1 ? 0 : c) * plane + p]!);
    out[p * 4 + 3] = 255;
  }
  return out;
}

/** Where image i sits in a grid of `columns` columns with `pad` pixels between and around the images. */
export function gridCell(i: number, columns: number, side: number, pad: number): { x: number; y: number } {
  return { x: pad + (i % columns) * (side + pad), y: pad + Math.floor(i / columns) * (side + pad) };
}
