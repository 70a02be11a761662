/**
 * A trained model from a checkpoint, ready to sample: the network rebuilt from the checkpoint's
 * own config, with the EMA weights (default; docs/method.md section 5) or the raw trained weights, wrapped
 * in the consistency function f (src/method/denoiser.ts).
 */
import { noGrad } from '../tensor/autograd.js';
import { ConsistencyDenoiser } from '../method/denoiser.js';
import { levelsForSteps } from '../method/levels.js';
import type { ImageNetwork } from '../networks/network.js';
import { CheckpointError, disposeCheckpoint, readCheckpoint, resolveCheckpointPath } from './checkpoint.js';
import type { RunConfig } from './config.js';
import { createNetwork } from '../networks/build.js';
import { isJsonObject, type JsonObject } from './json.js';

/** Which weights to sample with. */
export type WeightsKind = 'ema' | 'model';

/** A model loaded for sampling. */
export interface LoadedModel {
  /** The checkpoint file. */
  file: string;
  /** Training steps the checkpoint had done. */
  step: number;
  config: RunConfig;
  network: ImageNetwork;
  /** f(x, sigma) around the network. */
  denoiser: ConsistencyDenoiser;
  /** [C, H, W] of the images. */
  shape: [number, number, number];
  dispose(): void;
}

/** Checks that a checkpoint's config has the fields sampling needs; names the first missing one. */
function checkConfig(file: string, config: unknown): RunConfig {
  const need = ['network', 'method', 'training', 'sampling'];
  if (!isJsonObject(config)) throw new CheckpointError(`${file}: the checkpoint has no run config`);
  for (const k of need) if (!isJsonObject(config[k])) throw new CheckpointError(`${file}: the checkpoint's config has no '${k}' section`);
  // Checkpoints of earlier versions kept the c_noise form beside the method config.
  const method = config.method as JsonObject;
  if (method.noiseEmbedding === undefined && typeof config.noiseEmbedding === 'string') method.noiseEmbedding = config.noiseEmbedding;
  // The noise levels sampling uses (docs/method.md section 6) come from the file: each must be a positive number.
  const sampling = config['sampling'] as Record<string, unknown>;
  const levels: [string, unknown][] = [
    ['method.sigmaMin', method['sigmaMin']],
    ['method.sigmaMax', method['sigmaMax']],
    ['method.sigmaData', method['sigmaData']],
    ['method.rho', method['rho']],
    ['sampling.secondSigma', sampling['secondSigma']],
  ];
  for (const [k, v] of levels) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new CheckpointError(
        `${file}: the checkpoint's config has ${k} = ${v === undefined ? 'nothing' : JSON.stringify(v)}, not a positive number`,
      );
  }
  if ((method['sigmaMin'] as number) >= (method['sigmaMax'] as number))
    throw new CheckpointError(`${file}: the checkpoint's config has method.sigmaMin >= method.sigmaMax`);
  return config as unknown as RunConfig;
}

/** Loads a checkpoint file or run directory for sampling on `device`. */
export function loadModel(path: string, options: { device?: string; weights?: WeightsKind } = {}): LoadedModel {
  const file = resolveCheckpointPath(path);
  const device = options.device ?? 'cpu';
  const ckpt = readCheckpoint(file, { device });
  try {
    const config = checkConfig(file, ckpt.config);
    // Every residual block has weights, so a config with more blocks than the checkpoint has tensors
    // cannot fit it; refuse before building it (a numBlocks of 10^5 from a corrupt header takes minutes).
    const { numBlocks, channelMult } = config.network as Partial<RunConfig['network']>;
    if (typeof numBlocks === 'number' && Array.isArray(channelMult) && numBlocks * channelMult.length > (ckpt.groups.get('model')?.size ?? 0)) {
      throw new CheckpointError(
        `${file}: the checkpoint's network config (${numBlocks} blocks at each of ${channelMult.length} levels) needs more weights than the checkpoint holds`,
      );
    }
    let network: ImageNetwork;
    try {
      network = createNetwork(config.network, { device, values: 'uninitialized' });
    } catch (e) {
      throw new CheckpointError(`${file}: the checkpoint's network config is not usable: ${(e as Error).message}`);
    }
    try {
      const model = ckpt.groups.get('model');
      if (!model) throw new CheckpointError(`${file}: the checkpoint has no 'model' tensors`);
      network.loadStateDict(model);
      if ((options.weights ?? 'ema') === 'ema') {
        const ema = ckpt.groups.get('ema');
        if (!ema) throw new CheckpointError(`${file}: the checkpoint has no 'ema' tensors`);
        const params = network.namedParameters();
        const missing = [...params.keys()].filter((k) => !ema.has(k));
        if (missing.length > 0) throw new CheckpointError(`${file}: the checkpoint's EMA weights lack ${missing.slice(0, 3).join(', ')}`);
        noGrad(() => {
          for (const [k, p] of params) p.copy_(ema.get(k)!);
        });
      }
    } catch (e) {
      network.dispose();
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(`${file}: ${(e as Error).message}`);
    }
    network.eval();
    let denoiser: ConsistencyDenoiser;
    try {
      denoiser = ConsistencyDenoiser.forMethod(network, config.method);
    } catch (e) {
      network.dispose();
      throw new CheckpointError(`${file}: the checkpoint's config is not usable: ${(e as Error).message}`);
    }
    const c = config.network;
    return {
      file,
      step: ckpt.step,
      config,
      network,
      denoiser,
      shape: [c.inChannels, c.imgResolution, c.imgResolution],
      dispose: () => network.dispose(),
    };
  } finally {
    disposeCheckpoint(ckpt);
  }
}

/**
 * The sampling levels for `steps` steps (docs/method.md section 6): 1 step [sigma_max]; 2 steps
 * [sigma_max, the config's second level] (0.821 CIFAR-10, 1.526 ImageNet 64); more steps: the
 * top `steps` levels of a Karras discretization with steps + 1 levels (sigma_min itself, where f
 * is the identity, is left out).
 */
export function samplingLevels(config: RunConfig, steps: number): number[] {
  return levelsForSteps(steps, { ...config.method, secondSigma: config.sampling.secondSigma });
}
