/**
 * Downsampled ImageNet (Chrabaszcz, Loshchilov & Hutter 2017), 64x64 variant: the training set
 * is split into `train_data_batch_1.npz` ... `train_data_batch_10.npz` and the validation set is
 * `val_data.npz`. Each holds `data` (N x 3*S*S uint8, planar RGB: all R, then G, then B, rows
 * top-down, i.e. already CHW) and `labels` (N, 1-based class indices 1..1000), which become
 * 0-based here. The 'test' split is the validation file.
 *
 * The full training set (1.28 M images, 15.7 GB) does not fit in one typed array; choose batch
 * files with `batches` or cap the count with `limit`.
 */
import { readdirSync, statSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { join } from 'node:path';
import { DataError, type ImageDataset, type Split } from './types.js';
import { NpzFile, npyToInt32 } from './npz.js';
import { defaultCacheDir } from './cifar10.js';

export const IMAGENET64_CLASSES = 1000;

export interface Imagenet64Options {
  split?: Split;
  /** Folder with the .npz files (searched together with its direct subfolders). Default `<cache>/imagenet64`. */
  data?: string;
  /** Training batch numbers to load (1-based), default all found. Ignored for 'test'. */
  batches?: number[];
  /** Load at most this many images (in file order). */
  limit?: number;
}

/** Lists the .npz files of a split under `dir` and its direct subfolders, in batch order. */
export function findImagenet64Files(dir: string, split: Split, batches?: number[]): string[] {
  let top: string[];
  try {
    top = readdirSync(dir);
  } catch {
    throw new DataError(`${dir}: downsampled ImageNet folder not found (pass --data FOLDER with train_data_batch_*.npz and val_data.npz)`);
  }
  const all: string[] = [];
  for (const name of top) {
    const p = join(dir, name);
    if (name.endsWith('.npz')) all.push(p);
    else {
      try {
        if (statSync(p).isDirectory()) for (const sub of readdirSync(p)) if (sub.endsWith('.npz')) all.push(join(p, sub));
      } catch {
        /* unreadable entries are ignored */
      }
    }
  }
  const base = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
  if (split === 'test') {
    const val = all.filter((p) => base(p) === 'val_data.npz');
    if (val.length === 0) throw new DataError(`${dir}: no val_data.npz found for the 'test' split`);
    return val.slice(0, 1);
  }
  const byNum = new Map<number, string>();
  for (const p of all) {
    const m = /^train_data_batch_(\d+)\.npz$/.exec(base(p));
    if (m) byNum.set(parseInt(m[1]!, 10), p);
  }
  if (byNum.size === 0) throw new DataError(`${dir}: no train_data_batch_*.npz files found`);
  const wanted = batches ?? [...byNum.keys()].sort((a, b) => a - b);
  return wanted.map((n) => {
    const p = byNum.get(n);
    if (!p) throw new DataError(`${dir}: train_data_batch_${n}.npz not found (have ${[...byNum.keys()].sort((a, b) => a - b).join(', ')})`);
    return p;
  });
}

/** Loads downsampled ImageNet from .npz batch files. */
export function loadImagenet64(opts: Imagenet64Options = {}): ImageDataset {
  const dir = opts.data ?? join(defaultCacheDir(), 'imagenet64');
  const split = opts.split ?? 'train';
  const files = findImagenet64Files(dir, split, opts.batches);
  const limit = opts.limit ?? Infinity;

  // First pass: headers only, to size the output once.
  let side = 0;
  let total = 0;
  const counts: number[] = [];
  for (const path of files) {
    const f = NpzFile.open(path);
    try {
      const h = f.header('data');
      if (h.dtype !== '|u1' || h.shape.length !== 2 || h.fortranOrder) {
        throw new DataError(`${path}: 'data' must be a C-order uint8 array of shape (N, 3*S*S), got ${h.dtype} (${h.shape.join(', ')})`);
      }
      const s = Math.round(Math.sqrt(h.shape[1]! / 3));
      if (3 * s * s !== h.shape[1]) throw new DataError(`${path}: 'data' rows of ${h.shape[1]} bytes are not 3*S*S images`);
      if (side !== 0 && s !== side) throw new DataError(`${path}: image size ${s} differs from ${side} in earlier files`);
      side = s;
      const n = Math.min(h.shape[0]!, limit - total);
      counts.push(n);
      total += n;
    } finally {
      f.close();
    }
    if (total >= limit) break;
  }
  const px = 3 * side * side;
  if (total * px > bufferConstants.MAX_LENGTH) {
    throw new DataError(
      `${dir}: ${total} images of ${side}x${side} (${total * px} bytes) exceed the largest typed array; choose fewer batch files or set a limit`,
    );
  }
  const images = new Uint8Array(total * px);
  const labels = new Int32Array(total);
  let at = 0;
  for (let k = 0; k < counts.length; k++) {
    const path = files[k]!;
    const n = counts[k]!;
    const f = NpzFile.open(path);
    try {
      const data = f.read('data');
      const lab = f.read('labels');
      const l = npyToInt32(lab, `${path}:labels`);
      if (l.length !== data.shape[0]) throw new DataError(`${path}: ${l.length} labels for ${data.shape[0]} images`);
      images.set(data.data.subarray(0, n * px), at * px);
      for (let i = 0; i < n; i++) {
        const v = l[i]!;
        if (v < 1 || v > IMAGENET64_CLASSES) throw new DataError(`${path}: label ${v} at index ${i} is outside 1..${IMAGENET64_CLASSES}`);
        labels[at + i] = v - 1;
      }
    } finally {
      f.close();
    }
    at += n;
  }
  return {
    name: side === 64 ? 'imagenet64' : `imagenet${side}`,
    count: total,
    channels: 3,
    height: side,
    width: side,
    numClasses: IMAGENET64_CLASSES,
    images,
    labels,
  };
}
