/**
 * Drawing many images from a trained model, batch by batch (for `consistency sample` and for the
 * evaluation command, src/cli/eval.ts): noise from a seeded generator, one or more sampling steps
 * (docs/method.md section 6), images as float32 NCHW in [-1, 1].
 */
import { autocast, type Precision } from '../tensor/autocast.js';
import { Generator as TorchGenerator } from '../tensor/random.js';
import { randn, tensor } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import { sampleMultistep } from '../method/samplers.js';
import { getDefaultDevice } from '../tensor/device.js';
import { loadModel, samplingLevels, type LoadedModel } from './load-model.js';
import { cycledClass } from '../method/class-labels.js';

export interface SampleOptions {
  /** Number of images. */
  count: number;
  /** Decreasing noise levels, starting at (or below) sigma_max. */
  levels: readonly number[];
  /** Seed of the starting noise; the later steps' noise uses seed + 1. */
  seed: number;
  /** Images per network pass. */
  batch: number;
  /** One class for every image of a class-conditional model (default: image i gets class i mod classes). */
  classLabel?: number;
  /** First image index (for cycling class labels across calls). */
  offset?: number;
  /** Network passes in mixed precision through autocast (src/tensor/autocast.ts); default fp32. */
  precision?: Precision;
  /** Clip every intermediate estimate to [-1, 1] (default true; see sampleMultistep). */
  clipDenoised?: boolean;
}

/** Yields the images batch by batch: float32 [b, C, H, W] values in [-1, 1] each. */
export function* sampleBatches(model: LoadedModel, o: SampleOptions): Generator<Float32Array> {
  const [C, H, W] = model.shape;
  const device = deviceOf(model);
  const zGen = new TorchGenerator(o.seed, device);
  const stepGen = new TorchGenerator(o.seed + 1, device);
  const classes = model.config.network.labelDim;
  const offset = o.offset ?? 0;
  for (let start = 0; start < o.count; start += o.batch) {
    const b = Math.min(o.batch, o.count - start);
    yield tidy(() => {
      const z = randn([b, C, H, W], { generator: zGen, device });
      const options = {
        clipDenoised: o.clipDenoised ?? true,
        ...(classes > 0 && {
          classLabels: tensor(
            BigInt64Array.from({ length: b }, (_, i) => BigInt(o.classLabel ?? cycledClass(offset + start + i, classes))),
            [b],
            { device },
          ),
        }),
      };
      return autocast(o.precision ?? 'fp32', device, () => sampleMultistep(model.denoiser, z, o.levels, stepGen, options))
        .float()
        .toFloat32Array();
    });
  }
}

function deviceOf(model: LoadedModel): string {
  const first = model.network.parameters()[0];
  return first ? first.device : 'cpu';
}

/** All images at once: float32 [count, C, H, W] in [-1, 1]. */
export function sampleImages(model: LoadedModel, o: SampleOptions): Float32Array {
  const [C, H, W] = model.shape;
  const out = new Float32Array(o.count * C * H * W);
  let at = 0;
  for (const images of sampleBatches(model, o)) {
    out.set(images, at);
    at += images.length;
  }
  return out;
}

/** One batch of generated images: float32 NCHW values in [-1, 1]. */
export interface ImageBatch {
  data: Float32Array;
  shape: [number, number, number, number];
}

/**
 * Streams `n` images from a checkpoint file or run directory, `steps` sampling steps each
 * (1: [sigma_max]; 2: [sigma_max, the run's second level]), `batch` per network pass, with the
 * EMA weights, on `device` (default: the default device); `precision` runs the network passes under
 * autocast and `channelsLast` lays the network out NHWC, as `consistency sample` does.
 */
export async function* generateImagesFromCheckpoint(
  ckptPath: string,
  n: number,
  steps: number,
  batch: number,
  options: { seed?: number; device?: string; precision?: Precision; channelsLast?: boolean } = {},
): AsyncGenerator<ImageBatch> {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`generateImagesFromCheckpoint: n must be an integer >= 1, got ${n}`);
  if (!Number.isSafeInteger(batch) || batch < 1) throw new RangeError(`generateImagesFromCheckpoint: batch must be an integer >= 1, got ${batch}`);
  const model = loadModel(ckptPath, { device: options.device ?? getDefaultDevice() });
  try {
    if (options.channelsLast === true) model.network.channelsLast();
    const levels = samplingLevels(model.config, steps);
    const [C, H, W] = model.shape;
    for (const data of sampleBatches(model, {
      count: n,
      levels,
      seed: options.seed ?? 0,
      batch,
      ...(options.precision && { precision: options.precision }),
    })) {
      yield { data, shape: [data.length / (C * H * W), C, H, W] };
      // Give the event loop a turn between batches.
      await new Promise<void>((r) => setImmediate(r));
    }
  } finally {
    model.dispose();
  }
}
