/**
 * Noise-level schedules of consistency training, as small pure functions on plain numbers
 * (after k-diffusion's `get_sigmas_karras`). Names follow the papers' symbols:
 * N(k) levels at training step k of K, sigma_i the Karras levels, p(i) the probability of the
 * adjacent pair (sigma_i, sigma_{i+1}), lambda(sigma_i) its loss weight, mu(k) the teacher EMA rate.
 * Spec: docs/method.md sections 2-4.
 *
 * Every function checks its input and throws a RangeError that names the function, the argument,
 * the allowed range and the value it got.
 */
import { erf, erfc } from './erf.js';
import type { MethodConfig } from './presets.js';
import { isArray } from '../util/array.js';

// ---------------------------------------------------------------------------------------------
// Input checks

function fail(fn: string, what: string): never {
  throw new RangeError(`${fn}: ${what}`);
}

function checkPositiveInt(fn: string, name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v <= 0) fail(fn, `${name} must be a positive integer, got ${v}`);
}

function checkFinite(fn: string, name: string, v: number): void {
  if (!Number.isFinite(v)) fail(fn, `${name} must be a finite number, got ${v}`);
}

function checkPositive(fn: string, name: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0) fail(fn, `${name} must be a finite number > 0, got ${v}`);
}

/** Checks k and K of a curriculum: K a positive integer, k an integer in [0, K]. */
function checkStep(fn: string, step: number, totalSteps: number): void {
  checkPositiveInt(fn, 'totalSteps', totalSteps);
  if (!Number.isSafeInteger(step) || step < 0 || step > totalSteps) fail(fn, `step must be an integer in [0, totalSteps=${totalSteps}], got ${step}`);
}

/** Checks the curriculum's s0 and s1: positive integers with s1 >= s0. */
function checkS0S1(fn: string, s0: number, s1: number): void {
  checkPositiveInt(fn, 's0', s0);
  checkPositiveInt(fn, 's1', s1);
  if (s1 < s0) fail(fn, `s1 must be an integer >= s0=${s0}, got ${s1}`);
}

/** Checks a noise-level array: at least 2 finite values > 0, strictly increasing. */
function checkSigmas(fn: string, sigmas: readonly number[]): void {
  if (!isArray(sigmas) || sigmas.length < 2) fail(fn, `sigmas must hold at least 2 levels, got ${isArray(sigmas) ? sigmas.length : String(sigmas)}`);
  for (let i = 0; i < sigmas.length; i++) {
    const s = sigmas[i]!;
    if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0) fail(fn, `sigmas[${i}] must be a finite number > 0, got ${s}`);
    if (i > 0 && !(s > sigmas[i - 1]!)) fail(fn, `sigmas must be strictly increasing, got sigmas[${i - 1}]=${sigmas[i - 1]} then sigmas[${i}]=${s}`);
  }
}

/** How far the sum of a probability vector may be from 1. */
const SUM_TOLERANCE = 1e-9;

/** Checks a probability vector (entries finite and >= 0, sum 1) and returns its cumulative sums. */
function cumulative(fn: string, probabilities: readonly number[]): number[] {
  if (!isArray(probabilities) || probabilities.length < 1)
    fail(fn, `probabilities must be a non-empty array, got ${isArray(probabilities) ? 'length 0' : String(probabilities)}`);
  const cdf = new Array<number>(probabilities.length);
  let total = 0;
  for (let i = 0; i < probabilities.length; i++) {
    const p = probabilities[i]!;
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0) fail(fn, `probabilities[${i}] must be a finite number >= 0, got ${p}`);
    total += p;
    cdf[i] = total;
  }
  if (!(Math.abs(total - 1) <= SUM_TOLERANCE)) fail(fn, `probabilities must sum to 1 (within ${SUM_TOLERANCE}), got a sum of ${total}`);
  return cdf;
}

// ---------------------------------------------------------------------------------------------
// Karras levels (docs/method.md section 2)

/** Options of {@link karrasSigmas}. */
export interface KarrasOptions {
  /** Smallest level sigma_min (default 0.002). */
  sigmaMin?: number;
  /** Largest level sigma_max (default 80). */
  sigmaMax?: number;
  /** Exponent rho (default 7). */
  rho?: number;
}

