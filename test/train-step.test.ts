/**
 * Tests of src/train/step.ts, the one training step: loss -> backward of sum / B -> clip ->
 * optimizer -> zero grads -> teacher EMA (CT) -> evaluation EMA, in that order. A twin network
 * updated by hand through the same pieces from the same per-sample draws ends bit for bit where
 * trainingStep leaves its network; the step reports N(k), the loss and the gradient norm, and
 * leaves no gradients or tensors behind. The batch cut into micro-batches, and the batch computed
 * as two simulated data-parallel ranks whose gradients a test GradientSync sums, give the
 * gradients and weights of the whole batch (iCT and CT, dropout 0).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Generator, randn, tensor, tidy, setNumThreads, liveTensorCount, dispose } from '../src/tensor/index.js';
import { ConsistencyLoss } from '../src/method/loss.js';
import { ConsistencyDenoiser } from '../src/method/denoiser.js';
import { ExponentialMovingAverage, emaUpdate } from '../src/method/ema.js';
import { methodPreset, type MethodConfig } from '../src/method/presets.js';
import { levelSchedule, ctTeacherEmaRate } from '../src/method/schedules.js';
import { trainingStep, type TrainingStepContext } from '../src/train/step.js';
import { levelIndicesFor, noiseFor } from '../src/train/draws.js';
import { rankSlice, type GradientSync } from '../src/train/gradient-sync.js';
import { Adam } from '../src/optim/adam.js';
import { RAdam } from '../src/optim/radam.js';
import { clipGradNorm } from '../src/optim/clip.js';
import { TinyConvNet } from './method-nets.js';
import { mapDifference } from './helpers/tensor-data.js';

setNumThreads(1);

function makeNet(): TinyConvNet {
  const net = new TinyConvNet({ init: new Generator(5), dropout: 0.2 });
  net.setGenerator(new Generator(6));
  return net;
}

for (const [name, config] of [
  ['ict', methodPreset('ict')],
  ['ct', methodPreset('ct', { metric: { kind: 'l2' } })],
] as [string, MethodConfig][]) {
  test(`${name}: trainingStep equals the pieces applied by hand, in order`, () => {
    const K = 100;
    const maxGradNorm = 0.5;
    const data = new Generator(7);
    const batches = [0, 1, 2].map(() => tidy(() => randn([4, 3, 6, 6], { generator: data }).clamp(-1, 1)));

    // trainingStep
    const net = makeNet();
    const teacher = config.teacher === 'ema' ? makeNet() : undefined;
    const opt = new RAdam(net, { lr: 1e-3 });
    const ctx: TrainingStepContext = {
      student: new ConsistencyDenoiser(net),
      teacher: teacher && new ConsistencyDenoiser(teacher),
      loss: new ConsistencyLoss(config),
      optimizer: opt,
      lr: 1e-3,
      ema: new ExponentialMovingAverage(net, { kind: 'fixed', rate: 0.9 }),
      maxGradNorm,
      totalSteps: K,
      seed: 11,
    };
    // by hand
    const twin = makeNet();
    const twinTeacher = config.teacher === 'ema' ? makeNet() : undefined;
    const twinOpt = new RAdam(twin, { lr: 1e-3 });
    const twinEma = new ExponentialMovingAverage(twin, { kind: 'fixed', rate: 0.9 });
    const twinLoss = new ConsistencyLoss(config);
    const all = [0, 1, 2, 3];

    let live = -1;
    for (const [i, k] of [0, 40, 99].entries()) {
      if (i === 1) live = liveTensorCount();
      const r = trainingStep(ctx, { x: batches[i]! }, k);
      assert.equal(r.status, 'ok');
      const schedule = levelSchedule(config, k, K);
      const byHand = tidy(() => {
        const indices = levelIndicesFor(schedule.probabilities, 11, k, all);
        const noise = noiseFor(11, k, all, [3, 6, 6], 'cpu');
        const out = twinLoss.compute({
          student: new ConsistencyDenoiser(twin),
          teacher: twinTeacher && new ConsistencyDenoiser(twinTeacher),
          x: batches[i]!,
          levels: { schedule, indices },
          noise,
        });
        const sum = out.losses.sum();
        sum.div(4).backward();
        return sum.item() / 4;
      });
      const norm = clipGradNorm(twin, maxGradNorm);
      twinOpt.step();
      if (twinTeacher) emaUpdate(twinTeacher, twin, schedule.teacherEmaRate);
      twinEma.update(twin);
      twin.zeroGrad();

      assert.equal(r.N, schedule.N);
      assert.equal(r.loss, byHand);
      assert.equal(r.gradNorm, norm);
      assert.equal(r.emaRate, 0.9);
      assert.equal(r.teacherEmaRate, config.teacher === 'ema' ? ctTeacherEmaRate(k, K, { s0: 2, s1: 150, mu0: 0.9 }) : 0);
      for (const [pname, p] of net.namedParameters()) {
        assert.deepEqual(p.toFloat32Array(), twin.namedParameters().get(pname)!.toFloat32Array(), `step ${k}: ${pname}`);
        assert.equal(p.grad, null, `step ${k}: ${pname} has no gradient left`);
      }
      if (teacher)
        for (const [pname, p] of teacher.namedParameters()) {
          assert.deepEqual(p.toFloat32Array(), twinTeacher!.namedParameters().get(pname)!.toFloat32Array(), `teacher ${pname}`);
          assert.equal(p.grad, null);
        }
      for (const [pname, t] of ctx.ema!.tensors) assert.deepEqual(t.toFloat32Array(), twinEma.tensors.get(pname)!.toFloat32Array());
    }
    assert.equal(liveTensorCount(), live, 'steps free every temporary');
    // The weights moved.
    const fresh = makeNet();
    assert.notDeepEqual(net.namedParameters().get('conv1.weight')!.toFloat32Array(), fresh.namedParameters().get('conv1.weight')!.toFloat32Array());
    for (const m of [net, teacher, twin, twinTeacher, fresh]) m?.dispose();
    for (const o of [opt, twinOpt, ctx.ema!, twinEma]) o.dispose();
    dispose(batches);
  });
}

test('trainingStep without clipping measures the gradient norm; CT without a teacher network is a clear error', () => {
  const net = makeNet();
  const x = randn([4, 3, 6, 6], { generator: new Generator(1) });
  const adam = new Adam(net, { lr: 1e-3 });
  const ctx: TrainingStepContext = {
    student: new ConsistencyDenoiser(net),
    loss: new ConsistencyLoss(methodPreset('ict')),
    optimizer: adam,
    lr: 1e-3,
    totalSteps: 10,
    seed: 3,
  };
  const r = trainingStep(ctx, { x }, 0);
  assert.equal(r.status, 'ok');
  assert.ok(r.gradNorm > 0 && Number.isFinite(r.gradNorm));
  assert.equal(r.emaRate, null);
  assert.equal(r.N, 11);
  const ct: TrainingStepContext = { ...ctx, loss: new ConsistencyLoss(methodPreset('ct', { metric: { kind: 'l2' } })) };
  assert.throws(() => trainingStep(ct, { x }, 1), /teacher 'ema' needs a teacher \(/);
  assert.throws(() => trainingStep(ctx, { x }, 11), /step must be an integer in \[0, totalSteps=10\], got 11/);
  assert.throws(
    () => trainingStep(ctx, { x, globalBatchSize: 8, globalIndices: [0, 1, 2, 3] }, 1),
    /single process must be given the whole global batch \(8 samples\), got 4/,
  );
  assert.throws(() => trainingStep(ctx, { x, globalIndices: [0, 1, 2] }, 1), /one index per sample \(4\), got 3/);
  adam.dispose();
  net.dispose();
  x.dispose();
});

/** A network, its CT teacher and a step context with dropout 0 (the same initial weights every call). */
function replica(config: MethodConfig): { net: TinyConvNet; teacher: TinyConvNet | undefined; adam: Adam; ctx: TrainingStepContext } {
  const mk = (): TinyConvNet => {
    const n = new TinyConvNet({ init: new Generator(5), dropout: 0 });
    n.setGenerator(new Generator(6));
    return n;
  };
  const net = mk();
  const teacher = config.teacher === 'ema' ? mk() : undefined;
  const adam = new Adam(net, { lr: 1e-3 });
  const ctx: TrainingStepContext = {
    student: new ConsistencyDenoiser(net),
    teacher: teacher && new ConsistencyDenoiser(teacher),
    loss: new ConsistencyLoss(config),
    optimizer: adam,
    lr: 1e-3,
    ema: new ExponentialMovingAverage(net, { kind: 'fixed', rate: 0.9 }),
    totalSteps: 100,
    seed: 21,
  };
  return { net, teacher, adam, ctx };
}

