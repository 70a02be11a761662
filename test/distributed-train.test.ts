/**
 * `consistency train --nproc N` (issue 10), 2 CPU processes on loopback:
 *  - N processes x B/N give the same weights, EMA, teacher and optimizer state as 1 process x B
 *    after K steps (float32 tolerance, dropout 0), for iCT and CT, with micro-batches on the ranks;
 *  - SIGTERM to the launcher stops both ranks after the same step with one checkpoint, which
 *    --resume continues with another --nproc to the weights of an uninterrupted 1-process run;
 *  - rank 0 alone writes the run directory;
 *  - torchrun's environment with its elastic agent's store (hosted by Python) starts the same run;
 *  - torchrun itself (`torchrun --no-python node .../main.js train ...`) starts the same run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadSafetensors } from '../src/io/safetensors.js';
import { repoRoot, torchPython, torchPythonEnv } from './helpers/python.js';
import { startAgentStore } from './helpers/agent-store.js';
import { freePort } from '../src/distributed/index.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const tiny = [
  '--preset',
  'mnist-quick',
  '--batch',
  '4',
  '--threads',
  '1',
  '--sample-every',
  '1000',
  '--samples',
  '4',
  '--dropout',
  '0',
  '--dist-timeout',
  '30',
];

function train(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'train', ...tiny, ...args], { encoding: 'utf8', env: { ...process.env, GLOG_minloglevel: '3' } });
  return { status: r.status, stderr: r.stderr };
}

/** Every float tensor of two checkpoints agrees to float32 accumulation tolerance; the rest exactly. */
function assertSameCheckpoint(a: string, b: string, what: string): void {
  const ta = loadSafetensors(a).tensors;
  const tb = loadSafetensors(b).tensors;
  assert.deepEqual([...ta.keys()].sort(), [...tb.keys()].sort(), `${what}: the same tensors`);
  let compared = 0;
  for (const [name, x] of ta) {
    const y = tb.get(name)!;
    assert.deepEqual(y.shape, x.shape, `${what}: ${name} shape`);
    const u = x.toFloat64Array(),
      v = y.toFloat64Array();
    const floating = x.dtype.startsWith('float');
    for (let i = 0; i < u.length; i++) {
      const ok = floating ? Math.abs(u[i]! - v[i]!) <= 3e-5 + 1e-4 * Math.abs(u[i]!) : u[i] === v[i];
      if (!ok) assert.fail(`${what}: ${name}[${i}] = ${u[i]} vs ${v[i]}`);
    }
    compared++;
  }
  assert.ok(compared > 100, `${what}: compared only ${compared} tensors`);
}

