/**
 * The switchable ingredients of consistency training and the two papers' settings of them:
 * improved consistency training (iCT, Song & Dhariwal 2023) and the original consistency
 * training (CT, Song et al. 2023). Spec: docs/ict-spec.md sections 1-4.
 */

/** The two methods with presets. */
export type MethodName = 'ict' | 'ct';
/** The method names {@link methodPreset} accepts. */
export const METHOD_NAMES: readonly MethodName[] = ['ict', 'ct'];

/** The teacher theta_minus (spec section 4): 'stopgrad' = the current weights (iCT), 'ema' = an EMA with rate mu(k) (CT). */
export type TeacherKind = 'stopgrad' | 'ema';
/** N(k) (spec section 2): 'ict-exp' doubles every K' steps, 'ct-sqrt' is the original square-root curriculum. */
export type CurriculumKind = 'ict-exp' | 'ct-sqrt';
/** p(i) (spec section 3): 'lognormal' (iCT) or 'uniform' (CT). */
export type LevelsKind = 'lognormal' | 'uniform';
/** lambda(sigma_i) (spec section 4): 'inverse-gap' = 1 / (sigma_{i+1} - sigma_i) (iCT), 'constant' = 1 (CT). */
export type WeightingKind = 'inverse-gap' | 'constant';
/** d(student, teacher) (spec section 4). 'lpips' needs a plugged-in feature network. */
export type MetricKind = 'pseudo-huber' | 'l2' | 'l1' | 'lpips';

/** The discretization curriculum N(k). */
export interface CurriculumConfig {
  kind: CurriculumKind;
  /** s0, initial discretization steps. */
  s0: number;
  /** s1, final discretization steps (>= s0). */
  s1: number;
}

/** The level distribution p(i); pMean and pStd are used by 'lognormal' only. */
export interface LevelsConfig {
  kind: LevelsKind;
  /** P_mean, the mean of ln sigma. */
  pMean: number;
  /** P_std, the standard deviation of ln sigma (> 0). */
  pStd: number;
}

/** The distance d between student and teacher outputs. */
export interface MetricConfig {
  kind: MetricKind;
  /** Pseudo-Huber c; when absent, 0.00054 * sqrt(D) for D values per sample (see pseudoHuberC). */
  c?: number;
}

/** Every switchable ingredient of a consistency-training run. */
export interface MethodConfig {
  /** The preset this config started from. */
  method: MethodName;
  teacher: TeacherKind;
  /** mu0, the teacher EMA rate at N = s0 (used when teacher = 'ema'); in [0, 1). */
  mu0: number;
  curriculum: CurriculumConfig;
  levels: LevelsConfig;
  weighting: WeightingKind;
  metric: MetricConfig;
  /** sigma_min (spec section 1). */
  sigmaMin: number;
  /** sigma_max. */
  sigmaMax: number;
  /** sigma_data. */
  sigmaData: number;
  /** rho of the Karras levels. */
  rho: number;
}

/** Changes to a preset; nested parts may be given in part. */
export interface MethodOverrides {
  teacher?: TeacherKind;
  mu0?: number;
  curriculum?: Partial<CurriculumConfig>;
  levels?: Partial<LevelsConfig>;
  weighting?: WeightingKind;
  metric?: Partial<MetricConfig>;
  sigmaMin?: number;
  sigmaMax?: number;
  sigmaData?: number;
  rho?: number;
}

const PRESETS: Record<MethodName, MethodConfig> = {
  // iCT (spec sections 2-4): stop-gradient teacher, doubling curriculum 10 -> 1280, lognormal
  // levels (-1.1, 2.0), lambda = 1 / gap, pseudo-Huber metric.
  ict: {
    method: 'ict',
    teacher: 'stopgrad',
    mu0: 0,
    curriculum: { kind: 'ict-exp', s0: 10, s1: 1280 },
    levels: { kind: 'lognormal', pMean: -1.1, pStd: 2.0 },
    weighting: 'inverse-gap',
    metric: { kind: 'pseudo-huber' },
    sigmaMin: 0.002,
    sigmaMax: 80,
    sigmaData: 0.5,
    rho: 7,
  },
  // Original CT (CIFAR-10 settings): EMA teacher mu0 = 0.9, sqrt curriculum 2 -> 150, uniform
  // levels, lambda = 1. The paper's metric is LPIPS, which needs a plugged-in network; override
  // metric.kind to 'l2' or 'l1' to run without one.
  ct: {
    method: 'ct',
    teacher: 'ema',
    mu0: 0.9,
    curriculum: { kind: 'ct-sqrt', s0: 2, s1: 150 },
    levels: { kind: 'uniform', pMean: -1.1, pStd: 2.0 },
    weighting: 'constant',
    metric: { kind: 'lpips' },
    sigmaMin: 0.002,
    sigmaMax: 80,
    sigmaData: 0.5,
    rho: 7,
  },
};

