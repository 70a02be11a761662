/**
 * Tests of src/method/loss.ts (docs/method.md section 4): the consistency loss and its gradients against
 * test/reference/method_ref.py (Python torch, written from the spec), for iCT and for CT with an
 * EMA teacher; the teacher gets no gradient; both passes share one dropout mask; each override
 * changes only its ingredient; bad input gives RangeErrors naming the value and the range.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Generator, Tensor, randn, randint, tensor, tidy, noGrad, setNumThreads, dispose } from '../src/tensor/index.js';
import { loadSafetensors, saveSafetensors } from '../src/io/safetensors.js';
import { ConsistencyLoss, type ConsistencyLossResult } from '../src/method/loss.js';
import { ConsistencyDenoiser, type ConsistencyNetwork } from '../src/method/denoiser.js';
import { methodPreset, type MethodConfig, type MethodOverrides } from '../src/method/presets.js';
import { pseudoHuberC } from '../src/method/scalings.js';
import { levelSchedule, sampleLevelIndices } from '../src/method/schedules.js';
import { runPythonScript } from './helpers/python.js';
import { RecordingNet, TinyConvNet } from './method-nets.js';

setNumThreads(1);

const SHAPE = [4, 3, 6, 6];

/** The consistency function f around a raw network (the presets' sigma_min and sigma_data). */
function f(net: ConsistencyNetwork): ConsistencyDenoiser;
function f(net: ConsistencyNetwork | undefined): ConsistencyDenoiser | undefined;
function f(net: ConsistencyNetwork | undefined): ConsistencyDenoiser | undefined {
  return net && new ConsistencyDenoiser(net);
}

function makeNet(seed: number, dropout = 0.3): TinyConvNet {
  const net = new TinyConvNet({ init: new Generator(seed), dropout });
  net.setGenerator(new Generator(1000 + seed));
  return net;
}

function data(seed: number): { x: Tensor; z: Tensor; labels: Tensor } {
  const g = new Generator(seed);
  return {
    x: randn(SHAPE, { generator: g }).clamp(-1, 1),
    z: randn(SHAPE, { generator: g }),
    labels: randint(0, 4, [SHAPE[0]!], { generator: g }),
  };
}

/** Max |a - b| <= rtol * max |b| + atol, with a message naming the worst element. */
function assertClose(a: Float32Array, b: Float32Array, rtol: number, what: string, atol = 0): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= rtol * scale + atol, `${what}: max |diff| ${worst} at ${at} (${a[at]} vs ${b[at]}), scale ${scale}`);
}

interface RefCase {
  name: string;
  config: MethodConfig;
  N: number;
  indices: number[];
  teacherSeed?: number;
  c?: number;
}