/** The parameters' gradients (or values) as arrays, by name. */
function arrays(net: TinyConvNet, what: 'grad' | 'value'): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, p] of net.namedParameters()) {
    if (what === 'value') out.set(k, p.toFloat32Array());
    else {
      // classEmb gets no gradient: the batches have no class labels.
      const g = p.grad;
      if (k === 'classEmb') assert.equal(g, null);
      else {
        assert.ok(g, `${k} has a gradient`);
        out.set(k, g.toFloat32Array());
        g.dispose();
      }
    }
  }
  return out;
}

/** A single-process GradientSync that records the gradients the step leaves before its update. */
function gradientSpy(net: TinyConvNet, into: Array<Map<string, Float32Array>>): GradientSync {
  return { rank: 0, worldSize: 1, beforeBackward: () => undefined, finishGradients: () => into.push(arrays(net, 'grad')), allReduceSum: (v) => v };
}

for (const [name, config] of [
  ['ict', methodPreset('ict')],
  ['ct', methodPreset('ct', { metric: { kind: 'l2' } })],
] as [string, MethodConfig][]) {
  test(`${name}: one batch of 7 = micro-batches of 3, 3, 1 = two ranks of 4 and 3 (rank 1 in micro-batches of 2) whose gradients are summed`, () => {
    const B = 7;
    const K = 3;
    const data = new Generator(8);
    const batches = Array.from({ length: K }, () => tidy(() => randn([B, 3, 6, 6], { generator: data }).clamp(-1, 1)));
    const whole = replica(config);
    const micro = replica(config);
    const ranks = [replica(config), replica(config)];
    const slices = [rankSlice(B, 0, 2), rankSlice(B, 1, 2)];
    assert.deepEqual(slices, [
      { start: 0, end: 4 },
      { start: 4, end: 7 },
    ]);
    const rankMicroBatch = [undefined, 2];
    const wholeGrads: Array<Map<string, Float32Array>> = [];
    const microGrads: Array<Map<string, Float32Array>> = [];

    for (let k = 0; k < K; k++) {
      const x = batches[k]!;
      const rw = trainingStep({ ...whole.ctx, gradientSync: gradientSpy(whole.net, wholeGrads) }, { x }, k);
      const rm = trainingStep({ ...micro.ctx, microBatch: 3, gradientSync: gradientSpy(micro.net, microGrads) }, { x }, k);

      // The two ranks. First pass: each computes its local gradients and loss sum (a loss hook
      // that returns NaN stops the step before the update). Second pass: the same steps again,
      // with a GradientSync that adds the other rank's gradients and loss sum, as an all-reduce
      // would; both ranks then update.
      const share = (r: number) => {
        const { start, end } = slices[r]!;
        return tidy(() => ({
          x: x.slice(0, start, end).clone(),
          globalIndices: Array.from({ length: end - start }, (_, i) => start + i),
          globalBatchSize: B,
        }));
      };
      const shares = [share(0), share(1)];
      const local = [0, 1].map((r) => {
        const rec = { grads: new Map<string, Float32Array>(), sum: Number.NaN };
        const sync: GradientSync = {
          rank: r,
          worldSize: 2,
          beforeBackward: () => undefined,
          finishGradients: () => (rec.grads = arrays(ranks[r]!.net, 'grad')),
          allReduceSum: (v) => ((rec.sum = v[0]!), v),
        };
        const res = trainingStep({ ...ranks[r]!.ctx, microBatch: rankMicroBatch[r], gradientSync: sync, lossHook: () => Number.NaN }, shares[r]!, k);
        assert.equal(res.status, 'diverged');
        return rec;
      });
      const results = [0, 1].map((r) => {
        const other = local[1 - r]!;
        const net = ranks[r]!.net;
        const sync: GradientSync = {
          rank: r,
          worldSize: 2,
          beforeBackward: () => undefined,
          finishGradients: () => {
            for (const [n, p] of net.namedParameters()) {
              const g = p.grad;
              if (!g) continue;
              tidy(() => g.add_(tensor(other.grads.get(n)!, g.shape)));
              g.dispose();
            }
          },
          allReduceSum: (v) => [v[0]! + other.sum],
        };
        return trainingStep({ ...ranks[r]!.ctx, microBatch: rankMicroBatch[r], gradientSync: sync }, shares[r]!, k);
      });
      for (const s of shares) s.x.dispose();

      for (const r of [rm, ...results]) {
        assert.equal(r.status, 'ok');
        assert.equal(rw.status, 'ok');
        assert.ok(Math.abs(r.loss - rw.loss) <= 1e-6 * Math.abs(rw.loss), `step ${k}: loss ${r.loss} vs ${rw.loss}`);
      }
      if (k === 0) {
        const summed = new Map([...local[0]!.grads].map(([n, g]) => [n, g.map((v, i) => v + local[1]!.grads.get(n)![i]!)]));
        for (const [what, g] of [
          ['micro-batches', microGrads[0]!],
          ['two ranks', summed],
        ] as const) {
          const d = mapDifference(wholeGrads[0]!, g);
          assert.ok(d.maxAbs > 0, 'gradients are not all zero');
          assert.ok(d.maxDiff <= 1e-5 * d.maxAbs, `step 0, ${what}: gradients differ by ${d.maxDiff} (largest ${d.maxAbs})`);
        }
      }
    }
    const after = arrays(whole.net, 'value');
    const fresh = replica(config);
    assert.ok(mapDifference(after, arrays(fresh.net, 'value')).maxDiff > 1e-4, 'the steps changed the weights');
    for (const [what, other] of [
      ['micro-batches', micro],
      ['rank 0', ranks[0]!],
      ['rank 1', ranks[1]!],
    ] as const) {
      assert.ok(mapDifference(after, arrays(other.net, 'value')).maxDiff <= 1e-5, `${what}: weights after ${K} steps`);
      if (whole.teacher)
        assert.ok(mapDifference(arrays(whole.teacher, 'value'), arrays(other.teacher!, 'value')).maxDiff <= 1e-5, `${what}: CT teacher`);
      for (const [n, t] of whole.ctx.ema!.tensors)
        assert.ok(
          mapDifference(new Map([[n, t.toFloat32Array()]]), new Map([[n, other.ctx.ema!.tensors.get(n)!.toFloat32Array()]])).maxDiff <= 1e-5,
          `${what}: EMA ${n}`,
        );
    }
    for (const m of [whole, micro, ...ranks, fresh]) {
      m.net.dispose();
      m.teacher?.dispose();
      m.ctx.ema?.dispose();
      m.adam.dispose();
    }
    dispose(batches);
  });
}
