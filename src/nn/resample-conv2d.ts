/**
 * A square convolution with optional 2x up- or downsampling through a separable FIR filter
 * (the BigGAN-style resampling of NCSN++ and the box filter of ADM, as in EDM's U-Nets).
 * Kernel size 0 means no convolution: the layer only resamples.
 */
import { Module } from './module.js';
import { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import * as F from '../tensor/functional.js';
import { initTensor, type ParameterOptions, type WeightInit } from './init.js';

export interface ResampleConv2dOptions extends ParameterOptions {
  /** Add a bias (default true; ignored when kernel is 0). */
  bias?: boolean;
  up?: boolean;
  down?: boolean;
  /** 1-D filter taps; the 2-D filter is their outer product normalized to sum 1 (default [1, 1]). */
  resampleFilter?: readonly number[];
  /**
   * Convolve at the resolution where the kernel sees more pixels: for downsampling, convolve
   * first (padded by the filter's half width) then filter with stride 2; for upsampling,
   * upsample with the filter's padding folded in, then convolve without padding.
   */
  fused?: boolean;
}

export class ResampleConv2d extends Module {
  readonly up: boolean;
  readonly down: boolean;
  readonly fused: boolean;
  readonly hasWeight: boolean;
  readonly hasBias: boolean;
  readonly filterSize: number;

  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernel: number, init: WeightInit, o: ResampleConv2dOptions = {}) {
    super();
    this.up = o.up ?? false;
    this.down = o.down ?? false;
    if (this.up && this.down) throw new RangeError('ResampleConv2d: up and down cannot both be set');
    this.fused = o.fused ?? false;
    this.hasWeight = kernel > 0;
    this.hasBias = this.hasWeight && (o.bias ?? true);
    const fanIn = inChannels * kernel * kernel;
    const fanOut = outChannels * kernel * kernel;
    if (this.hasWeight) this.registerParameter('weight', initTensor([outChannels, inChannels, kernel, kernel], init.mode, fanIn, fanOut, init.weightGain ?? 1, o));
    if (this.hasBias) this.registerParameter('bias', initTensor([outChannels], init.mode, fanIn, fanOut, init.biasGain ?? 0, o));
    const taps = o.resampleFilter ?? [1, 1];
    this.filterSize = taps.length;
    if (this.up || this.down) {
      // A buffer, as in EDM's state dicts: [1, 1, k, k], sum 1.
      const k = taps.length;
      const sum = taps.reduce((a, b) => a + b, 0);
      const f = new Float32Array(k * k);
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) f[i * k + j] = (taps[i]! * taps[j]!) / (sum * sum);
      this.registerBuffer('resample_filter', tensor(f, [1, 1, k, k], { device: o.device }));
    }
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const w = this.hasWeight ? this.tensor('weight') : null;
      const f = this.up || this.down ? this.tensor('resample_filter') : null;
      const wPad = this.hasWeight ? Math.floor(this.kernel / 2) : 0;
      const fPad = f ? Math.floor((this.filterSize - 1) / 2) : 0;
      let y = x;
      if (this.fused && this.up && w) {
        y = F.convTranspose2d(y, f!.mul(4).repeat([this.inChannels, 1, 1, 1]), null, { groups: this.inChannels, stride: 2, padding: wPad + fPad });
        y = F.conv2d(y, w);
      } else if (this.fused && this.down && w) {
        y = F.conv2d(y, w, null, { padding: wPad + fPad });
        y = F.conv2d(y, f!.repeat([this.outChannels, 1, 1, 1]), null, { groups: this.outChannels, stride: 2 });
      } else {
        if (this.up) y = F.convTranspose2d(y, f!.mul(4).repeat([this.inChannels, 1, 1, 1]), null, { groups: this.inChannels, stride: 2, padding: fPad });
        if (this.down) y = F.conv2d(y, f!.repeat([this.inChannels, 1, 1, 1]), null, { groups: this.inChannels, stride: 2, padding: fPad });
        if (w) y = F.conv2d(y, w, null, { padding: wPad });
      }
      if (this.hasBias) y = y.add(this.tensor('bias').reshape([1, -1, 1, 1]));
      return y;
    });
  }
}
