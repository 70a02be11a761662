/**
 * PNG encoding of 8-bit gray, RGB and RGBA images through pngjs (a maintained encoder; its
 * adaptive per-row filter choice is libpng's heuristic), behind the names the rest of the code uses.
 */
import { writeFileSync } from 'node:fs';
import pngjs from 'pngjs';

/** Channels per pixel: 1 gray, 3 RGB, 4 RGBA. */
export type PngChannels = 1 | 3 | 4;

/** PNG colour types (PNG spec, ISO/IEC 15948, 11.2.2): 0 gray, 2 RGB, 6 RGBA. */
const COLOR_TYPE: Record<PngChannels, 0 | 2 | 6> = { 1: 0, 3: 2, 4: 6 };

function isChannels(c: number): c is PngChannels {
  return c === 1 || c === 3 || c === 4;
}

/**
 * Encodes interleaved 8-bit pixels (row-major, HWC: `height*width*channels` bytes) as a PNG file.
 * @example encodePng(new Uint8Array([0, 255]), 2, 1, 1) // a 2x1 black-and-white PNG
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: PngChannels, level = 6): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodePng: width and height must be positive integers, got ${width}x${height}`);
  }
  if (!isChannels(channels)) throw new RangeError(`encodePng: channels must be 1, 3 or 4, got ${String(channels)}`);
  if (pixels.length !== width * height * channels) {
    throw new RangeError(`encodePng: expected ${width * height * channels} bytes for ${width}x${height}x${channels}, got ${pixels.length}`);
  }
  const colorType = COLOR_TYPE[channels];
  // Made without a size, a PNG allocates no pixel buffer of its own; it gets a view of `pixels`.
  const image = new pngjs.PNG();
  image.width = width;
  image.height = height;
  image.data = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  const png = pngjs.PNG.sync.write(image, { colorType, inputColorType: colorType, inputHasAlpha: channels === 4, bitDepth: 8, deflateLevel: level });
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
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
