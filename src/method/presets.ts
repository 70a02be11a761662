/**
 * The switchable ingredients of consistency training and the two papers' settings of them:
 * improved consistency training (iCT, Song & Dhariwal 2023) and the original consistency
 * training (CT, Song et al. 2023). Spec: docs/method.md sections 1-4.
 */

import { NOISE_EMBEDDINGS, type NoiseEmbedding } from './scalings.js';

// Each list of kinds is written once here; the types, the checks and the CLI's choices derive from it.

/** The method names {@link methodPreset} accepts. */
export const METHOD_NAMES = ['ict', 'ct'] as const;
/** The two methods with presets. */
export type MethodName = (typeof METHOD_NAMES)[number];

/** The teacher theta_minus (docs/method.md section 4): 'stopgrad' = the current weights (iCT), 'ema' = an EMA with rate mu(k) (CT). */
export const TEACHER_KINDS = ['stopgrad', 'ema'] as const;
export type TeacherKind = (typeof TEACHER_KINDS)[number];
/** N(k) (docs/method.md section 2): 'ict-exp' doubles every K' steps, 'ct-sqrt' is the original square-root curriculum. */
export const CURRICULUM_KINDS = ['ict-exp', 'ct-sqrt'] as const;
export type CurriculumKind = (typeof CURRICULUM_KINDS)[number];
/** p(i) (docs/method.md section 3): 'lognormal' (iCT) or 'uniform' (CT). */
export const LEVELS_KINDS = ['lognormal', 'uniform'] as const;
export type LevelsKind = (typeof LEVELS_KINDS)[number];
/** lambda(sigma_i) (docs/method.md section 4): 'inverse-gap' = 1 / (sigma_{i+1} - sigma_i) (iCT), 'constant' = 1 (CT). */
export const WEIGHTING_KINDS = ['inverse-gap', 'constant'] as const;
export type WeightingKind = (typeof WEIGHTING_KINDS)[number];
/** d(student, teacher) (docs/method.md section 4). 'lpips' needs a plugged-in feature network. */
export const METRIC_KINDS = ['pseudo-huber', 'l2', 'l1', 'lpips'] as const;
export type MetricKind = (typeof METRIC_KINDS)[number];

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
  /** sigma_min (docs/method.md section 1). */
  sigmaMin: number;
  /** sigma_max. */
  sigmaMax: number;
  /** sigma_data. */
  sigmaData: number;
  /** rho of the Karras levels. */
  rho: number;
  /** The c_noise form the network expects (docs/method.md section 1): 'fourier' (NCSN++) or 'positional' (ADM). */
  noiseEmbedding: NoiseEmbedding;
}

/** Changes to a preset; nested parts may be given in part. */
/** Some fields of T, each possibly undefined ("keep the preset's"). */
type PartialOverride<T> = { [K in keyof T]?: T[K] | undefined };

export interface MethodOverrides {
  teacher?: TeacherKind | undefined;
  mu0?: number | undefined;
  curriculum?: PartialOverride<CurriculumConfig> | undefined;
  levels?: PartialOverride<LevelsConfig> | undefined;
  weighting?: WeightingKind | undefined;
  metric?: PartialOverride<MetricConfig> | undefined;
  sigmaMin?: number | undefined;
  sigmaMax?: number | undefined;
  sigmaData?: number | undefined;
  rho?: number | undefined;
  noiseEmbedding?: NoiseEmbedding | undefined;
}

/** The noise settings both papers use: the constants of docs/method.md section 1 and NCSN++'s Fourier noise embedding. */
const SHARED_NOISE = { sigmaMin: 0.002, sigmaMax: 80, sigmaData: 0.5, rho: 7, noiseEmbedding: 'fourier' } as const satisfies Partial<MethodConfig>;

const PRESETS: Record<MethodName, MethodConfig> = {
  // iCT (docs/method.md sections 2-4): stop-gradient teacher, doubling curriculum 10 -> 1280, lognormal
  // levels (-1.1, 2.0), lambda = 1 / gap, pseudo-Huber metric.
  ict: {
    method: 'ict',
    teacher: 'stopgrad',
    mu0: 0,
    curriculum: { kind: 'ict-exp', s0: 10, s1: 1280 },
    levels: { kind: 'lognormal', pMean: -1.1, pStd: 2.0 },
    weighting: 'inverse-gap',
    metric: { kind: 'pseudo-huber' },
    ...SHARED_NOISE,
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
    ...SHARED_NOISE,
  },
};

/** Names a field of the config in a message: its dotted path, or how the caller calls it (the CLI: its flag). */
export type FieldNamer = (path: string) => string;

/**
 * A method config value out of range. `field` is the dotted path of the bad field in the method
 * config ('curriculum.s1'); describe() words the problem with every field named by the caller
 * (the CLI names its flags), so no caller rewrites the message text.
 */
export class MethodConfigError extends RangeError {
  override name = 'MethodConfigError';
  constructor(
    readonly field: string,
    private readonly say: (name: FieldNamer) => string,
  ) {
    super(`methodPreset: ${say((path) => path)}`);
  }

