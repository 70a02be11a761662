/**
 * bench/mnist_judge.py, the classifier that judges MNIST sample grids (README: what to expect from
 * the default): real test digits written as a grid the way `consistency sample` writes one score
 * high, a grid of one digit is counted as that digit, and a PNG that is not such a grid is refused.
 * The first run trains the judge (about a minute of CPU) and caches it in .cache/mnist-judge.pt.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnist } from '../src/data/mnist.js';
import { writeGridPng } from '../src/image/grid.js';
import { runPythonScript } from './helpers/python.js';

interface Judgement { n: number; confident: number; meanMaxProb: number; classes: number[] }

function judge(grid: string): Judgement {
  return JSON.parse(runPythonScript('bench/mnist_judge.py', [grid])) as Judgement;
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
    // Images 1000..1099: not the first ones the judge uses for its own calibration line.
    const mixed = Array.from({ length: 100 }, (_, k) => 1000 + k);
    writeGridPng(join(dir, 'real.png'), pick(mixed), { count: 100, channels: 1, height: 28, width: 28 });
    const real = judge(join(dir, 'real.png'));
    assert.equal(real.n, 100);
    assert.ok(real.confident >= 0.85, `real digits: ${real.confident} confidently classified, want >= 0.85`);

    const threes: number[] = [];
    for (let i = 0; threes.length < 49; i++) if (digits.labels![i] === 3) threes.push(i);
    writeGridPng(join(dir, 'threes.png'), pick(threes), { count: 49, channels: 1, height: 28, width: 28 });
    const three = judge(join(dir, 'threes.png'));
    assert.ok(three.classes[3]! >= 46, `a grid of 49 threes: classes ${JSON.stringify(three.classes)}`);

    writeGridPng(join(dir, 'odd.png'), new Uint8Array(4 * 29 * 29), { count: 4, channels: 1, height: 29, width: 29 });
    assert.throws(() => judge(join(dir, 'odd.png')), /is not a grid of 28x28 tiles with padding 2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
