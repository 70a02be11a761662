/**
 * Tests of src/method/ema.ts: the fixed-rate EMA of weights, EDM2's power-function EMA (its
 * exponent against numpy's cubic roots in test/reference/method_ref.py), the CT teacher update with
 * mu(k), and the EMA's checkpoint state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Generator, randn, tidy, noGrad, setNumThreads, type Tensor } from '../src/tensor/index.js';
import { loadSafetensors, saveSafetensors } from '../src/io/safetensors.js';
import { ExponentialMovingAverage, emaRate, emaUpdate, powerEmaGamma } from '../src/method/ema.js';
import { methodPreset } from '../src/method/presets.js';
import { levelSchedule } from '../src/method/schedules.js';
import { ctTeacherEmaRate } from '../src/method/schedules.js';
import { runPythonScript } from './helpers/python.js';
import { TinyConvNet } from './method-nets.js';

setNumThreads(1);

const values = (m: Map<string, Tensor>): Map<string, Float64Array> => new Map([...m].map(([k, t]) => [k, t.toFloat64Array()]));

function perturb(net: TinyConvNet, seed: number): void {
  const g = new Generator(seed);
  noGrad(() => {
    for (const p of net.parameters()) tidy(() => p.add_(randn(p.shape, { generator: g }).mul(0.1)));
  });
}

test("power-function EMA: gamma from sigma_rel matches numpy's cubic roots; beta(t) = (1 - 1/t)^(gamma + 1)", () => {
  const rels = [0.01, 0.05, 0.1, 0.2, 0.28];
  const ref = JSON.parse(runPythonScript('test/reference/method_ref.py', ['power-ema', ...rels.map(String)])) as number[];
  rels.forEach((s, i) => assert.ok(Math.abs(powerEmaGamma(s) - ref[i]!) <= 1e-9 * ref[i]!, `sigma_rel ${s}: ${powerEmaGamma(s)} vs ${ref[i]}`));
  const gamma = powerEmaGamma(0.05);
  assert.equal(emaRate({ kind: 'power', sigmaRel: 0.05 }, 1), 0);
  for (const t of [2, 10, 1000]) assert.equal(emaRate({ kind: 'power', sigmaRel: 0.05 }, t), (1 - 1 / t) ** (gamma + 1));
  assert.equal(emaRate({ kind: 'power', gamma: 7 }, 4), 0.75 ** 8);
  assert.equal(emaRate({ kind: 'fixed', rate: 0.99993 }, 5), 0.99993);
  assert.throws(
    () => powerEmaGamma(0.3),
    (e: Error) => e instanceof RangeError && /sigmaRel must be a number in \(0, 0.288.*got 0.3/.test(e.message),
  );
  assert.throws(() => emaRate({ kind: 'fixed', rate: 1 }, 1), /rate must be a number in \[0, 1\), got 1/);
  assert.throws(() => emaRate({ kind: 'power' }, 1), /needs gamma or sigmaRel/);
  assert.throws(() => emaRate({ kind: 'fixed', rate: 0.5 }, 0), /t must be an integer >= 1, got 0/);
});

test('fixed-rate EMA follows ema = rate ema + (1 - rate) theta over updates; copyTo and checkpoints round-trip', () => {
  const net = new TinyConvNet({ init: new Generator(1) });
  const rate = 0.9;
  const ema = new ExponentialMovingAverage(net, { kind: 'fixed', rate });
  const expected = values(net.namedParameters());
  for (let k = 0; k < 3; k++) {
    perturb(net, 10 + k);
    assert.equal(ema.update(net), rate);
    for (const [name, p] of net.namedParameters()) {
      const th = p.toFloat64Array();
      const e = expected.get(name)!;
      for (let i = 0; i < e.length; i++) e[i] = rate * e[i]! + (1 - rate) * th[i]!;
    }
  }
  assert.equal(ema.updates, 3);
  for (const [name, t] of ema.tensors) {
    const got = t.toFloat64Array();
    const want = expected.get(name)!;
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-6, `${name}[${i}]`);
    assert.equal(t.requiresGrad, false);
  }
  // copyTo writes the averages into another network.
  const evalNet = new TinyConvNet({ init: new Generator(2) });
  ema.copyTo(evalNet);
  for (const [name, p] of evalNet.namedParameters()) assert.deepEqual(p.toFloat32Array(), ema.tensors.get(name)!.toFloat32Array());
  // Checkpoint: save, load into a fresh EMA, same tensors and count.
  const dir = mkdtempSync(join(tmpdir(), 'ema-'));
  try {
    saveSafetensors(join(dir, 'ema.safetensors'), ema.stateDict());
    const other = new ExponentialMovingAverage(evalNet, { kind: 'fixed', rate });
    const loaded = loadSafetensors(join(dir, 'ema.safetensors')).tensors;
    other.loadStateDict(loaded, ema.updates);
    assert.equal(other.updates, 3);
    for (const [name, t] of other.tensors) assert.deepEqual(t.toFloat32Array(), ema.tensors.get(name)!.toFloat32Array());
    const partial = new Map(loaded);
    partial.delete('conv1.weight');
    assert.throws(() => other.loadStateDict(partial, 1), /missing in source: conv1.weight/);
    other.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  ema.dispose();
  net.dispose();
  evalNet.dispose();
});

test("CT teacher: theta_minus <- mu(k) theta_minus + (1 - mu(k)) theta with the ct preset's mu(k)", () => {
  const config = methodPreset('ct', { metric: { kind: 'l2' } });
  const k = 300;
  const K = 1000;
  const mu = levelSchedule(config, k, K).teacherEmaRate;
  assert.equal(mu, ctTeacherEmaRate(k, K, { s0: 2, s1: 150, mu0: 0.9 }));
  assert.equal(levelSchedule(methodPreset('ict'), k, K).teacherEmaRate, 0);
  const student = new TinyConvNet({ init: new Generator(1) });
  const teacher = new TinyConvNet({ init: new Generator(2) });
  const before = values(teacher.namedParameters());
  emaUpdate(teacher, student, mu);
  for (const [name, p] of teacher.namedParameters()) {
    const got = p.toFloat64Array();
    const th = student.namedParameters().get(name)!.toFloat64Array();
    const b = before.get(name)!;
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - (mu * b[i]! + (1 - mu) * th[i]!)) <= 1e-6, `${name}[${i}]`);
  }
  // rate 0 copies exactly (iCT's teacher is the student); rate 1 leaves the teacher alone.
  const kept = values(teacher.namedParameters());
  emaUpdate(teacher, student, 1);
  for (const [name, p] of teacher.namedParameters()) assert.deepEqual(p.toFloat64Array(), kept.get(name));
  emaUpdate(teacher, student, 0);
  for (const [name, p] of teacher.namedParameters()) assert.deepEqual(p.toFloat32Array(), student.namedParameters().get(name)!.toFloat32Array());
  assert.throws(
    () => emaUpdate(teacher, student, 1.5),
    (e: Error) => e instanceof RangeError && /rate must be a number in \[0, 1\], got 1.5/.test(e.message),
  );
  const other = new TinyConvNet({ init: new Generator(3), hidden: 4 });
  assert.throws(() => emaUpdate(teacher, other, 0.5), /different shapes: classEmb, conv1.weight/);
  student.dispose();
  teacher.dispose();
  other.dispose();
});