for (const method of ['ict', 'ct'] as const) {
  test(`${method}: 2 processes x 2 (micro-batches of 1) = 1 process x 4 after 3 steps`, () => {
    const dir = mkdtempSync(join(tmpdir(), `dist-train-${method}-`));
    try {
      const one = train(['--method', method, '--steps', '3', '--out', join(dir, 'one')]);
      assert.equal(one.status, 0, one.stderr);
      const two = train(['--method', method, '--steps', '3', '--nproc', '2', '--micro-batch', '1', '--out', join(dir, 'two')]);
      assert.equal(two.status, 0, two.stderr);
      assert.match(two.stderr, /^launching 2 workers x 1 thread\n/);
      assert.match(two.stderr, /finished 3 steps in .* on 2 ranks/);
      assert.equal(two.stderr.match(/finished 3 steps/g)?.length, 1, 'rank 0 alone reports');
      assertSameCheckpoint(join(dir, 'one', 'checkpoint.safetensors'), join(dir, 'two', 'checkpoint.safetensors'), method);
      // One metrics line per step, written by rank 0 alone.
      assert.equal(
        readFileSync(join(dir, 'two', 'metrics.jsonl'), 'utf8')
          .trim()
          .split('\n').length,
        3,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('SIGTERM to the launcher stops both ranks at one step; --resume with 1 process reaches the uninterrupted weights', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dist-train-resume-'));
  try {
    const steps = ['--steps', '8', '--checkpoint-every', '1'];
    const run = join(dir, 'run');
    const p = spawn(process.execPath, [CLI, 'train', ...tiny, ...steps, '--nproc', '2', '--out', run], {
      env: { ...process.env, GLOG_minloglevel: '3' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const ckpt = join(run, 'checkpoint.safetensors');
    const t0 = Date.now();
    while (!existsSync(ckpt) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
    assert.ok(existsSync(ckpt), `no checkpoint within a minute: ${stderr}`);
    p.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => p.on('close', (c) => r(c)));
    assert.equal(code, 143, stderr);
    const stopped = [...stderr.matchAll(/SIGTERM: stopped after step (\d+)/g)].map((m) => Number(m[1]));
    assert.equal(stopped.length, 1, stderr);
    const step = stopped[0]!;
    assert.ok(step >= 1 && step < 8, `stopped after step ${step}`);
    const resumed = train([...steps, '--out', run, '--resume']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`resuming mnist-quick at step ${step}`));
    const whole = train([...steps, '--out', join(dir, 'whole')]);
    assert.equal(whole.status, 0, whole.stderr);
    assertSameCheckpoint(join(dir, 'whole', 'checkpoint.safetensors'), ckpt, 'resumed across world sizes');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("torchrun's environment and elastic agent store (TORCHELASTIC_USE_AGENT_STORE) are honoured", async () => {
  // Debian's torchrun (torch 1.13) fails in its own code before it starts any worker, so this test
  // plays its part on every torch: the store its agent hosts (torchrun's own code, in the reference
  // torch), and the workers started with the environment torchrun gives them.
  const dir = mkdtempSync(join(tmpdir(), 'dist-torchrun-'));
  const port = await freePort();
  const agent = await startAgentStore(port);
  try {
    const args = ['--steps', '2'];
    const one = train([...args, '--out', join(dir, 'one')]);
    assert.equal(one.status, 0, one.stderr);
    const ranks = [0, 1].map(
      (r) =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const env = {
            ...process.env,
            GLOG_minloglevel: '3',
            RANK: String(r),
            LOCAL_RANK: String(r),
            WORLD_SIZE: '2',
            LOCAL_WORLD_SIZE: '2',
            GROUP_RANK: '0',
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: String(port),
            TORCHELASTIC_USE_AGENT_STORE: 'True',
            TORCHELASTIC_RESTART_COUNT: '0',
            OMP_NUM_THREADS: '1',
          };
          const p = spawn(process.execPath, [CLI, 'train', ...tiny, ...args, '--out', join(dir, 'two')], {
            env,
            stdio: ['ignore', 'ignore', 'pipe'],
          });
          let stderr = '';
          p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          p.on('close', (code) => resolve({ code, stderr }));
        }),
    );
    const [r0, r1] = await Promise.all(ranks);
    assert.equal(r0!.code, 0, r0!.stderr);
    assert.equal(r1!.code, 0, r1!.stderr);
    assert.match(r0!.stderr, /finished 2 steps in .* on 2 ranks/);
    assertSameCheckpoint(join(dir, 'one', 'checkpoint.safetensors'), join(dir, 'two', 'checkpoint.safetensors'), 'torchrun environment');
  } finally {
    agent.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('torchrun --no-python, 2 workers, starts the run of 1 process', async () => {
  const env = { ...torchPythonEnv(), GLOG_minloglevel: '3' };
  const version = spawnSync(torchPython(), ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', env }).stdout.trim();
  const port = await freePort();
  if (Number(version.split('.')[0]) < 2) {
    // Debian's torch 1.13 torchrun crashes in its own code before it starts any worker (the agent
    // store test above covers its protocol instead); this says so, and fails once it is fixed.
    const r = spawnSync(
      torchPython(),
      ['-m', 'torch.distributed.run', '--no_python', '--nproc_per_node', '2', '--master_port', String(port), 'true'],
      {
        encoding: 'utf8',
        env,
        timeout: 120_000,
      },
    );
    assert.notEqual(r.status, 0, `torch ${version}'s torchrun now starts workers: run the full check below against it too`);
    assert.match(r.stderr, /AttributeError: 'NoneType' object has no attribute 'get'/, r.stderr);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'dist-torchrun-real-'));
  try {
    const args = ['--steps', '2'];
    const one = train([...args, '--out', join(dir, 'one')]);
    assert.equal(one.status, 0, one.stderr);
    const launcher = [
      '-m',
      'torch.distributed.run',
      '--no-python',
      '--nproc-per-node',
      '2',
      '--master-addr',
      '127.0.0.1',
      '--master-port',
      String(port),
    ];
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(torchPython(), [...launcher, process.execPath, CLI, 'train', ...tiny, ...args, '--out', join(dir, 'two')], {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /finished 2 steps in .* on 2 ranks/);
    assertSameCheckpoint(join(dir, 'one', 'checkpoint.safetensors'), join(dir, 'two', 'checkpoint.safetensors'), `torchrun (torch ${version})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