test('the loss and every gradient match the Python torch reference (iCT stopgrad, CT EMA teacher, other metrics)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'method-loss-'));
  try {
    const ict = methodPreset('ict');
    const cases: RefCase[] = [
      { name: 'ict', config: ict, N: levelSchedule(ict, 0, 1000).N, indices: [0, 3, 5, 9] },
      { name: 'ict-n41-l1', config: methodPreset('ict', { metric: { kind: 'l1' } }), N: 41, indices: [39, 20, 1, 0] },
      { name: 'ict-c', config: methodPreset('ict', { metric: { c: 0.5 } }), N: 21, indices: [2, 2, 15, 7], c: 0.5 },
      {
        name: 'ct',
        config: methodPreset('ct', { metric: { kind: 'l2' } }),
        N: levelSchedule(methodPreset('ct'), 500, 1000).N,
        indices: [0, 50, 90, 7],
        teacherSeed: 9,
      },
      {
        name: 'ct-huber-gap',
        config: methodPreset('ct', { metric: { kind: 'pseudo-huber' }, weighting: 'inverse-gap' }),
        N: 18,
        indices: [16, 3, 0, 8],
        teacherSeed: 10,
      },
    ];
    const { x, z, labels } = data(7);
    const dataFile = join(dir, 'data.safetensors');
    saveSafetensors(dataFile, { x, z, labels });
    const studentFile = join(dir, 'student.safetensors');
    const student = makeNet(3);
    saveSafetensors(studentFile, student.stateDict());
    const dropoutSeed = 4242;
    const pyCases = cases.map((c) => {
      let teacherFile: string | undefined;
      if (c.teacherSeed !== undefined) {
        teacherFile = join(dir, `teacher-${c.name}.safetensors`);
        saveSafetensors(teacherFile, makeNet(c.teacherSeed).stateDict());
      }
      return {
        name: c.name,
        studentFile,
        teacherFile,
        dataFile,
        out: join(dir, `out-${c.name}.safetensors`),
        teacher: c.config.teacher,
        weighting: c.config.weighting,
        metric: c.config.metric.kind,
        c: c.c ?? null,
        sigmaMin: c.config.sigmaMin,
        sigmaMax: c.config.sigmaMax,
        sigmaData: c.config.sigmaData,
        rho: c.config.rho,
        N: c.N,
        indices: c.indices,
        dropoutSeed,
        dropoutP: 0.3,
        training: true,
      };
    });
    const lines = runPythonScript('test/reference/method_ref.py', [], JSON.stringify({ cases: pyCases }))
      .trim()
      .split('\n');
    assert.equal(lines.length, cases.length);

    for (const [k, c] of cases.entries()) {
      const ref = JSON.parse(lines[k]!) as { name: string; loss: number; weights: number[]; sigmaTeacher: number[]; sigmaStudent: number[] };
      assert.equal(ref.name, c.name);
      const net = makeNet(3);
      net.setGenerator(new Generator(dropoutSeed));
      const teacher = c.teacherSeed !== undefined ? makeNet(c.teacherSeed) : undefined;
      const loss = new ConsistencyLoss(c.config);
      const sched = scheduleWithN(c.config, c.N);
      const refOut = loadSafetensors(pyCases[k]!.out).tensors;
      tidy(() => {
        const r = loss.compute({
          student: f(net),
          teacher: f(teacher),
          x,
          classLabels: labels,
          noise: z,
          levels: { schedule: sched, indices: c.indices },
        });
        r.losses.mean().backward();
        // The levels agree to an ulp or two (JavaScript's and Python's pow round differently).
        for (let i = 0; i < c.indices.length; i++) {
          assert.ok(Math.abs(r.sigmaTeacher[i]! - ref.sigmaTeacher[i]!) <= 1e-15 * ref.sigmaTeacher[i]!, `${c.name}: sigma_i ${i}`);
          assert.ok(Math.abs(r.sigmaStudent[i]! - ref.sigmaStudent[i]!) <= 1e-15 * ref.sigmaStudent[i]!, `${c.name}: sigma_{i+1} ${i}`);
        }
        for (let i = 0; i < r.weights.length; i++)
          assert.ok(
            Math.abs(r.weights[i]! - ref.weights[i]!) <= 1e-11 * ref.weights[i]!,
            `${c.name}: weight ${i}: ${r.weights[i]} vs ${ref.weights[i]}`,
          );
        assertClose(Float32Array.of(r.losses.mean().item()), Float32Array.of(ref.loss), 2e-5, `${c.name}: loss`);
        assertClose(r.distances.toFloat32Array(), refOut.get('distances')!.toFloat32Array(), 2e-5, `${c.name}: distances`);
        let checked = 0;
        for (const [name, p] of net.namedParameters()) {
          const g = p.grad;
          assert.ok(g, `${c.name}: ${name} has a gradient`);
          assertClose(g.toFloat32Array(), refOut.get(`grad.${name}`)!.toFloat32Array(), 1e-4, `${c.name}: grad of ${name}`, 1e-7);
          checked++;
        }
        assert.equal(checked, 7, 'every parameter checked');
        if (teacher)
          for (const [name, p] of teacher.namedParameters()) assert.equal(p.grad, null, `${c.name}: the EMA teacher's ${name} has no gradient`);
      });
      net.dispose();
      teacher?.dispose();
    }
    dispose([x, z, labels]);
    student.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A level schedule of the config's kind with exactly N levels. */
function scheduleWithN(config: MethodConfig, N: number): ReturnType<typeof levelSchedule> {
  // An iCT curriculum with s0 = s1 = N - 1 gives N levels at every step.
  const fixed = methodPreset(config.method, { ...overridesOf(config), curriculum: { kind: 'ict-exp', s0: N - 1, s1: N - 1 } });
  const s = levelSchedule(fixed, 0, 1);
  assert.equal(s.N, N);
  return s;
}

function overridesOf(c: MethodConfig): MethodOverrides {
  return {
    teacher: c.teacher,
    mu0: c.mu0,
    levels: c.levels,
    weighting: c.weighting,
    metric: c.metric,
    sigmaMin: c.sigmaMin,
    sigmaMax: c.sigmaMax,
    sigmaData: c.sigmaData,
    rho: c.rho,
  };
}

test("the teacher pass builds no graph: its output has requiresGrad false, the student's true", () => {
  const net = new RecordingNet(makeNet(3));
  net.setGenerator(new Generator(5));
  const { x, z } = data(8);
  const loss = new ConsistencyLoss(methodPreset('ict'));
  const sched = levelSchedule(loss.config, 0, 100);
  tidy(() => {
    const r = loss.compute({ student: f(net), x, noise: z, levels: { schedule: sched, indices: [1, 2, 3, 4] }, returnOutputs: true });
    assert.equal(net.calls.length, 2);
    assert.equal(net.calls[0]!.requiresGradOut, true, 'student pass tracks gradients');
    assert.equal(net.calls[1]!.requiresGradOut, false, 'teacher pass does not');
    assert.equal(r.student!.requiresGrad, true);
    assert.equal(r.teacher!.requiresGrad, false);
    assert.equal(r.distances.requiresGrad, false);
    // The two passes saw the same z at their own levels: x + sigma z.
    const xs = x.toFloat32Array();
    const zs = z.toFloat32Array();
    const per = xs.length / 4;
    for (const [call, sig] of [
      [net.calls[0]!, r.sigmaStudent],
      [net.calls[1]!, r.sigmaTeacher],
    ] as const) {
      for (let i = 0; i < xs.length; i += 7) {
        const s = sig[Math.floor(i / per)]!;
        const cIn = 1 / Math.sqrt(s * s + 0.25);
        const want = (xs[i]! + Math.fround(zs[i]! * Math.fround(s))) * cIn;
        assert.ok(Math.abs(call.x[i]! - want) <= 1e-5 * Math.max(1, Math.abs(want)), `input ${i}: ${call.x[i]} vs ${want}`);
      }
    }
  });
  net.dispose();
  dispose([x, z]);
});

test('the student and teacher passes share one dropout mask (stopgrad and EMA teachers)', () => {
  const { x, z } = data(9);
  const sigmas = [0.5, 0.5, 2, 2];
  const levels = { sigmaTeacher: sigmas, sigmaStudent: sigmas, weights: [1, 1, 1, 1] };
  // iCT: the same network, same sigma, dropout on: identical outputs, zero loss.
  const net = makeNet(3, 0.5);
  const loss = new ConsistencyLoss(methodPreset('ict'));
  tidy(() => {
    const r = loss.compute({ student: f(net), x, noise: z, levels, returnOutputs: true });
    assert.deepEqual(r.student!.toFloat32Array(), r.teacher!.toFloat32Array());
    assert.equal(r.losses.mean().item(), 0);
  });
  // Control: two passes without restoring the generator differ, so dropout is really on.
  tidy(() => {
    const a = net.forward(x, tensor([0, 0, 0, 0]));
    const b = net.forward(x, tensor([0, 0, 0, 0]));
    assert.notDeepEqual(a.toFloat32Array(), b.toFloat32Array());
  });
  // CT: a teacher network with the same weights and its own generator (another seed): the loss
  // puts the student's generator state into it, so the masks still agree.
  const teacher = makeNet(3, 0.5);
  teacher.setGenerator(new Generator(777));
  const ct = new ConsistencyLoss(methodPreset('ct', { metric: { kind: 'l2' } }));
  tidy(() => {
    const r = ct.compute({ student: f(net), teacher: f(teacher), x, noise: z, levels, returnOutputs: true });
    assert.deepEqual(r.student!.toFloat32Array(), r.teacher!.toFloat32Array());
  });
  // A network in training mode without a generator cannot share masks: a clear error.
  const bare = new TinyConvNet({ init: new Generator(1) });
  assert.throws(() => tidy(() => loss.compute({ student: f(bare), x, noise: z, levels })), /training mode without a dropout generator.*setGenerator/);
  bare.eval();
  tidy(() => loss.compute({ student: f(bare), x, noise: z, levels }));
  dispose([x, z]);
  net.dispose();
  teacher.dispose();
  bare.dispose();
});

test('the loss is unreduced: lambda(sigma_i) d per sample, [N], each with its own gradient', () => {
  const net = makeNet(3, 0);
  const { x, z } = data(15);
  const loss = new ConsistencyLoss(methodPreset('ict'));
  const sched = scheduleWithN(loss.config, 21);
  const indices = [0, 4, 12, 19];
  tidy(() => {
    const r = loss.compute({ student: f(net), x, noise: z, levels: { schedule: sched, indices } });
    assert.deepEqual(r.losses.shape, [4]);
    const d = r.distances.toFloat64Array();
    const l = r.losses.toFloat64Array();
    for (let i = 0; i < 4; i++)
      assert.ok(
        Math.abs(l[i]! - Math.fround(d[i]! * Math.fround(sched.weights[indices[i]!]!))) <= 1e-6 * l[i]!,
        `sample ${i}: ${l[i]} vs ${d[i]} * lambda`,
      );
    // The values are separate: the gradient of sample 2's value is that of a batch of sample 2 alone.
    r.losses.slice(0, 2, 3).sum().backward();
  });
  const g2 = net.namedParameters().get('conv1.weight')!.grad!.toFloat32Array();
  net.zeroGrad();
  tidy(() => {
    const r = loss.compute({ student: f(net), x: x.slice(0, 2, 3), noise: z.slice(0, 2, 3), levels: { schedule: sched, indices: [12] } });
    r.losses.sum().backward();
  });
  const g1 = net.namedParameters().get('conv1.weight')!.grad!.toFloat32Array();
  assertClose(g2, g1, 1e-5, 'one sample of the batch vs the same sample alone', 1e-9);
  net.dispose();
  dispose([x, z]);
});

/** Runs a loss on fixed inputs and returns numbers for comparisons. */
function evaluate(
  config: MethodConfig,
  teacherSeed?: number,
): { loss: number; distances: number[]; weights: number[]; student: number[]; teacher: number[] } {
  const net = makeNet(3);
  net.setGenerator(new Generator(99));
  const teacher = teacherSeed !== undefined ? makeNet(teacherSeed) : undefined;
  const { x, z } = data(11);
  const sched = scheduleWithN(config, 21);
  const out = tidy(() => {
    const r: ConsistencyLossResult = new ConsistencyLoss(config).compute({
      student: f(net),
      teacher: f(teacher),
      x,
      noise: z,
      levels: { schedule: sched, indices: [0, 4, 12, 19] },
      returnOutputs: true,
    });
    return {
      loss: r.losses.mean().item(),
      distances: Array.from(r.distances.toFloat64Array()),
      weights: r.weights,
      student: Array.from(r.student!.toFloat32Array()),
      teacher: Array.from(r.teacher!.toFloat32Array()),
    };
  });
  net.dispose();
  teacher?.dispose();
  dispose([x, z]);
  return out;
}

test('each override changes exactly its ingredient', () => {
  const base = evaluate(methodPreset('ict'));
  const sigmas = scheduleWithN(methodPreset('ict'), 21).sigmas;
  const gaps = [0, 4, 12, 19].map((j) => 1 / (sigmas[j + 1]! - sigmas[j]!));
  assert.deepEqual(base.weights, gaps);

  // weighting: only lambda changes.
  const constant = evaluate(methodPreset('ict', { weighting: 'constant' }));
  assert.deepEqual(constant.distances, base.distances);
  assert.deepEqual(constant.student, base.student);
  assert.deepEqual(constant.weights, [1, 1, 1, 1]);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  assert.ok(Math.abs(constant.loss - mean(base.distances)) <= 1e-6 * constant.loss);
  assert.ok(Math.abs(base.loss - mean(base.distances.map((d, i) => d * gaps[i]!))) <= 1e-5 * base.loss);

  // metric: only d changes; pseudo-Huber = sqrt(l2 + c^2) - c on the same outputs.
  const l2 = evaluate(methodPreset('ict', { metric: { kind: 'l2' } }));
  assert.deepEqual(l2.student, base.student);
  assert.deepEqual(l2.teacher, base.teacher);
  assert.deepEqual(l2.weights, base.weights);
  const c = pseudoHuberC(3 * 6 * 6);
  l2.distances.forEach((d, i) => assert.ok(Math.abs(Math.sqrt(d + c * c) - c - base.distances[i]!) <= 1e-5 * base.distances[i]! + 1e-7));
  const l1 = evaluate(methodPreset('ict', { metric: { kind: 'l1' } }));
  assert.deepEqual(l1.student, base.student);
  assert.notDeepEqual(l1.distances, base.distances);
  const huberC = evaluate(methodPreset('ict', { metric: { c: 0.3 } }));
  l2.distances.forEach((d, i) => assert.ok(Math.abs(Math.sqrt(d + 0.09) - 0.3 - huberC.distances[i]!) <= 1e-5 * huberC.distances[i]! + 1e-7));

  // teacher: an EMA teacher with the student's weights gives iCT's loss; other weights change only the teacher.
  const emaSame = evaluate(methodPreset('ict', { teacher: 'ema' }), 3);
  assert.deepEqual(emaSame.teacher, base.teacher);
  assert.equal(emaSame.loss, base.loss);
  const emaOther = evaluate(methodPreset('ict', { teacher: 'ema' }), 4);
  assert.deepEqual(emaOther.student, base.student);
  assert.notDeepEqual(emaOther.teacher, base.teacher);
  assert.deepEqual(emaOther.weights, base.weights);

  // curriculum and level distribution: only N(k) or p(i) changes.
  const ict = methodPreset('ict');
  const a = levelSchedule(ict, 100, 1000);
  const sqrtCurr = levelSchedule(methodPreset('ict', { curriculum: { kind: 'ct-sqrt', s0: 2, s1: 150 } }), 100, 1000);
  assert.notEqual(sqrtCurr.N, a.N);
  assert.equal(sqrtCurr.teacherEmaRate, 0);
  const uniform = levelSchedule(methodPreset('ict', { levels: { kind: 'uniform' } }), 100, 1000);
  assert.deepEqual(uniform.sigmas, a.sigmas);
  assert.deepEqual(uniform.weights, a.weights);
  assert.notDeepEqual(uniform.probabilities, a.probabilities);
  assert.ok(uniform.probabilities.every((p) => p === 1 / (a.N - 1)));
});

test('drawn level indices follow the configured distribution through the seeded rng', () => {
  const net = makeNet(3);
  const { x, z } = data(12);
  for (const levels of ['lognormal', 'uniform'] as const) {
    const config = methodPreset('ict', { levels: { kind: levels } });
    const sched = levelSchedule(config, 400, 1000);
    const rngOf = (seed: number) => {
      let s = seed;
      return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
    };
    const want = sampleLevelIndices(sched.probabilities, 4, rngOf(17));
    const got = tidy(
      () => new ConsistencyLoss(config).compute({ student: f(net), x, noise: z, levels: { schedule: sched, rng: rngOf(17) } }).levelIndices,
    );
    assert.deepEqual(got, want);
  }
  net.dispose();
  dispose([x, z]);
});

test('bad input: RangeErrors name the value and the allowed range', () => {
  const net = makeNet(3);
  const { x, z } = data(13);
  const loss = new ConsistencyLoss(methodPreset('ict'));
  const sched = levelSchedule(loss.config, 0, 100); // N = 11: indices 0..9
  const run = (levels: Parameters<ConsistencyLoss['compute']>[0]['levels']) => tidy(() => loss.compute({ student: f(net), x, noise: z, levels }));
  assert.throws(
    () => run({ schedule: sched, indices: [0, 1, 10, 2] }),
    (e: Error) => e instanceof RangeError && /levelIndices\[2\] must be an integer in \[0, 9\].*i = 1\.\.10\), got 10/.test(e.message),
  );
  assert.throws(() => run({ schedule: sched, indices: [0, -1, 1, 2] }), /levelIndices\[1\] must be an integer in \[0, 9\].*got -1/);
  assert.throws(() => run({ schedule: sched, indices: [0, 1.5, 1, 2] }), /got 1.5/);
  assert.throws(() => run({ schedule: sched, indices: [0, 1] }), /one index per sample \(4\), got 2/);
  assert.throws(() => run({ schedule: sched }), /indices or an rng/);
  assert.throws(
    () => run({ sigmaTeacher: [0, 1, 1, 1], sigmaStudent: [1, 2, 2, 2] }),
    (e: Error) => e instanceof RangeError && /sigmaTeacher\[0\] must be a finite number > 0, got 0/.test(e.message),
  );
  assert.throws(() => run({ sigmaTeacher: [-1, 1, 1, 1], sigmaStudent: [1, 2, 2, 2] }), /got -1/);
  assert.throws(
    () => run({ sigmaTeacher: [1, 1, 1, 1], sigmaStudent: [1, 2, 0.5, 2] }),
    /sigmaStudent\[2\] must be a finite number >= sigmaTeacher\[2\]=1, got 0.5/,
  );
  assert.throws(
    () => run({ sigmaTeacher: [0.001, 1, 1, 1], sigmaStudent: [1, 2, 2, 2] }),
    (e: Error) => e instanceof RangeError && /sigma must be >= sigmaMin=0.002, got 0.001/.test(e.message),
  );
  assert.throws(
    () => run({ sigmaTeacher: [1, 1, 1, 1], sigmaStudent: [1, 2, 2, 2] }),
    /inverse-gap weighting needs sigmaStudent\[0\] > sigmaTeacher\[0\]/,
  );
  assert.throws(
    () =>
      tidy(() =>
        new ConsistencyLoss(methodPreset('ct', { metric: { kind: 'l2' } })).compute({
          student: f(net),
          x,
          noise: z,
          levels: { schedule: sched, indices: [0, 0, 0, 0] },
        }),
      ),
    /teacher 'ema' needs a teacher \(/,
  );
  assert.throws(
    () => methodPreset('ict', { metric: { kind: 'lpip' as 'lpips' } }),
    (e: Error) => e instanceof RangeError && /metric.kind must be one of pseudo-huber, l2, l1, lpips, got lpip/.test(e.message),
  );
  assert.throws(
    () => methodPreset('ictt' as 'ict'),
    (e: Error) => e instanceof RangeError && /method must be one of ict, ct, got ictt/.test(e.message),
  );
  assert.throws(
    () => new ConsistencyLoss(methodPreset('ct')),
    (e: Error) => e instanceof RangeError && /metric 'lpips' needs a learned network/.test(e.message),
  );
  net.dispose();
  dispose([x, z]);
});

test("a plugged-in learned metric serves 'lpips'", () => {
  const net = makeNet(3);
  const teacher = makeNet(3);
  const { x, z } = data(14);
  let calls = 0;
  const learned = {
    distance(a: Tensor, b: Tensor): Tensor {
      calls++;
      return a.sub(b).abs().reshape([a.shape[0]!, -1]).mean(1);
    },
  };
  const config = methodPreset('ct');
  const sched = levelSchedule(config, 0, 100);
  tidy(() => {
    const r = new ConsistencyLoss(config, { learnedMetric: learned }).compute({
      student: f(net),
      teacher: f(teacher),
      x,
      noise: z,
      levels: { schedule: sched, indices: [0, 0, 0, 0] },
      returnOutputs: true,
    });
    const want = noGrad(() => r.student!.sub(r.teacher!).abs().reshape([4, -1]).mean(1));
    assert.deepEqual(r.distances.toFloat32Array(), want.toFloat32Array());
    r.losses.mean().backward();
  });
  assert.equal(calls, 1);
  const wrong = { distance: (a: Tensor) => a.sum() };
  assert.throws(
    () =>
      tidy(() =>
        new ConsistencyLoss(config, { learnedMetric: wrong }).compute({
          student: f(net),
          teacher: f(teacher),
          x,
          noise: z,
          levels: { schedule: sched, indices: [0, 0, 0, 0] },
        }),
      ),
    /must return \[4\], got \[\]/,
  );
  net.dispose();
  teacher.dispose();
  dispose([x, z]);
});