/**
 * The N Karras noise levels, increasing (docs/method.md section 2):
 * sigma_i = (sigma_min^(1/rho) + (i-1)/(N-1) (sigma_max^(1/rho) - sigma_min^(1/rho)))^rho, i = 1..N.
 * The first and last levels are set to sigma_min and sigma_max exactly (the formula can be off by
 * an ulp), so that the boundary condition f(x, sigma_min) = x holds bit for bit.
 *
 * @param n the number of levels N, an integer >= 2.
 * @example karrasSigmas(3) // [0.002, 2.5152..., 80]
 */
export function karrasSigmas(n: number, opts: KarrasOptions = {}): number[] {
  const fn = 'karrasSigmas';
  const { sigmaMin = 0.002, sigmaMax = 80, rho = 7 } = opts;
  if (!Number.isSafeInteger(n) || n < 2) fail(fn, `n must be an integer >= 2, got ${n}`);
  checkPositive(fn, 'sigmaMin', sigmaMin);
  checkPositive(fn, 'sigmaMax', sigmaMax);
  if (!(sigmaMax > sigmaMin)) fail(fn, `sigmaMax must be > sigmaMin=${sigmaMin}, got ${sigmaMax}`);
  checkPositive(fn, 'rho', rho);
  const lo = sigmaMin ** (1 / rho);
  const hi = sigmaMax ** (1 / rho);
  const sigmas = new Array<number>(n);
  for (let i = 0; i < n; i++) sigmas[i] = (lo + (i / (n - 1)) * (hi - lo)) ** rho;
  sigmas[0] = sigmaMin;
  sigmas[n - 1] = sigmaMax;
  return sigmas;
}

// ---------------------------------------------------------------------------------------------
// Discretization curricula N(k) and the teacher EMA rate mu(k) (docs/method.md section 2)

/** Options of a discretization curriculum: N runs from about s0 + 1 to s1 + 1. */
export interface CurriculumOptions {
  /** Initial discretization steps s0 (a positive integer). */
  s0?: number;
  /** Final discretization steps s1 (an integer >= s0). */
  s1?: number;
}

/**
 * The iCT exponential curriculum (docs/method.md section 2): the number of levels N(k) at step k of K,
 *   N(k) = min(s0 * 2^floor(k / K'), s1) + 1,   K' = floor(K / (log2(floor(s1 / s0)) + 1)).
 * With the defaults s0 = 10, s1 = 1280, N doubles (less one) every K' = K/8 steps: 11, 21, ..., 1281.
 * When K is smaller than the number of stages, K' is taken as 1 (the formula would divide by 0).
 *
 * @param step k, an integer in [0, totalSteps].
 * @param totalSteps K, a positive integer.
 * @example ictDiscretizationSteps(50_000, 400_000) // 21
 */
export function ictDiscretizationSteps(step: number, totalSteps: number, opts: CurriculumOptions = {}): number {
  const fn = 'ictDiscretizationSteps';
  const { s0 = 10, s1 = 1280 } = opts;
  checkStep(fn, step, totalSteps);
  checkS0S1(fn, s0, s1);
  const kPrime = Math.max(1, Math.floor(totalSteps / (Math.log2(Math.floor(s1 / s0)) + 1)));
  return Math.min(s0 * 2 ** Math.floor(step / kPrime), s1) + 1;
}

/**
 * The original CT square-root curriculum (docs/method.md section 2; Song et al. 2023):
 *   N(k) = ceil(sqrt(k / K * ((s1 + 1)^2 - s0^2) + s0^2) - 1) + 1,
 * running from s0 at k = 0 to s1 + 1 at k = K (defaults s0 = 2, s1 = 150).
 *
 * @param step k, an integer in [0, totalSteps].
 * @param totalSteps K, a positive integer.
 * @example ctDiscretizationSteps(0, 800_000) // 2
 */
