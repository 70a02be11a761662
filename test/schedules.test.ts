/**
 * Tests of src/method/{erf,schedules,presets}.ts and the `consistency schedule` command.
 * Values are checked twice: against the spec's formulas (docs/method.md sections 2-4) written
 * out again here, and against test/reference/schedules_ref.py (Python floats, mpmath for erf).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { erf, erfc } from '../src/method/erf.js';
import {
  constantLevelWeights,
  ctDiscretizationSteps,
  ctTeacherEmaRate,
  ictDiscretizationSteps,
  ictLevelWeights,
  karrasSigmas,
  lognormalLevelProbabilities,
  sampleLevelIndex,
  sampleLevelIndices,
  uniformLevelProbabilities,
} from '../src/method/schedules.js';
import { methodPreset, type MethodName } from '../src/method/presets.js';
import { levelSchedule } from '../src/method/schedules.js';
import { CLI } from './helpers/cli.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const REF_SCRIPT = fileURLToPath(new URL('../../test/reference/schedules_ref.py', import.meta.url));
const PYTHON = process.env.PYTHON ?? 'python3';

interface Reference {
  reference: string;
  karras: Record<string, number[]>;
  karrasCustom: { n: number; sigmaMin: number; sigmaMax: number; rho: number; sigmas: number[] };
  ict: Array<{ K: number; s0: number; s1: number; kPrime: number; N: Array<[number, number]> }>;
  ct: Array<{ K: number; s0: number; s1: number; mu0: number; values: Array<[number, number, number]> }>;
  probabilities: Array<{ N: number; pMean: number; pStd: number; sigmas: number[]; p: number[] }>;
  erf: Array<[number, number, number]>;
}

let cached: Reference | undefined;
/** Runs the Python reference script once; a missing or failing python3 fails the test (never skips). */
function reference(): Reference {
  if (cached) return cached;
  let out: string;
  try {
    out = execFileSync(PYTHON, [REF_SCRIPT], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (err) {
    assert.fail(
      `could not run the Python reference ${PYTHON} ${REF_SCRIPT} (set PYTHON to a python3 with math.erf): ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  cached = JSON.parse(out) as Reference;
  return cached;
}

/** |a - b| <= rel * |b|, elementwise, with a message naming the first bad index. */
function assertClose(actual: readonly number[], expected: readonly number[], rel: number, what: string, absFloor = 0): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const err = Math.abs(a - e);
    if (!(err <= rel * Math.abs(e) || err <= absFloor))
      assert.fail(`${what}[${i}]: got ${a}, expected ${e} (relative error ${err / Math.abs(e)}, allowed ${rel})`);
  }
}

function throwsRange(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RangeError, `expected a RangeError, got ${String(err)}`);
    assert.equal(err.message, message);
    return true;
  });
}

/** The spec's Karras formula, written out again (section 2). */
function specKarras(n: number, sMin = 0.002, sMax = 80, rho = 7): number[] {
  const out: number[] = [];
  for (let i = 1; i <= n; i++) out.push((sMin ** (1 / rho) + ((i - 1) / (n - 1)) * (sMax ** (1 / rho) - sMin ** (1 / rho))) ** rho);
  return out;
}

// ---------------------------------------------------------------------------------------------
// erf

test('erf and erfc agree with mpmath to ~1e-15 relative', () => {
  const ref = reference();
  for (const [x, e, c] of ref.erf) {
    const ge = erf(x);
    const gc = erfc(x);
    if (e === 0) assert.equal(ge, 0, `erf(${x})`);
    else assert.ok(Math.abs(ge - e) <= 1e-15 * Math.abs(e), `erf(${x}) = ${ge}, expected ${e}`);
    assert.ok(Math.abs(gc - c) <= 2e-15 * Math.abs(c), `erfc(${x}) = ${gc}, expected ${c}`);
  }
});

test('erf: symmetry, limits and NaN', () => {
  for (const x of [0.1, 0.46875, 0.47, 1.3, 3.99, 4.2, 9]) {
    assert.equal(erf(-x), -erf(x));
    assert.ok(Math.abs(erfc(-x) - (2 - erfc(x))) <= 4e-16 * 2);
  }
  assert.equal(erf(0), 0);
  assert.ok(Object.is(erf(-0), -0));
  assert.equal(erfc(0), 1);
  assert.equal(erf(Infinity), 1);
  assert.equal(erf(-Infinity), -1);
  assert.equal(erfc(Infinity), 0);
  assert.equal(erfc(-Infinity), 2);
  assert.equal(erfc(30), 0);
  assert.ok(Number.isNaN(erf(NaN)));
  assert.ok(Number.isNaN(erfc(NaN)));
});

// ---------------------------------------------------------------------------------------------
// Karras levels

test('karrasSigmas: the spec formula, increasing, exact endpoints', () => {
  for (const n of [2, 3, 11, 21, 151, 1281]) {
    const s = karrasSigmas(n);
    assert.equal(s.length, n);
    assert.equal(s[0], 0.002);
    assert.equal(s[n - 1], 80);
    for (let i = 1; i < n; i++) assert.ok(s[i]! > s[i - 1]!, `n=${n}: not increasing at ${i}`);
    assertClose(s, specKarras(n), 1e-15, `karrasSigmas(${n})`);
  }
  const c = karrasSigmas(9, { sigmaMin: 0.01, sigmaMax: 50, rho: 3 });
  assertClose(c, specKarras(9, 0.01, 50, 3), 1e-15, 'karrasSigmas(9, custom)');
  assert.equal(c[0], 0.01);
  assert.equal(c[8], 50);
});

test('karrasSigmas matches the Python reference', () => {
  const ref = reference();
  for (const [n, sigmas] of Object.entries(ref.karras)) assertClose(karrasSigmas(Number(n)), sigmas, 1e-15, `karrasSigmas(${n})`);
  const k = ref.karrasCustom;
  assertClose(karrasSigmas(k.n, { sigmaMin: k.sigmaMin, sigmaMax: k.sigmaMax, rho: k.rho }), k.sigmas, 1e-15, 'karrasSigmas(custom)');
});

// ---------------------------------------------------------------------------------------------
// Curricula

test("ictDiscretizationSteps: K' = 50,000 for K = 400,000 and 100,000 for K = 800,000, N doubles at each boundary", () => {
  for (const [K, kPrime] of [
    [400_000, 50_000],
    [800_000, 100_000],
  ] as const) {
    // The spec's formula, written out again.
    assert.equal(Math.floor(K / (Math.log2(Math.floor(1280 / 10)) + 1)), kPrime);
    assert.equal(ictDiscretizationSteps(0, K), 11);
    const expected = [11, 21, 41, 81, 161, 321, 641, 1281];
    for (let j = 1; j < 8; j++) {
      assert.equal(ictDiscretizationSteps(j * kPrime - 1, K), expected[j - 1], `K=${K}, k=${j}K'-1`);
      assert.equal(ictDiscretizationSteps(j * kPrime, K), expected[j], `K=${K}, k=${j}K'`);
    }
    assert.equal(ictDiscretizationSteps(8 * kPrime - 1, K), 1281);
    assert.equal(ictDiscretizationSteps(K, K), 1281);
  }
});

test('ictDiscretizationSteps: a ratio s1/s0 that is not a power of 2, and a K smaller than the stage count', () => {
  // s1/s0 = 100: K' = floor(100000 / (log2(100) + 1)) = 13082; N caps at s1 + 1.
  const kp = Math.floor(100_000 / (Math.log2(100) + 1));
  assert.equal(kp, 13082);
  assert.equal(ictDiscretizationSteps(kp - 1, 100_000, { s0: 10, s1: 1000 }), 11);
  assert.equal(ictDiscretizationSteps(kp, 100_000, { s0: 10, s1: 1000 }), 21);
  assert.equal(ictDiscretizationSteps(7 * kp, 100_000, { s0: 10, s1: 1000 }), 1001);
  // K = 5 < 8 stages: K' would be 0; it is taken as 1.
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((k) => ictDiscretizationSteps(k, 5)),
    [11, 21, 41, 81, 161, 321],
  );
});

