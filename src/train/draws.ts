/**
 * The random draws of training step k that belong to samples, made per GLOBAL sample: the noise z
 * and the level index of sample i of the global batch depend only on (run seed, k, i). So one
 * process with batch B, N ranks with B/N each, and any cut into micro-batches draw the same
 * numbers, and a resumed run needs no generator state for them (issue 10's requirement).
 *
 * - z_i: a CPU libtorch generator (mt19937) seeded with noiseSeed(seed, k, i), then
 *   randn([1, C, H, W]); Python's torch.Generator().manual_seed(noiseSeed(...)) gives the same
 *   numbers (test/train-draws.test.ts checks it). The seed is one 32-bit word because
 *   libtorch's mt19937 keeps only the low 32 bits of a seed.
 * - the level index of sample i: the inverse CDF of p(i) (docs/method.md section 3) at the first uniform of a
 *   xoshiro128** generator seeded with (seed, LEVEL_STREAM, k, i).
 *
 * Both seeds come from deriveState (splitmix64 over the words, src/data/random.ts).
 */
import { Generator } from '../tensor/random.js';
import { randn, cat } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { Xoshiro128, deriveState } from '../data/random.js';
import { sampleLevelIndices } from '../method/schedules.js';

/** Streams of the run seed for the per-sample draws (other streams: src/train/trainer.ts). */
export const NOISE_STREAM = 11;
export const LEVEL_STREAM = 13;

function checkIndex(fn: string, what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${fn}: ${what} must be a non-negative integer, got ${v}`);
}

/**
 * The seed of sample i's noise at step k: the first word of deriveState(seed, NOISE_STREAM, k, i),
 * an integer in [0, 2^32).
 */
export function noiseSeed(seed: number, step: number, globalIndex: number): number {
  checkIndex('noiseSeed', 'step', step);
  checkIndex('noiseSeed', 'globalIndex', globalIndex);
  return deriveState(seed, NOISE_STREAM, step, globalIndex)[0];
}

/** The uniform number in [0, 1) that picks sample i's level pair at step k. */
export function levelUniform(seed: number, step: number, globalIndex: number): number {
  checkIndex('levelUniform', 'step', step);
  checkIndex('levelUniform', 'globalIndex', globalIndex);
  return Xoshiro128.from(seed, LEVEL_STREAM, step, globalIndex).nextFloat();
}

/** The 0-based level pair indices of the given global samples at step k, drawn from `probabilities` (p(i) of the step's schedule). */
export function levelIndicesFor(probabilities: readonly number[], seed: number, step: number, globalIndices: readonly number[]): number[] {
  const u = globalIndices.map((i) => levelUniform(seed, step, i));
  let j = 0;
  return sampleLevelIndices(probabilities, u.length, () => u[j++]!);
}

/**
 * The noise z of the given global samples at step k, [n, ...sampleShape] float32 on `device`
 * (drawn on the CPU, so every device gets the same numbers). Reuses `generator` (a CPU generator)
 * when given, reseeding it per sample.
 */
export function noiseFor(
  seed: number,
  step: number,
  globalIndices: readonly number[],
  sampleShape: readonly number[],
  device: string,
  generator?: Generator,
): Tensor {
  if (globalIndices.length === 0) throw new RangeError('noiseFor: no samples');
  const g = generator ?? new Generator(0, 'cpu');
  if (g.device !== 'cpu') throw new RangeError(`noiseFor: the noise generator must be a CPU generator, got one on '${g.device}'`);
  return tidy(() => {
    const rows = globalIndices.map((i) => randn([1, ...sampleShape], { generator: g.manualSeed(noiseSeed(seed, step, i)), device: 'cpu' }));
    const z = rows.length === 1 ? rows[0]! : cat(rows, 0);
    return device === 'cpu' ? z : z.to({ device });
  });
}
