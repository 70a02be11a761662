/**
 * Inception score (Salimans et al. 2016, "Improved techniques for training GANs"):
 * IS = exp(E_x KL(p(y|x) || p(y))), computed on `splits` consecutive parts of the samples (10 in
 * the original code), reported as the mean and standard deviation over the parts.
 *
 * The original TensorFlow code takes p(y|x) = softmax over all 1008 outputs of the Inception
 * graph's pool_3 -> logits matrix product, without the bias (`softmax/logits/MatMul`); FID
 * Inception weights ported to PyTorch (pytorch-fid) carry that layer as `fc` (1008 classes).
 */
import { Tensor } from '../../tensor/tensor.js';
import { tidy } from '../../tensor/scope.js';
import { logSoftmax } from '../../tensor/functional.js';

export interface InceptionScore {
  mean: number;
  std: number;
  /** The score of each split. */
  splits: number[];
}

/** Inception score of class logits [N, K] (softmax taken here, in float64). */
export function inceptionScore(logits: Tensor, splits = 10): InceptionScore {
  if (logits.rank !== 2) throw new RangeError(`inceptionScore: logits must be [N, K], got [${logits.shape.join(', ')}]`);
  const n = logits.shape[0]!;
  if (!Number.isInteger(splits) || splits < 1 || splits > n) throw new RangeError(`inceptionScore: splits must be in 1..${n}, got ${splits}`);
  const scores = tidy(() => {
    const logp = logSoftmax(logits.toDtype('float64'), 1);
    const out: number[] = [];
    for (let k = 0; k < splits; k++) {
      // Same split boundaries as the original code: [k*N/splits, (k+1)*N/splits).
      const part = logp.slice(0, Math.floor((k * n) / splits), Math.floor(((k + 1) * n) / splits));
      const logPy = part.logsumexp(0, true).sub(Math.log(part.shape[0]!));
      const kl = part.exp().mul(part.sub(logPy)).sum(1).mean().item();
      out.push(Math.exp(kl));
    }
    return out;
  });
  const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
  const std = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / scores.length);
  return { mean, std, splits: scores };
}
