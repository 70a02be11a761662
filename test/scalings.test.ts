/**
 * Tests of src/method/scalings.ts: the preconditioning of docs/method.md section 1 and the pseudo-Huber
 * constant of section 4, against the formulas written out here and against
 * test/reference/schedules_ref.py (mpmath).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { consistencyScalings, pseudoHuberC } from '../src/method/scalings.js';
import { karrasSigmas } from '../src/method/schedules.js';

const REF_SCRIPT = fileURLToPath(new URL('../../test/reference/schedules_ref.py', import.meta.url));
const PYTHON = process.env.PYTHON ?? 'python3';

interface ScalingRef {
  sigma: number;
  cSkip: number;
  cOut: number;
  cIn: number;
  cNoiseFourier: number;
  cNoisePositional: number;
}

function reference(): { reference: string; scalings: ScalingRef[] } {
  let out: string;
  try {
    out = execFileSync(PYTHON, [REF_SCRIPT], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (err) {
    assert.fail(`could not run the Python reference ${PYTHON} ${REF_SCRIPT}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return JSON.parse(out) as { reference: string; scalings: ScalingRef[] };
}

function close(a: number, e: number, rel: number, what: string): void {
  assert.ok(Math.abs(a - e) <= rel * Math.abs(e), `${what}: got ${a}, expected ${e}`);
}

test('boundary condition: cSkip === 1 and cOut === 0 exactly at sigma_min', () => {
  const c = consistencyScalings(0.002);
  assert.equal(c.cSkip, 1);
  assert.equal(c.cOut, 0);
  assert.ok(Object.is(c.cOut, 0), 'cOut is +0');
  // The first Karras level is sigma_min bit for bit, so the teacher at i = 1 is exactly the identity.
  const first = karrasSigmas(1281)[0]!;
  assert.equal(consistencyScalings(first).cSkip, 1);
  assert.equal(consistencyScalings(first).cOut, 0);
  // Other sigma_min and sigma_data, and the positional embedding, too.
  for (const [sigmaMin, sigmaData] of [
    [0.001, 1],
    [0.02, 0.25],
    [1e-5, 0.5],
    [0.3, 0.7],
  ] as const) {
    const s = consistencyScalings(sigmaMin, { sigmaMin, sigmaData, noiseEmbedding: 'positional' });
    assert.equal(s.cSkip, 1, `sigmaMin=${sigmaMin}`);
    assert.equal(s.cOut, 0, `sigmaMin=${sigmaMin}`);
  }
});

test('consistencyScalings: the spec formulas', () => {
  for (const s of [0.002, 0.0021, 0.05, 0.5, 0.821, 1.526, 10, 80]) {
    const c = consistencyScalings(s);
    close(c.cSkip, 0.25 / ((s - 0.002) ** 2 + 0.25), 1e-15, `cSkip(${s})`);
    close(c.cOut, (0.5 * (s - 0.002)) / Math.sqrt(0.25 + s * s), 1e-15, `cOut(${s})`);
    close(c.cIn, 1 / Math.sqrt(s * s + 0.25), 1e-15, `cIn(${s})`);
    close(c.cNoise, 0.25 * Math.log(s), 1e-15, `cNoise(${s})`);
    close(consistencyScalings(s, { noiseEmbedding: 'positional' }).cNoise, 250 * Math.log(s + 1e-44), 1e-15, `positional cNoise(${s})`);
    // c_skip lies in (0, 1] and c_out is >= 0 for sigma >= sigma_min.
    assert.ok(c.cSkip > 0 && c.cSkip <= 1 && c.cOut >= 0);
  }
  const big = consistencyScalings(80);
  assert.ok(big.cSkip < 1e-4 && Math.abs(big.cOut - 0.5) < 1e-4);
});

test('consistencyScalings matches the Python (mpmath) reference', () => {
  const ref = reference();
  assert.ok(ref.scalings.length > 0);
  for (const r of ref.scalings) {
    const c = consistencyScalings(r.sigma);
    const p = consistencyScalings(r.sigma, { noiseEmbedding: 'positional' });
    close(c.cSkip, r.cSkip, 1e-15, `cSkip(${r.sigma})`);
    if (r.cOut === 0) assert.equal(c.cOut, 0);
    else close(c.cOut, r.cOut, 1e-12, `cOut(${r.sigma})`); // sigma - sigma_min cancels near sigma_min
    close(c.cIn, r.cIn, 1e-15, `cIn(${r.sigma})`);
    close(c.cNoise, r.cNoiseFourier, 1e-15, `cNoise(${r.sigma})`);
    close(p.cNoise, r.cNoisePositional, 1e-15, `positional cNoise(${r.sigma})`);
  }
});

test('pseudoHuberC: 0.00054 sqrt(D)', () => {
  assert.equal(pseudoHuberC(3072), 0.00054 * Math.sqrt(3072));
  assert.ok(Math.abs(pseudoHuberC(3 * 32 * 32) - 0.0299) < 5e-5);
  assert.ok(Math.abs(pseudoHuberC(3 * 64 * 64) - 0.0599) < 5e-5);
  assert.equal(pseudoHuberC(1), 0.00054);
});

test('bad input throws a RangeError naming the value', () => {
  const cases: Array<[() => unknown, string]> = [
    [() => consistencyScalings(0), 'consistencyScalings: sigma must be a finite number > 0, got 0'],
    [() => consistencyScalings(-1), 'consistencyScalings: sigma must be a finite number > 0, got -1'],
    [() => consistencyScalings(NaN), 'consistencyScalings: sigma must be a finite number > 0, got NaN'],
    [() => consistencyScalings(Infinity), 'consistencyScalings: sigma must be a finite number > 0, got Infinity'],
    [() => consistencyScalings(0.001), 'consistencyScalings: sigma must be >= sigmaMin=0.002, got 0.001'],
    [() => consistencyScalings(0.0019999999999999996), 'consistencyScalings: sigma must be >= sigmaMin=0.002, got 0.0019999999999999996'],
    [() => consistencyScalings(1, { sigmaMin: 0 }), 'consistencyScalings: sigmaMin must be a finite number > 0, got 0'],
    [() => consistencyScalings(1, { sigmaData: -0.5 }), 'consistencyScalings: sigmaData must be a finite number > 0, got -0.5'],
    [
      () => consistencyScalings(1, { noiseEmbedding: 'sinusoid' as 'fourier' }),
      'consistencyScalings: noiseEmbedding must be one of fourier, positional, got sinusoid',
    ],
    [() => pseudoHuberC(0), 'pseudoHuberC: dims must be a positive integer, got 0'],
    [() => pseudoHuberC(3.5), 'pseudoHuberC: dims must be a positive integer, got 3.5'],
  ];
  for (const [fn, message] of cases) {
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof RangeError, `expected a RangeError, got ${String(err)}`);
      assert.equal(err.message, message);
      return true;
    });
  }
});
