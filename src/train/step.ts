/**
 * THE consistency-training step (iCT, or the original CT by config; docs/method.md sections 2-5), used by
 * the trainer, the tests and library users alike. One call is optimizer step k of K, in phases
 * (after EDM's training loop):
 *
 *   1. levels      N(k), p(i), lambda and mu(k) from the curriculum; each sample's level pair and
 *                  noise z from (run seed, k, its index in the GLOBAL batch) (src/train/draws.ts).
 *   2. accumulate  this process's samples in micro-batches; each backward adds
 *                  sum(lambda d) / B to the gradients, B the GLOBAL batch size, so micro-batches
 *                  and data-parallel ranks add up to the gradient of the global batch's mean with
 *                  no rescaling. A GradientSync (src/train/gradient-sync.ts) sums over ranks.
 *   3. check       a NaN or infinite loss (summed over ranks, so all ranks agree) stops before any
 *                  update: the weights stay those of the last good step.
 *   4. update      optional clipping of the global gradient norm, the optimizer with the warm-up
 *                  learning rate, zeroed gradients.
 *   5. EMAs        the CT teacher theta_minus <- mu(k) theta_minus + (1 - mu(k)) theta (section 2),
 *                  the evaluation EMA (section 5).
 *
 * Everything it allocates is freed before it returns; it returns plain numbers.
 */
import type { Tensor } from '../tensor/tensor.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import type { Module } from '../nn/module.js';
import { clipGradNorm, gradNorm } from '../optim/clip.js';
import type { ConsistencyDenoiser, ConsistencyNetwork } from '../method/denoiser.js';
import type { ConsistencyLoss } from '../method/loss.js';
import { emaUpdate, type ExponentialMovingAverage } from '../method/ema.js';
import { levelSchedule } from '../method/schedules.js';
import { levelIndicesFor, noiseFor } from './draws.js';
import { autocast, checkPrecision, type Precision } from '../tensor/autocast.js';
import type { LossScaler } from '../optim/loss-scaler.js';
import type { GradientSync } from './gradient-sync.js';

/** A network that is both a Module (parameters, modes) and a consistency network. */
export type TrainableNetwork = Module & ConsistencyNetwork;

/** What the step needs of an optimizer (the optimizers of src/optim fit, as does the trainer's TrainOptimizer). */
export interface StepOptimizer {
  /** Set by the step before each update (the warm-up schedule). */
  lr: number;
  /** Applies one update from the parameters' gradients. */
  step(): void;
}

/** Time spent per phase (milliseconds, summed over steps), for the benchmark; 'data' and 'record' are the trainer's. */
export interface PhaseTimes {
  data: number;
  levels: number;
  gradients: number;
  update: number;
  record: number;
}

/** Everything a training step uses and updates. */
export interface TrainingStepContext {
  /** The student f_theta; its network's parameters receive the gradients and the updates. */
  student: ConsistencyDenoiser<TrainableNetwork>;
  /** CT's teacher f_theta_minus around an EMA copy of the network (teacher 'ema'); absent for iCT's stopgrad teacher. */
  teacher?: ConsistencyDenoiser<TrainableNetwork> | undefined;
  /** The loss; its method config drives the levels, teacher, metric and weighting. */
  loss: ConsistencyLoss;
  optimizer: StepOptimizer;
  /** The base learning rate. */
  lr: number;
  /** Linear learning-rate warm-up over this many steps (0 or absent: none). */
  warmupSteps?: number | undefined;
  /** Clip gradients to this global 2-norm (null or absent: no clipping; the norm is still measured). */
  maxGradNorm?: number | null | undefined;
  /** The evaluation EMA of the weights (docs/method.md section 5), if any. */
  ema?: ExponentialMovingAverage | undefined;
  /** K, the total number of steps (the curriculum's length). */
  totalSteps: number;
  /** The run seed: each sample's noise and level come from (seed, k, global index). */
  seed: number;
  /** Samples per forward/backward pass (default: all of this process's samples at once). */
  microBatch?: number | undefined;
  /** Data parallelism; absent = a single process. */
  gradientSync?: GradientSync | undefined;
  /** Sees the step's loss before the finiteness check (tests inject NaN with it); gets the 1-based step number. */
  lossHook?: ((step: number, loss: number) => number) | undefined;
  /** Accumulates the time of phases levels, gradients and update when given. */
  phaseTimes?: PhaseTimes | undefined;
  /** A CPU generator the step reseeds for each sample's noise (one is made per call when absent). */
  noiseGenerator?: Generator | undefined;
  /**
   * The network passes' arithmetic (default fp32): bf16/fp16 run them under libtorch's autocast
   * (src/tensor/autocast.ts) while the weights, gradients, optimizer state and EMAs stay float32
   * and the distance and loss weights are computed in float32.
   */
  precision?: Precision | undefined;
  /** fp16's dynamic loss scale (src/optim/loss-scaler.ts): an overflowing step is skipped and the scale lowered. */
  lossScaler?: LossScaler | undefined;
}

