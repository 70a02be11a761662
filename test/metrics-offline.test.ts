/**
 * The offline quality signal: the nsfwjs Inception-v3 read from its npm tarball (never run
 * through TensorFlow.js) and evaluated on our engine.
 *
 * - its literal/weight readers on hand-made inputs;
 * - the whole network at its native 299x299 classifies CIFAR-10 test images as 'Neutral' (its
 *   class 2 of Drawing, Hentai, Neutral, Porn, Sexy): a wrong layer, layout or dequantization
 *   would not give confident, correct predictions;
 * - FD-mixed5 and KID of clean CIFAR-10 test images against training images are far below those
 *   of the same test images with Gaussian noise or 4x4 pixelation. To keep this test short on
 *   two cores it runs the network at 139x139 on 200 images per set; the default is 299x299.
 *
 * The model comes from node_modules/nsfwjs or the cache ($CONSISTENCY_CACHE), fetched there with
 * `npm pack nsfwjs@4.4.0` when missing; CIFAR-10 from ../shared/data/cifar10.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './helpers/python.js';
import { tensor, setNumThreads, tidy, keep, randn, Generator, cat, nnf, Tensor, liveTensorCount } from '../src/tensor/index.js';
import { parseJsLiteral, JsLiteralError } from '../src/metrics/feature-nets/js-literal.js';
import { decodeWeights, KerasModelError } from '../src/metrics/feature-nets/keras-graph.js';
import { OfflineFeatureNet, readNsfwjsModel, locateNsfwjsModel, OFFLINE_FEATURE, type NsfwjsModelFiles } from '../src/metrics/feature-nets/offline.js';
import { featureStats, frechetDistance } from '../src/metrics/scores/frechet.js';
import { kernelInceptionDistance } from '../src/metrics/scores/kid.js';
import { loadCifar10 } from '../src/data/cifar10.js';

setNumThreads(1);

const CIFAR_ARCHIVE = join(repoRoot, '..', 'shared', 'data', 'cifar10', 'cifar-10-binary.tar.gz');

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

/** The first n images of a CIFAR-10 split as float32 [n, 3, 32, 32] in [0, 1]. */
async function cifar(split: 'train' | 'test', n: number): Promise<Tensor> {
  assert.ok(existsSync(CIFAR_ARCHIVE), `missing ${CIFAR_ARCHIVE}: the shared CIFAR-10 archive is required for this test`);
  const ds = await loadCifar10({ data: CIFAR_ARCHIVE, split, warn: () => {} });
  const px = new Float32Array(n * 3072);
  for (let i = 0; i < px.length; i++) px[i] = ds.images[i]! / 255;
  return tensor(px, [n, 3, 32, 32], { device: 'cpu' });
}

test('the whole network at 299x299 classifies CIFAR-10 test images as Neutral', async () => {
  const before = liveTensorCount();
  const net = OfflineFeatureNet.fromFiles(modelFiles(), { layer: 'dense_3' });
  const x = await cifar('test', 8);
  const probs = net.forward(x);
  assert.deepEqual(probs.shape, [8, 5]);
  const p = probs.toFloat32Array();
  let neutral = 0;
  for (let i = 0; i < 8; i++) {
    const row = Array.from(p.subarray(i * 5, i * 5 + 5));
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4, 'softmax rows sum to 1');
    if (row.indexOf(Math.max(...row)) === 2 && row[2]! > 0.5) neutral++;
  }
  assert.ok(neutral >= 7, `only ${neutral} of 8 CIFAR-10 images classified Neutral: ${Array.from(p).map((v) => v.toFixed(2)).join(' ')}`);
  x.dispose();
  probs.dispose();
  net.dispose();
  assert.equal(liveTensorCount(), before);
});

test('FD-mixed5 and KID: clean test vs train images score far below noisy or pixelated test images', async () => {
  const n = 200;
  const net = OfflineFeatureNet.fromFiles(modelFiles(), { inputSize: 139 });
  assert.equal(net.feature, `${OFFLINE_FEATURE}@139px`);
  const testImages = keep(await cifar('test', n));
  const trainImages = keep(await cifar('train', n));
  const g = new Generator(1, 'cpu');
  const noisy = keep(tidy(() => testImages.add(randn(testImages.shape, { generator: g, device: 'cpu' }).mul(0.1)).clamp(0, 1)));
  const pixelated = keep(tidy(() => nnf.interpolate(nnf.avgPool2d(testImages, 4), { size: [32, 32], mode: 'nearest' })));
  const features = (x: Tensor): Tensor => tidy(() => {
    const parts: Tensor[] = [];
    for (let i = 0; i < n; i += 50) parts.push(net.forward(x.slice(0, i, Math.min(n, i + 50))));
    return cat(parts, 0);
  });
  const fTrain = features(trainImages);
  const fClean = features(testImages);
  const fNoisy = features(noisy);
  const fPix = features(pixelated);
  assert.deepEqual(fClean.shape, [n, 768]);
  const ref = featureStats(fTrain, net.feature);
  const fd = (f: Tensor) => frechetDistance(ref, featureStats(f, net.feature));
  const clean = fd(fClean);
  const withNoise = fd(fNoisy);
  const withPixels = fd(fPix);
  assert.ok(withNoise > 5 * clean, `FD-mixed5: noisy ${withNoise} is not > 5x clean ${clean}`);
  assert.ok(withPixels > 5 * clean, `FD-mixed5: pixelated ${withPixels} is not > 5x clean ${clean}`);
  const kid = (f: Tensor) => kernelInceptionDistance(fTrain, f, { subsets: 20, subsetSize: n }).mean;
  const kClean = kid(fClean);
  const kNoisy = kid(fNoisy);
  const kPix = kid(fPix);
  assert.ok(kNoisy > 10 * Math.abs(kClean) && kPix > 10 * Math.abs(kClean), `KID: clean ${kClean}, noisy ${kNoisy}, pixelated ${kPix}`);
  for (const t of [testImages, trainImages, noisy, pixelated, fTrain, fClean, fNoisy, fPix]) t.dispose();
  net.dispose();
});
