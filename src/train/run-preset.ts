/**
 * The starting RunConfig of a named preset: the network, data and optimizer settings of
 * src/networks/presets.ts, plus what a Preset does not carry and training needs:
 * - the method config (src/method/presets.ts) with per-preset changes for the short CPU runs
 *   (a curriculum sized for a few thousand steps instead of the paper's 400k);
 * - random horizontal flips: on for CIFAR-10 (as EDM and iCT train it) and ImageNet 64 (the
 *   consistency-models code's loader, cm/image_datasets.py, flips with probability 1/2 by default
 *   and cm_train.py keeps that default), off for digits (a mirrored digit is another shape).
 */
import { methodPreset, type MethodOverrides } from '../method/presets.js';
import { PRESET_NAMES, resolvePreset, type Preset } from '../networks/presets.js';
import type { RunConfig } from './config.js';

/**
 * Changes to the paper's method settings per preset. The paper's curriculum (s1 = 1280 over
 * 400k steps) leaves a run of a few thousand steps at N <= 40, where it has no time to converge;
 * short runs use fewer final levels.
 */
const METHOD_OVERRIDES: Partial<Record<string, MethodOverrides>> = {
  // P_mean = -0.5 puts more of a short run's steps on larger noise levels, which one-step
  // samples depend on (measured: 44% vs 35% classifier-confident digits; src/networks/presets.ts).
  'mnist-quick': { curriculum: { s0: 10, s1: 40 }, levels: { pMean: -0.5 } },
  'mnist-tiny': { curriculum: { s0: 10, s1: 80 } },
  'cifar10-cpu': { curriculum: { s0: 10, s1: 80 } },
};

/** The preset names. */
export function runPresetNames(): string[] {
  return [...PRESET_NAMES];
}

/** Maps a Preset to the run config it starts. */
export function runConfigFromPreset(p: Preset): RunConfig {
  const pad = p.data.padding;
  if (pad !== 0 && !(pad === 2 && p.data.dataset === 'mnist'))
    throw new RangeError(`preset '${p.name}': padding ${pad} is not supported (only MNIST 28 -> 32 with 2 pixels per side)`);
  const t = p.training;
  return {
    preset: p.name,
    network: structuredClone(p.network),
    noiseEmbedding: p.noiseEmbedding,
    method: methodPreset(p.method, METHOD_OVERRIDES[p.name] ?? {}),
    data: { dataset: p.data.dataset, path: null, pad32: pad === 2, flip: p.data.dataset === 'cifar10' || p.data.dataset === 'imagenet64', size: null, limit: null },
    training: {
      steps: t.iterations,
      batch: t.batchSize,
      optimizer: { kind: t.optimizer, lr: t.learningRate, beta1: t.adamBetas[0], beta2: t.adamBetas[1], eps: 1e-8, warmupSteps: t.warmupIterations, gradClip: null },
      emaRate: t.emaRate,
      seed: 0,
    },
    sampling: { secondSigma: t.twoStepSigma },
  };
}

/** The RunConfig of a preset, or undefined for an unknown name. */
export function runPreset(name: string): RunConfig | undefined {
  if (!(PRESET_NAMES as readonly string[]).includes(name)) return undefined;
  return runConfigFromPreset(resolvePreset(name));
}
