/**
 * Exponential moving averages of a network's weights.
 *
 * - For evaluation (docs/method.md section 5): a fixed rate (0.99993 on CIFAR-10), or EDM2's power-function
 *   EMA (Karras et al. 2024, "Analyzing and improving the training dynamics of diffusion models"),
 *   whose rate at update t is beta(t) = (1 - 1/t)^(gamma + 1), with gamma set directly or from the
 *   relative width sigma_rel of the averaging profile.
 * - For the original CT teacher (docs/method.md section 2): theta_minus <- mu(k) theta_minus + (1 - mu(k)) theta,
 *   with mu(k) from levelSchedule (ctTeacherEmaRate), applied to a teacher network by {@link emaUpdate}.
 *
 * Updates run in place under noGrad, without building autograd history.
 */
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../tensor/autograd.js';
import { keep } from '../tensor/scope.js';
import type { Module } from '../nn/module.js';

/** How the evaluation EMA's rate is chosen at each update. */
export type EmaSchedule =
  /** beta = rate at every update, in [0, 1). */
  | { kind: 'fixed'; rate: number }
  /** EDM2's power function: beta(t) = (1 - 1/t)^(gamma + 1); give gamma > 0 or sigmaRel in (0, 1/sqrt(12)). */
  | { kind: 'power'; gamma?: number; sigmaRel?: number };

/**
 * The exponent gamma of EDM2's power-function EMA with relative standard deviation sigma_rel:
 * the largest real root of gamma^3 + 7 gamma^2 + (16 - 1/sigma_rel^2) gamma + (12 - 1/sigma_rel^2) = 0,
 * i.e. sigma_rel^2 = (gamma + 1) / ((gamma + 2)^2 (gamma + 3)).
 *
 * @param sigmaRel in (0, 1/sqrt(12) = 0.2887) (gamma > 0 there).
 * @example powerEmaGamma(0.1) // 6.937...
 */
