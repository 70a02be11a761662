/**
 * Where the images to evaluate come from, as batches of float32 [B, 3, H, W] tensors in [0, 1]
 * on the CPU (gray images are repeated to 3 channels):
 *
 * - a folder of PNG/JPEG files (recursive, sorted by path; all the same size; decoded batch by
 *   batch, so 50,000 files never sit decoded in memory at once);
 * - an .npz or .safetensors file holding a uint8 array [N, H, W, C] (NHWC, numpy's convention) or
 *   [N, C, H, W] with C = 1 or 3 (the layout is read from where the channel axis is);
 * - a dataset split by name: `cifar10-train`, `cifar10-test`, `mnist-train`, ... (src/data).
 */
import { statSync } from 'node:fs';
import { Tensor } from '../../tensor/tensor.js';
import { tensor } from '../../tensor/creation.js';
import { tidy } from '../../tensor/scope.js';
import { DataError, type ImageDataset, type Split } from '../../data/types.js';
import { listImageFiles, decodeImage } from '../../data/folder.js';
import { readFileOrThrow } from '../../data/fsutil.js';
import { NpzFile } from '../../data/npz.js';
import { loadDataset, isDatasetName } from '../../data/index.js';
import { readSafetensorsHeader, loadSafetensors } from '../../io/safetensors.js';

/** A stream of image batches. */
export interface ImageBatchSource {
  /** What it is, for messages and the result JSON. */
  label: string;
  /** Number of images, when known in advance. */
  count: number | undefined;
  /** Float32 [B, 3, H, W] in [0, 1] on the CPU; the consumer disposes each batch. */
  batches(batchSize: number): AsyncIterable<Tensor>;
}

/** uint8 images [n, c, h, w] (or [n, h, w, c] when `nhwc`) to float32 [n, 3, h, w] in [0, 1]. */
export function uint8ToUnitImages(bytes: Uint8Array, shape: [number, number, number, number], nhwc: boolean): Tensor {
  return tidy(() => {
    let t = tensor(bytes, shape, { dtype: 'uint8', device: 'cpu' });
    if (nhwc) t = t.permute(0, 3, 1, 2);
    let x = t.toDtype('float32').div(255);
    if (x.shape[1] === 1) x = x.expand(-1, 3, -1, -1).contiguous();
    return x;
  });
}

/**
 * Generated images in [-1, 1] quantized to 8 bits the way both official consistency-model pipelines
 * store samples for FID (openai/consistency_models' image_sample.py: ((x + 1) * 127.5).clamp(0, 255)
 * .to(uint8); the JAX evaluate.py: clip((x + 1) / 2 * 255, 0, 255).astype(uint8)): truncation, in
 * float32. The FID network then sees exactly what it would see of the saved samples. A NaN is an error
 * (a uint8 cast would hide it).
 */
export function generatedToUint8(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (Number.isNaN(x)) throw new RangeError(`generatedToUint8: value ${i} of the generated images is NaN`);
    const v = Math.fround(Math.fround(x + 1) * 127.5);
    out[i] = v >= 255 ? 255 : v > 0 ? Math.trunc(v) : 0;
  }
  return out;
}

/** A source over images held in memory as uint8 (NCHW or NHWC). */
export function arraySource(
  label: string,
  data: Uint8Array,
  shape: [number, number, number, number],
  nhwc: boolean,
  limit?: number,
): ImageBatchSource {
  const [n0, d1, d2, d3] = shape;
  const n = Math.min(n0, limit ?? n0);
  const per = d1 * d2 * d3;
  return {
    label,
    count: n,
    async *batches(batchSize: number) {
      for (let i = 0; i < n; i += batchSize) {
        const b = Math.min(batchSize, n - i);
        yield uint8ToUnitImages(data.subarray(i * per, (i + b) * per), [b, d1, d2, d3], nhwc);
      }
    },
  };
}

/** A source over a loaded dataset (NCHW uint8). */
export function datasetSource(ds: ImageDataset, label: string, limit?: number): ImageBatchSource {
  return arraySource(label, ds.images, [ds.count, ds.channels, ds.height, ds.width], false, limit);
}

/** Which axis holds the channels of a 4-D image array: NHWC unless only axis 1 can. */
export function isNhwc(shape: number[], label: string): boolean {
  if (shape.length !== 4) throw new DataError(`${label}: expected a 4-D image array, got shape [${shape.join(', ')}]`);
  const c3 = shape[3] === 1 || shape[3] === 3;
  const c1 = shape[1] === 1 || shape[1] === 3;
  if (c3) return true;
  if (c1) return false;
  throw new DataError(`${label}: shape [${shape.join(', ')}] has no channel axis of size 1 or 3 (expected [N, H, W, C] or [N, C, H, W])`);
}