test('ictDiscretizationSteps matches the Python reference', () => {
  for (const c of reference().ict)
    for (const [k, N] of c.N) assert.equal(ictDiscretizationSteps(k, c.K, { s0: c.s0, s1: c.s1 }), N, `K=${c.K} s0=${c.s0} s1=${c.s1} k=${k}`);
});

test('ctDiscretizationSteps and ctTeacherEmaRate: the spec formulas', () => {
  const K = 800_000;
  assert.equal(ctDiscretizationSteps(0, K), 2);
  assert.equal(ctDiscretizationSteps(K, K), 151);
  assert.equal(ctDiscretizationSteps(600_000, 600_000, { s0: 2, s1: 200 }), 201);
  assert.equal(ctTeacherEmaRate(0, K), 0.9);
  assert.equal(ctTeacherEmaRate(0, K, { mu0: 0 }), 0);
  let prev = 0;
  for (let k = 0; k <= K; k += 7919) {
    const N = Math.ceil(Math.sqrt((k / K) * (151 ** 2 - 2 ** 2) + 2 ** 2) - 1) + 1;
    assert.equal(ctDiscretizationSteps(k, K), N, `k=${k}`);
    assert.ok(N >= prev, 'N(k) is non-decreasing');
    prev = N;
    const mu = Math.exp((2 * Math.log(0.9)) / N);
    assert.ok(Math.abs(ctTeacherEmaRate(k, K) - mu) <= 1e-16, `mu(${k})`);
    const mu95 = Math.exp((2 * Math.log(0.95)) / ctDiscretizationSteps(k, K, { s1: 200 }));
    assert.ok(Math.abs(ctTeacherEmaRate(k, K, { s1: 200, mu0: 0.95 }) - mu95) <= 1e-16);
  }
});

