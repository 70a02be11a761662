/**
 * The consistency model's preconditioning (docs/method.md section 1), kept apart from the network as in
 * EDM: f(x, sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma)).
 * Also the constant of the pseudo-Huber metric (docs/method.md section 4).
 */

/** How the network embeds the noise level (docs/method.md section 1). */
/** The c_noise conventions (written once; the type and the checks derive from it). */
export const NOISE_EMBEDDINGS = ['fourier', 'positional'] as const;
export type NoiseEmbedding = (typeof NOISE_EMBEDDINGS)[number];

/** Options of {@link consistencyScalings}. */
export interface ScalingOptions {
  /** sigma_min, where f(x, sigma_min) = x (default 0.002). */
  sigmaMin?: number;
  /** sigma_data, the standard deviation of the data (default 0.5). */
  sigmaData?: number;
  /**
   * 'fourier' (NCSN++, CIFAR-10): c_noise = 0.25 ln(sigma);
   * 'positional' (ADM, ImageNet): c_noise = 1000 * 0.25 ln(sigma + 1e-44). Default 'fourier'.
   */
  noiseEmbedding?: NoiseEmbedding;
}

/** The four preconditioning factors at one noise level. */
export interface ConsistencyScalings {
  /** c_skip = sigma_data^2 / ((sigma - sigma_min)^2 + sigma_data^2). */
  cSkip: number;
  /** c_out = sigma_data (sigma - sigma_min) / sqrt(sigma_data^2 + sigma^2). */
  cOut: number;
  /** c_in = 1 / sqrt(sigma^2 + sigma_data^2). */
  cIn: number;
  /** c_noise, the network's noise-level input. */
  cNoise: number;
}

/**
 * c_skip, c_out, c_in and c_noise at noise level sigma (docs/method.md section 1).
 * At sigma = sigma_min the formulas give c_skip = 1 and c_out = 0 exactly in float64
 * (sigma - sigma_min is exactly 0, and x / x is exactly 1), so f(x, sigma_min) = x bit for bit.
 *
 * @param sigma the noise level, finite and >= sigmaMin.
 * @example consistencyScalings(0.002) // { cSkip: 1, cOut: 0, cIn: 1.99998..., cNoise: -1.5536... }
 */
export function consistencyScalings(sigma: number, opts: ScalingOptions = {}): ConsistencyScalings {
  const fn = 'consistencyScalings';
  const { sigmaMin = 0.002, sigmaData = 0.5, noiseEmbedding = 'fourier' } = opts;
  if (!Number.isFinite(sigmaMin) || sigmaMin <= 0) throw new RangeError(`${fn}: sigmaMin must be a finite number > 0, got ${sigmaMin}`);
  if (!Number.isFinite(sigmaData) || sigmaData <= 0) throw new RangeError(`${fn}: sigmaData must be a finite number > 0, got ${sigmaData}`);
  if (!(NOISE_EMBEDDINGS as readonly string[]).includes(noiseEmbedding))
    throw new RangeError(`${fn}: noiseEmbedding must be one of ${NOISE_EMBEDDINGS.join(', ')}, got ${String(noiseEmbedding)}`);
  if (typeof sigma !== 'number' || !Number.isFinite(sigma) || sigma <= 0)
    throw new RangeError(`${fn}: sigma must be a finite number > 0, got ${sigma}`);
  if (sigma < sigmaMin) throw new RangeError(`${fn}: sigma must be >= sigmaMin=${sigmaMin}, got ${sigma}`);
  const sd2 = sigmaData * sigmaData;
  const d = sigma - sigmaMin; // exactly 0 at sigma = sigmaMin
  const cSkip = sd2 / (d * d + sd2);
  const cOut = (sigmaData * d) / Math.sqrt(sd2 + sigma * sigma);
  const cIn = 1 / Math.sqrt(sigma * sigma + sd2);
  const cNoise = noiseEmbedding === 'fourier' ? 0.25 * Math.log(sigma) : 1000 * 0.25 * Math.log(sigma + 1e-44);
  return { cSkip, cOut, cIn, cNoise };
}

/**
 * The pseudo-Huber constant c = 0.00054 sqrt(D) (docs/method.md section 4), D the number of values in one
 * sample (C*H*W): 0.0299 for 3x32x32, 0.0599 for 3x64x64. The metric is
 * d(a, b) = sqrt(||a - b||_2^2 + c^2) - c over the whole sample.
 *
 * @param dims D, a positive integer.
 * @example pseudoHuberC(3 * 32 * 32) // 0.029932...
 */
export function pseudoHuberC(dims: number): number {
  if (!Number.isSafeInteger(dims) || dims <= 0) throw new RangeError(`pseudoHuberC: dims must be a positive integer, got ${dims}`);
  return 0.00054 * Math.sqrt(dims);
}
