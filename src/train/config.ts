/**
 * The resolved configuration of a training run: everything that decides what the run computes
 * (network, method, data, optimizer, seeds), kept in every checkpoint as JSON, and the runtime
 * options that may change between a run and its resume (threads, device, intervals, micro-batch).
 */
import type { Precision } from '../tensor/autocast.js';
import type { NetworkConfig } from '../networks/config.js';
import type { MethodConfig } from '../method/presets.js';
import type { DatasetName } from '../data/index.js';
import { diffJson, type JsonObject } from './json.js';

/** Where the training images come from. */
export interface DataConfig {
  dataset: DatasetName;
  /** The --data path as given (null: the dataset's default source). */
  path: string | null;
  /** MNIST / Fashion-MNIST: pad 28x28 to 32x32. */
  pad32: boolean;
  /** Random horizontal flips with probability 1/2. */
  flip: boolean;
  /** Image folders: side length the images are resized to. */
  size: number | null;
  /** Use at most this many images (image folders, ImageNet64). */
  limit: number | null;
}

/** The optimizers a run can use (src/optim). */
export const OPTIMIZER_KINDS = ['adam', 'radam'] as const;

/** The optimizer and its schedule. */
export interface OptimizerConfig {
  kind: (typeof OPTIMIZER_KINDS)[number];
  /** Learning rate. */
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Linear learning-rate warm-up over this many steps (0: none). */
  warmupSteps: number;
  /** Clip the global gradient norm to this value (null: no clipping). */
  gradClip: number | null;
}

/** Settings of the optimization itself. */
export interface TrainingConfig {
  /** K, the total number of optimizer steps (the curriculum's length). */
  steps: number;
  /** Images per optimizer step. */
  batch: number;
  optimizer: OptimizerConfig;
  /** Rate of the evaluation EMA of the weights (used for samples and checkpoints' 'ema'). */
  emaRate: number;
  /** Seed of the initialization, data order, flips, noise, levels and dropout. */
  seed: number;
}

/** How sample grids are drawn. */
export interface SamplingConfig {
  /** The second noise level of two-step sampling (docs/method.md section 5: 0.821 CIFAR-10, 1.526 ImageNet 64). */
  secondSigma: number;
}

/** Everything that decides what a run computes. Stored in checkpoints; a resume must match it. */
export interface RunConfig {
  /** The preset this run started from. */
  preset: string;
  network: NetworkConfig;
  /** The method, with the c_noise form the network expects. */
  method: MethodConfig;
  data: DataConfig;
  training: TrainingConfig;
  sampling: SamplingConfig;
}

/** Options that may differ between a run and its resume. */
export interface RuntimeConfig {
  /** The run directory. */
  out: string;
  /** libtorch intra-op threads; 0 = automatic (1 or all cores, whichever steps faster; src/train/threads.ts). */
  threads: number;
  /** 'cpu', 'cuda', 'cuda:N'. */
  device: string;
  /** Images per forward/backward pass; the batch is split into micro-batches whose gradients add up. */
  microBatch: number;
  /** Save a checkpoint every this many steps (and at the end, and on SIGINT/SIGTERM). */
  checkpointEvery: number;
  /** Write a sample grid and the loss curve every this many steps (and at the end). */
  sampleEvery: number;
  /** Non-terminal progress: one line every this many steps. */
  logEvery: number;
  /** Images per sample grid (each drawn with one and with two steps). */
  sampleCount: number;
  /** The network passes' arithmetic (src/tensor/autocast.ts; default fp32); fp16 adds a dynamic loss scale. */
  precision?: Precision;
  /** Weights (and so the convolutions' activations) channels-last (NHWC). */
  channelsLast?: boolean;
}

/** The fields of `a` and `b` that differ, as dotted paths ('training.optimizer.lr'). */
export function diffRunConfigs(a: RunConfig, b: RunConfig): string[] {
  return diffJson(a as unknown as JsonObject, b as unknown as JsonObject);
}

/** The configuration as plain JSON (for checkpoints). */
export function runConfigToJson(c: RunConfig): JsonObject {
  return JSON.parse(JSON.stringify(c)) as JsonObject;
}

/** The image shape [C, H, W] a config trains on. */
export function imageShape(c: RunConfig): [number, number, number] {
  return [c.network.inChannels, c.network.imgResolution, c.network.imgResolution];
}
