/**
 * Kernel Inception distance (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased
 * estimate of the squared MMD between real and generated features with the cubic polynomial
 * kernel k(x, y) = (x.y / D + 1)^3, averaged over random subsets (100 subsets of 1,000 by default,
 * fewer when there are fewer samples). Unlike FID it is unbiased, so it is usable with a few
 * hundred samples.
 */
import { Tensor } from '../../tensor/tensor.js';
import { randperm } from '../../tensor/creation.js';
import { tidy } from '../../tensor/scope.js';
import { Generator } from '../../tensor/random.js';

export interface KidOptions {
  /** Number of random subsets (default 100). */
  subsets?: number | undefined;
  /** Size of each subset (default 1000, capped at the smaller set's size). */
  subsetSize?: number | undefined;
  /** Seed of the subset draws (default 0). */
  seed?: number | undefined;
}

export interface KernelInceptionDistance {
  mean: number;
  std: number;
  subsetSize: number;
  subsets: number;
}

/** Unbiased MMD^2 between x [m, D] and y [n, D] with the cubic polynomial kernel (float64). */
export function polynomialMmd2(x: Tensor, y: Tensor): number {
  const m = x.shape[0]!;
  const n = y.shape[0]!;
  const d = x.shape[1]!;
  if (m < 2 || n < 2 || y.shape[1] !== d)
    throw new RangeError(`polynomialMmd2: need [m >= 2, D] and [n >= 2, D], got [${x.shape.join(', ')}] and [${y.shape.join(', ')}]`);
  return tidy(() => {
    const a = x.toDtype('float64');
    const b = y.toDtype('float64');
    const kernel = (p: Tensor, q: Tensor): Tensor => p.matmul(q.transpose(0, 1)).div(d).add(1).pow(3);
    const kxx = kernel(a, a);
    const kyy = kernel(b, b);
    const offDiag = (k: Tensor): number => k.sum().item() - k.trace().item();
    return offDiag(kxx) / (m * (m - 1)) + offDiag(kyy) / (n * (n - 1)) - (2 * kernel(a, b).sum().item()) / (m * n);
  });
}

/** KID of generated against real features: mean and std of the subset MMD^2 estimates. */
export function kernelInceptionDistance(real: Tensor, generated: Tensor, o: KidOptions = {}): KernelInceptionDistance {
  const size = Math.min(o.subsetSize ?? 1000, real.shape[0]!, generated.shape[0]!);
  const subsets = o.subsets ?? 100;
  if (size < 2) throw new RangeError(`kernelInceptionDistance: need at least 2 samples in each set, got ${real.shape[0]} and ${generated.shape[0]}`);
  // Subsets are drawn on the CPU so a seed gives the same subsets on every device.
  const generator = new Generator(o.seed ?? 0, 'cpu');
  const values: number[] = [];
  for (let s = 0; s < subsets; s++) {
    values.push(
      tidy(() => {
        const ir = randperm(real.shape[0]!, { generator, device: 'cpu' }).slice(0, 0, size).to({ device: real.device });
        const ig = randperm(generated.shape[0]!, { generator, device: 'cpu' }).slice(0, 0, size).to({ device: generated.device });
        return polynomialMmd2(real.indexSelect(0, ir), generated.indexSelect(0, ig));
      }),
    );
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std, subsetSize: size, subsets };
}