export function ctDiscretizationSteps(step: number, totalSteps: number, opts: CurriculumOptions = {}): number {
  const fn = 'ctDiscretizationSteps';
  const { s0 = 2, s1 = 150 } = opts;
  checkStep(fn, step, totalSteps);
  checkS0S1(fn, s0, s1);
  return Math.ceil(Math.sqrt((step / totalSteps) * ((s1 + 1) ** 2 - s0 ** 2) + s0 ** 2) - 1) + 1;
}

/** Options of {@link ctTeacherEmaRate}. */
export interface TeacherEmaOptions extends CurriculumOptions {
  /** The rate at N = s0, mu0 in [0, 1) (default 0.9; 0.95 on ImageNet). */
  mu0?: number;
}

/**
 * The original CT teacher EMA rate (docs/method.md section 2): mu(k) = exp(s0 * ln(mu0) / N(k)), with N(k)
 * from {@link ctDiscretizationSteps} (defaults s0 = 2, s1 = 150, mu0 = 0.9). mu0 = 0 gives 0
 * (a stop-gradient teacher, as in iCT).
 * Note: OpenAI's consistency_models code divides by N(k) - 1 instead; this follows docs/method.md section 2.
 *
 * @example ctTeacherEmaRate(0, 800_000) // 0.9
 */
export function ctTeacherEmaRate(step: number, totalSteps: number, opts: TeacherEmaOptions = {}): number {
  const fn = 'ctTeacherEmaRate';
  const { s0 = 2, s1 = 150, mu0 = 0.9 } = opts;
  checkStep(fn, step, totalSteps);
  checkS0S1(fn, s0, s1);
  if (!Number.isFinite(mu0) || mu0 < 0 || mu0 >= 1) fail(fn, `mu0 must be a number in [0, 1), got ${mu0}`);
  return teacherEmaRate(mu0, s0, ctDiscretizationSteps(step, totalSteps, { s0, s1 }));
}

/** mu = exp(s0 ln(mu0) / N) for N levels (docs/method.md section 2); mu0 = 0 gives 0. The one place this formula is written. */
function teacherEmaRate(mu0: number, s0: number, N: number): number {
  return mu0 === 0 ? 0 : Math.exp((s0 * Math.log(mu0)) / N);
}

// ---------------------------------------------------------------------------------------------
// Level probabilities p(i) over the pairs (sigma_i, sigma_{i+1}) (docs/method.md section 3)

/** Options of {@link lognormalLevelProbabilities}. */
export interface LognormalOptions {
  /** P_mean, the mean of ln sigma (default -1.1; note the minus sign). */
  pMean?: number;
  /** P_std, the standard deviation of ln sigma (default 2.0), > 0. */
  pStd?: number;
}

/** erf(b) - erf(a) for a <= b, without cancellation in the tails: erfc differences where both are on one side of 0. */
function erfDifference(a: number, b: number): number {
  if (a >= 0) return erfc(a) - erfc(b);
  if (b <= 0) return erfc(-b) - erfc(-a);
  return erf(b) - erf(a);
}

/** 6-point Gauss-Legendre nodes and weights on [-1, 1] (positive half; the rule is symmetric). */
const GL_X = [0.2386191860831969, 0.6612093864662645, 0.9324695142031521] as const;
const GL_W = [0.467913934572691, 0.3607615730481386, 0.1713244923791704] as const;

/**
 * erf(a + delta) - erf(a) = 2/sqrt(pi) * integral of exp(-t^2) over [a, a + delta], for a small
 * delta > 0 (delta (|a| + 1) <= 0.1), by 6-point Gauss-Legendre quadrature. Unlike a difference
 * of two erf values it loses no digits when delta is small, and it takes delta as given (from
 * ln(sigma_{i+1} / sigma_i), which is exact to an ulp) instead of from two rounded logarithms.
 */
function erfIncrement(a: number, delta: number): number {
  const half = delta / 2;
  const mid = a + half;
  let sum = 0;
  for (let k = 0; k < 3; k++) {
    const lo = mid - half * GL_X[k]!;
    const hi = mid + half * GL_X[k]!;
    sum += GL_W[k]! * (Math.exp(-lo * lo) + Math.exp(-hi * hi));
  }
  return (2 / Math.sqrt(Math.PI)) * half * sum;
}

