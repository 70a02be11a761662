/**
 * Tests of src/optim (Adam, AdamW, RAdam, gradient clipping, optimizer state): 100 steps on a
 * small regression match PyTorch's own optimizers step for step (test/reference/optim_ref.py),
 * with and without weight decay and clipping; a run stopped, saved and resumed from its state
 * dict continues exactly as an uninterrupted one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Generator, Tensor, randn, tidy, keep, nnf, setNumThreads, dispose, liveTensorCount } from '../src/tensor/index.js';
import { loadSafetensors, saveSafetensors } from '../src/io/safetensors.js';
import { Adam } from '../src/optim/adam.js';
import { RAdam } from '../src/optim/radam.js';
import { clipGradNorm, gradNorm } from '../src/optim/clip.js';
import type { AdamFamily } from '../src/optim/optimizer.js';
import { runPythonScript } from './helpers/python.js';

setNumThreads(1);

interface Problem {
  X: Tensor;
  Y: Tensor;
  init: Map<string, Tensor>;
}

function problem(): Problem {
  const g = new Generator(21);
  const init = new Map<string, Tensor>([
    ['W', keep(randn([5, 3], { generator: g }).mul(0.5))],
    ['b', keep(randn([5], { generator: g }).mul(0.1))],
    ['V', keep(randn([2, 5], { generator: g }).mul(0.5))],
  ]);
  return { X: keep(randn([16, 3], { generator: g })), Y: keep(randn([16, 2], { generator: g })), init };
}

function freshParams(p: Problem): Map<string, Tensor> {
  return new Map([...p.init].map(([k, t]) => [k, keep(t.clone().requiresGrad_(true))]));
}

/** One step: zero grads, loss, backward, optional clip, optimizer step. Returns [loss, norm]. */
function step(p: Problem, params: Map<string, Tensor>, opt: AdamFamily, clip: number | null): [number, number] {
  opt.zeroGrad();
  const loss = tidy(() => {
    const h = nnf.tanh(nnf.linear(p.X, params.get('W')!, params.get('b')));
    const l = nnf.linear(h, params.get('V')!).sub(p.Y).pow(2).mean();
    l.backward();
    return l.item();
  });
  const norm = clip === null ? gradNorm(params) : clipGradNorm(params, clip);
  opt.step();
  return [loss, norm];
}

interface Case {
  name: string;
  optimizer: 'adam' | 'adamw' | 'radam';
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  clip: number | null;
}

function makeOptimizer(c: Case, params: Map<string, Tensor>): AdamFamily {
  const o = { lr: c.lr, betas: c.betas, eps: c.eps, weightDecay: c.weightDecay };
  if (c.optimizer === 'radam') return new RAdam(params, o);
  return new Adam(params, { ...o, decoupledWeightDecay: c.optimizer === 'adamw' });
}

