/**
 * The offline Inception's (nsfwjs, src/metrics/feature-nets/offline.ts) ranking check on a dataset's
 * images: FD-mixed5 and KID of clean test images against training images are far below those of the
 * same test images with Gaussian noise or 4x4 pixelation. test/metrics-offline.test.ts runs it on
 * Fashion-MNIST, the opt-in test/opt-in/cifar10-real.ts on the real CIFAR-10.
 */
import assert from 'node:assert/strict';
import { tidy, keep, randn, Generator, cat, nnf, type Tensor } from '../../src/tensor/index.js';
import { OfflineFeatureNet, OFFLINE_FEATURE, type NsfwjsModelFiles } from '../../src/metrics/feature-nets/offline.js';
import { featureStats, frechetDistance } from '../../src/metrics/scores/frechet.js';
import { kernelInceptionDistance } from '../../src/metrics/scores/kid.js';

/**
 * Asserts the ranking at 139x139 (short on two cores; the default is 299x299) for `trainImages` and
 * `testImages`, float32 [n, 3, 32, 32] in [0, 1] with the same n, and prints the scores as
 * `# <dataset> ...` lines. The images stay the caller's; everything made here is disposed.
 */
export function checkOfflineRanking(files: NsfwjsModelFiles, trainImages: Tensor, testImages: Tensor, dataset: string): void {
  const n = testImages.shape[0]!;
  assert.equal(trainImages.shape[0], n, 'as many training images as test images');
  const net = OfflineFeatureNet.fromFiles(files, { inputSize: 139 });
  assert.equal(net.feature, `${OFFLINE_FEATURE}@139px`);
  const g = new Generator(1, 'cpu');
  const noisy = keep(tidy(() => testImages.add(randn(testImages.shape, { generator: g, device: 'cpu' }).mul(0.1)).clamp(0, 1)));
  const pixelated = keep(tidy(() => nnf.interpolate(nnf.avgPool2d(testImages, 4), { size: [32, 32], mode: 'nearest' })));
  const features = (x: Tensor): Tensor =>
    tidy(() => {
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
  console.log(`# ${dataset} FD-mixed5: clean ${clean}, noisy ${withNoise}, pixelated ${withPixels}`);
  assert.ok(withNoise > 5 * clean, `FD-mixed5: noisy ${withNoise} is not > 5x clean ${clean}`);
  assert.ok(withPixels > 5 * clean, `FD-mixed5: pixelated ${withPixels} is not > 5x clean ${clean}`);
  const kid = (f: Tensor) => kernelInceptionDistance(fTrain, f, { subsets: 20, subsetSize: n }).mean;
  const kClean = kid(fClean);
  const kNoisy = kid(fNoisy);
  const kPix = kid(fPix);
  console.log(`# ${dataset} KID: clean ${kClean}, noisy ${kNoisy}, pixelated ${kPix}`);
  assert.ok(kNoisy > 10 * Math.abs(kClean) && kPix > 10 * Math.abs(kClean), `KID: clean ${kClean}, noisy ${kNoisy}, pixelated ${kPix}`);
  for (const t of [noisy, pixelated, fTrain, fClean, fNoisy, fPix]) t.dispose();
  net.dispose();
}