  /** The problem, with each field named by `name`. */
  describe(name: FieldNamer): string {
    return this.say(name);
  }
}

function check(ok: boolean, field: string, say: (name: FieldNamer) => string): void {
  if (!ok) throw new MethodConfigError(field, say);
}

/** `v` is typed as a string, but a config can come from JSON: anything may arrive. */
function oneOf(field: string, v: unknown, allowed: readonly string[]): void {
  check(typeof v === 'string' && allowed.includes(v), field, (n) => `${n(field)} must be one of ${allowed.join(', ')}, got ${String(v)}`);
}

function positive(field: string, v: number): void {
  check(typeof v === 'number' && Number.isFinite(v) && v > 0, field, (n) => `${n(field)} must be a finite number > 0, got ${v}`);
}

function validate(c: MethodConfig): void {
  oneOf('teacher', c.teacher, TEACHER_KINDS);
  oneOf('curriculum.kind', c.curriculum.kind, CURRICULUM_KINDS);
  oneOf('levels.kind', c.levels.kind, LEVELS_KINDS);
  oneOf('weighting', c.weighting, WEIGHTING_KINDS);
  oneOf('metric.kind', c.metric.kind, METRIC_KINDS);
  oneOf('noiseEmbedding', c.noiseEmbedding, NOISE_EMBEDDINGS);
  check(typeof c.mu0 === 'number' && c.mu0 >= 0 && c.mu0 < 1, 'mu0', (n) => `${n('mu0')} must be a number in [0, 1), got ${c.mu0}`);
  const { s0, s1 } = c.curriculum;
  check(Number.isSafeInteger(s0) && s0 > 0, 'curriculum.s0', (n) => `${n('curriculum.s0')} must be a positive integer, got ${s0}`);
  check(
    c.curriculum.kind !== 'ct-sqrt' || s0 >= 2,
    'curriculum.s0',
    (n) => `${n('curriculum.s0')} must be an integer >= 2 for ct-sqrt (N(0) = s0 levels), got ${s0}`,
  );
  // The library's message names the other field briefly (s0=...), as it always has.
  check(
    Number.isSafeInteger(s1) && s1 >= s0,
    'curriculum.s1',
    (n) => `${n('curriculum.s1')} must be an integer >= ${n('curriculum.s0') === 'curriculum.s0' ? 's0' : n('curriculum.s0')}=${s0}, got ${s1}`,
  );
  check(
    typeof c.levels.pMean === 'number' && Number.isFinite(c.levels.pMean),
    'levels.pMean',
    (n) => `${n('levels.pMean')} must be a finite number, got ${c.levels.pMean}`,
  );
  positive('levels.pStd', c.levels.pStd);
  if (c.metric.c !== undefined) positive('metric.c', c.metric.c);
  positive('sigmaMin', c.sigmaMin);
  positive('sigmaMax', c.sigmaMax);
  check(c.sigmaMax > c.sigmaMin, 'sigmaMax', (n) => `${n('sigmaMax')} must be > ${n('sigmaMin')}=${c.sigmaMin}, got ${c.sigmaMax}`);
  positive('sigmaData', c.sigmaData);
  positive('rho', c.rho);
}

/**
 * The settings of a method as its paper gives them, with optional overrides
 * (docs/method.md sections 2-4).
 * - 'ict': stopgrad teacher, ict-exp curriculum s0 = 10, s1 = 1280, lognormal levels
 *   P_mean = -1.1, P_std = 2.0, inverse-gap weighting, pseudo-Huber metric.
 * - 'ct': EMA teacher mu0 = 0.9, ct-sqrt curriculum s0 = 2, s1 = 150, uniform levels, constant
 *   weighting, LPIPS metric (needs a plugged-in network; override `metric: { kind: 'l2' }` to avoid it).
 * Both use sigma_min = 0.002, sigma_max = 80, sigma_data = 0.5, rho = 7, and c_noise for a
 * Fourier embedding (override noiseEmbedding: 'positional' for ADM).
 *
 * @throws RangeError for an unknown method name or an override out of range.
 * @example methodPreset('ct', { metric: { kind: 'l2' } })
 */
export function methodPreset(method: MethodName, overrides: MethodOverrides = {}): MethodConfig {
  if (!(METHOD_NAMES as readonly string[]).includes(method))
    throw new RangeError(`methodPreset: method must be one of ${METHOD_NAMES.join(', ')}, got ${method}`);
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
      noiseEmbedding: overrides.noiseEmbedding,
    }),
    curriculum: { ...base.curriculum, ...stripUndefined(overrides.curriculum ?? {}) },
    levels: { ...base.levels, ...stripUndefined(overrides.levels ?? {}) },
    metric: { ...base.metric, ...stripUndefined(overrides.metric ?? {}) },
  };
  validate(config);
  return config;
}

/** Drops keys whose value is undefined, so that they do not replace a preset's value. */
function stripUndefined<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: { [K in keyof T]?: Exclude<T[K], undefined> } = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
