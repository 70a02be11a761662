/**
 * The engine benchmark computes the same thing on both sides: the TS U-Net of bench/engine.ts
 * and the torch one of bench/engine_ref.py have the same parameters, and three training steps
 * from the same start (the TS inline Adam against torch.optim.Adam) give the same losses and the
 * same weights. No timing is asserted here (speed goes in bench/). Batch 2 keeps it quick.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { TrainStepWorkload, smallOpChain } from '../bench/engine.js';
import { TorchPeer, threadEnv } from '../bench/torch_peer.js';
import { median } from '../bench/stats.js';
import { resolveBenchmarkNames } from '../bench/registry.js';
import { repoRoot } from './helpers/python.js';
import { setNumThreads } from '../src/tensor/device.js';
import { liveTensorCount } from '../src/tensor/index.js';

setNumThreads(1);

test('TS and torch U-Nets match: parameter count, losses and weights after 3 Adam steps', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-engine-test-'));
  const peer = new TorchPeer('bench/engine_ref.py');
  const work = new TrainStepWorkload(2, 7, 1e-3);
  try {
    const hello = await peer.request<{ env: Record<string, string> }>({ op: 'hello' });
    assert.deepEqual(hello.env, threadEnv(), 'the Python peer must see the same OMP_*/MKL_* variables');
    work.save(join(dir, 'start.safetensors'));
    const init = await peer.request<{ params: number; tensors: number }>({ op: 'init', weights: join(dir, 'start.safetensors'), lr: 1e-3 });
    assert.equal(work.net.parameterCount(), 1_038_659, 'the issue says about 1.04M parameters; this is the exact count of its architecture');
    assert.equal(init.params, work.net.parameterCount());
    assert.equal(init.tensors, work.net.parameters().length);
    assert.equal((await peer.request<{ threads: number }>({ op: 'threads', n: 1 })).threads, 1);

    const tsLosses = [0, 1, 2].map(() => work.step().loss);
    const torchLosses = (await peer.request<{ losses: number[] }>({ op: 'steps', n: 3 })).losses;
    assert.equal(torchLosses.length, 3);
    for (let i = 0; i < 3; i++)
      assert.ok(
        Math.abs(tsLosses[i]! - torchLosses[i]!) <= 1e-6 * Math.abs(torchLosses[i]!),
        `step ${i}: ts loss ${tsLosses[i]}, torch ${torchLosses[i]}`,
      );
    assert.ok(tsLosses[2]! < tsLosses[0]!, `training should lower the loss: ${tsLosses.join(', ')}`);

    await peer.request({ op: 'dump', path: join(dir, 'torch.f32') });
    const bytes = readFileSync(join(dir, 'torch.f32'));
    const torchWeights = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    assert.equal(torchWeights.length, work.net.parameterCount());
    let offset = 0;
    let worst = 0;
    for (const [name, p] of work.net.namedParameters()) {
      const ours = p.toFloat32Array();
      for (let i = 0; i < ours.length; i++) {
        const d = Math.abs(ours[i]! - torchWeights[offset + i]!);
        if (d > worst) worst = d;
        if (d > 1e-6) assert.fail(`${name}[${i}]: ts ${ours[i]}, torch ${torchWeights[offset + i]}`);
      }
      offset += ours.length;
    }
    assert.ok(worst <= 1e-6);
  } finally {
    work.dispose();
    await peer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the small-op chain leaves no tensor behind', () => {
  const before = liveTensorCount();
  const ms = smallOpChain(100);
  assert.ok(Number.isFinite(ms) && ms >= 0);
  assert.equal(liveTensorCount(), before);
});

test('median and benchmark names', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), /no values/);
  assert.deepEqual(resolveBenchmarkNames([]), ['engine']);
  assert.deepEqual(resolveBenchmarkNames(['all']), ['engine', 'networks', 'inception', 'train', 'onnx', 'channels-last']);
  assert.deepEqual(resolveBenchmarkNames(['engine', 'all']), ['engine', 'networks', 'inception', 'train', 'onnx', 'channels-last']);
  assert.deepEqual(resolveBenchmarkNames(['all', 'torch-versions']), [
    'engine',
    'networks',
    'inception',
    'train',
    'onnx',
    'channels-last',
    'torch-versions',
  ]);
  assert.throws(
    () => resolveBenchmarkNames(['nope']),
    /unknown benchmark 'nope' \(one of engine, networks, inception, train, onnx, channels-last, torch-versions, cuda-step, all\)/,
  );
});

test('bench/run.js (npm run bench) refuses bad flags with one line and exit code 2', () => {
  const cases: Array<[string[], RegExp]> = [
    [['dist/bench/run.js', '--steps', '0'], /^npm run bench: --steps must be at least 1; got 0$/],
    [['dist/bench/run.js', '--threads', '1,x'], /^npm run bench: --threads must be positive integers separated by commas; got '1,x'$/],
    [
      ['dist/bench/run.js', '--which', 'nope'],
      /^npm run bench: --which: unknown benchmark 'nope' \(one of engine, networks, inception, train, onnx, channels-last, torch-versions, cuda-step, all\)$/,
    ],
    [['dist/bench/run.js', 'nope'], /^npm run bench: --which: unknown benchmark 'nope'/],
    [['dist/bench/run.js', 'engine', '--bogus', '1'], /^npm run bench: unknown flag --bogus/],
    [['dist/bench/run.js', '--steps'], /^npm run bench: --steps needs a value$/],
    // The installed CLI has no benchmarks (they need a source checkout): it says where they are.
    [['dist/src/cli/main.js', 'bench'], /^consistency: unknown command 'bench' \(benchmarks: 'npm run bench' in a source checkout\)$/],
  ];
  for (const [args, message] of cases) {
    const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}, stderr ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr.trim(), message, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
});
