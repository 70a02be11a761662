/**
 * Gradient accumulation: a batch split into micro-batches gives the gradients and the update of
 * one pass over the whole batch (dropout 0), for iCT and for CT's EMA teacher.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setNumThreads, tidy } from '../src/tensor/index.js';
import { loadMnist } from '../src/data/index.js';
import { methodPreset } from '../src/method/presets.js';
import { Trainer } from '../src/train/trainer.js';
import { defaultOptimizerFactory } from '../src/train/optimizer.js';
import { runPreset } from '../src/train/presets.js';
import type { RunConfig } from '../src/train/config.js';
import type { GradientSync } from '../src/train/gradient-sync.js';
import { mapDifference } from './helpers/tensor-data.js';

setNumThreads(1);
const dataset = loadMnist({ pad32: runPreset('mnist-quick')!.data.pad32 });

function config(method: 'ict' | 'ct'): RunConfig {
  const c = runPreset('mnist-quick');
  assert.ok(c, 'preset mnist-quick exists');
  c.network.dropout = 0;
  c.training.batch = 8;
  c.training.optimizer.lr = 1e-3;
  c.training.optimizer.warmupSteps = 0; // a full-size first update, so the comparison sees real weight changes
  // Adam's first updates are lr * g / (|g| + eps): with eps = 1e-8, gradient entries near 1e-8 turn
  // float32 rounding differences of the two summation orders into weight differences of up to a
  // few percent of lr (measured 2e-6..2e-5 over seeds 0-3 after two steps). eps = 1e-6 keeps the
  // comparison about the accumulation itself (measured 2e-7..2e-6).
  c.training.optimizer.eps = 1e-6;
  if (method === 'ct') c.method = methodPreset('ct', { metric: { kind: 'l2' } });
  return c;
}

function trainer(c: RunConfig, microBatch: number, out: string, spy?: Spy): Trainer {
  return new Trainer({
    config: c,
    runtime: { out, threads: 1, device: 'cpu', microBatch, checkpointEvery: 1000, sampleEvery: 1000, logEvery: 1000, sampleCount: 4 },
    dataset,
    optimizerFactory: defaultOptimizerFactory,
    progressStream: { write: () => true },
    ...(spy && { gradientSync: spy.sync, lossHook: spy.lossHook }),
  });
}

/**
 * Records what a step accumulated before its update: the gradients (through a one-rank
 * GradientSync) and the batch's loss (through the loss hook, which then returns NaN so that the
 * step stops before the update).
 */
interface Spy {
  sync: GradientSync;
  lossHook: (step: number, loss: number) => number;
  grads: Map<string, Float32Array> | null;
  loss: number;
}

function spyOn(getTrainer: () => Trainer): Spy {
  const spy: Spy = {
    sync: {
      rank: 0,
      worldSize: 1,
      beforeBackward: () => undefined,
      finishGradients: () => (spy.grads = grads(getTrainer())),
      allReduceSum: (v) => v,
    },
    lossHook: (_step, loss) => ((spy.loss = loss), Number.NaN),
    grads: null,
    loss: Number.NaN,
  };
  return spy;
}

/** The loss and gradients of step k before its update. */
function accumulateGradients(t: Trainer, spy: Spy, k: number): number {
  assert.equal(t.runStep(k).status, 'diverged', 'the spy stops the step before the update');
  return spy.loss;
}

function grads(t: Trainer): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, p] of t.network.namedParameters()) {
    const g = p.grad;
    assert.ok(g, `${k} has a gradient`);
    out.set(k, g.toFloat32Array());
    g.dispose();
  }
  return out;
}

function params(t: Trainer): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, p] of t.network.namedParameters())
    out.set(
      k,
      tidy(() => p.detach().toFloat32Array()),
    );
  return out;
}

for (const method of ['ict', 'ct'] as const) {
  test(`${method}: micro-batches of 3, 3, 2 give the gradients, loss and update of one batch of 8`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'microbatch-'));
    try {
      const c = config(method);
      const wholeSpy = spyOn(() => whole);
      const splitSpy = spyOn(() => split);
      const whole: Trainer = trainer(c, 8, join(dir, 'a'), wholeSpy);
      const split: Trainer = trainer(c, 3, join(dir, 'b'), splitSpy);
      const before = params(whole);
      assert.equal(mapDifference(before, params(split)).maxDiff, 0, 'same initial weights');

      const lossWhole = accumulateGradients(whole, wholeSpy, 0);
      const lossSplit = accumulateGradients(split, splitSpy, 0);
      assert.ok(Number.isFinite(lossWhole) && lossWhole > 0);
      assert.ok(Math.abs(lossWhole - lossSplit) <= 1e-5 * Math.abs(lossWhole), `loss ${lossWhole} vs ${lossSplit}`);
      const g = mapDifference(wholeSpy.grads!, splitSpy.grads!);
      assert.ok(g.maxAbs > 0, 'gradients are not all zero');
      assert.ok(g.maxDiff <= 1e-4 * g.maxAbs, `gradients differ by ${g.maxDiff} (largest ${g.maxAbs})`);

      // A second micro-batch size and the full step: the same parameters afterwards.
      const split2 = trainer(c, 5, join(dir, 'c'));
      const whole2 = trainer(c, 8, join(dir, 'd'));
      for (let k = 0; k < 2; k++) {
        assert.equal(whole2.runStep(k).status, 'ok');
        assert.equal(split2.runStep(k).status, 'ok');
      }
      const after = params(whole2);
      const moved = mapDifference(after, before);
      assert.ok(moved.maxDiff > 1e-4, 'the steps changed the weights');
      const p = mapDifference(after, params(split2));
      assert.ok(p.maxDiff <= 1e-5, `parameters differ by ${p.maxDiff} after two steps`);
      for (const t of [whole, split, split2, whole2]) t.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
