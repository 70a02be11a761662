/**
 * --precision and --channels-last for sampling (src/cli/sample.ts, src/train/generate.ts) on a
 * checkpoint trained here: bf16 autocast gives images close to float32's but not bit-equal
 * (autocast really ran), channels-last gives float32's images, and fp16 on CPU is refused with
 * one line (exit 2).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setNumThreads } from '../src/tensor/index.js';
import { loadModel } from '../src/train/load-model.js';
import { sampleImages } from '../src/train/generate.js';
import { samplingLevels } from '../src/train/load-model.js';
import { consistency } from './helpers/cli.js';

setNumThreads(1);
let dir = '';
let run = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'precision-sample-'));
  run = join(dir, 'run');
  const r = consistency('train', '--preset', 'mnist-quick', '--steps', '6', '--batch', '4', '--threads', '1', '--samples', '4', '--out', run);
  assert.equal(r.status, 0, r.stderr);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

test('bf16 sampling stays within bf16 rounding of float32 sampling; channels-last sampling equals it', () => {
  const draw = (options: { precision?: 'bf16'; channelsLast?: boolean }) => {
    const model = loadModel(run);
    try {
      if (options.channelsLast) model.network.channelsLast();
      const levels = samplingLevels(model.config, 2);
      return sampleImages(model, { count: 4, levels, seed: 3, batch: 4, ...(options.precision && { precision: options.precision }) });
    } finally {
      model.dispose();
    }
  };
  const fp32 = draw({});
  const bf16 = draw({ precision: 'bf16' });
  const nhwc = draw({ channelsLast: true });
  for (const v of bf16) assert.ok(Number.isFinite(v));
  const dBf16 = maxAbsDiff(bf16, fp32);
  assert.ok(dBf16 > 0, 'bf16 autocast changed the arithmetic');
  assert.ok(dBf16 < 0.1, `bf16 vs float32 images (range [-1, 1]): max difference ${dBf16}`);
  assert.ok(maxAbsDiff(nhwc, fp32) < 1e-4, `channels-last vs contiguous: ${maxAbsDiff(nhwc, fp32)}`);
});

test('consistency sample --precision bf16 --channels-last writes the grid; fp16 on CPU and unknown precisions exit 2 with one line', () => {
  const out = join(dir, 'bf16.png');
  const ok = consistency('sample', '--ckpt', run, '--n', '4', '--precision', 'bf16', '--channels-last', '--threads', '1', '--out', out);
  assert.equal(ok.status, 0, ok.stderr);
  assert.ok(existsSync(out));
  const fp16 = consistency('sample', '--ckpt', run, '--n', '4', '--precision', 'fp16', '--out', join(dir, 'fp16.png'));
  assert.equal(fp16.status, 2);
  assert.equal(
    fp16.stderr.trim(),
    'consistency sample: --precision: precision fp16 needs a CUDA device (CPU mixed precision is bf16: use --precision bf16)',
  );
  assert.equal(existsSync(join(dir, 'fp16.png')), false);
  const bad = consistency('sample', '--ckpt', run, '--n', '4', '--precision', 'fp8', '--out', join(dir, 'fp8.png'));
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /--precision must be one of fp32, bf16, fp16; got 'fp8'/);
});
