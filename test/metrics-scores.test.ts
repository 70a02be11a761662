/**
 * Feature statistics, Frechet distance, Inception score, k-NN precision/recall and KID against
 * NumPy/SciPy references (test/reference/fid_ref.py) on random features.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPythonScript } from './helpers/python.js';
import { Tensor, randn, rand, Generator, tidy, keep, setNumThreads, liveTensorCount, tensor } from '../src/tensor/index.js';
import { featureStats, FeatureStatsAccumulator, frechetDistance, frechetDistanceParts, FeatureStatsError } from '../src/metrics/scores/frechet.js';
import { saveReference, loadReference } from '../src/metrics/evaluation/reference.js';
import { inceptionScore } from '../src/metrics/scores/inception-score.js';
import { precisionRecall } from '../src/metrics/scores/precision-recall.js';
import { polynomialMmd2, kernelInceptionDistance } from '../src/metrics/scores/kid.js';

setNumThreads(1);

const dir = mkdtempSync(join(tmpdir(), 'metrics-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Random features [n, d] = z A + b (correlated, non-zero mean), float64 on the CPU. */
function features(n: number, d: number, seed: number, shift = 0): Tensor {
  const g = new Generator(seed, 'cpu');
  return tidy(() => {
    const z = randn([n, d], { generator: g, dtype: 'float64', device: 'cpu' });
    const a = randn([d, d], { generator: g, dtype: 'float64', device: 'cpu' }).div(Math.sqrt(d));
    const b = rand([d], { generator: g, dtype: 'float64', device: 'cpu' }).add(shift);
    return z.matmul(a).add(b);
  });
}

