/**
 * Embeddings of the scalar noise label c_noise as a vector of cosines and sines: positional
 * (fixed geometric frequencies, DDPM++ and ADM) or Fourier (random Gaussian frequencies, NCSN++).
 * Both map [N] -> [N, numChannels] as [cos(angles), sin(angles)] concatenated along dim 1, with
 * angles = t * f (positional) or 2 pi t * f (Fourier).
 */
import { Module } from './module.js';
import { Tensor } from '../tensor/tensor.js';
import { arange, cat, empty, randn } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import type { ParameterOptions } from './init.js';

/** Frequencies (1 / maxPositions)^(i / (C/2 - endpoint)) for i = 0..C/2-1; no 2 pi factor. */
export class PositionalEmbedding extends Module {
  constructor(
    readonly numChannels: number,
    readonly maxPositions = 10000,
    readonly endpoint = false,
  ) {
    super();
    if (numChannels % 2 !== 0 || numChannels < 2) throw new RangeError(`PositionalEmbedding: numChannels must be even and >= 2, got ${numChannels}`);
  }

  forward(t: Tensor): Tensor {
    return tidy(() => {
      const half = this.numChannels / 2;
      const exponents = arange(0, half, 1, { device: t.device }).div(half - (this.endpoint ? 1 : 0));
      const freqs = exponents.rpow(1 / this.maxPositions);
      const angles = t.outer(freqs);
      return cat([angles.cos(), angles.sin()], 1);
    });
  }
}

/** Random frequencies N(0, scale^2) drawn once (a buffer, not trained); angles 2 pi f t. */
export class FourierEmbedding extends Module {
  constructor(
    readonly numChannels: number,
    readonly scale: number,
    o: ParameterOptions = {},
  ) {
    super();
    if (numChannels % 2 !== 0 || numChannels < 2) throw new RangeError(`FourierEmbedding: numChannels must be even and >= 2, got ${numChannels}`);
    if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`FourierEmbedding: scale must be a finite number > 0, got ${scale}`);
    const freqs =
      o.values === 'uninitialized'
        ? empty([numChannels / 2], { device: o.device })
        : tidy(() => randn([numChannels / 2], { generator: o.generator, device: o.device }).mul(scale));
    this.registerBuffer('freqs', freqs);
  }

  forward(t: Tensor): Tensor {
    return tidy(() => {
      const angles = t.outer(this.tensor('freqs').mul(2 * Math.PI));
      return cat([angles.cos(), angles.sin()], 1);
    });
  }
}
