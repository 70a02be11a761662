/**
 * The seam between the one training step (src/train/step.ts) and data parallelism: the step
 * calls it around its backward passes; absent, the step is a single process (rank 0 of 1).
 * src/distributed/ implements it on libtorch's c10d.
 */

/** How the step's gradients and statistics are combined across the ranks of a data-parallel run. */
export interface GradientSync {
  readonly rank: number;
  readonly worldSize: number;
  /** Called before each micro-batch's backward; isLast is true for this rank's final micro-batch of the step (its backward may start bucketed all-reduces through gradient hooks / c10d::Reducer). */
  beforeBackward(isLast: boolean): void;
  /** After the last backward: waits for all outstanding communication and leaves every parameter's .grad equal to the SUM over ranks of the local gradients. */
  finishGradients(): void;
  /** Sums small float64 statistics over ranks (the loss sum, non-finite counts), so every rank takes the same decisions. */
  allReduceSum(values: number[]): number[];
}

/**
 * The contiguous share [start, end) of a global batch of `globalBatchSize` samples that `rank` of
 * `worldSize` computes: the first (B mod N) ranks take one sample more.
 *
 * @example rankSlice(10, 1, 4) // { start: 3, end: 6 }
 */
export function rankSlice(globalBatchSize: number, rank: number, worldSize: number): { start: number; end: number } {
  if (!Number.isSafeInteger(worldSize) || worldSize < 1) throw new RangeError(`rankSlice: worldSize must be an integer >= 1, got ${worldSize}`);
  if (!Number.isSafeInteger(rank) || rank < 0 || rank >= worldSize)
    throw new RangeError(`rankSlice: rank must be an integer in [0, ${worldSize - 1}], got ${rank}`);
  if (!Number.isSafeInteger(globalBatchSize) || globalBatchSize < worldSize)
    throw new RangeError(`rankSlice: the global batch (${globalBatchSize}) must hold at least one sample per rank (${worldSize})`);
  const base = Math.floor(globalBatchSize / worldSize);
  const extra = globalBatchSize % worldSize;
  const start = rank * base + Math.min(rank, extra);
  return { start, end: start + base + (rank < extra ? 1 : 0) };
}
