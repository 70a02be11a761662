/**
 * Adam (Kingma & Ba 2015), step for step as PyTorch's torch.optim.Adam (single-tensor path):
 *
 *   t <- t + 1;  g <- g + weight_decay * theta                 (L2 penalty, unless decoupled)
 *   m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2
 *   theta <- theta - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * With decoupledWeightDecay (AdamW, Loshchilov & Hutter 2019, torch.optim.AdamW) the penalty is
 * theta <- theta (1 - lr weight_decay) before the update instead.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { AdamFamily, checkBetas, checkNonNegative, updateFirstMoment, type MomentState } from './optimizer.js';

/** Options of {@link Adam}; defaults are PyTorch's. */
export interface AdamOptions {
  /** Learning rate (default 1e-3; iCT uses 1e-4). */
  lr?: number;
  /** [beta1, beta2] (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** Weight decay (default 0). */
  weightDecay?: number;
  /** AdamW's decoupled decay instead of an L2 penalty on the gradient (default false). */
  decoupledWeightDecay?: boolean;
}

export class Adam extends AdamFamily {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupledWeightDecay: boolean;

  constructor(params: Module | Map<string, Tensor>, options: AdamOptions = {}) {
    super('Adam', params, options.lr ?? 1e-3);
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    this.decoupledWeightDecay = options.decoupledWeightDecay ?? false;
    checkBetas('Adam', this.betas);
    checkNonNegative('Adam', 'eps', this.eps);
    checkNonNegative('Adam', 'weightDecay', this.weightDecay);
  }

  protected update(param: Tensor, grad: Tensor, st: MomentState): void {
    const [beta1, beta2] = this.betas;
    st.step += 1;
    let g = grad;
    if (this.weightDecay !== 0) {
      if (this.decoupledWeightDecay) param.mul_(1 - this.lr * this.weightDecay);
      else g = grad.clone().add_(param, this.weightDecay); // grad + wd * theta, one fused op as PyTorch's add(alpha=)
    }
    updateFirstMoment(st.expAvg, g, beta1);
    st.expAvgSq.mul_(beta2).addcmul_(g, g, 1 - beta2);
    const biasCorrection1 = 1 - beta1 ** st.step;
    const biasCorrection2 = 1 - beta2 ** st.step;
    const stepSize = this.lr / biasCorrection1;
    const denom = st.expAvgSq.sqrt().div_(Math.sqrt(biasCorrection2)).add_(this.eps);
    param.addcdiv_(st.expAvg, denom, -stepSize);
  }
}
