/**
 * ImageNet 64x64 trains with random horizontal flips, as the consistency-models code's loader does
 * (cm/image_datasets.py: random_flip=True, kept by cm_train.py): the presets turn flips on, --no-flip
 * turns them off, and the training loader fed downsampled-ImageNet .npz files written by numpy
 * returns each image either as stored or mirrored exactly, about half of them mirrored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPreset } from '../src/train/presets.js';
import { resolveRunConfig } from '../src/train/config-flags.js';
import { loadDataset } from '../src/data/index.js';
import { BatchLoader } from '../src/data/loader.js';
import { torchPython } from './helpers/python.js';

test('presets: flips on for ImageNet 64 and CIFAR-10, off for digits; --no-flip turns them off', () => {
  for (const [name, flip] of [
    ['imagenet64', true],
    ['imagenet64-deep', true],
    ['cifar10', true],
    ['mnist-quick', false],
  ] as const)
    assert.equal(runPreset(name)!.data.flip, flip, name);
  const off = resolveRunConfig(runPreset('imagenet64')!, { flip: false });
  assert.equal(off.data.flip, false);
});

test('the ImageNet 64 training loader mirrors about half the images exactly, as stored otherwise', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imagenet64-flip-'));
  try {
    const N = 64;
    // Planar RGB rows, 3 * 64 * 64 values per image; no image equals its own mirror.
    execFileSync(torchPython(), [
      '-c',
      `
import sys, numpy as np
g = np.random.default_rng(5)
np.savez(sys.argv[1] + '/train_data_batch_1.npz', data=g.integers(0, 256, size=(${N}, 12288), dtype=np.uint8), labels=np.arange(1, ${N + 1}))
`,
      dir,
    ]);
    const ds = await loadDataset('imagenet64', { data: dir });
    const config = runPreset('imagenet64')!;
    const loader = new BatchLoader(ds, { batchSize: N, seed: 3, flip: config.data.flip });
    const batch = loader.next();
    const per = 3 * 64 * 64;
    let mirrored = 0;
    for (let b = 0; b < N; b++) {
      const src = ds.images.subarray(batch.indices[b]! * per, (batch.indices[b]! + 1) * per);
      const isFlipped = batch.flipped![b] === 1;
      if (isFlipped) mirrored++;
      for (let row = 0; row < 3 * 64; row++)
        for (let x = 0; x < 64; x++) {
          const want = src[row * 64 + (isFlipped ? 63 - x : x)]! / 127.5 - 1;
          const got = batch.images[b * per + row * 64 + x]!;
          if (Math.abs(got - want) > 1e-6) assert.fail(`image ${b} (flipped ${isFlipped}) row ${row} x ${x}: ${got} vs ${want}`);
        }
    }
    // Binomial(64, 1/2): 16..48 holds with probability 1 - 1e-4; the seed is fixed, so this is deterministic.
    assert.ok(mirrored >= 16 && mirrored <= 48, `${mirrored} of ${N} mirrored`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
