/**
 * A square convolution with optional 2x up- or downsampling through a separable FIR filter
 * (the BigGAN-style resampling of NCSN++ and the box filter of ADM, as in EDM's U-Nets).
 * Kernel size 0 means no convolution: the layer only resamples.
 */
import { Module } from './module.js';
import { Tensor } from '../tensor/tensor.js';
import { stack, tensor } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import * as F from '../tensor/functional.js';
import { initTensor, type ParameterOptions, type WeightInit } from './init.js';

export interface ResampleConv2dOptions extends ParameterOptions {
  /** Add a bias (default true; ignored when kernel is 0). */
  bias?: boolean | undefined;
  up?: boolean | undefined;
  down?: boolean | undefined;
  /** 1-D filter taps; the 2-D filter is their outer product normalized to sum 1 (default [1, 1]). */
  resampleFilter?: readonly number[] | undefined;
  /**
   * For downsampling with a kernel: convolve first at full resolution (padded by the kernel's
   * and the filter's half widths), then filter with stride 2 (NCSN++'s residual input path).
   */
  fused?: boolean | undefined;
}

export class ResampleConv2d extends Module {
  readonly up: boolean;
  readonly down: boolean;
  readonly fused: boolean;
  readonly hasWeight: boolean;
  readonly hasBias: boolean;
  readonly filterSize: number;
  /** The 1-D filter taps as given. */
  readonly taps: readonly number[];

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    init: WeightInit,
    o: ResampleConv2dOptions = {},
  ) {
    super();
    this.up = o.up ?? false;
    this.down = o.down ?? false;
    if (this.up && this.down) throw new RangeError('ResampleConv2d: up and down cannot both be set');
    this.fused = o.fused ?? false;
    if (this.fused && this.up) throw new RangeError('ResampleConv2d: fused resampling is only for downsampling');
    const filterTaps = o.resampleFilter ?? [1, 1];
    if ((this.up || this.down) && (filterTaps.length === 0 || filterTaps.length % 2 !== 0))
      throw new RangeError(
        `ResampleConv2d: resampleFilter must have an even, non-zero number of taps for 2x resampling, got [${filterTaps.join(', ')}]`,
      );
    this.hasWeight = kernel > 0;
    this.hasBias = this.hasWeight && (o.bias ?? true);
    const fanIn = inChannels * kernel * kernel;
    const fanOut = outChannels * kernel * kernel;
    if (this.hasWeight)
      this.registerParameter('weight', initTensor([outChannels, inChannels, kernel, kernel], init.mode, fanIn, fanOut, init.weightGain ?? 1, o));
    if (this.hasBias) this.registerParameter('bias', initTensor([outChannels], init.mode, fanIn, fanOut, init.biasGain ?? 0, o));
    const taps = filterTaps;
    this.taps = [...taps];
    this.filterSize = taps.length;
    if (this.up || this.down) {
      // A buffer, as in EDM's state dicts: [1, 1, k, k], sum 1. Downsampling convolves with it;
      // upsampling uses the same taps directly (firUpsample2x), so a loaded buffer must hold
      // this filter (it always does: EDM stores the same constant).
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
      if (this.fused && this.down && w) {
        y = F.conv2d(y, w, null, { padding: wPad + fPad });
        y = F.conv2d(y, f!.repeat([this.outChannels, 1, 1, 1]), null, { groups: this.outChannels, stride: 2 });
      } else {
        if (this.up) y = firUpsample2x(y, this.taps, fPad);
        if (this.down) y = F.conv2d(y, f!.repeat([this.inChannels, 1, 1, 1]), null, { groups: this.inChannels, stride: 2, padding: fPad });
        if (w) y = F.conv2d(y, w, null, { padding: wPad });
      }
      if (this.hasBias) y = y.add(this.tensor('bias').reshape([1, -1, 1, 1]));
      return y;
    });
  }
}

/**
 * 2x upsampling with a separable FIR filter: the same values as
 * conv_transpose2d(x, 4 * outer(a, a) / sum(a)^2, stride 2, padding, groups = C), computed as two
 * 1-D polyphase passes of shifted, weighted copies. libtorch's grouped transposed convolution is
 * slow on CPUs and its backward stalls badly when threads are oversubscribed; these few
 * element-wise ops are not.
 */
export function firUpsample2x(x: Tensor, taps: readonly number[], padding: number): Tensor {
  const sum = taps.reduce((a, b) => a + b, 0);
  const gains = taps.map((t) => (2 * t) / sum); // each 1-D pass doubles the signal's sum
  return tidy(() => upsampleAxis(upsampleAxis(x, 2, gains, padding), 3, gains, padding));
}

/**
 * One axis of the transposed convolution: output 2i + r collects taps j = r + padding (mod 2),
 * each times the input at i + (r + padding - j) / 2 (zero outside the input).
 */
function upsampleAxis(x: Tensor, dim: 2 | 3, gains: readonly number[], padding: number): Tensor {
  const n = x.shape[dim]!;
  const phases: Array<Array<[gain: number, offset: number]>> = [[], []];
  for (const r of [0, 1] as const)
    for (let j = 0; j < gains.length; j++) if ((j - r - padding) % 2 === 0) phases[r]!.push([gains[j]!, (r + padding - j) / 2]);
  const offsets = phases.flat().map(([, o]) => o);
  const before = Math.max(0, -Math.min(...offsets));
  const after = Math.max(0, Math.max(...offsets));
  const padded = F.pad(x, dim === 3 ? [before, after] : [0, 0, before, after]);
  const outputs = phases.map((terms) => {
    let y: Tensor | null = null;
    for (const [gain, offset] of terms) {
      const term = padded.slice(dim, before + offset, before + offset + n).mul(gain);
      y = y ? y.add(term) : term;
    }
    return y!;
  });
  const shape = [...x.shape];
  shape[dim] = 2 * n;
  return stack(outputs, dim + 1).reshape(shape);
}
