/**
 * Reader for the IDX format of MNIST-like datasets (http://yann.lecun.com/exdb/mnist/):
 * a 4-byte magic number [0, 0, type, ndims], ndims big-endian uint32 sizes, then the data in
 * row-major order, big-endian for multi-byte types. Files may be gzipped.
 */
import { DataError } from './types.js';
import { gunzipOrThrow, isGzip, readFileOrThrow } from './fsutil.js';

/** Element types of IDX files, by their type byte. */
export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

const TYPES: Record<number, { type: IdxType; size: number }> = {
  0x08: { type: 'uint8', size: 1 },
  0x09: { type: 'int8', size: 1 },
  0x0b: { type: 'int16', size: 2 },
  0x0c: { type: 'int32', size: 4 },
  0x0d: { type: 'float32', size: 4 },
  0x0e: { type: 'float64', size: 8 },
};

/** A parsed IDX array. */
export interface IdxArray {
  type: IdxType;
  dims: number[];
  /** The values in native order; uint8 data is a fresh copy owned by the caller. */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** Parses IDX bytes (already gunzipped). `file` is used in error messages. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) throw new DataError(`${file}: not an IDX file (only ${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const spec = TYPES[bytes[2]!];
  if (bytes[0] !== 0 || bytes[1] !== 0 || !spec) {
    const magic = view.getUint32(0).toString(16).padStart(8, '0');
    throw new DataError(`${file}: bad IDX magic number 0x${magic} (expected 0x000008NN-style header)`);
  }
  const ndims = bytes[3]!;
  if (ndims === 0) throw new DataError(`${file}: bad IDX header: zero dimensions`);
  const headerLen = 4 + 4 * ndims;
  if (bytes.length < headerLen) throw new DataError(`${file}: truncated IDX header`);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i);
    dims.push(d);
    count *= d;
  }
  const expected = headerLen + count * spec.size;
  if (bytes.length < expected) {
    throw new DataError(`${file}: truncated IDX data: dims [${dims.join(', ')}] need ${expected} bytes, file has ${bytes.length}`);
  }
  if (bytes.length > expected) {
    throw new DataError(`${file}: IDX size mismatch: dims [${dims.join(', ')}] need ${expected} bytes, file has ${bytes.length}`);
  }
  const body = bytes.subarray(headerLen, expected);
  let data: IdxArray['data'];
  switch (spec.type) {
    case 'uint8':
      data = Uint8Array.from(body);
      break;
    case 'int8':
      data = new Int8Array(Uint8Array.from(body).buffer);
      break;
    default: {
      const n = count;
      const out =
        spec.type === 'int16'
          ? new Int16Array(n)
          : spec.type === 'int32'
            ? new Int32Array(n)
            : spec.type === 'float32'
              ? new Float32Array(n)
              : new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const o = headerLen + i * spec.size;
        out[i] =
          spec.type === 'int16'
            ? view.getInt16(o)
            : spec.type === 'int32'
              ? view.getInt32(o)
              : spec.type === 'float32'
                ? view.getFloat32(o)
                : view.getFloat64(o);
      }
      data = out;
    }
  }
  return { type: spec.type, dims, data };
}

/** Reads an IDX file from disk, gunzipping it first if it is gzipped. */
export function readIdx(path: string): IdxArray {
  let bytes: Uint8Array = readFileOrThrow(path, 'IDX file');
  if (isGzip(bytes)) bytes = gunzipOrThrow(bytes, path);
  return parseIdx(bytes, path);
}

/**
 * Reads an IDX image file ([N, H, W] uint8) and its label file ([N] uint8) into one dataset part.
 * Checks shapes, counts and the label range.
 */
export function readIdxImagesAndLabels(
  imagesPath: string,
  labelsPath: string,
  numClasses: number,
): { count: number; height: number; width: number; images: Uint8Array; labels: Int32Array } {
  const img = readIdx(imagesPath);
  if (img.type !== 'uint8' || img.dims.length !== 3) {
    throw new DataError(`${imagesPath}: expected uint8 images of shape [N, H, W], got ${img.type} [${img.dims.join(', ')}]`);
  }
  const lab = readIdx(labelsPath);
  if (lab.type !== 'uint8' || lab.dims.length !== 1) {
    throw new DataError(`${labelsPath}: expected uint8 labels of shape [N], got ${lab.type} [${lab.dims.join(', ')}]`);
  }
  const [count, height, width] = img.dims as [number, number, number];
  if (lab.dims[0] !== count) {
    throw new DataError(`${labelsPath}: ${lab.dims[0]} labels for ${count} images in ${imagesPath}`);
  }
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = lab.data[i]!;
    if (v >= numClasses) throw new DataError(`${labelsPath}: label ${v} at index ${i} is out of range 0..${numClasses - 1}`);
    labels[i] = v;
  }
  return { count, height, width, images: img.data as Uint8Array, labels };
}

/** Pads every image plane of `src` ([N, C, H, W]) with `pad` zero pixels on every side. */
export function padImages(src: Uint8Array, count: number, channels: number, height: number, width: number, pad: number): Uint8Array {
  if (pad === 0) return src;
  const oh = height + 2 * pad;
  const ow = width + 2 * pad;
  const out = new Uint8Array(count * channels * oh * ow);
  const planes = count * channels;
  for (let p = 0; p < planes; p++) {
    const s = p * height * width;
    const d = p * oh * ow;
    for (let y = 0; y < height; y++) {
      out.set(src.subarray(s + y * width, s + (y + 1) * width), d + (y + pad) * ow + pad);
    }
  }
  return out;
}
