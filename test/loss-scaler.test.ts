/**
 * The fp16 loss scaler (src/optim/loss-scaler.ts) against PyTorch's GradScaler
 * (test/reference/loss_scaler_ref.py: torch.amp.GradScaler("cpu") on torch >= 2.3, its documented
 * rules on 1.13, whose GradScaler kernels are CUDA-only): with Adam on a small regression and inf/NaN
 * gradients injected at some steps, the same steps are skipped, the scale backs off and grows back
 * at the same steps, and the weights follow torch's. Also: the state round-trips through
 * stateDict, and misuse is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { arange, buildInfo, setNumThreads, tidy, zeros, keep, tensor, type Tensor } from '../src/tensor/index.js';
import { Adam } from '../src/optim/adam.js';
import { LossScaler } from '../src/optim/loss-scaler.js';
import { runPythonScript } from './helpers/python.js';

setNumThreads(1);

const INIT = 1024;
const INTERVAL = 3;
const STEPS = 10;
const INJECT: Record<number, 'inf' | 'nan'> = { 2: 'inf', 5: 'nan', 6: 'inf' };

interface StepRecord {
  scale: number;
  stepped: boolean;
  loss: number;
  W: number[];
}
const ref = JSON.parse(
  runPythonScript('test/reference/loss_scaler_ref.py', [String(INIT), String(INTERVAL), String(STEPS), JSON.stringify(INJECT)]),
) as {
  source: string;
  records: StepRecord[];
};

function wave(n: number, f: 'sin' | 'cos', a: number, b: number, scale: number): Tensor {
  const t = arange(n).mul(a).add(b);
  return (f === 'sin' ? t.sin() : t.cos()).div(scale);
}

/** Runs the reference's steps with our scaler; `restartAt` swaps in a fresh scaler loaded from the state at that step. */
function run(restartAt?: number): StepRecord[] {
  return tidy(() => {
    const X = wave(32, 'sin', 0.3, 0, 1).reshape([8, 4]);
    const Y = wave(24, 'cos', 0.7, 0, 1).reshape([8, 3]);
    const params = new Map([
      ['W', keep(wave(12, 'sin', 0.9, 0.5, 2).reshape([3, 4]).requiresGrad_())],
      ['b', keep(zeros([3]).requiresGrad_())],
    ]);
    const W = params.get('W')!;
    const opt = new Adam(params, { lr: 0.05 });
    let scaler = new LossScaler({ initScale: INIT, growthInterval: INTERVAL });
    const records: StepRecord[] = [];
    for (let step = 0; step < STEPS; step++) {
      if (step === restartAt) {
        const state = scaler.stateDict();
        scaler = new LossScaler({ initScale: 1, growthInterval: INTERVAL });
        scaler.loadStateDict(state);
      }
      records.push(
        tidy(() => {
          opt.zeroGrad();
          const loss = X.matmul(W.T).add(params.get('b')!).sub(Y).pow(2).mean();
          scaler.scaleLoss(loss).backward();
          const bad = INJECT[step];
          if (bad) {
            const mask = new Float32Array(12);
            mask[0] = bad === 'inf' ? Infinity : NaN;
            W.grad!.add_(tensor(mask, [3, 4]));
          }
          const stepped = scaler.step(opt, params);
          scaler.update();
          return { scale: scaler.scale, stepped, loss: loss.item(), W: Array.from(W.dataSync() as Float32Array) };
        }),
      );
    }
    opt.dispose();
    return records;
  });
}

function checkAgainstTorch(got: StepRecord[]): void {
  assert.equal(got.length, ref.records.length);
  got.forEach((g, i) => {
    const r = ref.records[i]!;
    assert.equal(g.scale, r.scale, `step ${i}: scale`);
    assert.equal(g.stepped, r.stepped, `step ${i}: stepped`);
    assert.ok(Math.abs(g.loss - r.loss) < 1e-5, `step ${i}: loss ${g.loss} vs ${r.loss}`);
    g.W.forEach((w, k) => assert.ok(Math.abs(w - r.W[k]!) < 1e-5, `step ${i}: W[${k}] ${w} vs ${r.W[k]}`));
  });
}

test('skips the step and halves the scale on injected inf/NaN gradients, grows it back after growthInterval clean steps, as GradScaler', () => {
  const want = buildInfo().torchVersion.split('.').map(Number);
  // Torch's own GradScaler on CPU exists from 2.3; the addon's torch decides what the reference is.
  if ((want[0] ?? 0) * 100 + (want[1] ?? 0) >= 203) assert.equal(ref.source, 'torch.amp.GradScaler');
  const got = run();
  checkAgainstTorch(got);
  assert.deepEqual(
    got.map((r) => r.stepped),
    [true, true, false, true, true, false, false, true, true, true],
    'the injected steps are the skipped ones',
  );
  assert.deepEqual(
    got.map((r) => r.scale),
    [1024, 1024, 512, 512, 512, 256, 128, 128, 128, 256],
  );
});

test('the scale and growth count survive stateDict/loadStateDict mid-run (checkpoint and resume)', () => {
  checkAgainstTorch(run(4));
  checkAgainstTorch(run(8));
  // The JSON form the trainer puts in the checkpoint's state record.
  const a = new LossScaler({ initScale: 512, growthInterval: 5 });
  a.loadJson({ scale: 128, growthTracker: 3 });
  assert.deepEqual(a.toJson(), { scale: 128, growthTracker: 3 });
  assert.throws(() => a.loadJson({ scale: 128, growthTracker: 7 }), /growth_tracker must be an integer in \[0, 5\), got 7/);
  assert.throws(() => a.loadJson({ scale: 'big' }), /needs numbers scale and growthTracker/);
});

test('misuse is refused: bad options, unscale twice, update without a step, incomplete state', () => {
  assert.throws(() => new LossScaler({ initScale: 0 }), /initScale must be a finite number > 0, got 0/);
  assert.throws(() => new LossScaler({ growthFactor: 1 }), /growthFactor must be a finite number > 1/);
  assert.throws(() => new LossScaler({ backoffFactor: 1.5 }), /backoffFactor must be a number in \(0, 1\)/);
  assert.throws(() => new LossScaler({ growthInterval: 2.5 }), /growthInterval must be an integer >= 1/);
  const s = new LossScaler();
  assert.throws(() => s.update(), /update\(\) without unscale\(\)\/step\(\)/);
  tidy(() => {
    const p = zeros([2]).requiresGrad_();
    p.mul(2).sum().backward();
    assert.equal(s.unscale([p]), false);
    assert.throws(() => s.unscale([p]), /already called since the last update/);
    s.update();
    const state = s.stateDict();
    state.delete('loss_scaler.growth_tracker');
    assert.throws(() => new LossScaler().loadStateDict(state), /lacks 'loss_scaler.growth_tracker'/);
    for (const t of state.values()) t.dispose();
  });
});
