/**
 * The consistency function f(x, sigma) around a raw network F (docs/method.md section 1; after EDM's
 * preconditioning): the network never sees sigma_data, only c_in * x and c_noise.
 *
 *   f(x, sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma) [, class label])
 *
 * The four factors are computed per sample in float64 by consistencyScalings and only then cast to
 * the data's dtype, so that at sigma = sigma_min c_skip is exactly 1 and c_out exactly 0, and
 * f(x, sigma_min) = x holds bit for bit (the boundary condition).
 */
import { Tensor } from '../tensor/tensor.js';
import { tensor, where } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import type { Generator } from '../tensor/random.js';
import { consistencyScalings, type ConsistencyScalings, type NoiseEmbedding } from './scalings.js';
import type { MethodConfig } from './presets.js';

/**
 * A raw network F: any object with this forward (a Module subclass fits).
 * `noiseLabels` is c_noise per sample [N]; `classLabels` (e.g. int64 [N]) is passed through.
 */
export interface ConsistencyNetwork {
  forward(x: Tensor, noiseLabels: Tensor, classLabels?: Tensor): Tensor;
  /** The generator dropout masks come from (Module.setGenerator); see ConsistencyLoss. */
  generator?: Generator | undefined;
  /** Training mode (dropout on), as Module.training. */
  training?: boolean;
}

/** Options of {@link ConsistencyDenoiser}; a MethodConfig carries sigmaMin and sigmaData. */
export interface DenoiserOptions {
  /** sigma_min, where f(x, sigma_min) = x (default 0.002). */
  sigmaMin?: number;
  /** sigma_data (default 0.5). */
  sigmaData?: number;
  /** 'fourier' (c_noise = 0.25 ln sigma, default) or 'positional' (1000 * 0.25 ln(sigma + 1e-44)). */
  noiseEmbedding?: NoiseEmbedding;
}

/**
 * Noise levels for a batch: one number for every sample, or one per sample (an array, or a
 * tensor [N] whose values are read back as float64).
 */
export type SigmaInput = number | ArrayLike<number> | Tensor;

function isTensor(v: SigmaInput): v is Tensor {
  return v instanceof Tensor;
}

/** The consistency function f of docs/method.md section 1 around a network F (of type Net, so a Module stays one). */
export class ConsistencyDenoiser<Net extends ConsistencyNetwork = ConsistencyNetwork> {
  readonly sigmaMin: number;
  readonly sigmaData: number;
  readonly noiseEmbedding: NoiseEmbedding;

  /** f for a method config's sigma_min, sigma_data and c_noise form. */
  static forMethod<N extends ConsistencyNetwork>(
    network: N,
    method: Pick<MethodConfig, 'sigmaMin' | 'sigmaData' | 'noiseEmbedding'>,
  ): ConsistencyDenoiser<N> {
    return new ConsistencyDenoiser(network, { sigmaMin: method.sigmaMin, sigmaData: method.sigmaData, noiseEmbedding: method.noiseEmbedding });
  }

  constructor(
    readonly network: Net,
    options: DenoiserOptions = {},
  ) {
    this.sigmaMin = options.sigmaMin ?? 0.002;
    this.sigmaData = options.sigmaData ?? 0.5;
    this.noiseEmbedding = options.noiseEmbedding ?? 'fourier';
    // Validates the options once (throws a RangeError naming the bad one).
    consistencyScalings(this.sigmaMin, this.scalingOptions());
  }

  private scalingOptions(): { sigmaMin: number; sigmaData: number; noiseEmbedding: NoiseEmbedding } {
    return { sigmaMin: this.sigmaMin, sigmaData: this.sigmaData, noiseEmbedding: this.noiseEmbedding };
  }

  /**
   * The per-sample noise levels as float64 numbers, checked (each finite, >= sigma_min).
   * A float32 (or lower precision) tensor cannot hold sigma_min exactly; its values that round to
   * the same float32 as sigma_min are taken as sigma_min, so the boundary condition still holds.
   */
  perSampleSigmas(sigma: SigmaInput, batch: number): number[] {
    let values: number[];
    if (typeof sigma === 'number') values = new Array<number>(batch).fill(sigma);
    else if (isTensor(sigma)) {
      if (sigma.rank !== 1) throw new RangeError(`ConsistencyDenoiser: a sigma tensor must be [N], got [${sigma.shape.join(', ')}]`);
      values = Array.from(sigma.toFloat64Array());
      if (sigma.dtype !== 'float64') {
        const lowMin = Math.fround(this.sigmaMin);
        values = values.map((v) => (Math.fround(v) === lowMin ? this.sigmaMin : v));
      }
    } else values = Array.from(sigma);
    if (values.length !== batch) throw new RangeError(`ConsistencyDenoiser: sigma must give one level per sample (${batch}), got ${values.length}`);
    return values;
  }

  /** c_skip, c_out, c_in, c_noise for each level (float64; docs/method.md section 1). */
  scalings(sigmas: readonly number[]): ConsistencyScalings[] {
    const opts = this.scalingOptions();
    return sigmas.map((s) => consistencyScalings(s, opts));
  }

  /**
   * f(x, sigma): x is [N, ...] (any trailing shape), sigma one level or N levels.
   *
   * @throws RangeError for a sigma that is not a finite number >= sigma_min, or a network output
   *   whose shape differs from x's.
   * @example new ConsistencyDenoiser(net).forward(x, 80) // one-step sample from x = 80 z
   */
  forward(x: Tensor, sigma: SigmaInput, classLabels?: Tensor): Tensor {
    const shape = x.shape;
    const batch = shape[0];
    if (batch === undefined) throw new RangeError('ConsistencyDenoiser: x must have a batch dimension, got a 0-d tensor');
    const sc = this.scalings(this.perSampleSigmas(sigma, batch));
    const device = x.device;
    const dtype = x.dtype;
    // [N, 1, ..., 1] so each factor broadcasts over its sample.
    const perSample = [batch, ...shape.slice(1).map(() => 1)];
    const column = (values: number[], s: number[]): Tensor => {
      const t = tensor(Float64Array.from(values), s, { dtype: 'float64', device });
      if (dtype === 'float64') return t;
      const c = t.toDtype(dtype);
      t.dispose();
      return c;
    };
    return tidy(() => {
      const cSkip = column(
        sc.map((c) => c.cSkip),
        perSample,
      );
      const cOut = column(
        sc.map((c) => c.cOut),
        perSample,
      );
      const cIn = column(
        sc.map((c) => c.cIn),
        perSample,
      );
      const cNoise = column(
        sc.map((c) => c.cNoise),
        [batch],
      );
      const F = this.network.forward(x.mul(cIn), cNoise, classLabels);
      if (F.shape.join(',') !== shape.join(','))
        throw new RangeError(`ConsistencyDenoiser: the network returned [${F.shape.join(', ')}] for an input of [${shape.join(', ')}]`);
      const out = x.mul(cSkip).add(F.mul(cOut));
      // Samples at sigma_min return x itself, so the boundary condition holds even for -0 or a
      // non-finite F (where 0 * F would not vanish).
      if (!sc.some((c) => c.cOut === 0)) return out;
      return where(cOut.eq(0), x, out);
    });
  }
}
