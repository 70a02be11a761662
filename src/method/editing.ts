/**
 * Zero-shot image editing with a consistency model (Song et al. 2023, section 6 and Algorithm 4;
 * docs/method.md section 6): the multistep loop with the known part of the image put back after every step.
 *
 * Algorithm 4 with an invertible linear map A and a mask Omega over A's coordinates (1 = to generate):
 *   y <- A^-1[(A y) (1 - Omega)];   x <- y + t_1 z;   x <- A^-1[(A y)(1 - Omega) + (A f(x, t_1)) Omega]
 *   for each later t:  x <- x + sqrt(t^2 - sigma_min^2) z;  x <- A^-1[(A y)(1 - Omega) + (A f(x, t)) Omega]
 * As in the official code (openai/consistency_models' iterative_inpainting/colorization/superres),
 * f(x, t) is clipped to [-1, 1] before the known part is put back (`clipDenoised: false` skips that);
 * the output is clipped to [-1, 1].
 *
 * - inpainting: A = identity, Omega = the unknown pixels;
 * - colorization: A = an orthogonal 3x3 map on the channels whose first axis is the luma direction,
 *   Omega = the two other axes;
 * - super-resolution: A = an orthogonal map on each s x s patch whose first axis is the patch mean,
 *   Omega = the other axes; applied here as "replace each patch's mean", the same projection;
 * - interpolation: spherical interpolation between two starting noises.
 */
import type { Tensor } from '../tensor/tensor.js';
import { cat, einsum, randnLike, tensor, where, zerosLike } from '../tensor/creation.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/scope.js';
import type { Generator } from '../tensor/random.js';
import { avgPool2d, interpolate } from '../tensor/functional.js';
import type { ConsistencyDenoiser } from './denoiser.js';
import { checkLevels, multistepLoop, sampleMultistep, type SamplerOptions } from './samplers.js';
import { LUMA_WEIGHTS, colorTransform } from './color-axes.js';
import { isArray } from '../util/array.js';

// Pure number code, shared with the libtorch-free runtime (src/generate).
export { LUMA_WEIGHTS, colorTransform };

function checkImages(fn: string, name: string, t: Tensor, channels?: number): [number, number, number, number] {
  const s = t.shape;
  if (s.length !== 4 || (channels !== undefined && s[1] !== channels))
    throw new RangeError(`${fn}: ${name} must be [N, ${channels ?? 'C'}, H, W], got [${s.join(', ')}]`);
  return s as [number, number, number, number];
}

/** Algorithm 4's loop: start from y0 + t_1 z, clip and project after every step, clip the output. */
function editLoop(
  model: ConsistencyDenoiser,
  y0: Tensor,
  project: (x: Tensor) => Tensor,
  levels: readonly number[],
  generator: Generator,
  options: SamplerOptions,
): Tensor {
  return tidy(() => {
    const xStart = noGrad(() => y0.add(randnLike(y0, generator).mul(levels[0]!)));
    return multistepLoop(model, xStart, levels, generator, { classLabels: options.classLabels, clipDenoised: options.clipDenoised, project }).clamp(
      -1,
      1,
    );
  });
}

/**
 * Zero-shot inpainting (Song et al. 2023, Algorithm 4 with A = identity): the pixels where `known`
 * is true are taken from `images` after every step, so they come out unchanged (when in [-1, 1]).
 *
 * @param images [N, C, H, W] in [-1, 1]; only the known pixels are used.
 * @param known a mask broadcastable to images (bool, or 1 = known / 0 = to generate).
 * @example inpaint(model, images, mask, karrasSigmas(..).reverse(), g)
 */
export function inpaint(
  model: ConsistencyDenoiser,
  images: Tensor,
  known: Tensor,
  levels: readonly number[],
  generator: Generator,
  options: SamplerOptions = {},
): Tensor {
  checkImages('inpaint', 'images', images);
  checkLevels('inpaint', levels, model.sigmaMin);
  return tidy(() => {
    const mask = known.dtype === 'bool' ? known : known.ne(0);
    const y0 = where(mask, images, zerosLike(images));
    return editLoop(model, y0, (x) => where(mask, images, x), levels, generator, options);
  });
}

/**
 * Zero-shot colorization (Song et al. 2023, Algorithm 4 with an orthogonal map on the channels):
 * the luma axis of every pixel is fixed to the given gray image; the two chroma axes are generated.
 * The output's luma 0.2989 R + 0.587 G + 0.114 B equals `gray` (up to clipping).
 *
 * @param gray [N, 1, H, W] in [-1, 1]: the luma of the wanted images.
 */
export function colorize(
  model: ConsistencyDenoiser,
  gray: Tensor,
  levels: readonly number[],
  generator: Generator,
  options: SamplerOptions = {},
): Tensor {
  checkImages('colorize', 'gray', gray, 1);
  checkLevels('colorize', levels, model.sigmaMin);
  const Q = colorTransform();
  const norm = Math.hypot(...LUMA_WEIGHTS);
  return tidy(() => {
    const q = tensor(Float64Array.from(Q.flat()), [3, 3], { dtype: 'float64', device: gray.device }).toDtype(gray.dtype);
    const toAxes = (x: Tensor): Tensor => einsum('nchw,cd->ndhw', x, q);
    const fromAxes = (a: Tensor): Tensor => einsum('ndhw,cd->nchw', a, q);
    // Axis 0 of the known image: (w . x) / |w| = gray / |w|; the chroma axes are unknown.
    const lumaAxis = gray.div(norm);
    const y0 = fromAxes(lumaAxis.mul(tensor([1, 0, 0], [1, 3, 1, 1], { device: gray.device, dtype: gray.dtype })));
    // Put the luma axis back, keep the generated chroma axes.
    const project = (x: Tensor): Tensor => fromAxes(cat([lumaAxis, toAxes(x).slice(1, 1, 3)], 1));
    return editLoop(model, y0, project, levels, generator, options);
  });
}

