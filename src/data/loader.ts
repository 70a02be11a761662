/**
 * A seeded, resumable batch iterator over an ImageDataset.
 *
 * Epoch e visits the images in the order of a permutation drawn from xoshiro128** seeded with
 * (seed, PERMUTATION_STREAM, e), so any epoch's order can be recomputed from the seed alone.
 * Horizontal flips (optional) come from a second generator seeded with (seed, FLIP_STREAM),
 * one draw per image served; its state is part of the saved position. `state()` returns plain
 * JSON with everything needed (epoch, offset, flip generator state, options); `fromState()`
 * continues with exactly the batches that would have come next.
 *
 * Batches hold float32 NCHW images scaled from 0..255 to [-1, 1] (x / 127.5 - 1).
 */
import { DataError, imageSize, type ImageDataset } from './types.js';
import { randomPermutation, Xoshiro128 } from './random.js';

const PERMUTATION_STREAM = 1;
const FLIP_STREAM = 2;

export interface LoaderOptions {
  /** Images per batch. */
  batchSize: number;
  /** Seed of the data order and flips (non-negative safe integer). Default 0. */
  seed?: number;
  /** Shuffle each epoch (default true); false serves 0..N-1 in order. */
  shuffle?: boolean;
  /** Random horizontal flips with probability 1/2 (default false). */
  flip?: boolean;
  /** Skip the last incomplete batch of each epoch (default true). */
  dropLast?: boolean;
}

/** One batch. */
export interface Batch {
  /** size*C*H*W floats in [-1, 1], NCHW. */
  images: Float32Array;
  /** Labels of the batch's images, or null for unlabelled data. */
  labels: Int32Array | null;
  /** Dataset indices of the batch's images. */
  indices: Int32Array;
  /** 1 where the image was flipped horizontally; null when flips are off. */
  flipped: Uint8Array | null;
  /** Number of images (batchSize, or fewer for the last batch when dropLast is false). */
  size: number;
  /** [size, C, H, W]. */
  shape: [number, number, number, number];
  /** The epoch this batch belongs to. */
  epoch: number;
}

/** The saved position of a loader: plain JSON. */
export interface LoaderState {
  version: 1;
  seed: number;
  batchSize: number;
  shuffle: boolean;
  flip: boolean;
  dropLast: boolean;
  /** Size and shape of the dataset it was made for (checked on restore). */
  count: number;
  shape: [number, number, number];
  epoch: number;
  /** Images of the current epoch's order already served. */
  offset: number;
  /** xoshiro128** state of the flip generator. */
  flipRng: [number, number, number, number];
}

/** The visiting order of one epoch. */
export function epochPermutation(count: number, seed: number, epoch: number, shuffle = true): Int32Array {
  if (!shuffle) return Int32Array.from({ length: count }, (_, i) => i);
  return randomPermutation(count, Xoshiro128.from(seed, PERMUTATION_STREAM, epoch));
}

const TO_FLOAT = Float32Array.from({ length: 256 }, (_, i) => i / 127.5 - 1);

export class BatchLoader implements Iterable<Batch> {
  readonly batchSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly flip: boolean;
  readonly dropLast: boolean;
  private _epoch = 0;
  private _offset = 0;
  private order: Int32Array;
  private flipRng: Xoshiro128;

