/**
 * The distance d(student, teacher) of the consistency loss (docs/method.md section 4), one value per sample.
 * Each metric takes two tensors [N, ...] of the same shape and returns [N]; the loss weighs and
 * averages them.
 *
 * - pseudo-Huber (iCT): sqrt(||a - b||_2^2 + c^2) - c over the whole sample (not per element),
 *   c = 0.00054 sqrt(D) with D the number of values in one sample.
 * - squared L2: ||a - b||_2^2, and L1: ||a - b||_1 (the norms as the consistency-models paper
 *   defines them: sums over the sample; its code averages instead, a constant factor 1/D).
 * - LPIPS (original CT): a learned network the user plugs in as a {@link LearnedMetric}.
 */
import type { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { pseudoHuberC } from './scalings.js';
import { METRIC_KINDS, type MetricConfig } from './presets.js';

/** A per-sample distance: two [N, ...] tensors in, [N] out. */
export type SampleDistance = (a: Tensor, b: Tensor) => Tensor;

/** A learned metric such as LPIPS: `distance(a, b)` returns one value per sample, [N]. */
export interface LearnedMetric {
  distance(a: Tensor, b: Tensor): Tensor;
}

/** The metric names {@link sampleDistance} accepts. */
export { METRIC_KINDS };

/** Checks that a and b are batches of the same shape and returns [N, D]. */
function batchShape(fn: string, a: Tensor, b: Tensor): [number, number] {
  const sa = a.shape;
  const sb = b.shape;
  if (sa.length < 1 || sa.join(',') !== sb.join(','))
    throw new RangeError(`${fn}: a and b must be batches [N, ...] of the same shape, got [${sa.join(', ')}] and [${sb.join(', ')}]`);
  const n = sa[0]!;
  const d = sa.slice(1).reduce((x, y) => x * y, 1);
  return [n, d];
}

/** ||a - b||_2^2 per sample. */
export function squaredL2Distance(a: Tensor, b: Tensor): Tensor {
  const [n, d] = batchShape('squaredL2Distance', a, b);
  return tidy(() => a.sub(b).reshape([n, d]).square().sum(1));
}

/** ||a - b||_1 per sample. */
export function l1Distance(a: Tensor, b: Tensor): Tensor {
  const [n, d] = batchShape('l1Distance', a, b);
  return tidy(() => a.sub(b).reshape([n, d]).abs().sum(1));
}

/**
 * iCT's pseudo-Huber distance on the whole sample (docs/method.md section 4):
 * sqrt(||a - b||_2^2 + c^2) - c, with c = 0.00054 sqrt(D) unless given.
 *
 * @example pseudoHuberDistance(a, b) // [N]; for 3x32x32 samples c = 0.0299
 */
export function pseudoHuberDistance(a: Tensor, b: Tensor, c?: number): Tensor {
  const [n, d] = batchShape('pseudoHuberDistance', a, b);
  const cc = c ?? pseudoHuberC(d);
  if (typeof cc !== 'number' || !Number.isFinite(cc) || cc <= 0)
    throw new RangeError(`pseudoHuberDistance: c must be a finite number > 0, got ${cc}`);
  return tidy(() =>
    a
      .sub(b)
      .reshape([n, d])
      .square()
      .sum(1)
      .add(cc * cc)
      .sqrt()
      .sub(cc),
  );
}

/** Options of {@link sampleDistance}. */
export interface SampleDistanceOptions {
  /** The network behind 'lpips'. */
  learnedMetric?: LearnedMetric;
}

/**
 * The per-sample distance a metric config names (docs/method.md section 4).
 *
 * @throws RangeError for an unknown metric name, or 'lpips' without a learnedMetric.
 * @example sampleDistance({ kind: 'pseudo-huber' })(student, teacher) // [N]
 */
export function sampleDistance(metric: MetricConfig, options: SampleDistanceOptions = {}): SampleDistance {
  switch (metric.kind) {
    case 'pseudo-huber': {
      const c = metric.c;
      return (a, b) => pseudoHuberDistance(a, b, c);
    }
    case 'l2':
      return squaredL2Distance;
    case 'l1':
      return l1Distance;
    case 'lpips': {
      const learned = options.learnedMetric;
      if (!learned || typeof learned.distance !== 'function')
        throw new RangeError(
          "sampleDistance: metric 'lpips' needs a learned network: pass a LearnedMetric ({ distance(a, b): Tensor [N] }) as learnedMetric, or choose one of pseudo-huber, l2, l1",
        );
      return (a, b) => {
        const [n] = batchShape('lpips', a, b);
        const out = learned.distance(a, b);
        if (out.shape.join(',') !== String(n)) throw new RangeError(`lpips: the learned metric must return [${n}], got [${out.shape.join(', ')}]`);
        return out;
      };
    }
    default:
      throw new RangeError(`sampleDistance: metric must be one of ${METRIC_KINDS.join(', ')}, got ${String((metric as { kind: unknown }).kind)}`);
  }
}
