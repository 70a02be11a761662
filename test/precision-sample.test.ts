/**
 * --precision and --channels-last for sampling (src/cli/sample.ts, src/train/generate.ts) and
 * evaluation (src/cli/eval.ts) on a checkpoint trained here: bf16 autocast gives images close to
 * float32's but not bit-equal (autocast really ran), channels-last gives float32's images, eval
 * --precision scores exactly the images that sampling at that precision draws, and fp16 on CPU is
 * refused with one line (exit 2).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPythonScript } from './helpers/python.js';
import { setNumThreads, tensor } from '../src/tensor/index.js';
import { saveSafetensors } from '../src/io/safetensors.js';
import { generatedToUint8 } from '../src/metrics/evaluation/images.js';
import { loadModel } from '../src/train/load-model.js';
import { sampleImages } from '../src/train/generate.js';
import { samplingLevels } from '../src/train/load-model.js';
import { consistency, trainUnconditionalQuick } from './helpers/cli.js';

setNumThreads(1);
let dir = '';
let run = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'precision-sample-'));
  run = join(dir, 'run');
  // Unconditional at sigma_max 80: after 6 steps its bf16 and float32 samples differ in 8-bit (the
  // class-conditional preset's are all background in both).
  const r = trainUnconditionalQuick(run, 6);
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

test('consistency eval --precision bf16 scores the images bf16 sampling draws (close to fp32, not equal); bad precisions exit 2 with one line', () => {
  // Random FID Inception weights from the Python reference (the scores only need to be a fixed function of the images).
  runPythonScript('test/reference/inception_ref.py', [join(dir, 'inception'), '--seed', '8', '--batch', '1']);
  const weights = join(dir, 'inception', 'weights.pth');
  const N = 16;
  const batch = 8;
  const evalJson = (...args: string[]): { fid: number; images: string } => {
    const r = consistency('eval', ...args, '--metrics', 'fid', '--inception-weights', weights, '--batch', String(batch), '--threads', '1', '--quiet');
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { fid: number; images: string };
  };
  const ref = join(dir, 'ref.safetensors');
  const fp32 = evalJson('--ckpt', run, '--n', String(N), '--steps', '2', '--ref', 'mnist-test', '--limit', String(N), '--save-ref', ref);
  const bf16 = evalJson('--ckpt', run, '--n', String(N), '--steps', '2', '--ref', ref, '--precision', 'bf16');
  assert.match(bf16.images, /bf16/);
  // The same images drawn here (eval's seed 0, its batch, two steps), at each precision, scored as --images.
  const drawn = (precision: 'fp32' | 'bf16'): Uint8Array => {
    const model = loadModel(run);
    try {
      return generatedToUint8(sampleImages(model, { count: N, levels: samplingLevels(model.config, 2), seed: 0, batch, precision }));
    } finally {
      model.dispose();
    }
  };
  const scoreImages = (u8: Uint8Array, name: string): number => {
    const file = join(dir, `${name}.safetensors`);
    const t = tensor(u8, [N, 1, 28, 28]);
    saveSafetensors(file, { images: t });
    t.dispose();
    return evalJson('--images', file, '--ref', ref).fid;
  };
  const u8fp32 = drawn('fp32');
  const u8bf16 = drawn('bf16');
  assert.ok(
    u8bf16.some((v, i) => v !== u8fp32[i]),
    'bf16 sampling gave the same 8-bit images as float32',
  );
  const relClose = (a: number, b: number, rel: number, what: string) =>
    assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${what}: ${a} vs ${b} (relative ${Math.abs(a - b) / Math.abs(b)})`);
  relClose(fp32.fid, scoreImages(u8fp32, 'fp32'), 1e-9, 'eval --ckpt fp32 vs the fp32 images');
  relClose(bf16.fid, scoreImages(u8bf16, 'bf16'), 1e-9, 'eval --ckpt --precision bf16 vs the bf16 images');
  assert.ok(Number.isFinite(bf16.fid) && bf16.fid > 0);
  assert.notEqual(bf16.fid, fp32.fid);
  relClose(bf16.fid, fp32.fid, 0.1, 'bf16 vs fp32 FID');

  const cases: [string[], string | RegExp][] = [
    [
      ['--ckpt', run, '--n', '4', '--ref', ref, '--precision', 'fp16'],
      'consistency eval: --precision: precision fp16 needs a CUDA device (CPU mixed precision is bf16: use --precision bf16)',
    ],
    [['--ckpt', run, '--n', '4', '--ref', ref, '--precision', 'fp8'], /--precision must be one of fp32, bf16, fp16; got 'fp8'/],
    [
      ['--images', join(dir, 'fp32.safetensors'), '--ref', ref, '--precision', 'bf16'],
      /--precision and --channels-last set how --ckpt's generator runs/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = consistency('eval', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    if (typeof message === 'string') assert.equal(r.stderr.trim(), message);
    else assert.match(r.stderr.trim(), message);
  }
});