/** A folder of images, decoded batch by batch. */
function folderSource(dir: string, limit?: number): ImageBatchSource {
  let files = listImageFiles(dir);
  if (limit !== undefined) files = files.slice(0, limit);
  if (files.length === 0) throw new DataError(`${dir}: no PNG or JPEG images found`);
  return {
    label: dir,
    count: files.length,
    async *batches(batchSize: number) {
      let size: [number, number] | null = null;
      for (let i = 0; i < files.length; i += batchSize) {
        const chunk = files.slice(i, i + batchSize);
        const decoded = chunk.map((f) => decodeImage(readFileOrThrow(f, 'image'), f));
        for (const [k, img] of decoded.entries()) {
          if (size === null) size = [img.height, img.width];
          if (img.height !== size[0] || img.width !== size[1]) {
            throw new DataError(
              `${chunk[k]}: image is ${img.width}x${img.height}, the first image was ${size[1]}x${size[0]}; all images must have one size`,
            );
          }
        }
        const [h, w] = size!;
        const plane = 3 * h * w;
        const bytes = new Uint8Array(decoded.length * plane);
        decoded.forEach((img, k) => bytes.set(img.rgb, k * plane));
        yield uint8ToUnitImages(bytes, [decoded.length, 3, h, w], false);
      }
    },
  };
}

function npzSource(path: string, limit?: number): ImageBatchSource {
  const f = NpzFile.open(path);
  try {
    const candidates = f.names.filter((n) => {
      const h = f.header(n);
      return h.shape.length === 4 && /^[|<>=]u1$/.test(h.dtype);
    });
    const name = candidates.find((n) => n === 'arr_0' || n === 'arr_0.npy') ?? (candidates.length === 1 ? candidates[0] : undefined);
    if (!name) {
      throw new DataError(
        candidates.length === 0
          ? `${path}: no 4-D uint8 image array in the .npz (arrays: ${f.names.join(', ')})`
          : `${path}: several 4-D uint8 arrays (${candidates.join(', ')}); store the images as arr_0`,
      );
    }
    const arr = f.read(name);
    if (arr.fortranOrder) throw new DataError(`${path}:${name}: Fortran-ordered arrays are not supported`);
    const shape = arr.shape as [number, number, number, number];
    return arraySource(`${path}:${name}`, arr.data, shape, isNhwc(shape, `${path}:${name}`), limit);
  } finally {
    f.close();
  }
}

function safetensorsSource(path: string, limit?: number): ImageBatchSource {
  const header = readSafetensorsHeader(path);
  const images = header.tensors.filter((t) => t.shape.length === 4 && t.dtype === 'uint8');
  const pick = images.find((t) => t.name === 'images' || t.name === 'samples') ?? (images.length === 1 ? images[0] : undefined);
  if (!pick) {
    throw new DataError(
      images.length === 0
        ? `${path}: no 4-D uint8 image tensor (tensors: ${header.tensors.map((t) => `${t.name} ${t.dtype} [${t.shape.join(', ')}]`).join('; ')})`
        : `${path}: several 4-D uint8 tensors (${images.map((t) => t.name).join(', ')}); name the images 'images'`,
    );
  }
  const { tensors } = loadSafetensors(path, { device: 'cpu' });
  const t = tensors.get(pick.name)!;
  const data = t.bytes();
  for (const x of tensors.values()) x.dispose();
  const shape = pick.shape as [number, number, number, number];
  return arraySource(`${path}:${pick.name}`, data, shape, isNhwc(shape, `${path}:${pick.name}`), limit);
}

export interface OpenImagesOptions {
  /** Use at most this many images (the first ones). */
  limit?: number | undefined;
  /** For dataset names: where the data are (archive or folder; default: the data layer's default). */
  data?: string | undefined;
  warn?: (message: string) => void;
}

/** A dataset split name like 'cifar10-train', or null. */
export function parseDatasetSplit(spec: string): { name: string; split: Split } | null {
  const m = /^(.+)-(train|test)$/.exec(spec);
  if (!m || !isDatasetName(m[1]!) || m[1] === 'folder') return null;
  return { name: m[1], split: m[2] === 'test' ? 'test' : 'train' };
}

/** Opens an image source from a folder, an .npz / .safetensors file, or a dataset split name. */
export async function openImageSource(spec: string, o: OpenImagesOptions = {}): Promise<ImageBatchSource> {
  const ds = parseDatasetSplit(spec);
  const st = statSync(spec, { throwIfNoEntry: false });
  if (ds && !st) {
    const name = ds.name as Parameters<typeof loadDataset>[0];
    const loaded = await loadDataset(name, { split: ds.split, ...(o.data !== undefined && { data: o.data }), ...(o.warn && { warn: o.warn }) });
    return datasetSource(loaded, spec, o.limit);
  }
  if (!st)
    throw new DataError(`${spec}: not found (expected a folder of images, an .npz or .safetensors file, or a dataset split such as cifar10-train)`);
  if (st.isDirectory()) return folderSource(spec, o.limit);
  if (spec.endsWith('.npz')) return npzSource(spec, o.limit);
  if (spec.endsWith('.safetensors')) return safetensorsSource(spec, o.limit);
  throw new DataError(`${spec}: unsupported image source (expected a folder, .npz or .safetensors)`);
}