export function powerEmaGamma(sigmaRel: number): number {
  const limit = 1 / Math.sqrt(12);
  if (typeof sigmaRel !== 'number' || !(sigmaRel > 0 && sigmaRel < limit))
    throw new RangeError(`powerEmaGamma: sigmaRel must be a number in (0, ${limit}), got ${sigmaRel}`);
  const target = sigmaRel * sigmaRel;
  // s(gamma) = (gamma + 1) / ((gamma + 2)^2 (gamma + 3)) decreases from 1/12 at gamma = 0 to 0;
  // bisection on a bracket that grows until s falls below the target.
  const s = (g: number): number => (g + 1) / ((g + 2) * (g + 2) * (g + 3));
  let lo = 0;
  let hi = 1;
  while (s(hi) > target) hi *= 2;
  for (let k = 0; k < 200 && hi - lo > 1e-15 * hi; k++) {
    const mid = (lo + hi) / 2;
    if (s(mid) > target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Checks a schedule and returns the rate of update number t (1-based). */
export function emaRate(schedule: EmaSchedule, t: number): number {
  if (!Number.isSafeInteger(t) || t < 1) throw new RangeError(`emaRate: t must be an integer >= 1, got ${t}`);
  // A switch, as sampleDistance's: its default still catches a kind from JSON or a JS caller.
  switch (schedule.kind) {
    case 'fixed': {
      const r = schedule.rate;
      if (typeof r !== 'number' || !(r >= 0 && r < 1)) throw new RangeError(`emaRate: rate must be a number in [0, 1), got ${r}`);
      return r;
    }
    case 'power': {
      let gamma: number;
      if (schedule.gamma !== undefined) {
        if (schedule.sigmaRel !== undefined) throw new RangeError('emaRate: give gamma or sigmaRel, not both');
        gamma = schedule.gamma;
        if (typeof gamma !== 'number' || !(gamma > 0) || !Number.isFinite(gamma))
          throw new RangeError(`emaRate: gamma must be a finite number > 0, got ${gamma}`);
      } else if (schedule.sigmaRel !== undefined) gamma = powerEmaGamma(schedule.sigmaRel);
      else throw new RangeError("emaRate: a 'power' schedule needs gamma or sigmaRel");
      return (1 - 1 / t) ** (gamma + 1);
    }
    default:
      throw new RangeError(`emaRate: kind must be one of fixed, power, got ${String((schedule as { kind: unknown }).kind)}`);
  }
}

function namedTensorsOf(m: Module | Map<string, Tensor>): Map<string, Tensor> {
  return m instanceof Map ? m : m.namedParameters();
}

/**
 * target <- rate * target + (1 - rate) * source, for every named parameter (in place, noGrad).
 * Buffers of two Modules are copied from source (they are not averaged).
 *
 * @param rate in [0, 1]; 0 copies source, 1 leaves target unchanged.
 * @throws RangeError when the names or shapes differ.
 */
export function emaUpdate(target: Module | Map<string, Tensor>, source: Module | Map<string, Tensor>, rate: number): void {
  if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw new RangeError(`emaUpdate: rate must be a number in [0, 1], got ${rate}`);
  const t = namedTensorsOf(target);
  const s = namedTensorsOf(source);
  checkSameNames('emaUpdate', t, s);
  noGrad(() => {
    for (const [name, dst] of t) {
      const src = s.get(name)!;
      if (rate === 0) dst.copy_(src);
      else if (rate !== 1) dst.lerp_(src, 1 - rate);
    }
    if (!(target instanceof Map) && !(source instanceof Map)) {
      const sb = source.namedBuffers();
      for (const [name, b] of target.namedBuffers()) {
        const src = sb.get(name);
        if (src) b.copy_(src);
      }
    }
  });
}

function checkSameNames(fn: string, a: Map<string, Tensor>, b: Map<string, Tensor>): void {
  const missing = [...a.keys()].filter((k) => !b.has(k));
  const extra = [...b.keys()].filter((k) => !a.has(k));
  const shapes = [...a].filter(([k, v]) => b.has(k) && b.get(k)!.shape.join(',') !== v.shape.join(',')).map(([k]) => k);
  if (missing.length || extra.length || shapes.length)
    throw new RangeError(
      `${fn}: the two sets of weights differ: ${[
        missing.length ? `missing in source: ${missing.join(', ')}` : '',
        extra.length ? `not in target: ${extra.join(', ')}` : '',
        shapes.length ? `different shapes: ${shapes.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ')}`,
    );
}

/** The evaluation EMA: its own copy of a network's parameters, averaged at each update. */
export class ExponentialMovingAverage {
  /** The averaged parameters by name (owned here). */
  readonly tensors: Map<string, Tensor>;
  /** How many updates have been applied. */
  updates = 0;

  /** Starts from a copy of `source`'s parameters. */
  constructor(
    source: Module,
    readonly schedule: EmaSchedule = { kind: 'fixed', rate: 0.99993 },
  ) {
    emaRate(schedule, 1); // validates
    this.tensors = new Map();
    noGrad(() => {
      for (const [name, p] of source.namedParameters()) this.tensors.set(name, keep(p.clone()));
    });
  }

  /** Averages `source` in (rate from the schedule at update number updates + 1) and returns the rate used. */
  update(source: Module): number {
    const rate = emaRate(this.schedule, this.updates + 1);
    emaUpdate(this.tensors, source.namedParameters(), rate);
    this.updates++;
    return rate;
  }

  /** Copies the averaged weights into `module`'s parameters (e.g. an evaluation copy of the network). */
  copyTo(module: Module): void {
    const own = module.namedParameters();
    checkSameNames('ExponentialMovingAverage.copyTo', own, this.tensors);
    noGrad(() => {
      for (const [name, p] of own) p.copy_(this.tensors.get(name)!);
    });
  }

  /** The averaged weights by parameter name (the tensors themselves; for checkpoints). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.tensors);
  }

  /** Restores averaged weights and the update count from a checkpoint. */
  loadStateDict(state: Map<string, Tensor>, updates: number): void {
    if (!Number.isSafeInteger(updates) || updates < 0)
      throw new RangeError(`ExponentialMovingAverage.loadStateDict: updates must be an integer >= 0, got ${updates}`);
    checkSameNames('ExponentialMovingAverage.loadStateDict', this.tensors, state);
    noGrad(() => {
      for (const [name, t] of this.tensors) t.copy_(state.get(name)!);
    });
    this.updates = updates;
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
  }
}
