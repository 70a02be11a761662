/**
 * A dataset from any folder of PNG and JPEG images (searched recursively, in sorted path order
 * so the dataset is the same on every machine). Each image is decoded (pngjs, jpeg-js), turned
 * into 8-bit RGB (gray is replicated, alpha is dropped, 16-bit is rescaled), center-cropped to a
 * square and resized to size x size.
 *
 * With `labels: 'folders'`, images directly under sub-folders of the root are labelled by the
 * sorted sub-folder names (the ImageFolder convention); otherwise the dataset is unlabelled.
 */
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import pngjs from 'pngjs';
import jpeg from 'jpeg-js';
import { DataError, describeError, type ImageDataset } from './types.js';
import { readFileOrThrow, statOrNull } from './fsutil.js';
import { centerCropResize, type ResizeFilter } from '../image/resize.js';

export interface FolderOptions {
  /** The folder. */
  data: string;
  /** Output side length in pixels. Default 64. */
  size?: number;
  /** Resampling filter; default 'area'. */
  resize?: ResizeFilter;
  /** 'none' (default) or 'folders' (class = first path component under the root). */
  labels?: 'none' | 'folders';
  /** Load at most this many images (the first in sorted order). */
  limit?: number;
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

/** All PNG/JPEG files under `dir`, recursively, sorted by path. */
export function listImageFiles(dir: string): string[] {
  const st = statOrNull(dir);
  if (!st?.isDirectory()) throw new DataError(`${dir}: image folder not found`);
  const out: string[] = [];
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch (err) {
      throw new DataError(`${d}: cannot list folder (${describeError(err)})`);
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const p = join(d, name);
      const s = statOrNull(p);
      if (s?.isDirectory()) walk(p);
      else if (s?.isFile() && IMAGE_EXT.test(name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A decoded image: planar RGB bytes. */
export interface DecodedImage {
  width: number;
  height: number;
  /** 3*H*W bytes, CHW. */
  rgb: Uint8Array;
}

/** Bits per pixel of a PNG colour type at a bit depth (PNG spec, ISO/IEC 15948, 11.2.2); 0 if the pair is not valid. */
function pngBitsPerPixel(colorType: number, bitDepth: number): number {
  const samples: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
  const s = samples[colorType];
  return s === undefined || ![1, 2, 4, 8, 16].includes(bitDepth) ? 0 : s * bitDepth;
}

/** Width and height a JPEG's start-of-frame marker declares, or null when there is none before the scan. */
function jpegFrameSize(b: Uint8Array): { width: number; height: number } | null {
  let p = 2;
  while (p + 9 <= b.length && b[p] === 0xff) {
    const marker = b[p + 1]!;
    if (marker === 0xda) return null; // start of scan: no frame header came first
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: (b[p + 5]! << 8) | b[p + 6]!, width: (b[p + 7]! << 8) | b[p + 8]! };
    }
    p += 2 + len;
  }
  return null;
}

/**
 * Refuses images whose header declares more pixels than the file can hold, before a decoder
 * allocates them (a 68-byte PNG claiming 20000x20000 made pngjs allocate 5 GB). Bounds: PNG rows
 * are deflated and deflate expands at most 1032:1; a JPEG spends at least one bit on each 8x8 block
 * of each component, so at most 512 pixels per byte.
 */
function checkDeclaredSize(bytes: Uint8Array, isPng: boolean, file: string): void {
  let width: number;
  let height: number;
  let rawBytes: number;
  let limit: number;
  if (isPng) {
    if (bytes.length < 33 || Buffer.from(bytes.buffer, bytes.byteOffset + 12, 4).toString('latin1') !== 'IHDR') {
      throw new DataError(`${file}: cannot decode image (a PNG must start with its IHDR chunk)`);
    }
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    width = v.getUint32(16);
    height = v.getUint32(20);
    const bpp = pngBitsPerPixel(bytes[25]!, bytes[24]!);
    if (bpp === 0) throw new DataError(`${file}: cannot decode image (PNG colour type ${bytes[25]!} with bit depth ${bytes[24]!} is not valid)`);
    rawBytes = height * (1 + Math.ceil((width * bpp) / 8));
    limit = 1032 * bytes.length;
  } else {
    const frame = jpegFrameSize(bytes);
    if (!frame) throw new DataError(`${file}: cannot decode image (no JPEG frame header before the image data)`);
    ({ width, height } = frame);
    rawBytes = width * height;
    limit = 512 * bytes.length + 64 * 64;
  }
  if (width < 1 || height < 1) throw new DataError(`${file}: cannot decode image (it declares ${width}x${height} pixels)`);
  if (rawBytes > limit)
    throw new DataError(`${file}: cannot decode image (it declares ${width}x${height} pixels, more than its ${bytes.length} bytes can hold)`);
}

/** Decodes PNG or JPEG bytes (detected from the signature) to planar RGB. */
export function decodeImage(bytes: Uint8Array, file: string): DecodedImage {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (isPng || isJpeg) checkDeclaredSize(bytes, isPng, file);
  let width: number;
  let height: number;
  let data: Uint8Array;
  let stride: number;
  try {
    if (isPng) {
      const img = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      ({ width, height } = img);
      data = new Uint8Array(img.data.buffer as ArrayBuffer, img.data.byteOffset, img.data.byteLength);
      stride = 4;
    } else if (isJpeg) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048 });
      ({ width, height } = img);
      data = img.data;
      stride = 3;
    } else {
      throw new Error('not a PNG or JPEG file');
    }
  } catch (err) {
    throw new DataError(`${file}: cannot decode image (${describeError(err)})`);
  }
  if (width < 1 || height < 1 || data.length < width * height * stride) {
    throw new DataError(`${file}: decoded image has no or incomplete pixel data`);
  }
  const plane = width * height;
  const rgb = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    rgb[i] = data[i * stride]!;
    rgb[plane + i] = data[i * stride + 1]!;
    rgb[2 * plane + i] = data[i * stride + 2]!;
  }
  return { width, height, rgb };
}

/** Loads a folder of images as an RGB dataset of size x size images. */
export function loadImageFolder(opts: FolderOptions): ImageDataset {
  const size = opts.size ?? 64;
  if (!Number.isInteger(size) || size < 1) throw new DataError(`${opts.data}: image size must be a positive integer, got ${size}`);
  let files = listImageFiles(opts.data);
  if (opts.limit !== undefined) files = files.slice(0, Math.max(0, opts.limit));
  if (files.length === 0) throw new DataError(`${opts.data}: no PNG or JPEG images found`);
  const px = 3 * size * size;
  const images = new Uint8Array(files.length * px);
  files.forEach((f, n) => {
    const img = decodeImage(readFileOrThrow(f, 'image'), f);
    images.set(centerCropResize(img.rgb, 3, img.height, img.width, size, size, opts.resize ?? 'area'), n * px);
  });
  let labels: Int32Array | null = null;
  let classNames: string[] | undefined;
  if (opts.labels === 'folders') {
    const cls = files.map((f) => {
      const parts = relative(opts.data, f).split(sep);
      if (parts.length < 2) throw new DataError(`${f}: with folder labels every image must be inside a class sub-folder`);
      return parts[0]!;
    });
    classNames = [...new Set(cls)].sort();
    const index = new Map(classNames.map((c, i) => [c, i]));
    labels = Int32Array.from(cls, (c) => index.get(c)!);
  }
  const ds: ImageDataset = {
    name: 'folder',
    count: files.length,
    channels: 3,
    height: size,
    width: size,
    numClasses: classNames?.length ?? 0,
    images,
    labels,
  };
  if (classNames) ds.classNames = classNames;
  return ds;
}
