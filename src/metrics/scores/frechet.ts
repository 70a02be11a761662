/**
 * Gaussian fits of feature sets and the Frechet distance between them (Heusel et al. 2017, "GANs
 * trained by a two time-scale update rule", the FID):
 *
 *     d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr( (S1^(1/2) S2 S1^(1/2))^(1/2) )
 *
 * The usual code takes scipy's sqrtm of the non-symmetric S1 S2, which can come back complex or
 * inaccurate for rank-deficient covariances. Here every square root is of a symmetric positive
 * semi-definite matrix, taken with eigh in float64: S1^(1/2) = V diag(sqrt(max(l, 0))) V^T, and
 * tr(M^(1/2)) = sum sqrt(max(eig(M), 0)) for M = S1^(1/2) S2 S1^(1/2) (same trace as sqrtm(S1 S2),
 * since the two matrices are similar).
 *
 * Statistics are saved with the reference files of src/metrics/evaluation/reference.ts, so a dataset's
 * reference statistics are computed once.
 */
import { Tensor } from '../../tensor/tensor.js';
import { tensor, eigh } from '../../tensor/creation.js';
import { tidy, keep } from '../../tensor/scope.js';
import { InputError } from '../../util/input-error.js';

/** A Gaussian fit of N feature vectors of dimension D. */
export interface FeatureStats {
  /** Which network and layer the features come from (stats of different features do not compare). */
  feature: string;
  /** Number of feature vectors. */
  count: number;
  dim: number;
  /** Mean, D values. */
  mu: Float64Array;
  /** Unbiased covariance (divides by N - 1, like numpy.cov), D*D values row-major. */
  sigma: Float64Array;
}

/** A statistics file that cannot be used: the message names the file. */
export class FeatureStatsError extends InputError {
  override name = 'FeatureStatsError';
}

/**
 * Accumulates the sum and the sum of outer products of feature batches in float64 (on the
 * batches' device), so statistics of 50,000 features never hold all of them at once.
 */
export class FeatureStatsAccumulator {
  #sum: Tensor | null = null;
  #outer: Tensor | null = null;
  #count = 0;
  constructor(readonly feature: string) {}

  get count(): number {
    return this.#count;
  }

  /** Adds a batch of features [B, D]. */
  add(features: Tensor): void {
    if (features.rank !== 2) throw new RangeError(`FeatureStatsAccumulator: features must be [B, D], got [${features.shape.join(', ')}]`);
    const [b, d] = features.shape as [number, number];
    if (b === 0) return;
    const [sum, outer] = tidy(() => {
      const x = features.toDtype('float64');
      const s = x.sum(0);
      const o = x.transpose(0, 1).matmul(x);
      if (this.#sum === null || this.#outer === null) return [s, o];
      if (this.#sum.shape[0] !== d) throw new RangeError(`FeatureStatsAccumulator: feature dimension changed from ${this.#sum.shape[0]} to ${d}`);
      return [this.#sum.add(s), this.#outer.add(o)];
    });
    this.#sum?.dispose();
    this.#outer?.dispose();
    // Kept: the running sums outlive any scope the caller adds batches in.
    this.#sum = keep(sum);
    this.#outer = keep(outer);
    this.#count += b;
  }

  /** The mean and unbiased covariance of everything added (needs at least 2 vectors). */
  finish(): FeatureStats {
    if (this.#sum === null || this.#outer === null || this.#count < 2)
      throw new RangeError(`FeatureStatsAccumulator: need at least 2 feature vectors, got ${this.#count}`);
    const n = this.#count;
    const sum = this.#sum;
    const outer = this.#outer;
    const [mu, sigma] = tidy(() => {
      const m = sum.div(n);
      // (sum x x^T - n mu mu^T) / (n - 1), symmetrized against rounding.
      const c = outer.sub(m.outer(m).mul(n)).div(n - 1);
      return [m.toFloat64Array(), c.add(c.transpose(0, 1)).mul(0.5).toFloat64Array()];
    });
    return { feature: this.feature, count: n, dim: mu.length, mu, sigma };
  }

  dispose(): void {
    this.#sum?.dispose();
    this.#outer?.dispose();
    this.#sum = this.#outer = null;
  }
}

/** Mean and covariance of features [N, D] in one go. */
export function featureStats(features: Tensor, feature: string): FeatureStats {
  const acc = new FeatureStatsAccumulator(feature);
  try {
    acc.add(features);
    return acc.finish();
  } finally {
    acc.dispose();
  }
}

/**
 * Eigenvalues of a symmetric PSD matrix with rounding noise removed: values below
 * D * eps * max|l| are below the matrix's numerical resolution and set to 0 (their square roots,
 * ~1e-8 each, would otherwise add up to visible noise for rank-deficient covariances).
 */
function psdEigenvalues(eigenvalues: Tensor): Tensor {
  const n = eigenvalues.shape[0]!;
  const floor = n * 2.220446049250313e-16 * eigenvalues.abs().max().item();
  return eigenvalues.mul(eigenvalues.gt(floor).toDtype(eigenvalues.dtype));
}

/** Symmetric PSD square root via eigh: V diag(sqrt(l)) V^T (call inside tidy). */
function psdSqrt(a: Tensor): Tensor {
  const { eigenvalues, eigenvectors } = eigh(a);
  return eigenvectors.mul(psdEigenvalues(eigenvalues).sqrt()).matmul(eigenvectors.transpose(0, 1));
}

/** The parts of the squared Frechet distance, for reports and tests. */
export interface FrechetParts {
  /** |mu1 - mu2|^2 */
  meanTerm: number;
  /** tr(S1) + tr(S2) - 2 tr((S1^(1/2) S2 S1^(1/2))^(1/2)) */
  covTerm: number;
  distance: number;
}

/** The Frechet distance (squared, as FID reports it) between two Gaussians, in float64. */
export function frechetDistanceParts(a: Pick<FeatureStats, 'mu' | 'sigma'>, b: Pick<FeatureStats, 'mu' | 'sigma'>): FrechetParts {
  const d = a.mu.length;
  if (b.mu.length !== d || a.sigma.length !== d * d || b.sigma.length !== d * d) {
    throw new RangeError(`frechetDistance: dimensions differ (mu ${a.mu.length} vs ${b.mu.length}, sigma ${a.sigma.length} vs ${b.sigma.length})`);
  }
  return tidy(() => {
    const mu1 = tensor(a.mu, [d], { device: 'cpu' });
    const mu2 = tensor(b.mu, [d], { device: 'cpu' });
    const s1 = tensor(a.sigma, [d, d], { device: 'cpu' });
    const s2 = tensor(b.sigma, [d, d], { device: 'cpu' });
    const meanTerm = mu1.sub(mu2).square().sum().item();
    const root1 = psdSqrt(s1.add(s1.transpose(0, 1)).mul(0.5));
    const m = root1.matmul(s2).matmul(root1);
    const traceSqrt = psdEigenvalues(eigh(m.add(m.transpose(0, 1)).mul(0.5)).eigenvalues)
      .sqrt()
      .sum()
      .item();
    const covTerm = s1.trace().item() + s2.trace().item() - 2 * traceSqrt;
    return { meanTerm, covTerm, distance: meanTerm + covTerm };
  });
}

/** The Frechet distance between two feature-statistics sets (they must describe the same features). */
export function frechetDistance(a: FeatureStats, b: FeatureStats): number {
  if (a.feature !== b.feature)
    throw new FeatureStatsError(`frechetDistance: statistics of '${a.feature}' features cannot be compared with '${b.feature}' features`);
  return frechetDistanceParts(a, b).distance;
}
