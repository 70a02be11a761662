/**
 * k-NN precision and recall of generated samples (Kynkaanniemi et al. 2019, "Improved precision
 * and recall metric for assessing generative models"), computed as the guided-diffusion
 * evaluator does: each set's manifold is the union of balls around its points whose radius is the
 * distance to the point's k-th nearest neighbour in the same set (k = 3; the point itself counts
 * as the 0-th). Precision = fraction of generated points inside the real manifold; recall =
 * fraction of real points inside the generated manifold. Distances are computed block by block
 * (cdist) so 50,000 x 50,000 pairs never exist at once.
 */
import { Tensor } from '../../tensor/tensor.js';
import { cdist, cat } from '../../tensor/creation.js';
import { tidy } from '../../tensor/scope.js';

export interface PrecisionRecallOptions {
  /** Neighbourhood size k (default 3). */
  k?: number | undefined;
  /** Rows per distance block (default 1000). */
  blockSize?: number | undefined;
}

export interface PrecisionRecall {
  precision: number;
  recall: number;
}

/** Distance from each row of `x` [N, D] to its k-th nearest other row (self excluded by counting it as the 0-th). */
export function manifoldRadii(x: Tensor, k = 3, blockSize = 1000): Tensor {
  const n = x.shape[0]!;
  if (!Number.isInteger(k) || k < 1 || k >= n) throw new RangeError(`manifoldRadii: k must be in 1..${n - 1}, got ${k}`);
  return tidy(() => {
    const parts: Tensor[] = [];
    for (let i = 0; i < n; i += blockSize) {
      const d = cdist(x.slice(0, i, Math.min(n, i + blockSize)), x);
      parts.push(d.kthvalue(k + 1, 1).values);
    }
    return cat(parts, 0);
  });
}

/**
 * Per row of `a`: is it inside some ball (b_j, radiiB_j)? Returned as a boolean tensor [Na].
 * Works block by block over both sets.
 */
export function insideManifold(a: Tensor, b: Tensor, radiiB: Tensor, blockSize = 1000): Tensor {
  const na = a.shape[0]!;
  const nb = b.shape[0]!;
  return tidy(() => {
    const parts: Tensor[] = [];
    for (let i = 0; i < na; i += blockSize) {
      const rows = a.slice(0, i, Math.min(na, i + blockSize));
      let inside: Tensor | null = null;
      for (let j = 0; j < nb; j += blockSize) {
        const end = Math.min(nb, j + blockSize);
        const hit = cdist(rows, b.slice(0, j, end))
          .le(radiiB.slice(0, j, end).unsqueeze(0))
          .sum(1)
          .gt(0);
        inside = inside === null ? hit : inside.logicalOr(hit);
      }
      parts.push(inside!);
    }
    return cat(parts, 0);
  });
}

/** Precision and recall of `generated` features against `real` features (both [N, D]). */
export function precisionRecall(real: Tensor, generated: Tensor, o: PrecisionRecallOptions = {}): PrecisionRecall {
  const k = o.k ?? 3;
  const block = o.blockSize ?? 1000;
  if (real.rank !== 2 || generated.rank !== 2 || real.shape[1] !== generated.shape[1]) {
    throw new RangeError(
      `precisionRecall: features must be [N, D] with the same D, got [${real.shape.join(', ')}] and [${generated.shape.join(', ')}]`,
    );
  }
  return tidy(() => {
    const radiiReal = manifoldRadii(real, k, block);
    const radiiGen = manifoldRadii(generated, k, block);
    const precision = insideManifold(generated, real, radiiReal, block).toDtype('float64').mean().item();
    const recall = insideManifold(real, generated, radiiGen, block).toDtype('float64').mean().item();
    return { precision, recall };
  });
}
