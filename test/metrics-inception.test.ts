/**
 * The FID Inception network against a PyTorch reference (test/reference/inception_ref.py) that
 * builds the pytorch-fid architecture with seeded random weights: the weights travel as a legacy
 * torch.save file read by our checkpoint reader, and the 2048-d pool features and 1008 logits of
 * two non-square images (resized to 299x299 inside) must agree to float32 tolerance.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPythonScript } from './helpers/python.js';
import { tensor, setNumThreads, liveTensorCount, tidy } from '../src/tensor/index.js';
import { FidInceptionV3, avgPool2dExcludePad } from '../src/metrics/feature-nets/inception.js';
import {
  loadInceptionWeights,
  sha256Prefix,
  FID_WEIGHTS_FILE,
  resolveFidWeights,
  InceptionWeightsError,
} from '../src/metrics/feature-nets/inception-weights.js';

setNumThreads(1);

const dir = mkdtempSync(join(tmpdir(), 'inception-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function relMaxError(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return err / scale;
}

test('pool3 features and logits equal the PyTorch pytorch-fid architecture with the same weights', () => {
  runPythonScript('test/reference/inception_ref.py', [dir, '--seed', '3', '--batch', '2', '--height', '40', '--width', '56']);
  const before = liveTensorCount();
  const net = new FidInceptionV3({ device: 'cpu' });
  const state = loadInceptionWeights(join(dir, 'weights.pth'), { device: 'cpu' });
  net.loadFidStateDict(state);
  for (const t of state.values()) t.dispose();
  const images = tensor(readF32(join(dir, 'images.f32')), [2, 3, 40, 56], { device: 'cpu' });
  const { pool, logits } = net.forward(images, { logits: true });
  assert.deepEqual(pool.shape, [2, 2048]);
  assert.deepEqual(logits!.shape, [2, 1008]);
  const poolErr = relMaxError(pool.toFloat32Array(), readF32(join(dir, 'pool.f32')));
  const logitErr = relMaxError(logits!.toFloat32Array(), readF32(join(dir, 'logits.f32')));
  assert.ok(poolErr < 1e-4, `pool features: max error ${poolErr} of the largest value`);
  assert.ok(logitErr < 1e-4, `logits: max error ${logitErr} of the largest value`);
  for (const t of [images, pool, logits!]) t.dispose();
  net.dispose();
  assert.equal(liveTensorCount(), before);
});

test('average pooling leaves the zero padding out of each mean (TF SAME pooling)', () => {
  tidy(() => {
    const x = tensor(new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2], { device: 'cpu' });
    const y = Array.from(avgPool2dExcludePad(x, 3, 1, 1).toFloat32Array());
    // Every 3x3 window covers all four real pixels: the mean is 2.5, not 10/9.
    assert.deepEqual(y, [2.5, 2.5, 2.5, 2.5]);
  });
});

test('weights: a wrong hash is refused, a missing download says to pass --inception-weights', async () => {
  const fake = join(dir, FID_WEIGHTS_FILE);
  writeFileSync(fake, 'not the weights');
  assert.notEqual(sha256Prefix(fake, 8), '6726825d');
  await assert.rejects(resolveFidWeights({ cacheDir: dir, download: false }), (err: Error) => {
    assert.ok(err instanceof InceptionWeightsError);
    assert.match(err.message, /SHA-256/);
    return true;
  });
  rmSync(fake);
  await assert.rejects(resolveFidWeights({ cacheDir: dir, url: 'http://127.0.0.1:9/none.pth' }), (err: Error) => {
    assert.match(err.message, /--inception-weights FILE/);
    return true;
  });
});
