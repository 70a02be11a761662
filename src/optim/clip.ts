/**
 * Gradient clipping by global norm, as PyTorch's torch.nn.utils.clip_grad_norm_ (2-norm):
 * total = ||(||g_1||, ..., ||g_n||)||;  every g_k <- g_k * min(1, max_norm / (total + 1e-6)).
 */
import type { Tensor } from '../tensor/tensor.js';
import { stack } from '../tensor/creation.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/scope.js';
import type { Module } from '../nn/module.js';

function gradsOf(params: Module | Map<string, Tensor> | Iterable<Tensor>): Tensor[] {
  const list = params instanceof Map ? [...params.values()] : 'namedParameters' in params ? params.parameters() : [...params];
  const grads: Tensor[] = [];
  for (const p of list) {
    const g = p.grad;
    if (g !== null) grads.push(g);
  }
  return grads;
}

/** The 2-norm of all gradients together, as a float32 scalar tensor (0 when none has a gradient). */
function totalNorm(grads: Tensor[]): Tensor | null {
  if (grads.length === 0) return null;
  return stack(grads.map((g) => g.norm(2))).norm(2);
}

/** The global 2-norm of the parameters' gradients (0 when none has one). */
export function gradNorm(params: Module | Map<string, Tensor> | Iterable<Tensor>): number {
  return tidy(() => noGrad(() => totalNorm(gradsOf(params))?.item() ?? 0));
}

/**
 * Scales the gradients in place so that their global 2-norm is at most maxNorm; returns the norm
 * before clipping.
 *
 * @param maxNorm a finite number > 0.
 * @example clipGradNorm(model, 1.0)
 */
export function clipGradNorm(params: Module | Map<string, Tensor> | Iterable<Tensor>, maxNorm: number): number {
  if (typeof maxNorm !== 'number' || !Number.isFinite(maxNorm) || maxNorm <= 0)
    throw new RangeError(`clipGradNorm: maxNorm must be a finite number > 0, got ${maxNorm}`);
  return tidy(() =>
    noGrad(() => {
      const grads = gradsOf(params);
      const total = totalNorm(grads);
      if (total === null) return 0;
      const coef = total.add(1e-6).rdiv(maxNorm).clamp(null, 1);
      for (const g of grads) g.mul_(coef);
      return total.item();
    }),
  );
}
