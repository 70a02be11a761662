/**
 * Data parallelism for the one training step (the shared design of the step: each rank computes
 * its share of the global batch, divides by the GLOBAL batch size, and the gradients are summed
 * over ranks). This is the GradientSync seam of src/train on c10d: the backward of a rank's last
 * micro-batch starts each bucket's all-reduce as soon as the bucket's gradients are ready
 * (native/distributed.cc, "bucketed gradient all-reduce"), so communication overlaps the rest of
 * the backward; earlier micro-batches only accumulate locally, as DDP's no_sync() does.
 */
import { c10dReducerArm, c10dReducerBuckets, c10dReducerClose, c10dReducerFinish, c10dReducerNew, type DistReducerHandle } from '../tensor/c10d.js';
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../tensor/autograd.js';
import { DistributedError, type ProcessGroup } from './process-group.js';

/** DistributedDataParallel's default bucket size (bucket_cap_mb = 25). */
export const DEFAULT_BUCKET_CAP_BYTES = 25 * 1024 * 1024;

export class DataParallelGradientSync {
  readonly rank: number;
  readonly worldSize: number;
  readonly group: ProcessGroup;
  readonly bucketCapBytes: number;
  #reducer: DistReducerHandle | null = null;
  #disposed = false;
  #armed = false;

  /**
   * Hooks the parameters' gradient accumulators (every parameter must get a gradient in each
   * step); without `parameters`, bind() does it later (the trainer makes its network after
   * taking the sync, since the rank decides its data share and dropout seed).
   */
  constructor(group: ProcessGroup, parameters?: Tensor[], bucketCapBytes = DEFAULT_BUCKET_CAP_BYTES) {
    this.group = group;
    this.rank = group.rank;
    this.worldSize = group.worldSize;
    this.bucketCapBytes = bucketCapBytes;
    if (parameters !== undefined) this.bind(parameters);
  }

  /** Hooks these parameters (once). */
  bind(parameters: Tensor[]): void {
    if (this.#reducer !== null || this.#disposed) throw new DistributedError(`rank ${this.rank}: the gradient sync is already bound or disposed`);
    this.#reducer = this.group.call('gradient buckets', (h) => c10dReducerNew(h, parameters, this.bucketCapBytes));
  }

  get #handle(): DistReducerHandle {
    if (this.#reducer === null)
      throw new DistributedError(`rank ${this.rank}: the gradient sync is ${this.#disposed ? 'disposed' : 'not bound to parameters (bind())'}`);
    return this.#reducer;
  }

  /** Parameter indices of each bucket, in the order their all-reduces start. */
  buckets(): number[][] {
    return c10dReducerBuckets(this.#handle);
  }

  /** Called before each micro-batch's backward; the last one's backward all-reduces. */
  beforeBackward(isLast: boolean): void {
    if (!isLast) return;
    const h = this.#handle;
    this.group.call('gradient all-reduce', () => c10dReducerArm(h));
    this.#armed = true;
  }

  /** Waits for every bucket; each parameter's .grad is then the sum over ranks. */
  finishGradients(): void {
    if (!this.#armed) throw new DistributedError(`rank ${this.rank}: finishGradients() without beforeBackward(true) in this step`);
    this.#armed = false;
    const h = this.#handle;
    this.group.call('gradient all-reduce', () => c10dReducerFinish(h));
  }

  /** Sums small float64 statistics over ranks (loss sums, non-finite counts). */
  allReduceSum(values: number[]): number[] {
    return this.group.allReduceNumbers(values);
  }

  /** Removes the gradient hooks now. */
  dispose(): void {
    this.#disposed = true;
    if (this.#reducer === null) return;
    const h = this.#reducer;
    this.#reducer = null;
    c10dReducerClose(h);
  }
}

/** Copies rank 0's values into every rank's tensors (the initial weights, buffers, EMA copies). */
export function broadcastTensors(group: ProcessGroup, tensors: Tensor[]): void {
  if (tensors.length === 0) return;
  noGrad(() => group.broadcast(tensors, 0));
}