/**
 * iCT's discrete lognormal level distribution (docs/method.md section 3): for each adjacent pair
 * (sigma_i, sigma_{i+1}), i = 1..N-1,
 *   p(i) proportional to erf((ln sigma_{i+1} - P_mean) / (sqrt(2) P_std)) - erf((ln sigma_i - P_mean) / (sqrt(2) P_std)),
 * normalized to sum to 1. Narrow pairs are integrated directly (Gauss-Legendre over the pair's
 * width, taken from ln(sigma_{i+1} / sigma_i)); wide pairs in a tail are erfc differences. So no
 * digits are lost to cancellation and tiny tail probabilities keep their relative precision
 * (about 1e-14 relative against mpmath for N up to 1281).
 *
 * @param sigmas the N levels, strictly increasing, all > 0.
 * @returns N - 1 probabilities; entry i (0-based) is the pair (sigmas[i], sigmas[i+1]).
 * @example lognormalLevelProbabilities(karrasSigmas(11)) // 10 values summing to 1
 */
export function lognormalLevelProbabilities(sigmas: readonly number[], opts: LognormalOptions = {}): number[] {
  const fn = 'lognormalLevelProbabilities';
  const { pMean = -1.1, pStd = 2.0 } = opts;
  checkSigmas(fn, sigmas);
  checkFinite(fn, 'pMean', pMean);
  checkPositive(fn, 'pStd', pStd);
  const scale = Math.SQRT2 * pStd;
  const u = sigmas.map((s) => (Math.log(s) - pMean) / scale);
  const mass = new Array<number>(sigmas.length - 1);
  let total = 0;
  for (let i = 0; i + 1 < u.length; i++) {
    // The pair's width in u, from the ratio of the levels (sigma_{i+1} - sigma_i is exact when they are close).
    const lo = sigmas[i]!;
    const delta = Math.log1p((sigmas[i + 1]! - lo) / lo) / scale;
    mass[i] = delta * (Math.abs(u[i]!) + 1) <= 0.1 ? erfIncrement(u[i]!, delta) : erfDifference(u[i]!, u[i + 1]!);
    total += mass[i]!;
  }
  if (!(total > 0)) fail(fn, `the levels carry no probability mass under pMean=${pMean}, pStd=${pStd} (all of it underflows)`);
  return mass.map((m) => m / total);
}

/**
 * The original CT level distribution (docs/method.md section 3): i uniform on 1..N-1.
 *
 * @returns N - 1 probabilities, each 1 / (N - 1).
 */
export function uniformLevelProbabilities(sigmas: readonly number[]): number[] {
  checkSigmas('uniformLevelProbabilities', sigmas);
  return new Array<number>(sigmas.length - 1).fill(1 / (sigmas.length - 1));
}

// ---------------------------------------------------------------------------------------------
// Loss weights lambda(sigma_i) (docs/method.md section 4)

/**
 * iCT's loss weights (docs/method.md section 4): lambda(sigma_i) = 1 / (sigma_{i+1} - sigma_i) per pair.
 *
 * @returns N - 1 weights; entry i (0-based) is the pair (sigmas[i], sigmas[i+1]).
 */
export function ictLevelWeights(sigmas: readonly number[]): number[] {
  checkSigmas('ictLevelWeights', sigmas);
  const w = new Array<number>(sigmas.length - 1);
  for (let i = 0; i < w.length; i++) w[i] = 1 / (sigmas[i + 1]! - sigmas[i]!);
  return w;
}

/**
 * The original CT loss weights (docs/method.md section 4): lambda = 1 for every pair.
 *
 * @returns N - 1 ones.
 */
export function constantLevelWeights(sigmas: readonly number[]): number[] {
  checkSigmas('constantLevelWeights', sigmas);
  return new Array<number>(sigmas.length - 1).fill(1);
}

// ---------------------------------------------------------------------------------------------
// Drawing level indices

