/** A fully connected layer, y = x W^T + b, with a chosen initialization (see init.ts). */
import { Module } from './module.js';
import { Tensor } from '../tensor/tensor.js';
import * as F from '../tensor/functional.js';
import { initTensor, type ParameterOptions, type WeightInit } from './init.js';

export class Dense extends Module {
  readonly hasBias: boolean;
  /**
   * @param init weight and bias initialization (fanIn = inFeatures, fanOut = outFeatures).
   * @example new Dense(128, 512, { mode: 'xavier_uniform' }).forward(x) // x [N, 128] -> [N, 512]
   */
  constructor(readonly inFeatures: number, readonly outFeatures: number, init: WeightInit, options: ParameterOptions & { bias?: boolean } = {}) {
    super();
    this.hasBias = options.bias ?? true;
    this.registerParameter('weight', initTensor([outFeatures, inFeatures], init.mode, inFeatures, outFeatures, init.weightGain ?? 1, options));
    if (this.hasBias) this.registerParameter('bias', initTensor([outFeatures], init.mode, inFeatures, outFeatures, init.biasGain ?? 0, options));
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.tensor('weight'), this.hasBias ? this.tensor('bias') : null);
  }
}
