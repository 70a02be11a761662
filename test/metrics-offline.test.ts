/**
 * The offline quality signal: the nsfwjs Inception-v3 read from its npm tarball (never run
 * through TensorFlow.js) and evaluated on our engine.
 *
 * - its literal/weight readers on hand-made inputs;
 * - the whole network on Fashion-MNIST (Debian's dataset-fashion-mnist, which scripts/setup.sh
 *   installs; grey, padded to 32x32, repeated to RGB): FD-mixed5 and KID of clean test images
 *   against training images are far below those of the same test images with Gaussian noise or
 *   4x4 pixelation. Short on two cores: 139x139, 200 images per set (the default is 299x299).
 *
 * The whole network on real CIFAR-10 images (the 'Neutral' classification, the FD-mixed5/KID
 * ranking) needs the real archive, which a user's clone does not have: those checks are the
 * opt-in test/opt-in/cifar10-real.ts.
 *
 * The model comes from node_modules/nsfwjs or the cache ($CONSISTENCY_CACHE), fetched there with
 * `npm pack nsfwjs@4.4.0` when missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, setNumThreads, tidy, type Tensor, liveTensorCount } from '../src/tensor/index.js';
import { parseJsLiteral, JsLiteralError } from '../src/metrics/feature-nets/js-literal.js';
import { decodeWeights, KerasModelError } from '../src/metrics/feature-nets/keras-graph.js';
import { readNsfwjsModel, locateNsfwjsModel, type NsfwjsModelFiles } from '../src/metrics/feature-nets/offline.js';
import { loadFashionMnist } from '../src/data/fashion-mnist.js';
import { checkOfflineRanking } from './helpers/offline-ranking.js';

setNumThreads(1);

test('JS literals are read as data: minified keys, .5, -1e-3, !0/!1, nested; code is refused', () => {
  const src = `x.exports={a:1,"b":[.5,-1e-3,!0,!1,null],c:{d:'it\\'s',e:"\\u0041"},__proto__:{polluted:true}}`;
  const start = src.indexOf('{');
  const { value, end } = parseJsLiteral(src, start);
  assert.equal(end, src.length);
  const v = value as Record<string, unknown>;
  assert.deepEqual(v.a, 1);
  assert.deepEqual(v.b, [0.5, -0.001, true, false, null]);
  assert.deepEqual({ ...(v.c as object) }, { d: "it's", e: 'A' });
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.throws(() => parseJsLiteral('{a:alert(1)}'), JsLiteralError);
  assert.throws(() => parseJsLiteral('{a:[1,2}'), JsLiteralError);
});

test('TFJS weights: uint8 quantization decodes as min + scale * q; float32 passes through; truncation is an error', () => {
  const group = {
    paths: ['shard'],
    weights: [
      { name: 'q', shape: [2, 2], dtype: 'float32', quantization: { min: -1, scale: 0.5, dtype: 'uint8' } },
      { name: 'f', shape: [2], dtype: 'float32' },
    ],
  };
  const data = new Uint8Array(4 + 8);
  data.set([0, 1, 2, 255]);
  new DataView(data.buffer).setFloat32(4, 1.25, true);
  new DataView(data.buffer).setFloat32(8, -3, true);
  const w = decodeWeights(group, data);
  assert.deepEqual(Array.from(w.get('q')!.values), [-1, -0.5, 0, 126.5]);
  assert.deepEqual(w.get('q')!.shape, [2, 2]);
  assert.deepEqual(Array.from(w.get('f')!.values), [1.25, -3]);
  assert.throws(() => decodeWeights(group, data.subarray(0, 10)), KerasModelError);
});

let files: NsfwjsModelFiles | null = null;
function modelFiles(): NsfwjsModelFiles {
  files ??= readNsfwjsModel(locateNsfwjsModel());
  return files;
}

/** The first n images of a Fashion-MNIST split, padded to 32x32, as float32 [n, 3, 32, 32] in [0, 1]. */
function fashion(split: 'train' | 'test', n: number): Tensor {
  const ds = loadFashionMnist({ split, pad32: true });
  const px = new Float32Array(n * 1024);
  for (let i = 0; i < px.length; i++) px[i] = ds.images[i]! / 255;
  return tidy(() => tensor(px, [n, 1, 32, 32], { device: 'cpu' }).expand([n, 3, 32, 32]).contiguous());
}

test('FD-mixed5 and KID on Fashion-MNIST: clean test vs train images score far below noisy or pixelated test images', () => {
  const n = 200;
  const before = liveTensorCount();
  const testImages = fashion('test', n);
  const trainImages = fashion('train', n);
  checkOfflineRanking(modelFiles(), trainImages, testImages, 'Fashion-MNIST');
  testImages.dispose();
  trainImages.dispose();
  assert.equal(liveTensorCount(), before);
});