/** Runs fid_ref.py on named float64 arrays and tasks; returns its JSON. */
function reference(arrays: Record<string, Float64Array | Tensor>, tasks: object[]): Record<string, unknown> {
  const specs: Record<string, { path: string; shape: number[] }> = {};
  for (const [name, v] of Object.entries(arrays)) {
    const path = join(dir, `${name}.f64`);
    const data = v instanceof Tensor ? v.toFloat64Array() : v;
    writeFileSync(path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    specs[name] = { path, shape: v instanceof Tensor ? v.shape : [v.length] };
  }
  return JSON.parse(runPythonScript('test/reference/fid_ref.py', [], JSON.stringify({ arrays: specs, tasks }))) as Record<string, unknown>;
}

function assertClose(actual: number, expected: number, rel: number, what: string): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
  assert.ok(err <= rel, `${what}: ${actual} vs ${expected} (relative error ${err.toExponential(2)} > ${rel})`);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('streamed mean and covariance equal numpy mean and cov (ddof=1)', () => {
  const x = features(300, 24, 1);
  const acc = new FeatureStatsAccumulator('test');
  for (let i = 0; i < 300; i += 64)
    tidy(() =>
      acc.add(
        x
          .slice(0, i, Math.min(300, i + 64))
          .toDtype('float32')
          .toDtype('float64'),
      ),
    );
  const streamed = acc.finish();
  acc.dispose();
  const whole = featureStats(x, 'test');
  const ref = reference({ x }, [{ name: 's', kind: 'stats', x: 'x' }]).s as { mu: number[]; sigma: number[] };
  assert.equal(whole.count, 300);
  assert.ok(maxAbsDiff(whole.mu, ref.mu) < 1e-12, 'mu');
  assert.ok(maxAbsDiff(whole.sigma, ref.sigma) < 1e-12, 'sigma');
  // The streamed batches went through float32, so they agree to float32 rounding only.
  assert.ok(maxAbsDiff(streamed.mu, ref.mu) < 1e-5, 'streamed mu');
  assert.ok(maxAbsDiff(streamed.sigma, ref.sigma) < 1e-5, 'streamed sigma');
  x.dispose();
});

test('Frechet distance equals the scipy sqrtm formula on full-rank and on rank-deficient covariances (1e-6 relative)', () => {
  const before = liveTensorCount();
  const cases: [string, number, number, number][] = [
    ['full rank', 400, 500, 32],
    ['rank-deficient (N < D)', 20, 30, 48],
    ['one rank-deficient, one full', 25, 400, 40],
  ];
  for (const [label, n1, n2, d] of cases) {
    const x1 = features(n1, d, 10 + n1, 0);
    const x2 = features(n2, d, 20 + n2, 0.3);
    const s1 = featureStats(x1, 'f');
    const s2 = featureStats(x2, 'f');
    x1.dispose();
    x2.dispose();
    const ref = reference(
      { mu1: s1.mu, sigma1: tensor(s1.sigma, [d, d], { device: 'cpu' }), mu2: s2.mu, sigma2: tensor(s2.sigma, [d, d], { device: 'cpu' }) },
      [{ name: 'fd', kind: 'frechet', mu1: 'mu1', sigma1: 'sigma1', mu2: 'mu2', sigma2: 'sigma2' }],
    ).fd as number;
    assertClose(frechetDistance(s1, s2), ref, 1e-6, label);
    // Symmetric in its arguments, zero against itself.
    assertClose(frechetDistance(s2, s1), ref, 1e-6, `${label} (swapped)`);
    assert.ok(Math.abs(frechetDistanceParts(s1, s1).distance) < 1e-8 * ref, `${label}: distance to itself`);
  }
  assert.ok(liveTensorCount() <= before + 8); // only the tensors handed to reference() above
});

test('Frechet distance refuses statistics of different features', () => {
  const s = featureStats(features(10, 4, 3), 'a');
  assert.throws(() => frechetDistance(s, { ...s, feature: 'b' }), FeatureStatsError);
});

test('reference files keep statistics exactly and features when asked; bad files name themselves', () => {
  const x = features(50, 8, 4);
  const a = featureStats(x, 'inception-2015-12-05/pool3');
  const b = featureStats(x.slice(0, 0, 20), 'other/features');
  const path = join(dir, 'ref.safetensors');
  saveReference(
    path,
    new Map([
      ['fid', { stats: a, features: x }],
      ['offline', { stats: b, features: null }],
    ]),
  );
  const back = loadReference(path);
  assert.deepEqual([...back.keys()].sort(), ['fid', 'offline']);
  assert.deepEqual(back.get('fid')!.stats, a);
  assert.deepEqual(back.get('offline')!.stats, b);
  assert.equal(back.get('offline')!.features, null);
  assert.deepEqual(Array.from(back.get('fid')!.features!.toFloat64Array()), Array.from(x.toFloat32Array()));
  back.get('fid')!.features!.dispose();
  x.dispose();
  writeFileSync(join(dir, 'bad.safetensors'), 'garbage');
  assert.throws(
    () => loadReference(join(dir, 'bad.safetensors')),
    (e: Error) => e instanceof FeatureStatsError && /bad\.safetensors/.test(e.message),
  );
});

test('numpy .npz statistics (mu, sigma as pytorch-fid saves them) load as the FID set', () => {
  const path = join(dir, 'stats.npz');
  runPythonScript('test/reference/fid_ref.py', [], JSON.stringify({ arrays: {}, tasks: [{ name: 'n', kind: 'npz', path, dim: 6 }] }));
  const set = loadReference(path).get('fid')!;
  assert.equal(set.stats.dim, 6);
  assert.equal(set.stats.feature, 'inception-2015-12-05/pool3');
  // fid_ref.py writes mu = 0.5 * arange(6) and sigma = I + 0.25 * outer(1, arange(6)) + its transpose.
  assert.deepEqual(Array.from(set.stats.mu), [0, 0.5, 1, 1.5, 2, 2.5]);
  assert.equal(set.stats.sigma[0 * 6 + 1], 0.25);
  assert.equal(set.stats.sigma[1 * 6 + 1], 1.5);
});

test('Inception score equals the numpy reference (10 splits)', () => {
  const g = new Generator(7, 'cpu');
  const logits = keep(tidy(() => randn([230, 1008], { generator: g, device: 'cpu' }).mul(4)));
  const ours = inceptionScore(logits, 10);
  const ref = reference({ logits }, [{ name: 'is', kind: 'is', logits: 'logits', splits: 10 }]).is as { mean: number; std: number; splits: number[] };
  assertClose(ours.mean, ref.mean, 1e-9, 'IS mean');
  assertClose(ours.std, ref.std, 1e-7, 'IS std');
  ours.splits.forEach((v, i) => assertClose(v, ref.splits[i]!, 1e-9, `split ${i}`));
  logits.dispose();
});

test('k-NN precision and recall equal the numpy reference (k = 3, blocked distances)', () => {
  const real = features(300, 16, 30);
  const fake = features(260, 16, 31, 0.25);
  const ours = precisionRecall(real, fake, { k: 3, blockSize: 64 });
  const ref = reference({ real, fake }, [{ name: 'pr', kind: 'pr', real: 'real', fake: 'fake', k: 3 }]).pr as { precision: number; recall: number };
  assert.equal(ours.precision, ref.precision);
  assert.equal(ours.recall, ref.recall);
  assert.ok(
    ref.precision > 0.05 && ref.precision < 0.95 && ref.recall > 0.05 && ref.recall < 0.95,
    `a case that discriminates: ${JSON.stringify(ref)}`,
  );
  real.dispose();
  fake.dispose();
});

test('KID: the unbiased polynomial MMD equals the numpy reference; full-set subsets give exactly it', () => {
  const x = features(120, 32, 40);
  const y = features(100, 32, 41, 0.2);
  const ref = reference({ x, y }, [{ name: 'mmd', kind: 'mmd', x: 'x', y: 'y' }]).mmd as number;
  assertClose(polynomialMmd2(x, y), ref, 1e-9, 'MMD^2');
  // Equal set sizes and subset size = set size: every subset is a permutation of the whole set.
  const x100 = x.slice(0, 0, 100);
  const refEq = reference({ x100, y }, [{ name: 'mmd', kind: 'mmd', x: 'x100', y: 'y' }]).mmd as number;
  const kid = kernelInceptionDistance(x100, y, { subsets: 3, subsetSize: 100 });
  assertClose(kid.mean, refEq, 1e-9, 'KID mean');
  assert.ok(kid.std < 1e-9 * Math.abs(refEq));
  // Random subsets of 50: an average of unbiased estimates, near the full-set value.
  const sub = kernelInceptionDistance(x, y, { subsets: 50, subsetSize: 50, seed: 1 });
  assert.equal(sub.subsetSize, 50);
  assert.ok(Math.abs(sub.mean - ref) < (4 * sub.std) / Math.sqrt(50) + 1e-3, `subset mean ${sub.mean} vs ${ref}`);
  for (const t of [x, y, x100]) t.dispose();
});