/** This process's share of the global batch: clean images in [-1, 1] and where they sit in the global batch. */
export interface StepBatch {
  /** [b, C, H, W]. */
  x: Tensor;
  /** Class labels [b] (int64) for a class-conditional network. */
  classLabels?: Tensor | undefined;
  /** Each sample's index 0..B-1 in the global batch (default 0..b-1: a single process). */
  globalIndices?: readonly number[] | undefined;
  /** B, the global batch size (default b). */
  globalBatchSize?: number | undefined;
}

/** What a step reports. */
export type TrainingStepResult =
  | {
      status: 'ok';
      /** The global batch's mean of lambda d, before the update. */
      loss: number;
      /** N(k), the number of noise levels at this step. */
      N: number;
      /** The learning rate of the update. */
      lr: number;
      /** The global gradient 2-norm before clipping. */
      gradNorm: number;
      /** mu(k) applied to the teacher (0 for iCT's stopgrad teacher). */
      teacherEmaRate: number;
      /** The evaluation EMA's rate at this step, or null without one. */
      emaRate: number | null;
      /** With a loss scaler: true when a gradient overflowed, so the update was skipped (and the scale lowered). */
      skipped?: boolean;
      /** With a loss scaler: the scale after this step. */
      lossScale?: number;
    }
  | { status: 'diverged'; loss: number; N: number; message: string };

/** The learning rate of step k (0-based): lr * min(1, (k + 1) / warmupSteps), or lr without warm-up. */
export function warmupLearningRate(lr: number, warmupSteps: number, step: number): number {
  return warmupSteps > 0 ? lr * Math.min(1, (step + 1) / warmupSteps) : lr;
}

function fail(what: string): never {
  throw new RangeError(`trainingStep: ${what}`);
}

/** Checks the batch's share against the global batch; returns the global indices. */
function checkBatch(batch: StepBatch, sync: GradientSync | undefined): { indices: readonly number[]; B: number; b: number } {
  const b = batch.x.shape[0];
  if (b === undefined || b < 1) fail(`x must be a batch [b, ...] with b >= 1, got [${batch.x.shape.join(', ')}]`);
  const indices = batch.globalIndices ?? Array.from({ length: b }, (_, i) => i);
  const B = batch.globalBatchSize ?? b;
  if (indices.length !== b) fail(`globalIndices must give one index per sample (${b}), got ${indices.length}`);
  if (!Number.isSafeInteger(B) || B < b) fail(`globalBatchSize must be an integer >= the ${b} samples given, got ${B}`);
  indices.forEach((i, j) => {
    if (!Number.isSafeInteger(i) || i < 0 || i >= B) fail(`globalIndices[${j}] must be an integer in [0, ${B - 1}], got ${i}`);
  });
  if (!sync && B !== b)
    fail(`a single process must be given the whole global batch (${B} samples), got ${b}; pass a gradientSync for data parallelism`);
  return { indices, B, b };
}

/**
 * Runs training step k (0-based) of K on this process's share of the global batch.
 *
 * @throws RangeError for a step outside [0, K], a batch share that does not fit the global batch,
 *   or what the loss rejects (a CT config without a teacher, ...).
 * @example trainingStep(ctx, { x }, k).status // 'ok'
 */
