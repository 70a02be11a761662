/**
 * bench/mnist_judge.py, the classifier that judges MNIST sample grids (README: what to expect from
 * the default): real test digits written as a grid the way `consistency sample` writes one score
 * high, a grid of one digit is counted as that digit, and a PNG that is not such a grid is refused.
 * Its Frechet distance in its own features: real digits score near the floor (real training digits
 * vs the test digits), every degraded set scores above it, a grid of one class far above; and the
 * distance itself equals the FID formula computed with scipy's sqrtm, as pytorch-fid computes it.
 * The first run trains the judge (about a minute of CPU) and caches it in .cache/mnist-judge-v2.pt.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnist } from '../src/data/mnist.js';
import { writeGridPng } from '../src/image/grid.js';
import { execFileSync } from 'node:child_process';
import { repoRoot, runPythonScript, torchPython } from './helpers/python.js';

interface Score {
  n: number;
  confident: number;
  meanMaxProb: number;
  classes: number[];
  fd: number;
}
interface Judgement extends Score {
  real: Score;
  calibration?: { train: number; blurred: number; noised: number; missingClass: number };
}

function judge(grid: string, ...flags: string[]): Judgement {
  return JSON.parse(runPythonScript('bench/mnist_judge.py', [grid, ...flags])) as Judgement;
}

test('mnist_judge: real digits score high, a grid of threes is counted as threes, a bad grid is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'judge-'));
  try {
    const digits = loadMnist({ split: 'test' });
    const pick = (indices: number[]) => {
      const out = new Uint8Array(indices.length * 784);
      indices.forEach((i, k) => out.set(digits.images.subarray(i * 784, (i + 1) * 784), k * 784));
      return out;
    };
    // Images 1000..1399: not the first ones the judge uses for its own calibration line; 400, the
    // sample size the README and the study use (at 100 the floor is higher and the margins smaller).
    const mixed = Array.from({ length: 400 }, (_, k) => 1000 + k);
    writeGridPng(join(dir, 'real.png'), pick(mixed), { count: 400, channels: 1, height: 28, width: 28 });
    const real = judge(join(dir, 'real.png'), '--calibrate');
    assert.equal(real.n, 400);
    assert.ok(real.confident >= 0.85, `real digits: ${real.confident} confidently classified, want >= 0.85`);
    // Frechet distance: the floor is real training digits vs the test digits at the same sample size;
    // real test digits through the PNG path land near it, every degraded set above it.
    const cal = real.calibration!;
    assert.equal(real.real.fd, cal.train, 'the floor reported beside every grid is the calibration floor');
    assert.ok(cal.train > 0, `floor ${cal.train}`);
    assert.ok(Math.abs(real.fd - cal.train) < 0.5 * cal.train, `real test digits: fd ${real.fd} vs the floor ${cal.train}`);
    for (const kind of ['blurred', 'noised', 'missingClass'] as const)
      assert.ok(
        cal[kind] > 1.5 * Math.max(cal.train, real.fd),
        `${kind}: fd ${cal[kind]} should be above the floor ${cal.train} and real digits ${real.fd}`,
      );

    const threes: number[] = [];
    for (let i = 0; threes.length < 49; i++) if (digits.labels![i] === 3) threes.push(i);
    writeGridPng(join(dir, 'threes.png'), pick(threes), { count: 49, channels: 1, height: 28, width: 28 });
    const three = judge(join(dir, 'threes.png'));
    assert.ok(three.classes[3]! >= 46, `a grid of 49 threes: classes ${JSON.stringify(three.classes)}`);
    // Confident, but nine classes missing: the Frechet distance says so.
    assert.ok(three.confident >= 0.85 && three.fd > 3 * real.calibration!.missingClass, `threes: confident ${three.confident}, fd ${three.fd}`);

    writeGridPng(join(dir, 'one.png'), pick([5]), { count: 1, channels: 1, height: 28, width: 28 });
    assert.throws(() => judge(join(dir, 'one.png')), /the Frechet distance needs at least 2 images, got 1/);

    writeGridPng(join(dir, 'odd.png'), new Uint8Array(4 * 29 * 29), { count: 4, channels: 1, height: 29, width: 29 });
    assert.throws(() => judge(join(dir, 'odd.png')), /is not a grid of 28x28 tiles with padding 2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("mnist_judge: its Frechet distance equals the FID formula with scipy.linalg.sqrtm (pytorch-fid's computation)", () => {
  const script = `
import importlib.util, json, sys
import numpy as np, torch
from scipy import linalg
spec = importlib.util.spec_from_file_location('judge', sys.argv[1])
judge = importlib.util.module_from_spec(spec)
spec.loader.exec_module(judge)
g = np.random.default_rng(3)
out = []
for n, d in [(50, 8), (300, 20), (40, 60)]:  # the last: fewer samples than dimensions (singular covariance)
    a = g.normal(size=(n, d)) @ g.normal(size=(d, d))
    b = g.normal(0.3, 1.5, size=(n, d)) @ g.normal(size=(d, d))
    mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
    mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1.dot(s2), disp=False)[0].real
    want = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    m1, c1 = judge.gaussian_fit(torch.from_numpy(a))
    m2, c2 = judge.gaussian_fit(torch.from_numpy(b))
    out.append([judge.frechet_distance(m1, c1, m2, c2), want])
print(json.dumps(out))
`;
  const pairs = JSON.parse(execFileSync(torchPython(), ['-c', script, join(repoRoot, 'bench', 'mnist_judge.py')], { encoding: 'utf8' })) as [
    number,
    number,
  ][];
  for (const [got, want] of pairs) assert.ok(Math.abs(got - want) <= 1e-6 * Math.abs(want), `judge fd ${got} vs scipy ${want}`);
});
