/**
 * Sampling from a consistency model (docs/method.md section 6; after k-diffusion's samplers: each takes the
 * model, the starting noise, the levels and its noise source, and returns images).
 *
 * One step:  x = f(sigma_max z, sigma_max).
 * Multistep with levels t_1 > t_2 > ... (t_1 usually sigma_max): x = f(t_1 z, t_1), then for each
 * later t: x = x + sqrt(t^2 - sigma_min^2) z', x = f(x, t). The final output is clipped to [-1, 1].
 *
 * Like both official consistency-model codebases (openai/consistency_models' karras_sample with
 * clip_denoised=True, and the JAX code's multistep sampler and editing notebook), every estimate
 * f(x, t) is clipped to [-1, 1] before the next step adds noise to it or editing puts the known part
 * back; `clipDenoised: false` keeps the unclipped intermediate estimates (only the output is clipped).
 */
import type { Tensor } from '../tensor/tensor.js';
import { randnLike } from '../tensor/creation.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/scope.js';
import type { Generator } from '../tensor/random.js';
import type { ConsistencyDenoiser } from './denoiser.js';
import { checkLevels } from './levels.js';

// Pure number code, shared with the libtorch-free runtime (src/generate).
export { checkLevels };

/** The second level of 2-step sampling (docs/method.md section 5): 0.821 on CIFAR-10, 1.526 on ImageNet 64x64. */
export const TWO_STEP_SECOND_LEVEL = { cifar10: 0.821, imagenet64: 1.526 } as const;

/**
 * The levels of iCT's 2-step sampling: [sigma_max, 0.821] (CIFAR-10) or [sigma_max, 1.526] (ImageNet 64x64).
 *
 * @example twoStepLevels() // [80, 0.821]
 */
export function twoStepLevels(dataset: keyof typeof TWO_STEP_SECOND_LEVEL = 'cifar10', sigmaMax = 80): number[] {
  // JavaScript callers may pass any string: the lookup can miss.
  const second = (TWO_STEP_SECOND_LEVEL as Record<string, number | undefined>)[dataset];
  if (second === undefined)
    throw new RangeError(`twoStepLevels: dataset must be one of ${Object.keys(TWO_STEP_SECOND_LEVEL).join(', ')}, got ${dataset}`);
  if (!(sigmaMax > second)) throw new RangeError(`twoStepLevels: sigmaMax must be > ${second}, got ${sigmaMax}`);
  return [sigmaMax, second];
}

/** Options shared by the samplers and the editing functions. */
export interface SamplerOptions {
  /** Class labels for a class-conditional network. */
  classLabels?: Tensor | undefined;
  /** Clip every intermediate estimate f(x, t) to [-1, 1], as the official code does (default true). */
  clipDenoised?: boolean | undefined;
}

/** Options of {@link multistepLoop}. */
export interface MultistepLoopOptions extends SamplerOptions {
  /** Applied after every f (editing: put the known pixels back). */
  project?: (x: Tensor) => Tensor;
}

/**
 * The multistep loop of consistency sampling (Song et al. 2023, Algorithms 1 and 4):
 * x = project(clip(f(xStart, t_1))); then for each later t: x = project(clip(f(x + sqrt(t^2 - sigma_min^2) z, t))),
 * z drawn from `generator`, clip = clamp to [-1, 1] unless `clipDenoised` is false. `xStart` is the
 * noisy starting point at level t_1 (e.g. t_1 z).
 */
export function multistepLoop(
  model: ConsistencyDenoiser,
  xStart: Tensor,
  levels: readonly number[],
  generator: Generator | undefined,
  options: MultistepLoopOptions = {},
): Tensor {
  checkLevels('multistepLoop', levels, model.sigmaMin);
  if (levels.length > 1 && generator === undefined) throw new RangeError('multistepLoop: more than one level needs a generator for the fresh noise');
  const project = options.project ?? ((x: Tensor) => x);
  const sigmaMin = model.sigmaMin;
  // The official code clamps the denoised estimate first, then (editing) puts the known part back.
  const clip = options.clipDenoised === false ? (x: Tensor) => x : (x: Tensor) => x.clamp(-1, 1);
  const estimate = (x: Tensor, t: number): Tensor => project(clip(model.forward(x, t, options.classLabels)));
  return noGrad(() => {
    let x = tidy(() => estimate(xStart, levels[0]!));
    for (const t of levels.slice(1)) {
      const next = tidy(() => {
        const z = randnLike(x, generator);
        const noisy = x.add(z.mul(Math.sqrt(t * t - sigmaMin * sigmaMin)));
        return estimate(noisy, t);
      });
      if (x !== xStart) x.dispose();
      x = next;
    }
    return x;
  });
}

/**
 * Multistep consistency sampling (Song et al. 2023, Algorithm 1): x = f(t_1 z, t_1), then noise
 * back up to each later level and denoise; every estimate (unless `clipDenoised: false`) and the
 * output clipped to [-1, 1].
 *
 * @param z the starting noise z ~ N(0, I), [N, ...].
 * @param levels t_1 > t_2 > ..., e.g. twoStepLevels().
 * @param generator the noise source of the later steps (unused with one level).
 * @example sampleMultistep(model, randn([16, 3, 32, 32], { generator: g }), twoStepLevels(), g)
 */
export function sampleMultistep(
  model: ConsistencyDenoiser,
  z: Tensor,
  levels: readonly number[],
  generator: Generator | undefined,
  options: SamplerOptions = {},
): Tensor {
  checkLevels('sampleMultistep', levels, model.sigmaMin);
  return tidy(() => {
    const x = multistepLoop(model, z.mul(levels[0]!), levels, generator, options);
    return x.clamp(-1, 1);
  });
}

/**
 * One-step consistency sampling (Song et al. 2023, Algorithm 1 with one level): x = f(sigma_max z, sigma_max),
 * clipped to [-1, 1].
 *
 * @example sampleOneStep(model, randn([16, 3, 32, 32], { generator: g }))
 */
export function sampleOneStep(model: ConsistencyDenoiser, z: Tensor, options: SamplerOptions & { sigmaMax?: number } = {}): Tensor {
  return sampleMultistep(model, z, [options.sigmaMax ?? 80], undefined, options);
}
