/**
 * One consistency-training step (docs/method.md sections 2-5), in phases: levels for step k, loss,
 * backward, optional clipping, optimizer update, teacher EMA (CT), evaluation EMA, zero grads.
 * Everything it allocates is freed before it returns; it returns plain numbers.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { clipGradNorm, gradNorm } from '../optim/clip.js';
import type { ConsistencyNetwork } from './denoiser.js';
import type { ConsistencyLoss } from './loss.js';
import { emaUpdate, type ExponentialMovingAverage } from './ema.js';
import { levelSchedule } from './presets.js';

/** A network that is both a Module (parameters, modes) and a consistency network. */
export type TrainableNetwork = Module & ConsistencyNetwork;

/** Everything a training step uses and updates. */
export interface TrainContext {
  /** The student network theta. */
  network: TrainableNetwork;
  /** The CT teacher theta_minus (teacher 'ema'): start it as a copy of the network (loadStateDict(network.stateDict())). */
  teacherNetwork?: TrainableNetwork;
  /** The loss; its config drives the levels, teacher, metric and weighting. */
  loss: ConsistencyLoss;
  optimizer: Optimizer;
  /** The evaluation EMA of the weights (docs/method.md section 5: 0.99993), if any. */
  ema?: ExponentialMovingAverage;
  /** Clip gradients to this global 2-norm (none when absent). */
  maxGradNorm?: number;
  /** K, the total number of training steps (for the curriculum N(k)). */
  totalSteps: number;
  /** Uniform [0, 1) numbers for drawing level indices (a seeded generator, for reproducible runs). */
  levelRng: () => number;
  /** Source of the noise z. */
  noiseGenerator: Generator;
}

/** A batch of clean data in [-1, 1], with class labels for a class-conditional network. */
export interface TrainBatch {
  x: Tensor;
  classLabels?: Tensor;
}

/** What one step reports. */
export interface TrainStepResult {
  /** The loss before the update. */
  loss: number;
  /** N(k), the number of noise levels at this step. */
  N: number;
  /** The global gradient 2-norm before clipping. */
  gradNorm: number;
  /** mu(k) applied to the teacher (0 for iCT's stopgrad teacher). */
  teacherEmaRate: number;
  /** The evaluation EMA's rate at this step, or null without one. */
  emaRate: number | null;
}

/**
 * Runs training step k (0-based) of K on one batch.
 *
 * @example trainStep(ctx, { x }, k).loss
 */
export function trainStep(ctx: TrainContext, batch: TrainBatch, step: number): TrainStepResult {
  const config = ctx.loss.config;
  // Phase 1: the noise levels, their probabilities and weights, and mu(k) at step k (sections 2-3).
  const schedule = levelSchedule(config, step, ctx.totalSteps);

  // Phase 2: the loss and its gradients (section 4).
  const lossValue = tidy(() => {
    const { loss } = ctx.loss.compute({
      network: ctx.network,
      teacherNetwork: config.teacher === 'ema' ? ctx.teacherNetwork : undefined,
      x: batch.x,
      classLabels: batch.classLabels,
      levels: { schedule, rng: ctx.levelRng },
      noiseGenerator: ctx.noiseGenerator,
    });
    loss.backward();
    return loss.item();
  });

  // Phase 3: clip (or just measure) the gradient norm, then update the weights.
  const norm = ctx.maxGradNorm !== undefined ? clipGradNorm(ctx.network, ctx.maxGradNorm) : gradNorm(ctx.network);
  ctx.optimizer.step();

  // Phase 4: the CT teacher follows the new weights at rate mu(k) (section 2).
  if (config.teacher === 'ema') {
    if (!ctx.teacherNetwork) throw new RangeError("trainStep: teacher 'ema' needs ctx.teacherNetwork");
    emaUpdate(ctx.teacherNetwork, ctx.network, schedule.teacherEmaRate);
  }

  // Phase 5: the evaluation EMA (section 5).
  const emaRate = ctx.ema ? ctx.ema.update(ctx.network) : null;

  // Phase 6: drop the gradients for the next step.
  ctx.optimizer.zeroGrad();
  ctx.network.zeroGrad();
  return { loss: lossValue, N: schedule.N, gradNorm: norm, teacherEmaRate: config.teacher === 'ema' ? schedule.teacherEmaRate : 0, emaRate };
}