  constructor(
    readonly dataset: ImageDataset,
    opts: LoaderOptions,
  ) {
    const { batchSize } = opts;
    this.seed = opts.seed ?? 0;
    this.shuffle = opts.shuffle ?? true;
    this.flip = opts.flip ?? false;
    this.dropLast = opts.dropLast ?? true;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`BatchLoader: batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isSafeInteger(this.seed) || this.seed < 0) throw new RangeError(`BatchLoader: seed must be a non-negative integer, got ${this.seed}`);
    if (dataset.count < 1) throw new DataError(`${dataset.name}: dataset is empty`);
    if (this.dropLast && batchSize > dataset.count) {
      throw new DataError(`${dataset.name}: batch size ${batchSize} exceeds the dataset's ${dataset.count} images`);
    }
    if (dataset.images.length !== dataset.count * imageSize(dataset)) {
      throw new DataError(
        `${dataset.name}: images hold ${dataset.images.length} bytes, expected ${dataset.count}x${dataset.channels}x${dataset.height}x${dataset.width}`,
      );
    }
    this.batchSize = batchSize;
    this.order = epochPermutation(dataset.count, this.seed, 0, this.shuffle);
    this.flipRng = Xoshiro128.from(this.seed, FLIP_STREAM);
  }

  /** A loader positioned exactly where `state` was saved. */
  static fromState(dataset: ImageDataset, state: LoaderState): BatchLoader {
    const s = state as Partial<LoaderState>;
    if (s.version !== 1) throw new DataError(`loader state: unsupported version ${String(s.version)}`);
    const shape: [number, number, number] = [dataset.channels, dataset.height, dataset.width];
    if (s.count !== dataset.count || JSON.stringify(s.shape) !== JSON.stringify(shape)) {
      throw new DataError(
        `loader state: saved for ${s.count} images of ${JSON.stringify(s.shape)}, but ${dataset.name} has ${dataset.count} of ${JSON.stringify(shape)}`,
      );
    }
    const loader = new BatchLoader(dataset, {
      batchSize: s.batchSize!,
      seed: s.seed!,
      shuffle: s.shuffle!,
      flip: s.flip!,
      dropLast: s.dropLast!,
    });
    if (!Number.isSafeInteger(s.epoch) || s.epoch! < 0 || !Number.isInteger(s.offset) || s.offset! < 0 || s.offset! > dataset.count) {
      throw new DataError(`loader state: bad position epoch=${s.epoch} offset=${s.offset}`);
    }
    loader._epoch = s.epoch!;
    loader._offset = s.offset!;
    loader.order = epochPermutation(dataset.count, loader.seed, loader._epoch, loader.shuffle);
    try {
      loader.flipRng = new Xoshiro128(s.flipRng ?? []);
    } catch (err) {
      throw new DataError(`loader state: bad flip generator state (${(err as Error).message})`);
    }
    return loader;
  }

  /** The current position as plain JSON. */
  state(): LoaderState {
    return {
      version: 1,
      seed: this.seed,
      batchSize: this.batchSize,
      shuffle: this.shuffle,
      flip: this.flip,
      dropLast: this.dropLast,
      count: this.dataset.count,
      shape: [this.dataset.channels, this.dataset.height, this.dataset.width],
      epoch: this._epoch,
      offset: this._offset,
      flipRng: this.flipRng.state(),
    };
  }

  get epoch(): number {
    return this._epoch;
  }

  get offset(): number {
    return this._offset;
  }

  /** Batches served per epoch. */
  get batchesPerEpoch(): number {
    const n = this.dataset.count / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The next batch; moves to the next epoch (new order) when the current one is used up. */
  /**
   * The next batch in the global order. With `slice`, only the images [start, end) of that batch
   * are decoded and returned (a data-parallel rank's share); the position, and the flip draws of
   * every image of the batch, advance exactly as without it, so every rank sees the same order.
   */
  next(slice?: { start: number; end: number }): Batch {
    const count = this.dataset.count;
    const remaining = count - this._offset;
    if (remaining <= 0 || (this.dropLast && remaining < this.batchSize)) {
      this._epoch++;
      this._offset = 0;
      this.order = epochPermutation(count, this.seed, this._epoch, this.shuffle);
    }
    const full = Math.min(this.batchSize, count - this._offset);
    const from = slice?.start ?? 0;
    const to = slice?.end ?? full;
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to <= from || to > full)
      throw new RangeError(`BatchLoader.next: slice must be integers 0 <= start < end <= ${full}, got [${from}, ${to})`);
    const size = to - from;
    const indices = this.order.slice(this._offset + from, this._offset + to);
    const epoch = this._epoch;
    this._offset += full;
    // The flips of the images before the slice (drawn, not used), so the generator stays in step.
    if (this.flip) for (let b = 0; b < from; b++) this.flipRng.nextUint32();

    const { channels: C, height: H, width: W } = this.dataset;
    const per = C * H * W;
    const src = this.dataset.images;
    const images = new Float32Array(size * per);
    const flipped = this.flip ? new Uint8Array(size) : null;
    for (let b = 0; b < size; b++) {
      const s0 = indices[b]! * per;
      const d0 = b * per;
      const doFlip = flipped !== null && (this.flipRng.nextUint32() & 1) === 1;
      if (flipped) flipped[b] = doFlip ? 1 : 0;
      if (!doFlip) {
        for (let i = 0; i < per; i++) images[d0 + i] = TO_FLOAT[src[s0 + i]!]!;
      } else {
        for (let row = 0; row < C * H; row++) {
          const s = s0 + row * W;
          const d = d0 + row * W;
          for (let x = 0; x < W; x++) images[d + x] = TO_FLOAT[src[s + W - 1 - x]!]!;
        }
      }
    }
    if (this.flip) for (let b = to; b < full; b++) this.flipRng.nextUint32();
    let labels: Int32Array | null = null;
    if (this.dataset.labels) {
      const l = this.dataset.labels;
      labels = Int32Array.from(indices, (i) => l[i]!);
    }
    return { images, labels, indices, flipped, size, shape: [size, C, H, W], epoch };
  }

  /** An endless iterator of batches (the training loop decides when to stop). */
  *[Symbol.iterator](): Iterator<Batch> {
    for (;;) yield this.next();
  }
}
