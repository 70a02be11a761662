/**
 * Tests of src/train/draws.ts: each sample's noise z and level uniform depend only on (run seed,
 * step, global sample index). Against test/reference/draws_ref.py (splitmix64 and xoshiro128**
 * written in Python from the documentation, z drawn by Python's torch from a CPU generator
 * seeded the same way); any subset or order of samples draws the same rows; the level indices
 * are the inverse CDF of p(i) at those uniforms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tidy } from '../src/tensor/index.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { levelIndicesFor, levelUniform, noiseFor, noiseSeed } from '../src/train/draws.js';
import { sampleLevelIndex } from '../src/method/schedules.js';
import { runPythonScript } from './helpers/python.js';

const SEED = 123;
const SHAPE = [2, 5, 5];
const CASES: Array<[number, number]> = [
  [0, 0],
  [0, 1],
  [0, 7],
  [1, 0],
  [41, 3],
  [399_999, 1023],
];

test("per-sample noise and level uniforms match the Python reference (torch's CPU generator)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'draws-'));
  try {
    const out = join(dir, 'z.safetensors');
    const ref = JSON.parse(runPythonScript('test/reference/draws_ref.py', [], JSON.stringify({ seed: SEED, cases: CASES, shape: SHAPE, out }))) as {
      noiseSeeds: number[];
      levelUniforms: number[];
    };
    assert.deepEqual(
      CASES.map(([k, i]) => noiseSeed(SEED, k, i)),
      ref.noiseSeeds,
    );
    assert.deepEqual(
      CASES.map(([k, i]) => levelUniform(SEED, k, i)),
      ref.levelUniforms,
    );
    const want = loadSafetensors(out).tensors.get('z')!;
    const per = SHAPE.reduce((a, b) => a * b, 1);
    const all = want.toFloat32Array();
    want.dispose();
    CASES.forEach(([k, i], n) => {
      const z = tidy(() => noiseFor(SEED, k, [i], SHAPE, 'cpu').toFloat32Array());
      assert.deepEqual(z, all.subarray(n * per, (n + 1) * per), `z of sample ${i} at step ${k}`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the draws of a sample do not depend on which other samples are drawn with it', () => {
  const whole = tidy(() => noiseFor(SEED, 5, [0, 1, 2, 3, 4], SHAPE, 'cpu').toFloat32Array());
  const part = tidy(() => noiseFor(SEED, 5, [3, 1], SHAPE, 'cpu').toFloat32Array());
  const per = SHAPE.reduce((a, b) => a * b, 1);
  assert.deepEqual(part.subarray(0, per), whole.subarray(3 * per, 4 * per));
  assert.deepEqual(part.subarray(per), whole.subarray(per, 2 * per));
  // Another step or another seed draws other numbers.
  const step6 = tidy(() => noiseFor(SEED, 6, [0], SHAPE, 'cpu').toFloat32Array());
  const seed2 = tidy(() => noiseFor(SEED + 1, 5, [0], SHAPE, 'cpu').toFloat32Array());
  assert.notDeepEqual(step6, whole.subarray(0, per));
  assert.notDeepEqual(seed2, whole.subarray(0, per));

  const p = [0.1, 0.2, 0.3, 0.4];
  const indices = [9, 2, 0, 31];
  assert.deepEqual(
    levelIndicesFor(p, SEED, 5, indices),
    indices.map((i) => sampleLevelIndex(p, levelUniform(SEED, 5, i))),
  );
  assert.deepEqual(levelIndicesFor(p, SEED, 5, [31, 0]), levelIndicesFor(p, SEED, 5, indices).reverse().slice(0, 2));
  assert.throws(() => noiseSeed(SEED, -1, 0), /noiseSeed: step must be a non-negative integer, got -1/);
  assert.throws(() => levelUniform(SEED, 0, 1.5), /levelUniform: globalIndex must be a non-negative integer, got 1.5/);
});
