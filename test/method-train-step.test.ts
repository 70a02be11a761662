/**
 * Tests of src/method/train-step.ts: one step is loss -> backward -> clip -> optimizer -> teacher
 * EMA (CT) -> evaluation EMA -> zero grads, in that order. A twin network updated by hand through
 * the same pieces from the same random states ends bit for bit where trainStep leaves its network;
 * the step reports N(k), the loss and the gradient norm, and leaves no gradients or tensors behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Generator, randn, tidy, setNumThreads, liveTensorCount, dispose } from '../src/tensor/index.js';
import { ConsistencyLoss } from '../src/method/loss.js';
import { ConsistencyDenoiser } from '../src/method/denoiser.js';
import { ExponentialMovingAverage, emaUpdate } from '../src/method/ema.js';
import { levelSchedule, methodPreset, type MethodConfig } from '../src/method/presets.js';
import { sampleLevelIndices, ctTeacherEmaRate } from '../src/method/schedules.js';
import { trainStep, type TrainContext } from '../src/method/train-step.js';
import { Adam } from '../src/optim/adam.js';
import { RAdam } from '../src/optim/radam.js';
import { clipGradNorm } from '../src/optim/clip.js';
import { TinyConvNet } from './method-nets.js';

setNumThreads(1);

function rngFrom(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

function makeNet(): TinyConvNet {
  const net = new TinyConvNet({ init: new Generator(5), dropout: 0.2 });
  net.setGenerator(new Generator(6));
  return net;
}

for (const [name, config] of [
  ['ict', methodPreset('ict')],
  ['ct', methodPreset('ct', { metric: { kind: 'l2' } })],
] as [string, MethodConfig][]) {
  test(`${name}: trainStep equals the pieces applied by hand, in order`, () => {
    const K = 100;
    const maxGradNorm = 0.5;
    const data = new Generator(7);
    const batches = [0, 1, 2].map(() => tidy(() => randn([4, 3, 6, 6], { generator: data }).clamp(-1, 1)));

    // trainStep
    const net = makeNet();
    const teacher = config.teacher === 'ema' ? makeNet() : undefined;
    const ctx: TrainContext = {
      network: net,
      teacherNetwork: teacher,
      loss: new ConsistencyLoss(config),
      optimizer: new RAdam(net, { lr: 1e-3 }),
      ema: new ExponentialMovingAverage(net, { kind: 'fixed', rate: 0.9 }),
      maxGradNorm,
      totalSteps: K,
      levelRng: rngFrom(11),
      noiseGenerator: new Generator(12),
    };
    // by hand
    const twin = makeNet();
    const twinTeacher = config.teacher === 'ema' ? makeNet() : undefined;
    const twinOpt = new RAdam(twin, { lr: 1e-3 });
    const twinEma = new ExponentialMovingAverage(twin, { kind: 'fixed', rate: 0.9 });
    const twinLoss = new ConsistencyLoss(config);
    const twinRng = rngFrom(11);
    const twinNoise = new Generator(12);

    let live = -1;
    for (const [i, k] of [0, 40, 99].entries()) {
      if (i === 1) live = liveTensorCount();
      const r = trainStep(ctx, { x: batches[i]! }, k);
      const schedule = levelSchedule(config, k, K);
      const byHand = tidy(() => {
        const indices = sampleLevelIndices(schedule.probabilities, 4, twinRng);
        const out = twinLoss.compute({ student: new ConsistencyDenoiser(twin), teacher: twinTeacher && new ConsistencyDenoiser(twinTeacher), x: batches[i]!, levels: { schedule, indices }, noiseGenerator: twinNoise });
        const loss = out.losses.mean();
        loss.backward();
        return loss.item();
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
      if (teacher) for (const [pname, p] of teacher.namedParameters()) {
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
    for (const o of [ctx.optimizer, twinOpt, ctx.ema!, twinEma]) o.dispose();
    dispose(batches);
  });
}

test('trainStep without clipping measures the gradient norm; CT without a teacher network is a clear error', () => {
  const net = makeNet();
  const x = randn([4, 3, 6, 6], { generator: new Generator(1) });
  const ctx: TrainContext = {
    network: net,
    loss: new ConsistencyLoss(methodPreset('ict')),
    optimizer: new Adam(net, { lr: 1e-3 }),
    totalSteps: 10,
    levelRng: rngFrom(3),
    noiseGenerator: new Generator(4),
  };
  const r = trainStep(ctx, { x }, 0);
  assert.ok(r.gradNorm > 0 && Number.isFinite(r.gradNorm));
  assert.equal(r.emaRate, null);
  assert.equal(r.N, 11);
  const ct: TrainContext = { ...ctx, loss: new ConsistencyLoss(methodPreset('ct', { metric: { kind: 'l2' } })) };
  assert.throws(() => trainStep(ct, { x }, 1), /teacher 'ema' needs a teacher \(/);
  assert.throws(() => trainStep(ctx, { x }, 11), /step must be an integer in \[0, totalSteps=10\], got 11/);
  ctx.optimizer.dispose();
  net.dispose();
  x.dispose();
});
