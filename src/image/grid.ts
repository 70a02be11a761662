/**
 * Tiles N images into one grid image (like torchvision's make_grid) and writes it as a PNG.
 * Images are NCHW, either uint8 (0..255) or float in [-1, 1] (values are clamped, then mapped
 * by round((x + 1) * 127.5)).
 */
import { writeFileSync } from 'node:fs';
import { encodePng, type PngChannels } from './png.js';

export interface GridOptions {
  /** Number of images. */
  count: number;
  /** Channels per image: 1 (gray) or 3 (RGB). */
  channels: number;
  height: number;
  width: number;
  /** Images per row; default ceil(sqrt(count)). */
  columns?: number;
  /** Pixels between and around the tiles; default 2. */
  padding?: number;
  /** Gray level of the padding, 0..255; default 255 (white). */
  padValue?: number;
}

/** A grid image in interleaved HWC bytes. */
export interface GridImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: PngChannels;
}

/** Maps a float in [-1, 1] to 0..255 (clamped, rounded; NaN becomes 0). */
export function toByte(x: number): number {
  const v = Math.round((x + 1) * 127.5);
  return v > 255 ? 255 : v >= 0 ? v : 0;
}

/** Converts NCHW floats in [-1, 1] to NCHW bytes. */
export function floatImagesToUint8(images: Float32Array | Float64Array): Uint8Array {
  const out = new Uint8Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = toByte(images[i]!);
  return out;
}

/** Lays out the images in a grid with padding between and around them. */
export function makeGrid(images: Float32Array | Float64Array | Uint8Array, opts: GridOptions): GridImage {
  const { count, channels, height: h, width: w } = opts;
  if (channels !== 1 && channels !== 3) throw new RangeError(`makeGrid: channels must be 1 or 3, got ${channels}`);
  if (!(count >= 1)) throw new RangeError(`makeGrid: count must be at least 1, got ${count}`);
  const per = channels * h * w;
  if (images.length !== count * per) {
    throw new RangeError(`makeGrid: expected ${count * per} values for ${count}x${channels}x${h}x${w}, got ${images.length}`);
  }
  const bytes = images instanceof Uint8Array ? images : floatImagesToUint8(images);
  const pad = opts.padding ?? 2;
  const cols = Math.min(opts.columns ?? Math.ceil(Math.sqrt(count)), count);
  const rows = Math.ceil(count / cols);
  const W = cols * w + (cols + 1) * pad;
  const H = rows * h + (rows + 1) * pad;
  const pixels = new Uint8Array(W * H * channels).fill(opts.padValue ?? 255);
  const plane = h * w;
  for (let n = 0; n < count; n++) {
    const x0 = pad + (n % cols) * (w + pad);
    const y0 = pad + Math.floor(n / cols) * (h + pad);
    const src = n * per;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const d = ((y0 + y) * W + x0 + x) * channels;
        for (let c = 0; c < channels; c++) pixels[d + c] = bytes[src + c * plane + y * w + x]!;
      }
    }
  }
  return { pixels, width: W, height: H, channels };
}

/** Encodes a grid of images as PNG bytes. */
export function gridPng(images: Float32Array | Float64Array | Uint8Array, opts: GridOptions): Uint8Array {
  const g = makeGrid(images, opts);
  return encodePng(g.pixels, g.width, g.height, g.channels);
}

/** Writes a grid of images to a PNG file. */
export function writeGridPng(path: string, images: Float32Array | Float64Array | Uint8Array, opts: GridOptions): void {
  writeFileSync(path, gridPng(images, opts));
}