test('ctDiscretizationSteps and ctTeacherEmaRate match the Python reference', () => {
  for (const c of reference().ct) {
    for (const [k, N, mu] of c.values) {
      const o = { s0: c.s0, s1: c.s1, mu0: c.mu0 };
      assert.equal(ctDiscretizationSteps(k, c.K, o), N, `K=${c.K} k=${k}`);
      const got = ctTeacherEmaRate(k, c.K, o);
      assert.ok(Math.abs(got - mu) <= 1e-15 * mu, `mu: K=${c.K} k=${k}: got ${got}, expected ${mu}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Level probabilities and weights

test('lognormalLevelProbabilities: the erf formula, sums to 1, peaks near exp(P_mean)', () => {
  for (const n of [11, 21, 41, 81, 161, 321, 641, 1281]) {
    const sigmas = karrasSigmas(n);
    const p = lognormalLevelProbabilities(sigmas);
    assert.equal(p.length, n - 1);
    const sum = p.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) <= 1e-14, `N=${n}: sum ${sum}`);
    // docs/method.md section 3 written out with the plain erf difference (fine here: no tail is tiny).
    const u = sigmas.map((s) => (Math.log(s) + 1.1) / (Math.SQRT2 * 2));
    const m = u.slice(1).map((b, i) => erf(b) - erf(u[i]!));
    const t = m.reduce((a, b) => a + b, 0);
    assertClose(
      p,
      m.map((x) => x / t),
      1e-11,
      `p(N=${n})`,
    );
    // The mode of p(i) / (ln sigma_{i+1} - ln sigma_i) (a density in ln sigma) sits near P_mean.
    let best = 0;
    for (let i = 1; i < n - 1; i++)
      if (p[i]! / Math.log(sigmas[i + 1]! / sigmas[i]!) > p[best]! / Math.log(sigmas[best + 1]! / sigmas[best]!)) best = i;
    assert.ok(Math.abs(Math.log(sigmas[best]!) + 1.1) < 1.2, `N=${n}: mode at sigma ${sigmas[best]}`);
  }
});

test('lognormalLevelProbabilities matches the Python (mpmath) reference to 1e-12 relative, tails included', () => {
  const ref = reference();
  assert.ok(ref.probabilities.length >= 8);
  for (const c of ref.probabilities) {
    // Relative to each value; below the normal float64 range only an absolute bound makes sense.
    // On Python's levels (so only this function's error counts) ...
    const p = lognormalLevelProbabilities(c.sigmas, { pMean: c.pMean, pStd: c.pStd });
    assertClose(p, c.p, 1e-12, `p(N=${c.N}, pMean=${c.pMean}, pStd=${c.pStd}) vs ${ref.reference}`, 1e-300);
    // ... and on this library's own levels (V8's and libm's pow can differ by an ulp).
    const q = lognormalLevelProbabilities(karrasSigmas(c.N), { pMean: c.pMean, pStd: c.pStd });
    assertClose(q, c.p, 1e-12, `p(karrasSigmas(${c.N}), pMean=${c.pMean}, pStd=${c.pStd}) vs ${ref.reference}`, 1e-300);
  }
  // The narrow cases really do test tiny probabilities.
  const tiny = ref.probabilities.flatMap((c) => c.p).filter((x) => x > 0 && x < 1e-100);
  assert.ok(tiny.length > 10);
});

test('uniformLevelProbabilities, ictLevelWeights, constantLevelWeights', () => {
  const s = karrasSigmas(11);
  assert.deepEqual(uniformLevelProbabilities(s), new Array(10).fill(0.1));
  assert.deepEqual(constantLevelWeights(s), new Array(10).fill(1));
  assert.deepEqual(
    ictLevelWeights(s),
    s.slice(1).map((b, i) => 1 / (b - s[i]!)),
  );
  assert.deepEqual(ictLevelWeights([1, 1.5, 3.5]), [2, 0.5]);
});

// ---------------------------------------------------------------------------------------------
// Sampling

test('sampleLevelIndex: inverse CDF, skips zero-probability pairs', () => {
  const p = [0.25, 0, 0.5, 0.25];
  assert.equal(sampleLevelIndex(p, 0), 0);
  assert.equal(sampleLevelIndex(p, 0.2499), 0);
  assert.equal(sampleLevelIndex(p, 0.25), 2);
  assert.equal(sampleLevelIndex(p, 0.7499), 2);
  assert.equal(sampleLevelIndex(p, 0.75), 3);
  assert.equal(sampleLevelIndex(p, 0.9999999999999999), 3);
  assert.equal(sampleLevelIndex([0.5, 0.5, 0], 0.9999999999999999), 1);
  assert.equal(sampleLevelIndex([1], 0.5), 0);
});

test('sampleLevelIndices: frequencies follow the lognormal probabilities', () => {
  const p = lognormalLevelProbabilities(karrasSigmas(11));
  let state = 12345;
  const rng = (): number => {
    // A 32-bit LCG (Numerical Recipes constants): deterministic, uniform enough for counting.
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const n = 200_000;
  const idx = sampleLevelIndices(p, n, rng);
  assert.equal(idx.length, n);
  const counts = new Array<number>(p.length).fill(0);
  for (const i of idx) counts[i]!++;
  for (let i = 0; i < p.length; i++) {
    const sd = Math.sqrt(n * p[i]! * (1 - p[i]!));
    assert.ok(Math.abs(counts[i]! - n * p[i]!) < 5 * sd + 1, `pair ${i}: ${counts[i]} draws, expected ${n * p[i]!}`);
  }
  assert.deepEqual(sampleLevelIndices(p, 0, rng), []);
});

// ---------------------------------------------------------------------------------------------
// Bad input

test('every bad input throws a RangeError naming the function, the value and the range', () => {
  const s = karrasSigmas(5);
  const cases: Array<[() => unknown, string]> = [
    [() => karrasSigmas(1), 'karrasSigmas: n must be an integer >= 2, got 1'],
    [() => karrasSigmas(2.5), 'karrasSigmas: n must be an integer >= 2, got 2.5'],
    [() => karrasSigmas(5, { sigmaMin: 0 }), 'karrasSigmas: sigmaMin must be a finite number > 0, got 0'],
    [() => karrasSigmas(5, { sigmaMin: -1 }), 'karrasSigmas: sigmaMin must be a finite number > 0, got -1'],
    [() => karrasSigmas(5, { sigmaMax: 0.001 }), 'karrasSigmas: sigmaMax must be > sigmaMin=0.002, got 0.001'],
    [() => karrasSigmas(5, { rho: 0 }), 'karrasSigmas: rho must be a finite number > 0, got 0'],
    [() => ictDiscretizationSteps(0, 0), 'ictDiscretizationSteps: totalSteps must be a positive integer, got 0'],
    [() => ictDiscretizationSteps(0, -5), 'ictDiscretizationSteps: totalSteps must be a positive integer, got -5'],
    [() => ictDiscretizationSteps(0, 10.5), 'ictDiscretizationSteps: totalSteps must be a positive integer, got 10.5'],
    [() => ictDiscretizationSteps(-1, 10), 'ictDiscretizationSteps: step must be an integer in [0, totalSteps=10], got -1'],
    [() => ictDiscretizationSteps(1.5, 10), 'ictDiscretizationSteps: step must be an integer in [0, totalSteps=10], got 1.5'],
    [() => ictDiscretizationSteps(11, 10), 'ictDiscretizationSteps: step must be an integer in [0, totalSteps=10], got 11'],
    [() => ictDiscretizationSteps(0, 10, { s0: 0 }), 'ictDiscretizationSteps: s0 must be a positive integer, got 0'],
    [() => ictDiscretizationSteps(0, 10, { s0: 10, s1: 5 }), 'ictDiscretizationSteps: s1 must be an integer >= s0=10, got 5'],
    [() => ctDiscretizationSteps(0, 0), 'ctDiscretizationSteps: totalSteps must be a positive integer, got 0'],
    [() => ctDiscretizationSteps(11, 10), 'ctDiscretizationSteps: step must be an integer in [0, totalSteps=10], got 11'],
    [() => ctDiscretizationSteps(0, 10, { s0: 3, s1: 2 }), 'ctDiscretizationSteps: s1 must be an integer >= s0=3, got 2'],
    [() => ctTeacherEmaRate(-2, 10), 'ctTeacherEmaRate: step must be an integer in [0, totalSteps=10], got -2'],
    [() => ctTeacherEmaRate(0, 10, { mu0: 1 }), 'ctTeacherEmaRate: mu0 must be a number in [0, 1), got 1'],
    [() => ctTeacherEmaRate(0, 10, { s0: 5, s1: 4 }), 'ctTeacherEmaRate: s1 must be an integer >= s0=5, got 4'],
    [() => lognormalLevelProbabilities(s, { pStd: 0 }), 'lognormalLevelProbabilities: pStd must be a finite number > 0, got 0'],
    [() => lognormalLevelProbabilities(s, { pStd: -2 }), 'lognormalLevelProbabilities: pStd must be a finite number > 0, got -2'],
    [() => lognormalLevelProbabilities(s, { pMean: NaN }), 'lognormalLevelProbabilities: pMean must be a finite number, got NaN'],
    [() => lognormalLevelProbabilities([1]), 'lognormalLevelProbabilities: sigmas must hold at least 2 levels, got 1'],
    [() => lognormalLevelProbabilities([0, 1]), 'lognormalLevelProbabilities: sigmas[0] must be a finite number > 0, got 0'],
    [() => lognormalLevelProbabilities([1, -2]), 'lognormalLevelProbabilities: sigmas[1] must be a finite number > 0, got -2'],
    [
      () => lognormalLevelProbabilities([1, 2, 2]),
      'lognormalLevelProbabilities: sigmas must be strictly increasing, got sigmas[1]=2 then sigmas[2]=2',
    ],
    [() => uniformLevelProbabilities([2, 1]), 'uniformLevelProbabilities: sigmas must be strictly increasing, got sigmas[0]=2 then sigmas[1]=1'],
    [() => ictLevelWeights([0.5, 0.1]), 'ictLevelWeights: sigmas must be strictly increasing, got sigmas[0]=0.5 then sigmas[1]=0.1'],
    [() => ictLevelWeights([-1, 1]), 'ictLevelWeights: sigmas[0] must be a finite number > 0, got -1'],
    [() => constantLevelWeights([3]), 'constantLevelWeights: sigmas must hold at least 2 levels, got 1'],
    [() => sampleLevelIndex([0.5, 0.4], 0.1), 'sampleLevelIndex: probabilities must sum to 1 (within 1e-9), got a sum of 0.9'],
    [() => sampleLevelIndex([0.5, -0.5, 1], 0.1), 'sampleLevelIndex: probabilities[1] must be a finite number >= 0, got -0.5'],
    [() => sampleLevelIndex([], 0.1), 'sampleLevelIndex: probabilities must be a non-empty array, got length 0'],
    [() => sampleLevelIndex([1], 1), 'sampleLevelIndex: u must be a number in [0, 1), got 1'],
    [() => sampleLevelIndex([1], -0.1), 'sampleLevelIndex: u must be a number in [0, 1), got -0.1'],
    [() => sampleLevelIndices([0.7, 0.7], 3, Math.random), 'sampleLevelIndices: probabilities must sum to 1 (within 1e-9), got a sum of 1.4'],
    [() => sampleLevelIndices([1], -1, Math.random), 'sampleLevelIndices: count must be an integer >= 0, got -1'],
    [() => sampleLevelIndices([1], 2, () => 1.5), 'sampleLevelIndices: rng() must be a number in [0, 1), got 1.5'],
    [() => methodPreset('edm' as MethodName), 'methodPreset: method must be one of ict, ct, got edm'],
    [() => methodPreset('ict', { levels: { pStd: 0 } }), 'methodPreset: levels.pStd must be a finite number > 0, got 0'],
    [() => methodPreset('ict', { curriculum: { s1: 5 } }), 'methodPreset: curriculum.s1 must be an integer >= s0=10, got 5'],
    [
      () => methodPreset('ct', { curriculum: { s0: 1 } }),
      'methodPreset: curriculum.s0 must be an integer >= 2 for ct-sqrt (N(0) = s0 levels), got 1',
    ],
    [() => methodPreset('ct', { mu0: 1 }), 'methodPreset: mu0 must be a number in [0, 1), got 1'],
    [() => methodPreset('ict', { sigmaMin: -1 }), 'methodPreset: sigmaMin must be a finite number > 0, got -1'],
    [() => methodPreset('ict', { sigmaMax: 0.001 }), 'methodPreset: sigmaMax must be > sigmaMin=0.002, got 0.001'],
    [() => levelSchedule(methodPreset('ict'), 5, 4), 'ictDiscretizationSteps: step must be an integer in [0, totalSteps=4], got 5'],
  ];
  for (const [fn, message] of cases) throwsRange(fn, message);
});

// ---------------------------------------------------------------------------------------------
// Presets

test('methodPreset: the papers values, overrides, and levelSchedule', () => {
  const ict = methodPreset('ict');
  assert.deepEqual(ict, {
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
    noiseEmbedding: 'fourier',
  });
  const ct = methodPreset('ct');
  assert.equal(ct.teacher, 'ema');
  assert.equal(ct.mu0, 0.9);
  assert.deepEqual(ct.curriculum, { kind: 'ct-sqrt', s0: 2, s1: 150 });
  assert.equal(ct.levels.kind, 'uniform');
  assert.equal(ct.weighting, 'constant');
  assert.equal(ct.metric.kind, 'lpips');
  assert.equal(methodPreset('ct', { metric: { kind: 'l2' } }).metric.kind, 'l2');
  const o = methodPreset('ict', { curriculum: { s1: 640 }, levels: { pMean: -1.0 }, sigmaMax: 100 });
  assert.deepEqual(o.curriculum, { kind: 'ict-exp', s0: 10, s1: 640 });
  assert.deepEqual(o.levels, { kind: 'lognormal', pMean: -1.0, pStd: 2.0 });
  assert.equal(o.sigmaMax, 100);
  // Overrides do not leak into the preset.
  assert.equal(methodPreset('ict').curriculum.s1, 1280);

  const a = levelSchedule(ict, 50_000, 400_000);
  assert.equal(a.N, 21);
  assert.deepEqual(a.sigmas, karrasSigmas(21));
  assert.deepEqual(a.probabilities, lognormalLevelProbabilities(karrasSigmas(21)));
  assert.deepEqual(a.weights, ictLevelWeights(karrasSigmas(21)));
  assert.equal(a.teacherEmaRate, 0);
  const b = levelSchedule(ct, 123_456, 800_000);
  assert.equal(b.N, ctDiscretizationSteps(123_456, 800_000));
  assert.deepEqual(b.probabilities, uniformLevelProbabilities(b.sigmas));
  assert.deepEqual(b.weights, new Array(b.N - 1).fill(1));
  assert.equal(b.teacherEmaRate, ctTeacherEmaRate(123_456, 800_000));
});

// ---------------------------------------------------------------------------------------------
// The CLI

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'schedule', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('consistency schedule --json prints the schedule of levelSchedule', () => {
  const r = cli(['--total-steps', '400000', '--step', '50000', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { N: number; sigmas: number[]; probabilities: number[]; weights: number[] };
  assert.deepEqual(Object.keys(got), ['N', 'sigmas', 'probabilities', 'weights']);
  const want = levelSchedule(methodPreset('ict'), 50_000, 400_000);
  assert.equal(got.N, 21);
  assert.deepEqual(got.sigmas, want.sigmas);
  assert.deepEqual(got.probabilities, want.probabilities);
  assert.deepEqual(got.weights, want.weights);

  const c = cli(['--method', 'ct', '--total-steps=800000', '--step=800000', '--json']);
  assert.equal(c.status, 0, c.stderr);
  assert.equal((JSON.parse(c.stdout) as { N: number }).N, 151);

  const o = cli([
    '--total-steps',
    '10',
    '--step',
    '10',
    '--s0',
    '4',
    '--s1',
    '32',
    '--p-mean',
    '-1',
    '--p-std',
    '1.5',
    '--sigma-min',
    '0.01',
    '--sigma-max',
    '40',
    '--rho',
    '5',
    '--json',
  ]);
  assert.equal(o.status, 0, o.stderr);
  const og = JSON.parse(o.stdout) as { N: number; sigmas: number[]; probabilities: number[] };
  assert.equal(og.N, 33);
  assert.deepEqual(og.sigmas, karrasSigmas(33, { sigmaMin: 0.01, sigmaMax: 40, rho: 5 }));
  assert.deepEqual(og.probabilities, lognormalLevelProbabilities(og.sigmas, { pMean: -1, pStd: 1.5 }));
});

test('consistency schedule: table, --help, and bad input exits 2 with one line', () => {
  const t = cli(['--total-steps', '400000', '--step', '0']);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /N = 11 levels/);
  assert.equal(t.stdout.trim().split('\n').length, 3 + 10);

  const h = cli(['--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /^usage: consistency schedule/);
  assert.match(h.stdout, /--p-std/);

  const bad: Array<[string[], RegExp]> = [
    [['--total-steps', '10', '--step', '1', '--bogus'], /unknown flag --bogus/],
    [['--step', '1'], /--total-steps is required/],
    [['--total-steps', '0', '--step', '0'], /--total-steps must be a positive integer; got 0/],
    [['--total-steps', '10', '--step', '11'], /--step must be an integer in \[0, 10\]/],
    [['--total-steps', '10', '--step', '1.5'], /--step must be an integer; got '1.5'/],
    [['--total-steps', '10', '--step', '1', '--method', 'edm'], /--method must be one of ict, ct; got 'edm'/],
    [['--total-steps', '10', '--step', '1', '--p-std', '0'], /--p-std must be a finite number > 0, got 0/],
    [['--total-steps', '10', '--step', '1', '--s1', '5'], /--s1 must be an integer >= --s0=10, got 5/],
    [['--total-steps', '10', '--step', '1', '--sigma-min', '-1'], /--sigma-min must be a finite number > 0, got -1/],
    [['--total-steps', '10', '--step', '1', 'extra'], /unexpected argument 'extra'/],
  ];
  for (const [args, re] of bad) {
    const r = cli(args);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}, stderr ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});
