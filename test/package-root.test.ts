/**
 * The package root ('consistency-ts', resolved through package.json's "exports") is enough to
 * train from code: a run config from a preset, a dataset, the trainer, the checkpoint it writes,
 * and one-step samples from that checkpoint, without importing any internal module.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ct from 'consistency-ts';
import * as tensorIndex from '../src/tensor/index.js';
import * as nnIndex from '../src/nn/index.js';
import * as metricsIndex from '../src/metrics/index.js';
import * as networksIndex from '../src/networks/index.js';
import * as trainIndex from '../src/train/index.js';

test('the package root re-exports every name of the module indexes it takes whole, as the same values', () => {
  // `export *` drops a name that another `export *` also exports (tsc reports that) and yields to an
  // explicit export of the same name (nothing reports that): each must still reach the root unchanged.
  const root: Record<string, unknown> = ct;
  const indexes = { tensor: tensorIndex, nn: nnIndex, metrics: metricsIndex, networks: networksIndex, train: trainIndex };
  for (const [module, exports] of Object.entries(indexes)) {
    const names = Object.keys(exports);
    assert.ok(names.length > 0, `src/${module}/index.ts exports names`);
    for (const name of names) {
      assert.ok(name in root, `consistency-ts exports ${name} of src/${module}/index.ts`);
      assert.equal(root[name], (exports as Record<string, unknown>)[name], `consistency-ts's ${name} is src/${module}/index.ts's`);
    }
  }
});

test('the package root exports the training API, and it trains, checkpoints and samples', async () => {
  for (const name of [
    'Tensor',
    'tidy',
    'Module',
    'buildNetwork',
    'ConsistencyLoss',
    'sampleOneStep',
    'Adam',
    'loadMnist',
    'frechetDistance',
    'Trainer',
    'runPreset',
    'readCheckpoint',
    'loadModel',
    'sampleImages',
    'ProgressBar',
    'MetricsLog',
  ] as const) {
    assert.ok(name in ct, `consistency-ts exports ${name}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'root-'));
  try {
    const config = ct.runPreset('mnist-quick');
    assert.ok(config, 'mnist-quick is a run preset');
    config.network.labelDim = 0; // the squares below have no labels
    config.training.steps = 3;
    config.training.batch = 4;
    // Sixteen synthetic 28x28 digits: a bright square at a different place in each.
    const images = new Uint8Array(16 * 28 * 28);
    for (let n = 0; n < 16; n++) for (let y = 4; y < 12; y++) for (let x = 4; x < 12; x++) images[n * 784 + (y + n) * 28 + x + n] = 255;
    const dataset: ct.ImageDataset = { name: 'squares', count: 16, channels: 1, height: 28, width: 28, numClasses: 0, images, labels: null };
    const out = join(dir, 'run');
    const trainer = new ct.Trainer({
      config,
      dataset,
      optimizerFactory: ct.defaultOptimizerFactory,
      runtime: { out, threads: 1, device: 'cpu', microBatch: 4, checkpointEvery: 100, sampleEvery: 100, logEvery: 1, sampleCount: 4 },
      progressStream: { isTTY: false, write: () => true },
    });
    const outcome = await trainer.run();
    assert.equal(outcome.status, 'finished');
    assert.equal(outcome.step, 3);
    assert.ok(existsSync(join(out, ct.CHECKPOINT_FILE)));
    assert.deepEqual(
      ct.readMetrics(join(out, ct.METRICS_FILE)).map((r) => r.step),
      [1, 2, 3],
    );
    const model = ct.loadModel(out);
    try {
      const samples = ct.sampleImages(model, { count: 2, levels: ct.samplingLevels(model.config, 1), seed: 0, batch: 2 });
      assert.equal(samples.length, 2 * 28 * 28);
      assert.ok(
        samples.every((v) => Number.isFinite(v) && v >= -1 && v <= 1),
        'one-step samples are finite and clipped to [-1, 1]',
      );
    } finally {
      model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the errors of bad input share InputError (the CLI's one line and exit code 2); a program's own errors do not", () => {
  const inputErrors = [
    ct.CheckpointError,
    ct.DataError,
    ct.FeatureStatsError,
    ct.InceptionWeightsError,
    ct.KerasModelError,
    ct.OfflineModelError,
    ct.SafetensorsError,
    ct.StateDictError,
    ct.TorchCheckpointError,
    ct.TrainSetupError,
  ];
  for (const ErrorClass of inputErrors) {
    const e = new ErrorClass('bad input');
    assert.ok(e instanceof ct.InputError, `${ErrorClass.name} is an InputError`);
    assert.equal(e.exitCode, 2, `${ErrorClass.name}'s exit code`);
    assert.equal(e.name, ErrorClass.name, `${ErrorClass.name} keeps its own name`);
  }
  assert.ok(!(new ct.DisposedTensorError('use after dispose') instanceof ct.InputError), 'a use-after-dispose is a bug, not bad input');
});