export function trainingStep(ctx: TrainingStepContext, batch: StepBatch, step: number): TrainingStepResult {
  const config = ctx.loss.config;
  const sync = ctx.gradientSync;
  const times = ctx.phaseTimes;
  let t = performance.now();
  const mark = (phase: keyof PhaseTimes): void => {
    if (!times) return;
    const now = performance.now();
    times[phase] += now - t;
    t = now;
  };
  const { indices, B, b } = checkBatch(batch, sync);
  if (config.teacher === 'ema' && !ctx.teacher)
    fail("teacher 'ema' needs a teacher (ctx.teacher, a ConsistencyDenoiser around the EMA copy of the network)");
  const network = ctx.student.network;
  const precision = ctx.precision ?? 'fp32';
  checkPrecision(precision, batch.x.device);
  const scaler = ctx.lossScaler;

  // Phase 1: levels. The schedule of step k, then each sample's level pair and noise from its global index.
  const schedule = levelSchedule(config, step, ctx.totalSteps);
  const levelIndices = levelIndicesFor(schedule.probabilities, ctx.seed, step, indices);
  mark('levels');

  // Phase 2: accumulate sum(lambda d) / B over micro-batches.
  const m = Math.min(ctx.microBatch ?? b, b);
  if (!Number.isSafeInteger(m) || m < 1) fail(`microBatch must be an integer >= 1, got ${ctx.microBatch}`);
  let lossSum = 0;
  tidy(() => {
    const x = batch.x;
    const z = noiseFor(ctx.seed, step, indices, x.shape.slice(1), x.device, ctx.noiseGenerator ?? new Generator(0, 'cpu'));
    for (let start = 0; start < b; start += m) {
      const end = Math.min(b, start + m);
      const whole = end - start === b;
      tidy(() => {
        const labels = batch.classLabels;
        // The forward passes under autocast; backward outside it, as torch.autocast recommends.
        const res = autocast(precision, x.device, () =>
          ctx.loss.compute({
            student: ctx.student,
            teacher: ctx.teacher,
            x: whole ? x : x.slice(0, start, end),
            ...(labels && { classLabels: whole ? labels : labels.slice(0, start, end) }),
            levels: { schedule, indices: levelIndices.slice(start, end) },
            noise: whole ? z : z.slice(0, start, end),
          }),
        );
        // lambda d in float32 (the denoiser's float32 skip term already promotes its output).
        const sum = (res.losses.dtype === 'float32' ? res.losses : res.losses.float()).sum();
        sync?.beforeBackward(end === b);
        (scaler ? scaler.scaleLoss(sum) : sum).div(B).backward();
        lossSum += sum.item();
      });
    }
  });
  sync?.finishGradients();
  mark('gradients');

  // Phase 3: check. The loss summed over ranks, so every rank stops at the same step.
  const [globalSum] = sync ? sync.allReduceSum([lossSum]) : [lossSum];
  let loss = (globalSum ?? Number.NaN) / B;
  if (ctx.lossHook) loss = ctx.lossHook(step + 1, loss);
  if (!Number.isFinite(loss)) {
    network.zeroGrad();
    return { status: 'diverged', loss, N: schedule.N, message: `training diverged: the loss is ${loss} at step ${step + 1}` };
  }

  // Phase 4: update. With a loss scaler the gradients are unscaled first (clipping sees true
  // gradients), and an inf/NaN among them skips the update and lowers the scale (GradScaler).
  const lr = warmupLearningRate(ctx.lr, ctx.warmupSteps ?? 0, step);
  if (scaler && scaler.unscale(network)) {
    scaler.update();
    network.zeroGrad();
    mark('update');
    return { status: 'ok', loss, N: schedule.N, lr, gradNorm: Number.NaN, teacherEmaRate: 0, emaRate: null, skipped: true, lossScale: scaler.scale };
  }
  const norm = ctx.maxGradNorm !== undefined && ctx.maxGradNorm !== null ? clipGradNorm(network, ctx.maxGradNorm) : gradNorm(network);
  ctx.optimizer.lr = lr;
  ctx.optimizer.step();
  scaler?.update();
  network.zeroGrad();

  // Phase 5: EMAs. The CT teacher follows the new weights at rate mu(k) (section 2); then the evaluation EMA (section 5).
  if (ctx.teacher) emaUpdate(ctx.teacher.network, network, schedule.teacherEmaRate);
  const emaRate = ctx.ema ? ctx.ema.update(network) : null;
  mark('update');
  return {
    status: 'ok',
    loss,
    N: schedule.N,
    lr,
    gradNorm: norm,
    teacherEmaRate: ctx.teacher ? schedule.teacherEmaRate : 0,
    emaRate,
    ...(scaler && { skipped: false, lossScale: scaler.scale }),
  };
}
