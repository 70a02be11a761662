/**
 * The residual block shared by the NCSN++/DDPM++ and ADM U-Nets (the union EDM uses):
 *
 *   h = conv0(silu(norm0(x)))                     conv0 up- or downsamples when asked
 *   h = silu(norm1(h + affine(emb)))              additive conditioning (NCSN++), or
 *   h = silu(shift + norm1(h) * (scale + 1))      scale-shift norm (ADM)
 *   h = conv1(dropout(h))
 *   h = (h + skip(x)) * skipScale                 skip: 1x1 projection and/or resampling
 *   h = (proj(attention(norm2(h))) + h) * skipScale   when the block has attention
 *
 * Dropout masks come from the module tree's generator (Module.setGenerator), so two passes that
 * start from the same generator state share masks (docs/method.md section 4).
 */
import { Module } from './module.js';
import { GroupNorm } from './layers.js';
import { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import * as F from '../tensor/functional.js';
import { Linear } from './linear.js';
import { ResampleConv2d } from './resample-conv2d.js';
import type { ParameterOptions, WeightInit } from './init.js';

/** Group norm with min(32, C / 4) groups, as both U-Nets use. */
export function unetGroupNorm(channels: number, eps: number, o: ParameterOptions = {}): GroupNorm {
  const groups = Math.min(32, Math.floor(channels / 4));
  if (groups < 1) throw new RangeError(`unetGroupNorm: ${channels} channels are too few for group norm (need >= 4)`);
  return new GroupNorm(groups, channels, eps, { device: o.device });
}

export interface UNetBlockOptions {
  inChannels: number;
  outChannels: number;
  /** Width of the conditioning vector emb. */
  embChannels: number;
  up?: boolean | undefined;
  down?: boolean | undefined;
  /** Attention heads after the residual part; 0 = no attention. */
  numHeads?: number | undefined;
  /** Dropout probability before conv1. */
  dropout?: number | undefined;
  /** Multiplies the sum after each residual connection (NCSN++: 1/sqrt(2); ADM: 1). */
  skipScale?: number | undefined;
  /** Group norm epsilon. */
  eps?: number | undefined;
  resampleFilter?: readonly number[] | undefined;
  /** Project the skip path with a 1x1 conv when resampling even if the width stays (NCSN++). */
  resampleProjection?: boolean | undefined;
  /** Scale-shift conditioning (ADM) instead of additive (NCSN++). */
  adaptiveScale?: boolean | undefined;
  init: WeightInit;
  /** Initialization of the last conv of each residual branch (near zero). */
  initZero: WeightInit;
  /** Initialization of the qkv projection (default: init). */
  initAttention?: WeightInit | undefined;
}

export class UNetBlock extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly numHeads: number;
  readonly dropout: number;
  readonly skipScale: number;
  readonly adaptiveScale: boolean;
  readonly norm0: GroupNorm;
  readonly conv0: ResampleConv2d;
  readonly affine: Linear;
  readonly norm1: GroupNorm;
  readonly conv1: ResampleConv2d;
  readonly skip: ResampleConv2d | null = null;
  readonly norm2: GroupNorm | null = null;
  readonly qkv: ResampleConv2d | null = null;
  readonly proj: ResampleConv2d | null = null;

  constructor(c: UNetBlockOptions, o: ParameterOptions = {}) {
    super();
    this.inChannels = c.inChannels;
    this.outChannels = c.outChannels;
    this.numHeads = c.numHeads ?? 0;
    this.dropout = c.dropout ?? 0;
    if (!(this.dropout >= 0 && this.dropout < 1)) throw new RangeError(`UNetBlock: dropout must be in [0, 1), got ${this.dropout}`);
    this.skipScale = c.skipScale ?? 1;
    this.adaptiveScale = c.adaptiveScale ?? true;
    const eps = c.eps ?? 1e-5;
    const up = c.up ?? false;
    const down = c.down ?? false;
    const resample = { up, down, resampleFilter: c.resampleFilter };
    if (this.numHeads > 0 && c.outChannels % this.numHeads !== 0)
      throw new RangeError(`UNetBlock: ${c.outChannels} channels do not split into ${this.numHeads} heads`);

    this.norm0 = this.registerModule('norm0', unetGroupNorm(c.inChannels, eps, o));
    this.conv0 = this.registerModule('conv0', new ResampleConv2d(c.inChannels, c.outChannels, 3, c.init, { ...o, ...resample }));
    this.affine = this.registerModule('affine', new Linear(c.embChannels, c.outChannels * (this.adaptiveScale ? 2 : 1), { ...o, init: c.init }));
    this.norm1 = this.registerModule('norm1', unetGroupNorm(c.outChannels, eps, o));
    this.conv1 = this.registerModule('conv1', new ResampleConv2d(c.outChannels, c.outChannels, 3, c.initZero, o));
    if (c.outChannels !== c.inChannels || up || down) {
      // A 1x1 projection when the width changes (or always, with resampleProjection); else resampling only.
      const kernel = c.resampleProjection || c.outChannels !== c.inChannels ? 1 : 0;
      this.skip = this.registerModule('skip', new ResampleConv2d(c.inChannels, c.outChannels, kernel, c.init, { ...o, ...resample }));
    }
    if (this.numHeads > 0) {
      this.norm2 = this.registerModule('norm2', unetGroupNorm(c.outChannels, eps, o));
      this.qkv = this.registerModule('qkv', new ResampleConv2d(c.outChannels, c.outChannels * 3, 1, c.initAttention ?? c.init, o));
      this.proj = this.registerModule('proj', new ResampleConv2d(c.outChannels, c.outChannels, 1, c.initZero, o));
    }
  }

  /** x [N, inChannels, H, W], emb [N, embChannels] -> [N, outChannels, H', W']. */
  forward(x: Tensor, emb: Tensor): Tensor {
    return tidy(() => {
      let h = this.conv0.forward(F.silu(this.norm0.forward(x)));
      const params = this.affine.forward(emb).unsqueeze(2).unsqueeze(3);
      if (this.adaptiveScale) {
        const [scale, shift] = params.chunk(2, 1) as [Tensor, Tensor];
        h = F.silu(shift.add(this.norm1.forward(h).mul(scale.add(1))));
      } else {
        h = F.silu(this.norm1.forward(h.add(params)));
      }
      h = this.conv1.forward(F.dropout(h, this.dropout, this.training, this.generator));
      h = h.add(this.skip ? this.skip.forward(x) : x);
      if (this.skipScale !== 1) h = h.mul(this.skipScale);
      if (this.numHeads > 0) h = this.#attend(h);
      return h;
    });
  }

  /** Self-attention over the H*W positions, numHeads heads of C / numHeads channels each. */
  #attend(h: Tensor): Tensor {
    const [n, c, height, width] = h.shape as [number, number, number, number];
    const heads = this.numHeads;
    // qkv's output channels are laid out as (head, channel within head, q/k/v), as in EDM.
    const qkv = this.qkv!.forward(this.norm2!.forward(h)).reshape([n * heads, c / heads, 3, height * width]);
    const q = qkv.select(2, 0).transpose(1, 2);
    const k = qkv.select(2, 1).transpose(1, 2);
    const v = qkv.select(2, 2).transpose(1, 2);
    const a = F.scaledDotProductAttention(q, k, v); // [n * heads, positions, channels per head]
    const out = this.proj!.forward(a.transpose(1, 2).reshape([n, c, height, width])).add(h);
    return this.skipScale !== 1 ? out.mul(this.skipScale) : out;
  }
}
