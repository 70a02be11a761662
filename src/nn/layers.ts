/** Basic layers. Default initializations follow PyTorch's (uniform in ±1/sqrt(fan_in)). */
import { Module } from './module.js';
import { Tensor } from '../tensor/tensor.js';
import { rand, ones, zeros } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import * as F from '../tensor/functional.js';
import type { Generator } from '../tensor/random.js';

export interface InitOptions {
  /** Draws initial weights (libtorch's default generator when omitted). */
  generator?: Generator | undefined;
  device?: string | undefined;
}

/** Uniform on [-bound, bound). */
export function uniformInit(shape: number[], bound: number, o: InitOptions = {}): Tensor {
  return tidy(() =>
    rand(shape, { generator: o.generator, device: o.device })
      .mul(2 * bound)
      .sub(bound),
  );
}

export interface Conv2dLayerOptions extends InitOptions {
  stride?: number | undefined;
  padding?: number | undefined;
  dilation?: number | undefined;
  groups?: number | undefined;
  bias?: boolean | undefined;
}

export class Conv2d extends Module {
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly groups: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    o: Conv2dLayerOptions = {},
  ) {
    super();
    this.stride = o.stride ?? 1;
    this.padding = o.padding ?? 0;
    this.dilation = o.dilation ?? 1;
    this.groups = o.groups ?? 1;
    const fanIn = (inChannels / this.groups) * kernelSize * kernelSize;
    const bound = 1 / Math.sqrt(fanIn);
    this.registerParameter('weight', uniformInit([outChannels, inChannels / this.groups, kernelSize, kernelSize], bound, o));
    if (o.bias ?? true) this.registerParameter('bias', uniformInit([outChannels], bound, o));
  }
  get weight(): Tensor {
    return this.tensor('weight');
  }
  get bias(): Tensor | null {
    return this.namedParameters().get('bias') ?? null;
  }
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }
}

export class GroupNorm extends Module {
  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly eps = 1e-5,
    o: InitOptions = {},
  ) {
    super();
    if (numChannels % numGroups !== 0) throw new RangeError(`GroupNorm: ${numChannels} channels do not split into ${numGroups} groups`);
    this.registerParameter('weight', ones([numChannels], { device: o.device }));
    this.registerParameter('bias', zeros([numChannels], { device: o.device }));
  }
  forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.numGroups, this.tensor('weight'), this.tensor('bias'), this.eps);
  }
}

export class LayerNorm extends Module {
  constructor(
    readonly normalizedShape: number[],
    readonly eps = 1e-5,
    o: InitOptions = {},
  ) {
    super();
    this.registerParameter('weight', ones(normalizedShape, { device: o.device }));
    this.registerParameter('bias', zeros(normalizedShape, { device: o.device }));
  }
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.tensor('weight'), this.tensor('bias'), this.eps);
  }
}

/** Dropout whose masks come from the module tree's generator (see Module.setGenerator). */
export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training, this.generator);
  }
}
