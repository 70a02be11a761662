/**
 * The seam between evaluation and sampling: `consistency eval --ckpt FILE --n N --steps 1|2`
 * draws its images through `generateImages`. The sampler and the checkpoint format live
 * elsewhere (src/method, src/train/generate.ts); evaluation of image files (--images) works
 * without them.
 */

import { generateImagesFromCheckpoint } from '../train/generate.js';

/** One batch of generated images. */
export interface GeneratedBatch {
  /** B*C*H*W values, NCHW, in [-1, 1] (the sampler's output range, spec section 6: clipped). */
  data: Float32Array;
  shape: [number, number, number, number];
}

/** Thrown while sampling from a checkpoint is not available in this build. */
export class GenerationUnavailableError extends Error {
  override name = 'GenerationUnavailableError';
  readonly exitCode = 2;
}

/**
 * Samples `n` images from the EMA weights of checkpoint `ckptPath` with `steps` sampling steps
 * (1, or 2 with the second noise level of spec section 5), `batch` at a time, on the default
 * device. A missing or corrupt checkpoint is a CheckpointError (exit code 2).
 */
export async function* generateImages(ckptPath: string, n: number, steps: number, batch: number): AsyncIterable<GeneratedBatch> {
  yield* generateImagesFromCheckpoint(ckptPath, n, steps, batch);
}
