/**
 * The fully connected layer, y = x W^T + b (weight [out, in], PyTorch's layout and parameter
 * names). Its initialization is PyTorch's nn.Linear default (weight and bias uniform in
 * ±1/sqrt(fan_in)) unless `init` names one of the fan-scaled schemes of EDM's networks (init.ts).
 */
import { Module } from './module.js';
import { Tensor } from '../tensor/tensor.js';
import { empty } from '../tensor/creation.js';
import * as F from '../tensor/functional.js';
import { initTensor, type ParameterOptions, type WeightInit } from './init.js';
import { uniformInit } from './layers.js';

export interface LinearOptions extends ParameterOptions {
  /** Adds the bias b (default true). */
  bias?: boolean | undefined;
  /** Weight and bias initialization with fanIn = inFeatures, fanOut = outFeatures (default: PyTorch's nn.Linear). */
  init?: WeightInit | undefined;
}

export class Linear extends Module {
  readonly hasBias: boolean;
  /**
   * @example new Linear(128, 512).forward(x) // x [N, 128] -> [N, 512], PyTorch's default initialization
   * @example new Linear(128, 512, { init: { mode: 'xavier_uniform' } }) // EDM's initialization
   */
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    o: LinearOptions = {},
  ) {
    super();
    this.hasBias = o.bias ?? true;
    const init = o.init;
    const make = (shape: number[], gain: number): Tensor => {
      if (init) return initTensor(shape, init.mode, inFeatures, outFeatures, gain, o);
      if (o.values === 'uninitialized') return empty(shape, { device: o.device });
      return uniformInit(shape, 1 / Math.sqrt(inFeatures), o);
    };
    this.registerParameter('weight', make([outFeatures, inFeatures], init?.weightGain ?? 1));
    if (this.hasBias) this.registerParameter('bias', make([outFeatures], init?.biasGain ?? 0));
  }

  get weight(): Tensor {
    return this.tensor('weight');
  }
  get bias(): Tensor | null {
    return this.hasBias ? this.tensor('bias') : null;
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}
