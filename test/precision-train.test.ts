/**
 * Mixed precision in THE training step (src/train/step.ts): a few mnist-quick steps in bf16
 * autocast stay finite with losses close to float32's from the same weights and draws, while the
 * weights, gradients and Adam state stay float32; and a loss scaler skips an overflowing update
 * (weights and optimizer state untouched, scale halved) and then steps again, as GradScaler does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Generator, randn, setNumThreads, tidy } from '../src/tensor/index.js';
import { unconditionalNetwork } from './helpers/presets.js';
import { ConsistencyDenoiser } from '../src/method/denoiser.js';
import { ConsistencyLoss } from '../src/method/loss.js';
import { ExponentialMovingAverage } from '../src/method/ema.js';
import { methodPreset } from '../src/method/presets.js';
import { Adam } from '../src/optim/adam.js';
import { LossScaler } from '../src/optim/loss-scaler.js';
import { trainingStep, type TrainingStepContext } from '../src/train/step.js';
import type { Precision } from '../src/tensor/autocast.js';
import { CLI, SMALL_TRAINING_FLAGS } from './helpers/cli.js';

setNumThreads(1);

const STEPS = 4;

function setup(precision: Precision, lossScaler?: LossScaler) {
  const net = unconditionalNetwork('mnist-quick', { generator: new Generator(2) });
  net.setGenerator(new Generator(3));
  const adam = new Adam(net, { lr: 1e-3 });
  const ema = new ExponentialMovingAverage(net, { kind: 'fixed', rate: 0.99 });
  const ctx: TrainingStepContext = {
    student: new ConsistencyDenoiser(net),
    loss: new ConsistencyLoss(methodPreset('ict')),
    optimizer: adam,
    lr: 1e-3,
    ema,
    totalSteps: 100,
    seed: 9,
    precision,
    lossScaler,
  };
  const dispose = () => {
    net.dispose();
    adam.dispose();
    ema.dispose();
  };
  return { net, adam, ema, ctx, dispose };
}

const data = (k: number) => randn([8, 1, 28, 28], { generator: new Generator(100 + k) }).clamp(-1, 1);

test('mnist-quick in bf16 autocast: finite losses within a few percent of float32, float32 weights, gradients and optimizer state', () => {
  const losses: Record<string, number[]> = { fp32: [], bf16: [] };
  for (const precision of ['fp32', 'bf16'] as const) {
    const s = setup(precision);
    try {
      for (let k = 0; k < STEPS; k++) {
        const r = tidy(() => trainingStep(s.ctx, { x: data(k) }, k));
        assert.equal(r.status, 'ok');
        assert.ok(Number.isFinite(r.loss) && Number.isFinite(r.gradNorm), `${precision} step ${k}: loss ${r.loss}, grad norm ${r.gradNorm}`);
        losses[precision]!.push(r.loss);
      }
      for (const [name, p] of s.net.namedParameters()) assert.equal(p.dtype, 'float32', `${name} stays float32`);
      for (const [name, t] of s.adam.stateDict()) if (!name.startsWith('step.')) assert.equal(t.dtype, 'float32', `Adam ${name} stays float32`);
      for (const [name, t] of s.ema.stateDict()) assert.equal(t.dtype, 'float32', `EMA ${name} stays float32`);
    } finally {
      s.dispose();
    }
  }
  losses['fp32']!.forEach((a, k) => {
    const b = losses['bf16']![k]!;
    assert.ok(Math.abs(a - b) < 0.05 * a, `step ${k}: bf16 loss ${b} vs float32 ${a}`);
  });
  assert.notDeepEqual(losses['bf16'], losses['fp32'], 'bf16 autocast changed the arithmetic');
});

test('a loss scaler in the step: an overflowing update is skipped (weights untouched, scale halved), the next one steps', () => {
  // A scale of 2^127 makes the scaled float32 gradients overflow; halved, they fit.
  const s = setup('fp32', new LossScaler({ initScale: 2 ** 127, growthInterval: 1000 }));
  try {
    const before = tidy(() => Array.from(s.net.parameters()[0]!.dataSync() as Float32Array));
    const first = tidy(() => trainingStep(s.ctx, { x: data(0) }, 0));
    assert.equal(first.status, 'ok');
    assert.equal(first.skipped, true, 'the overflowing step is skipped');
    assert.equal(first.lossScale, 2 ** 126);
    assert.deepEqual(
      tidy(() => Array.from(s.net.parameters()[0]!.dataSync() as Float32Array)),
      before,
      'weights untouched',
    );
    assert.equal(s.adam.stateDict().size, 0, 'the optimizer did not step');
    let k = 1;
    let r: ReturnType<typeof trainingStep> = first;
    while (r.status === 'ok' && r.skipped && k < 40) r = tidy(() => trainingStep(s.ctx, { x: data(k) }, k++));
    assert.equal(r.status === 'ok' && r.skipped, false, 'after backing off the scale the step goes through');
    assert.ok(r.status === 'ok' && Number.isFinite(r.gradNorm));
    assert.notDeepEqual(
      tidy(() => Array.from(s.net.parameters()[0]!.dataSync() as Float32Array)),
      before,
      'weights updated',
    );
  } finally {
    s.dispose();
  }
});

test('consistency train --precision bf16 --channels-last trains a few finite steps; --precision fp16 on CPU exits 2 with one line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'precision-train-'));
  try {
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'train', ...args], { encoding: 'utf8' });
    const ok = run(
      '--preset',
      'mnist-quick',
      '--steps',
      '3',
      ...SMALL_TRAINING_FLAGS,
      '--precision',
      'bf16',
      '--channels-last',
      '--out',
      join(dir, 'bf16'),
    );
    assert.equal(ok.status, 0, ok.stderr);
    const lines = readFileSync(join(dir, 'bf16', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { loss?: number });
    const losses = lines.map((l) => l.loss).filter((l): l is number => typeof l === 'number');
    assert.ok(losses.length >= 3 && losses.every(Number.isFinite), `losses ${losses.join(', ')}`);
    const fp16 = run('--preset', 'mnist-quick', '--steps', '3', '--precision', 'fp16', '--out', join(dir, 'fp16'));
    assert.equal(fp16.status, 2);
    assert.equal(
      fp16.stderr.trim(),
      'consistency train: --precision: precision fp16 needs a CUDA device (CPU mixed precision is bf16: use --precision bf16)',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
