/**
 * What a data-parallel training run needs besides the gradient sync (issue 10): rank 0 alone
 * writes (checkpoints, metrics, grids) while the others wait at a barrier; a stop request on any
 * rank (Ctrl-C / SIGTERM through the launcher) stops every rank after the same step; and every
 * M steps the replicas prove they are identical (checksum.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../tensor/tensor.js';
import { checkReplicasAgree } from './checksum.js';
import { broadcastTensors, DataParallelGradientSync } from './gradient-sync.js';
import { ProcessGroup } from './process-group.js';
import type { DistributedEnv } from './env.js';

/** The trainer's view of its replicas (src/train/trainer.ts). */
export interface TrainingReplicas {
  readonly rank: number;
  readonly worldSize: number;
  /** Only this rank writes files. */
  readonly isWriter: boolean;
  /** True on every rank when any rank was asked to stop (a collective: every rank calls it each step). */
  agreeToStop(localStop: boolean): boolean;
  /** Waits for every rank (after rank 0 wrote a checkpoint). */
  barrier(): void;
  /** After step `step`: the cross-rank checksum of the weights every `checkEvery` steps. */
  afterStep(step: number, weights: Tensor[]): void;
}

/** This package's version (package.json), which every rank of a run must share. */
export function projectVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const f = join(dir, 'package.json');
    if (existsSync(f)) {
      const version = (JSON.parse(readFileSync(f, 'utf8')) as { version?: unknown }).version;
      return typeof version === 'string' ? version : 'unknown';
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** Steps between the cross-rank weight checksums (cheap: two float64 sums per tensor). */
export const DEFAULT_CHECK_EVERY = 100;

export class DataParallelRun implements TrainingReplicas {
  readonly group: ProcessGroup;
  readonly sync: DataParallelGradientSync;
  readonly rank: number;
  readonly worldSize: number;
  readonly isWriter: boolean;
  readonly checkEvery: number;

  constructor(group: ProcessGroup, checkEvery = DEFAULT_CHECK_EVERY) {
    this.group = group;
    this.rank = group.rank;
    this.worldSize = group.worldSize;
    this.isWriter = group.rank === 0;
    this.checkEvery = checkEvery;
    this.sync = new DataParallelGradientSync(group);
  }

  /** Joins the run the torchrun environment describes. */
  static join(env: DistributedEnv, timeoutS: number, backend: 'gloo' | 'nccl' = 'gloo'): DataParallelRun {
    return new DataParallelRun(
      ProcessGroup.init({
        masterAddr: env.masterAddr,
        masterPort: env.masterPort,
        rank: env.rank,
        worldSize: env.worldSize,
        timeoutMs: Math.round(timeoutS * 1000),
        backend,
        ...(env.agentStoreAttempt !== null && { agentStoreAttempt: env.agentStoreAttempt }),
      }),
    );
  }

  /** Makes every rank start from rank 0's tensors and hooks the trained parameters. */
  start(parameters: Tensor[], stateTensors: Tensor[]): void {
    broadcastTensors(this.group, stateTensors);
    this.sync.bind(parameters);
  }

  agreeToStop(localStop: boolean): boolean {
    const [n] = this.group.allReduceNumbers([localStop ? 1 : 0]);
    return (n ?? 0) > 0;
  }

  barrier(): void {
    this.group.barrier();
  }

  afterStep(step: number, weights: Tensor[]): void {
    if (step % this.checkEvery === 0) checkReplicasAgree(this.group, weights, step);
  }

  close(): void {
    this.sync.dispose();
    this.group.close();
  }
}