function oneOf<T extends string>(field: string, v: T, allowed: readonly T[]): void {
  if (!allowed.includes(v)) throw new RangeError(`methodPreset: ${field} must be one of ${allowed.join(', ')}, got ${String(v)}`);
}

function positive(field: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`methodPreset: ${field} must be a finite number > 0, got ${v}`);
}

function validate(c: MethodConfig): void {
  oneOf('teacher', c.teacher, ['stopgrad', 'ema']);
  oneOf('curriculum.kind', c.curriculum.kind, ['ict-exp', 'ct-sqrt']);
  oneOf('levels.kind', c.levels.kind, ['lognormal', 'uniform']);
  oneOf('weighting', c.weighting, ['inverse-gap', 'constant']);
  oneOf('metric.kind', c.metric.kind, ['pseudo-huber', 'l2', 'l1', 'lpips']);
  if (typeof c.mu0 !== 'number' || !(c.mu0 >= 0 && c.mu0 < 1)) throw new RangeError(`methodPreset: mu0 must be a number in [0, 1), got ${c.mu0}`);
  const { s0, s1 } = c.curriculum;
  if (!Number.isSafeInteger(s0) || s0 <= 0) throw new RangeError(`methodPreset: curriculum.s0 must be a positive integer, got ${s0}`);
  if (c.curriculum.kind === 'ct-sqrt' && s0 < 2)
    throw new RangeError(`methodPreset: curriculum.s0 must be an integer >= 2 for ct-sqrt (N(0) = s0 levels), got ${s0}`);
  if (!Number.isSafeInteger(s1) || s1 < s0) throw new RangeError(`methodPreset: curriculum.s1 must be an integer >= s0=${s0}, got ${s1}`);
  if (typeof c.levels.pMean !== 'number' || !Number.isFinite(c.levels.pMean))
    throw new RangeError(`methodPreset: levels.pMean must be a finite number, got ${c.levels.pMean}`);
  positive('levels.pStd', c.levels.pStd);
  if (c.metric.c !== undefined) positive('metric.c', c.metric.c);
  positive('sigmaMin', c.sigmaMin);
  positive('sigmaMax', c.sigmaMax);
  if (!(c.sigmaMax > c.sigmaMin)) throw new RangeError(`methodPreset: sigmaMax must be > sigmaMin=${c.sigmaMin}, got ${c.sigmaMax}`);
  positive('sigmaData', c.sigmaData);
  positive('rho', c.rho);
}

/**
 * The settings of a method as its paper gives them, with optional overrides
 * (spec sections 2-4).
 * - 'ict': stopgrad teacher, ict-exp curriculum s0 = 10, s1 = 1280, lognormal levels
 *   P_mean = -1.1, P_std = 2.0, inverse-gap weighting, pseudo-Huber metric.
 * - 'ct': EMA teacher mu0 = 0.9, ct-sqrt curriculum s0 = 2, s1 = 150, uniform levels, constant
 *   weighting, LPIPS metric (needs a plugged-in network; override `metric: { kind: 'l2' }` to avoid it).
 * Both use sigma_min = 0.002, sigma_max = 80, sigma_data = 0.5, rho = 7.
 *
 * @throws RangeError for an unknown method name or an override out of range.
 * @example methodPreset('ct', { metric: { kind: 'l2' } })
 */
export function methodPreset(method: MethodName, overrides: MethodOverrides = {}): MethodConfig {
  if (!Object.prototype.hasOwnProperty.call(PRESETS, method))
    throw new RangeError(`methodPreset: method must be one of ${METHOD_NAMES.join(', ')}, got ${String(method)}`);
  const base = PRESETS[method];
  const config: MethodConfig = {
    ...base,
    ...stripUndefined({
      teacher: overrides.teacher,
      mu0: overrides.mu0,
      weighting: overrides.weighting,
      sigmaMin: overrides.sigmaMin,
      sigmaMax: overrides.sigmaMax,
      sigmaData: overrides.sigmaData,
      rho: overrides.rho,
    }),
    curriculum: { ...base.curriculum, ...stripUndefined(overrides.curriculum ?? {}) },
    levels: { ...base.levels, ...stripUndefined(overrides.levels ?? {}) },
    metric: { ...base.metric, ...stripUndefined(overrides.metric ?? {}) },
  };
  validate(config);
  return config;
}

/** Drops keys whose value is undefined, so that they do not replace a preset's value. */
function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