test('Adam, AdamW and RAdam follow PyTorch for 100 steps (weight decay, clipping, other betas)', () => {
  const base = { lr: 1e-2, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0, clip: null };
  const cases: Case[] = [
    { ...base, name: 'adam', optimizer: 'adam' },
    { ...base, name: 'adam-wd', optimizer: 'adam', weightDecay: 0.1 },
    { ...base, name: 'adamw', optimizer: 'adamw', weightDecay: 0.1 },
    { ...base, name: 'adam-clip', optimizer: 'adam', clip: 0.5 },
    { ...base, name: 'adam-betas', optimizer: 'adam', betas: [0.5, 0.9], eps: 1e-3, lr: 3e-2 },
    { ...base, name: 'radam', optimizer: 'radam' },
    { ...base, name: 'radam-wd', optimizer: 'radam', weightDecay: 0.05 },
    { ...base, name: 'radam-clip', optimizer: 'radam', clip: 0.3 },
    { ...base, name: 'radam-beta2', optimizer: 'radam', betas: [0.8, 0.9] },
  ];
  const steps = 100;
  const p = problem();
  const dir = mkdtempSync(join(tmpdir(), 'optim-'));
  try {
    const initFile = join(dir, 'init.safetensors');
    saveSafetensors(initFile, new Map([...p.init, ['X', p.X], ['Y', p.Y]]));
    const spec = { init: initFile, cases: cases.map((c) => ({ ...c, steps, out: join(dir, `${c.name}.safetensors`) })) };
    const lines = runPythonScript('test/reference/optim_ref.py', [], JSON.stringify(spec)).trim().split('\n');
    assert.equal(lines.length, cases.length);
    for (const [k, c] of cases.entries()) {
      const ref = JSON.parse(lines[k]!) as { name: string; losses: number[]; norms: number[] };
      assert.equal(ref.name, c.name);
      const params = freshParams(p);
      const opt = makeOptimizer(c, params);
      const losses: number[] = [];
      const norms: number[] = [];
      for (let s = 0; s < steps; s++) {
        const [l, n] = step(p, params, opt, c.clip);
        losses.push(l);
        norms.push(n);
      }
      // The loss falls (the optimizer does something) and follows PyTorch's at every step.
      assert.ok(losses[steps - 1]! < 0.9 * losses[0]!, `${c.name}: loss ${losses[0]} -> ${losses[steps - 1]}`);
      losses.forEach((l, s) =>
        assert.ok(Math.abs(l - ref.losses[s]!) <= 1e-5 * ref.losses[s]!, `${c.name}: loss at step ${s}: ${l} vs ${ref.losses[s]}`),
      );
      if (c.clip !== null) {
        norms.forEach((n, s) =>
          assert.ok(Math.abs(n - ref.norms[s]!) <= 1e-5 * ref.norms[s]!, `${c.name}: grad norm at step ${s}: ${n} vs ${ref.norms[s]}`),
        );
        assert.ok(
          norms.some((n) => n > c.clip!),
          `${c.name}: clipping was active`,
        );
      }
      const want = loadSafetensors(spec.cases[k]!.out).tensors;
      for (const [name, t] of params) {
        const a = t.toFloat32Array();
        const b = want.get(name)!.toFloat32Array();
        for (let i = 0; i < a.length; i++)
          assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-5 * Math.max(1, Math.abs(b[i]!)), `${c.name}: ${name}[${i}] ${a[i]} vs ${b[i]}`);
      }
      opt.dispose();
      dispose([...params.values(), ...want.values()]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    dispose([...p.init.values(), p.X, p.Y]);
  }
});

test('optimizer state saves and loads as named tensors: a resumed run equals an uninterrupted one', () => {
  const p = problem();
  const dir = mkdtempSync(join(tmpdir(), 'optim-state-'));
  try {
    for (const kind of ['adam', 'radam'] as const) {
      const c: Case = { name: kind, optimizer: kind, lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, clip: 1 };
      const straight = freshParams(p);
      const optA = makeOptimizer(c, straight);
      for (let s = 0; s < 20; s++) step(p, straight, optA, c.clip);

      const resumed = freshParams(p);
      const optB = makeOptimizer(c, resumed);
      for (let s = 0; s < 8; s++) step(p, resumed, optB, c.clip);
      const state = optB.stateDict();
      assert.deepEqual([...state.keys()].sort(), [
        'exp_avg.V',
        'exp_avg.W',
        'exp_avg.b',
        'exp_avg_sq.V',
        'exp_avg_sq.W',
        'exp_avg_sq.b',
        'step.V',
        'step.W',
        'step.b',
      ]);
      assert.equal(state.get('step.W')!.item(), 8);
      const file = join(dir, `${kind}.safetensors`);
      saveSafetensors(file, new Map([...state, ...[...resumed].map(([k, t]) => [`param.${k}`, t] as [string, Tensor])]));
      dispose([...state].filter(([k]) => k.startsWith('step.')).map(([, t]) => t));
      optB.dispose();
      dispose([...resumed.values()]);

      const loaded = loadSafetensors(file).tensors;
      const params = new Map([...p.init.keys()].map((k) => [k, keep(loaded.get(`param.${k}`)!.clone().requiresGrad_(true))]));
      const optC = makeOptimizer(c, params);
      optC.loadStateDict(new Map([...loaded].filter(([k]) => !k.startsWith('param.'))));
      for (let s = 8; s < 20; s++) step(p, params, optC, c.clip);
      for (const [name, t] of params) assert.deepEqual(t.toFloat32Array(), straight.get(name)!.toFloat32Array(), `${kind}: ${name}`);

      // Errors name what does not fit.
      const bad = new Map([
        ['exp_avg.Q', loaded.get('exp_avg.W')!],
        ['exp_avg.W', loaded.get('exp_avg.b')!],
      ]);
      assert.throws(
        () => optC.loadStateDict(bad),
        (e: Error) => e instanceof RangeError && /unexpected entry 'exp_avg.Q'.*'W' needs step, exp_avg and exp_avg_sq/.test(e.message),
      );
      optA.dispose();
      optC.dispose();
      dispose([...straight.values(), ...params.values(), ...loaded.values()]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    dispose([...p.init.values(), p.X, p.Y]);
  }
});

test('clipping scales every gradient by min(1, maxNorm / (norm + 1e-6)); steps leave no tensors behind; bad options throw', () => {
  const p = problem();
  const params = freshParams(p);
  tidy(() => {
    const h = nnf.tanh(nnf.linear(p.X, params.get('W')!, params.get('b')));
    nnf.linear(h, params.get('V')!).sub(p.Y).pow(2).mean().mul(100).backward();
  });
  const before = [...params.values()].map((t) => t.grad!.toFloat64Array());
  let sq = 0;
  for (const g of before) for (const v of g) sq += v * v;
  const norm = Math.sqrt(sq);
  assert.ok(Math.abs(gradNorm(params) - norm) <= 1e-5 * norm);
  const returned = clipGradNorm(params, 0.25);
  assert.ok(Math.abs(returned - norm) <= 1e-5 * norm);
  [...params.values()].forEach((t, i) => {
    const g = t.grad!.toFloat64Array();
    g.forEach((v, j) => assert.ok(Math.abs(v - (before[i]![j]! * 0.25) / (norm + 1e-6)) <= 1e-6 * Math.max(1e-3, Math.abs(v))));
  });
  assert.equal(clipGradNorm(params, 1e9), gradNorm(params), 'no scaling below the limit');

  const opt = new Adam(params, { lr: 1e-3 });
  opt.step(); // creates the state
  const live = liveTensorCount();
  for (let s = 0; s < 5; s++) opt.step();
  assert.equal(liveTensorCount(), live, 'optimizer steps free every temporary');
  assert.throws(
    () => clipGradNorm(params, 0),
    (e: Error) => e instanceof RangeError && /maxNorm must be a finite number > 0, got 0/.test(e.message),
  );
  assert.throws(() => new Adam(params, { betas: [0.9, 1] }), /betas\[1\] must be a number in \[0, 1\), got 1/);
  assert.throws(() => new RAdam(params, { lr: -1 }), /RAdam: lr must be a finite number >= 0, got -1/);
  assert.throws(() => new Adam(new Map()), /no parameters/);
  opt.dispose();
  dispose([...params.values(), ...p.init.values(), p.X, p.Y]);
});