/** The smallest i with cdf[i] > u; entries with probability 0 are never returned. */
function searchCdf(cdf: readonly number[], probabilities: readonly number[], u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  if (!(cdf[hi]! > u)) {
    // u is at or above the rounded total: take the last pair that has probability.
    while (hi > 0 && probabilities[hi] === 0) hi--;
    return hi;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid]! > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function checkUniform(fn: string, name: string, u: number): void {
  if (typeof u !== 'number' || !(u >= 0 && u < 1)) fail(fn, `${name} must be a number in [0, 1), got ${u}`);
}

/**
 * Maps a uniform draw u in [0, 1) to a pair index by the inverse CDF of `probabilities`:
 * the smallest i with p(0) + ... + p(i) > u.
 *
 * @param probabilities one probability per pair, summing to 1 (within 1e-9).
 * @returns the 0-based index i of the pair (sigmas[i], sigmas[i+1]).
 * @example sampleLevelIndex([0.25, 0.75], 0.3) // 1
 */
export function sampleLevelIndex(probabilities: readonly number[], u: number): number {
  const fn = 'sampleLevelIndex';
  const cdf = cumulative(fn, probabilities);
  checkUniform(fn, 'u', u);
  return searchCdf(cdf, probabilities, u);
}

/**
 * Draws `count` pair indices independently from `probabilities` (see {@link sampleLevelIndex}).
 *
 * @param rng the noise source: each call returns a uniform number in [0, 1) (e.g. Math.random).
 * @example sampleLevelIndices(lognormalLevelProbabilities(karrasSigmas(11)), 4, Math.random)
 */
export function sampleLevelIndices(probabilities: readonly number[], count: number, rng: () => number): number[] {
  const fn = 'sampleLevelIndices';
  const cdf = cumulative(fn, probabilities);
  if (!Number.isSafeInteger(count) || count < 0) fail(fn, `count must be an integer >= 0, got ${count}`);
  if (typeof rng !== 'function') fail(fn, `rng must be a function returning numbers in [0, 1), got ${typeof rng}`);
  const out = new Array<number>(count);
  for (let j = 0; j < count; j++) {
    const u = rng();
    checkUniform(fn, 'rng()', u);
    out[j] = searchCdf(cdf, probabilities, u);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Everything at step k for a method config (docs/method.md sections 2-4)

/** Everything a training step needs to know about its noise levels. */
export interface LevelSchedule {
  /** N(k), the number of levels. */
  N: number;
  /** The N Karras levels, increasing. */
  sigmas: number[];
  /** p(i) for the N - 1 adjacent pairs (entry i is the pair (sigmas[i], sigmas[i+1])). */
  probabilities: number[];
  /** lambda(sigma_i) for the N - 1 pairs. */
  weights: number[];
  /** The teacher EMA rate mu(k): 0 for a stopgrad teacher, exp(s0 ln(mu0) / N(k)) for 'ema'. */
  teacherEmaRate: number;
}

/**
 * The noise levels, their probabilities and weights, and the teacher EMA rate at training step k
 * of K for a method config (docs/method.md sections 2-4).
 *
 * @param step k, an integer in [0, totalSteps].
 * @param totalSteps K, a positive integer.
 * @example levelSchedule(methodPreset('ict'), 0, 400_000).N // 11
 */
export function levelSchedule(config: MethodConfig, step: number, totalSteps: number): LevelSchedule {
  const { s0, s1 } = config.curriculum;
  const N =
    config.curriculum.kind === 'ict-exp' ? ictDiscretizationSteps(step, totalSteps, { s0, s1 }) : ctDiscretizationSteps(step, totalSteps, { s0, s1 });
  const sigmas = karrasSigmas(N, { sigmaMin: config.sigmaMin, sigmaMax: config.sigmaMax, rho: config.rho });
  const probabilities =
    config.levels.kind === 'lognormal'
      ? lognormalLevelProbabilities(sigmas, { pMean: config.levels.pMean, pStd: config.levels.pStd })
      : uniformLevelProbabilities(sigmas);
  const weights = config.weighting === 'inverse-gap' ? ictLevelWeights(sigmas) : constantLevelWeights(sigmas);
  // mu(k) with N(k) from whichever curriculum is configured (docs/method.md section 2).
  return { N, sigmas, probabilities, weights, teacherEmaRate: config.teacher === 'stopgrad' ? 0 : teacherEmaRate(config.mu0, s0, N) };
}
