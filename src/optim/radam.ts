/**
 * RAdam (Liu et al. 2020, "On the variance of the adaptive learning rate and beyond"), step for
 * step as PyTorch's torch.optim.RAdam:
 *
 *   t <- t + 1;  g <- g + weight_decay * theta
 *   m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2;   m_hat = m / (1 - beta1^t)
 *   rho_inf = 2 / (1 - beta2) - 1;   rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
 *   rho_t > 5:  r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
 *               theta <- theta - lr m_hat r_t sqrt(1 - beta2^t) / (sqrt(v) + eps)
 *   otherwise:  theta <- theta - lr m_hat          (SGD with momentum while the variance is untrustworthy)
 */
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import { AdamFamily, checkBetas, checkNonNegative, updateFirstMoment, type MomentState } from './optimizer.js';

/** Options of {@link RAdam}; defaults are PyTorch's. */
export interface RAdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** [beta1, beta2] (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Added to sqrt(v) (default 1e-8). */
  eps?: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay?: number;
}

/** The rectification threshold on rho_t. */
const RHO_THRESHOLD = 5;

export class RAdam extends AdamFamily {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;

  constructor(params: Module | Map<string, Tensor>, options: RAdamOptions = {}) {
    super('RAdam', params, options.lr ?? 1e-3);
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    checkBetas('RAdam', this.betas);
    checkNonNegative('RAdam', 'eps', this.eps);
    checkNonNegative('RAdam', 'weightDecay', this.weightDecay);
  }

  protected update(param: Tensor, grad: Tensor, st: MomentState): void {
    const [beta1, beta2] = this.betas;
    st.step += 1;
    const t = st.step;
    const biasCorrection1 = 1 - beta1 ** t;
    const biasCorrection2 = 1 - beta2 ** t;
    const g = this.weightDecay !== 0 ? grad.clone().add_(param, this.weightDecay) : grad;
    updateFirstMoment(st.expAvg, g, beta1);
    st.expAvgSq.mul_(beta2).addcmul_(g, g, 1 - beta2);
    const mHat = st.expAvg.div(biasCorrection1);
    const rhoInf = 2 / (1 - beta2) - 1;
    const rhoT = rhoInf - (2 * t * beta2 ** t) / biasCorrection2;
    if (rhoT > RHO_THRESHOLD) {
      const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
      const adaptiveLr = st.expAvgSq.sqrt().add_(this.eps).rdiv(Math.sqrt(biasCorrection2));
      param.add_(mHat.mul(this.lr).mul(adaptiveLr).mul(rect), -1);
    } else {
      param.add_(mHat.mul(this.lr), -1);
    }
  }
}