/**
 * Zero-shot super-resolution (Song et al. 2023, Algorithm 4 with an orthogonal map on each
 * factor x factor patch whose first axis is the patch mean): each patch's mean is fixed to the
 * low-resolution pixel, the rest is generated. Replacing axis 0 of that map is the same as
 * x <- x - mean_patch(x) + lowRes, which is how it is applied. The output's patch means equal
 * `lowRes` (up to clipping).
 *
 * @param lowRes [N, C, h, w] in [-1, 1].
 * @param factor the upscaling factor s (2 or 4 typically): the output is [N, C, s h, s w].
 */
export function superResolve(
  model: ConsistencyDenoiser,
  lowRes: Tensor,
  factor: number,
  levels: readonly number[],
  generator: Generator,
  options: SamplerOptions = {},
): Tensor {
  const [, , h, w] = checkImages('superResolve', 'lowRes', lowRes);
  if (!Number.isSafeInteger(factor) || factor < 1) throw new RangeError(`superResolve: factor must be an integer >= 1, got ${factor}`);
  checkLevels('superResolve', levels, model.sigmaMin);
  const size: [number, number] = [h * factor, w * factor];
  return tidy(() => {
    const up = (t: Tensor): Tensor => interpolate(t, { size, mode: 'nearest' });
    const y0 = up(lowRes); // A^-1 of the kept axis: every patch constant at its low-res value
    const project = (x: Tensor): Tensor => x.sub(up(avgPool2d(x, factor))).add(y0);
    return editLoop(model, y0, project, levels, generator, options);
  });
}

/**
 * Spherical interpolation between two noises, per sample (Shoemake 1985):
 * slerp(z0, z1; alpha) = sin((1 - alpha) theta) / sin theta z0 + sin(alpha theta) / sin theta z1,
 * theta the angle between z0 and z1; linear interpolation where they are (nearly) parallel.
 * alpha = 0 gives z0 and alpha = 1 gives z1 exactly.
 */
export function slerp(z0: Tensor, z1: Tensor, alpha: number): Tensor {
  if (z0.shape.join(',') !== z1.shape.join(',') || z0.rank < 1)
    throw new RangeError(`slerp: z0 and z1 must be batches of the same shape, got [${z0.shape.join(', ')}] and [${z1.shape.join(', ')}]`);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new RangeError(`slerp: alpha must be a finite number, got ${alpha}`);
  const n = z0.shape[0]!;
  return tidy(() =>
    noGrad(() => {
      const a = z0.reshape([n, -1]).double();
      const b = z1.reshape([n, -1]).double();
      const dots = a.mul(b).sum(1).toFloat64Array();
      const na = a.norm(2, 1).toFloat64Array();
      const nb = b.norm(2, 1).toFloat64Array();
      const c0: number[] = [];
      const c1: number[] = [];
      for (let k = 0; k < n; k++) {
        const theta = Math.acos(Math.min(1, Math.max(-1, dots[k]! / (na[k]! * nb[k]!))));
        const s = Math.sin(theta);
        if (!(s > 1e-6)) {
          c0.push(1 - alpha);
          c1.push(alpha);
        } else {
          c0.push(Math.sin((1 - alpha) * theta) / s);
          c1.push(Math.sin(alpha * theta) / s);
        }
      }
      const col = (v: number[]): Tensor =>
        tensor(Float64Array.from(v), [n, ...z0.shape.slice(1).map(() => 1)], { dtype: 'float64', device: z0.device }).toDtype(z0.dtype);
      return z0.mul(col(c0)).add(z1.mul(col(c1)));
    }),
  );
}

/**
 * Interpolation between two starting noises (Song et al. 2023, section 6): for each alpha, the
 * multistep sample from slerp(z0, z1; alpha). Every alpha replays the generator from the same state,
 * so the later steps' noise is shared and only the starting noise moves; the endpoints equal
 * sampleMultistep(model, z0 or z1, levels, generator) run from that state.
 *
 * @returns one batch [N, ...] per alpha.
 */
export function interpolateNoises(
  model: ConsistencyDenoiser,
  z0: Tensor,
  z1: Tensor,
  alphas: readonly number[],
  levels: readonly number[],
  generator: Generator | undefined,
  options: SamplerOptions = {},
): Tensor[] {
  checkLevels('interpolateNoises', levels, model.sigmaMin);
  if (!isArray(alphas) || alphas.length === 0) throw new RangeError('interpolateNoises: alphas must be a non-empty array of numbers');
  const start = generator?.getState();
  return alphas.map((alpha) =>
    tidy(() => {
      if (generator && start) generator.setState(start);
      return sampleMultistep(model, slerp(z0, z1, alpha), levels, generator, options);
    }),
  );
}
