/**
 * Opt-in checks that need the real CIFAR-10 (`cifar-10-binary.tar.gz`), which a user's clone and
 * CI do not have, so `npm test` does not run this file (its name does not end in .test.js):
 *
 *   npm run build && node dist/test/opt-in/cifar10-real.js /path/to/cifar-10-binary.tar.gz
 *
 * (or CIFAR10_ARCHIVE=/path node --test dist/test/opt-in/cifar10-real.js). A missing or wrong path
 * fails every test with the path in the message; nothing is skipped.
 *
 * - the reader on the whole archive: 50,000/10,000 images, 5,000/1,000 per class, natural-image
 *   pixel statistics;
 * - the offline Inception (nsfwjs, see test/metrics-offline.test.ts) at its native 299x299
 *   classifies CIFAR-10 test images as 'Neutral' (its class 2 of Drawing, Hentai, Neutral, Porn,
 *   Sexy): a wrong layer, layout or dequantization would not give confident, correct predictions;
 * - FD-mixed5 and KID of clean CIFAR-10 test images against training images are far below those
 *   of the same test images with Gaussian noise or 4x4 pixelation (139x139, 200 images per set).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { tensor, setNumThreads, type Tensor, liveTensorCount } from '../../src/tensor/index.js';
import { OfflineFeatureNet, readNsfwjsModel, locateNsfwjsModel, type NsfwjsModelFiles } from '../../src/metrics/feature-nets/offline.js';
import { loadCifar10 } from '../../src/data/cifar10.js';
import type { ImageDataset } from '../../src/data/types.js';
import { checkOfflineRanking } from '../helpers/offline-ranking.js';

setNumThreads(1);

/** The archive: the first command-line argument, else $CIFAR10_ARCHIVE. */
function archivePath(): string {
  const path = process.argv[2] ?? process.env['CIFAR10_ARCHIVE'];
  assert.ok(path !== undefined && path.length > 0, 'pass the path to cifar-10-binary.tar.gz as the argument (or set CIFAR10_ARCHIVE)');
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    // reported below
  }
  assert.ok(isFile, `${path}: no such file (the real cifar-10-binary.tar.gz is required for these opt-in tests)`);
  return path;
}

const loaded = new Map<string, ImageDataset>();
async function split(name: 'train' | 'test'): Promise<ImageDataset> {
  let ds = loaded.get(name);
  if (!ds) {
    ds = await loadCifar10({ data: archivePath(), split: name, warn: () => {} });
    loaded.set(name, ds);
  }
  return ds;
}

function classCounts(ds: ImageDataset): number[] {
  const c = new Array<number>(ds.numClasses).fill(0);
  for (const l of ds.labels ?? []) c[l] = (c[l] ?? 0) + 1;
  return c;
}

let files: NsfwjsModelFiles | null = null;
function modelFiles(): NsfwjsModelFiles {
  files ??= readNsfwjsModel(locateNsfwjsModel());
  return files;
}

/** The first n images of a CIFAR-10 split as float32 [n, 3, 32, 32] in [0, 1]. */
async function cifar(name: 'train' | 'test', n: number): Promise<Tensor> {
  const ds = await split(name);
  const px = new Float32Array(n * 3072);
  for (let i = 0; i < px.length; i++) px[i] = (ds.images[i] ?? 0) / 255;
  return tensor(px, [n, 3, 32, 32], { device: 'cpu' });
}

test('the real archive: 50,000/10,000 images, 5,000/1,000 per class, CIFAR-10 class names, natural-image statistics', async () => {
  const train = await split('train');
  assert.deepEqual([train.count, train.channels, train.height, train.width, train.numClasses], [50000, 3, 32, 32, 10]);
  assert.equal(train.images.length, 50000 * 3072);
  assert.deepEqual(classCounts(train), new Array(10).fill(5000));
  assert.deepEqual(train.classNames, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
  let s = 0;
  let s2 = 0;
  for (const b of train.images) {
    s += b / 255;
    s2 += (b / 255) ** 2;
  }
  const m = s / train.images.length;
  const sd = Math.sqrt(s2 / train.images.length - m * m);
  // Commonly quoted CIFAR-10 statistics: mean about 0.47, std about 0.25.
  assert.ok(m > 0.4 && m < 0.55 && sd > 0.2, `mean ${m} std ${sd}`);
  const testSplit = await split('test');
  assert.equal(testSplit.count, 10000);
  assert.deepEqual(classCounts(testSplit), new Array(10).fill(1000));
});

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
  assert.ok(
    neutral >= 7,
    `only ${neutral} of 8 CIFAR-10 images classified Neutral: ${Array.from(p)
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  x.dispose();
  probs.dispose();
  net.dispose();
  assert.equal(liveTensorCount(), before);
});

test('FD-mixed5 and KID: clean test vs train images score far below noisy or pixelated test images', async () => {
  const n = 200;
  const testImages = await cifar('test', n);
  const trainImages = await cifar('train', n);
  checkOfflineRanking(modelFiles(), trainImages, testImages, 'CIFAR-10');
  testImages.dispose();
  trainImages.dispose();
});
