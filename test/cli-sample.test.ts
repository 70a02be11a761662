/**
 * `consistency sample` and `consistency edit` on a checkpoint trained here: PNG grids of the right
 * size (decoded with pngjs), sampling that matches the method's samplers run in-process, the
 * editing tasks' known parts kept, and input errors (exit 2, nothing written).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { setNumThreads, Generator, randn, tidy } from '../src/tensor/index.js';
import { sampleMultistep } from '../src/method/samplers.js';
import { loadModel } from '../src/train/load-model.js';
import { sampleImages } from '../src/train/generate.js';
import { floatImagesToUint8 } from '../src/image/grid.js';
import { consistency, trainUnconditionalQuick } from './helpers/cli.js';

setNumThreads(1);
let dir = '';
let run = '';

function readPng(path: string): { width: number; height: number; data: Buffer } {
  const img = pngjs.PNG.sync.read(readFileSync(path));
  return { width: img.width, height: img.height, data: img.data };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-sample-'));
  run = join(dir, 'run');
  // Unconditional at sigma_max 80: these tests sample at sigma 80 and refuse --class on an unconditional model.
  const r = trainUnconditionalQuick(run, 6);
  assert.equal(r.status, 0, r.stderr);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('sample writes a grid of n images of the model size (square by default, or --columns) with the EMA weights', () => {
  const model = loadModel(run);
  const [C, H, W] = model.shape;
  const out = join(dir, 'grid.png');
  const r = consistency('sample', '--ckpt', run, '--n', '10', '--steps', '2', '--seed', '5', '--batch', '4', '--out', out, '--threads', '1');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), out);
  const png = readPng(out);
  // 10 images, 4 per row (ceil sqrt 10), 3 rows, 2 pixels of padding around each.
  assert.equal(png.width, 4 * W + 5 * 2);
  assert.equal(png.height, 3 * H + 4 * 2);

  // The first image equals the method's two-step sampler run in-process from the same noise.
  const expected = tidy(() => {
    const z = randn([4, C, H, W], { generator: new Generator(5) });
    return sampleMultistep(model.denoiser, z, [model.config.method.sigmaMax, model.config.sampling.secondSigma], new Generator(6)).toFloat32Array();
  });
  const bytes = floatImagesToUint8(expected.subarray(0, C * H * W));
  let maxDiff = 0;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) maxDiff = Math.max(maxDiff, Math.abs(png.data[((2 + y) * png.width + 2 + x) * 4]! - bytes[y * W + x]!));
  assert.ok(maxDiff <= 1, `first tile differs from the in-process sample by ${maxDiff}`);
  // And the batch size does not change the images (noise per image is a multiple of 16 values,
  // libtorch's CPU normal sampler's block).
  const a = sampleImages(model, { count: 6, levels: [80, 1], seed: 3, batch: 6 });
  const b = sampleImages(model, { count: 6, levels: [80, 1], seed: 3, batch: 2 });
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  assert.ok(d < 1e-5, `batch 6 vs 2 differ by ${d}`);
  model.dispose();

  const wide = join(dir, 'wide.png');
  assert.equal(
    consistency('sample', '--ckpt', join(run, 'checkpoint.safetensors'), '--n', '6', '--columns', '6', '--sigmas', '80,5,0.5', '--out', wide).status,
    0,
  );
  const p2 = readPng(wide);
  assert.equal(p2.width, 6 * W + 7 * 2);
  assert.equal(p2.height, H + 2 * 2);
});

test('sample --no-clip-denoised matches the sampler with clipDenoised: false; the default matches clipDenoised: true', () => {
  const model = loadModel(run);
  const [C, H, W] = model.shape;
  for (const clipDenoised of [true, false]) {
    const out = join(dir, `clip-${clipDenoised}.png`);
    const flag = clipDenoised ? [] : ['--no-clip-denoised'];
    const r = consistency('sample', '--ckpt', run, '--n', '1', '--sigmas', '80,2,0.5', '--seed', '9', '--out', out, '--threads', '1', ...flag);
    assert.equal(r.status, 0, r.stderr);
    const expected = tidy(() => {
      const z = randn([1, C, H, W], { generator: new Generator(9) });
      return sampleMultistep(model.denoiser, z, [80, 2, 0.5], new Generator(10), { clipDenoised }).toFloat32Array();
    });
    const bytes = floatImagesToUint8(expected);
    const png = readPng(out);
    let maxDiff = 0;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) maxDiff = Math.max(maxDiff, Math.abs(png.data[((2 + y) * png.width + 2 + x) * 4]! - bytes[y * W + x]!));
    assert.ok(maxDiff <= 1, `clipDenoised ${clipDenoised}: the tile differs from the in-process sample by ${maxDiff}`);
  }
  model.dispose();
});

test('sample input errors exit 2 with one line and write no file', () => {
  const out = join(dir, 'never.png');
  const corrupt = join(dir, 'corrupt.safetensors');
  const bytes = Buffer.from(readFileSync(join(run, 'checkpoint.safetensors')));
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
  writeFileSync(corrupt, bytes);
  const cases: Array<[string[], RegExp]> = [
    [['--ckpt', join(dir, 'nothing'), '--out', out], /no such checkpoint file or run directory/],
    [['--ckpt', corrupt, '--out', out], /corrupt checkpoint/],
    [['--ckpt', run, '--out', out, '--wat'], /unknown flag --wat/],
    [['--ckpt', run, '--out', out, '--sigmas', '1,2'], /--sigmas must decrease strictly/],
    [['--ckpt', run, '--out', out, '--class', '3'], /unconditional/],
    [['--ckpt', run, '--out', join(dir, 'x.jpg')], /--out must name a \.png file/],
  ];
  for (const [args, message] of cases) {
    const r = consistency('sample', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(existsSync(out), false);
  }
  assert.equal(consistency('sample', '--help').status, 0);
  assert.equal(consistency('edit', '--help').status, 0);
});

test('edit writes input / model input / result rows; inpainting keeps the known pixels, super-resolution the patch means', () => {
  const model = loadModel(run);
  const [, H, W] = model.shape;
  model.dispose();
  const n = 3;
  const tile = (png: { width: number; data: Buffer }, row: number, col: number, y: number, x: number): number =>
    png.data[((2 + row * (H + 2) + y) * png.width + 2 + col * (W + 2) + x) * 4]!;

  const inp = join(dir, 'inpaint.png');
  let r = consistency('edit', '--ckpt', run, '--task', 'inpaint', '--mask', 'left', '--n', String(n), '--index', '7', '--steps', '3', '--out', inp);
  assert.equal(r.status, 0, r.stderr);
  let png = readPng(inp);
  assert.equal(png.width, n * W + (n + 1) * 2);
  assert.equal(png.height, 3 * H + 4 * 2);
  for (let col = 0; col < n; col++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const known = x >= W / 2;
        // Row 1 shows the known half and zeros (mid-gray) elsewhere; row 2 keeps the known half.
        assert.equal(tile(png, 1, col, y, x), known ? tile(png, 0, col, y, x) : 128, `masked input (${col}, ${y}, ${x})`);
        if (known) assert.ok(Math.abs(tile(png, 2, col, y, x) - tile(png, 0, col, y, x)) <= 1, `kept pixel (${col}, ${y}, ${x})`);
      }
    }
  }

  const sr = join(dir, 'superres.png');
  r = consistency('edit', '--ckpt', run, '--task', 'superres', '--factor', '2', '--n', String(n), '--steps', '2', '--out', sr);
  assert.equal(r.status, 0, r.stderr);
  png = readPng(sr);
  let checked = 0;
  for (let col = 0; col < n; col++) {
    for (let y = 0; y < H; y += 2) {
      for (let x = 0; x < W; x += 2) {
        const mean = (row: number): number =>
          (tile(png, row, col, y, x) + tile(png, row, col, y + 1, x) + tile(png, row, col, y, x + 1) + tile(png, row, col, y + 1, x + 1)) / 4;
        // Where no pixel of the patch was clipped to [-1, 1], its mean is the low-resolution pixel.
        const px = [tile(png, 2, col, y, x), tile(png, 2, col, y + 1, x), tile(png, 2, col, y, x + 1), tile(png, 2, col, y + 1, x + 1)];
        if (px.every((v) => v > 0 && v < 255)) {
          checked++;
          assert.ok(Math.abs(mean(2) - tile(png, 1, col, y, x)) <= 1.5, `patch mean (${col}, ${y}, ${x}): ${mean(2)} vs ${tile(png, 1, col, y, x)}`);
        }
      }
    }
  }
  assert.ok(checked > 20, `${checked} unclipped patches checked`);

  const interp = join(dir, 'interp.png');
  r = consistency('edit', '--ckpt', run, '--task', 'interpolate', '--n', '2', '--alphas', '5', '--steps', '1', '--out', interp);
  assert.equal(r.status, 0, r.stderr);
  png = readPng(interp);
  assert.equal(png.width, 5 * W + 6 * 2);
  assert.equal(png.height, 2 * H + 3 * 2);

  r = consistency('edit', '--ckpt', run, '--task', 'colorize', '--out', join(dir, 'color.png'));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /colorize needs a model of RGB images/);
  r = consistency('edit', '--ckpt', run, '--task', 'inpaint', '--input', join(dir, 'missing.png'), '--out', join(dir, 'x.png'));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /missing\.png/);
  assert.equal(existsSync(join(dir, 'x.png')), false);
});
