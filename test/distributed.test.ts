/**
 * Data parallelism on c10d (issue 10), on loopback with 2-3 CPU processes:
 *  - our ranks and a Python torch.distributed rank in ONE Gloo group: broadcast, all-reduce and
 *    barrier results agree with Python's and with the sums computed here;
 *  - DistributedDataParallel (Python, Gloo) on test/reference/networks_ref.py's network reaches
 *    the same weights after K Adam steps as our 2 ranks (micro-batched) and our 1 rank;
 *  - faults: a rank that never arrives, a port in use, a SIGKILLed peer (with and without the
 *    launcher), ranks with different configs: each ends non-zero with one clear line.
 * The NCCL path needs a CUDA libtorch and a GPU; it is skipped here when the addon has none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Generator, randn, tidy } from '../src/tensor/index.js';
import { native } from '../src/tensor/native.js';
import { loadSafetensors, saveSafetensors } from '../src/io/safetensors.js';
import type { SongUNetConfig } from '../src/networks/config.js';
import { distributedSupport, freePort, launch } from '../src/distributed/index.js';
import { repoRoot, torchPython, torchPythonEnv } from './helpers/python.js';
import { startAgentStore } from './helpers/agent-store.js';

const WORKER = join(repoRoot, 'dist', 'test', 'distributed-worker.js');
const REF = join(repoRoot, 'test', 'reference', 'ddp_ref.py');

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  pid: number;
}

function rankEnv(rank: number, world: number, port: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    // The reference torch's PYTHONPATH (pip's torch 2.15 when the addon is built against it).
    ...torchPythonEnv(),
    RANK: String(rank),
    WORLD_SIZE: String(world),
    LOCAL_RANK: String(rank),
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(port),
    OMP_NUM_THREADS: '1',
    ...extra,
    // As the launcher sets it (src/distributed/launch.ts): libtorch's glog lines off, our one line stays.
    GLOG_minloglevel: '3',
  };
}

/** Starts one process; `onLine` sees its stdout lines as they come. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, onLine?: (line: string, pid: number) => void): Promise<Exit> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      const s = d.toString();
      stdout += s;
      if (onLine) for (const l of s.split('\n')) if (l.trim()) onLine(l, p.pid ?? 0);
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0, pid: p.pid ?? 0 }));
  });
}

const ourRank = (args: string[], env: NodeJS.ProcessEnv, onLine?: (line: string, pid: number) => void): Promise<Exit> =>
  run(process.execPath, [WORKER, ...args], env, onLine);
const pythonRank = (args: string[], env: NodeJS.ProcessEnv): Promise<Exit> => run(torchPython(), [REF, ...args], env);

function lastJson(e: Exit, who: string): Record<string, unknown> {
  assert.equal(e.code, 0, `${who} failed (code ${e.code}, signal ${e.signal}): ${e.stderr}`);
  const line = e.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Record<string, unknown>;
}

test('the addon has c10d with Gloo (scripts/setup.sh installs libgloo-dev)', () => {
  assert.deepEqual({ c10d: distributedSupport().c10d, gloo: distributedSupport().gloo }, { c10d: true, gloo: true });
});

test('bad arguments to the c10d entry points are errors naming the call, never crashes', () => {
  const n = native as unknown as Record<string, (...a: unknown[]) => unknown>;
  const call =
    (name: string, ...a: unknown[]) =>
    () =>
      n[name]!(...a);
  assert.throws(call('distBroadcast', {}, [], 0), { name: 'TypeError', message: "distBroadcast: argument 'group' must be a process group" });
  assert.throws(call('distAllReduceSum', 1, []), { name: 'TypeError', message: "distAllReduceSum: argument 'group' must be a process group" });
  assert.throws(call('distReducerArm', null), { name: 'TypeError', message: "distReducerArm: argument 'reducer' must be a gradient reducer" });
  assert.throws(call('distInit', '127.0.0.1', 0, 0, 1, 1000, 'gloo', -1), {
    name: 'TypeError',
    message: "distInit: argument 'masterPort' must be in 1..65535, got 0",
  });
  assert.throws(call('distInit', '127.0.0.1', 29500, 2, 2, 1000, 'gloo', -1), {
    name: 'TypeError',
    message: "distInit: argument 'rank' must be in 0..1, got 2",
  });
  assert.throws(call('distInit', '127.0.0.1', 29500, 0, 1, 1000, 'mpi', -1), {
    name: 'TypeError',
    message: "distInit: argument 'backend' must be 'gloo' or 'nccl', got 'mpi'",
  });
  assert.throws(call('distInit', '127.0.0.1', 29500, 0, 1, 1000, 'gloo', -2), {
    name: 'TypeError',
    message: "distInit: argument 'agentStoreAttempt' must be -1 (no agent store) or a restart count, got -2",
  });
  assert.throws(call('distInit', '127.0.0.1', 29500, 0, 1, 1000, 'gloo', '/worker/attempt_0'), {
    name: 'TypeError',
    message: /^distInit: argument 'agentStoreAttempt' must be an integer/,
  });
  assert.throws(call('distClose', {}), { name: 'TypeError', message: "distClose: argument 'group' must be a process group" });
  assert.throws(call('distReducerClose', 7), { name: 'TypeError', message: "distReducerClose: argument 'reducer' must be a gradient reducer" });
  assert.throws(call('distInfo', 1), { name: 'TypeError', message: 'distInfo: expected 0 arguments, got 1' });
  assert.throws(call('distInit', '127.0.0.1', 29500, 0, 1), { name: 'TypeError', message: 'distInit: expected 7 arguments, got 4' });
});

/** Two of our ranks and a Python rank run the 'collectives' scenario in one group; their results. */
async function collectivesOf3(port: number, extra: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>[]> {
  const world = 3;
  const [a, b, py] = await Promise.all([
    ourRank(['collectives'], rankEnv(0, world, port, extra)),
    ourRank(['collectives'], rankEnv(1, world, port, extra)),
    pythonRank(['collectives'], rankEnv(2, world, port, extra)),
  ]);
  return [lastJson(a, 'rank 0'), lastJson(b, 'rank 1'), lastJson(py, 'Python rank 2')];
}

test('collectives: two of our ranks and a Python torch.distributed rank in one Gloo group', async () => {
  const results = await collectivesOf3(await freePort());
  // Independent expectations: the root's values, and sums over r = 0..2 computed here.
  const ranks = [0, 1, 2];
  const expected = {
    broadcast: [10, 11, 12, 13, 14],
    sum64: [ranks.reduce((s, r) => s + r + 0.5, 0), 5, -3, 6e-300],
    numbers: [3, 3],
  };
  for (const res of results) {
    assert.deepEqual(res['broadcast'], expected.broadcast);
    assert.deepEqual(res['numbers'], expected.numbers);
    const s64 = res['sum64'] as number[];
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(s64[i]! - expected.sum64[i]!) <= 1e-15 * Math.abs(expected.sum64[i]!), `sum64[${i}] = ${s64[i]}`);
    const s32 = res['sum32'] as number[];
    assert.equal(s32.length, 64);
    for (let i = 0; i < 64; i++) {
      const want = ranks.reduce((s, r) => s + Math.fround(i * Math.fround((r + 1) / 7)), 0);
      assert.ok(Math.abs(s32[i]! - want) <= 1e-5 * Math.max(1, want), `sum32[${i}] = ${s32[i]}, want ${want}`);
    }
  }
  // Python's results and ours are bit for bit the same (one group, one reduction).
  assert.deepEqual(results[0], { ...results[2], rank: 0 });
  assert.deepEqual(results[1], { ...results[2], rank: 1 });
});

test("under torchrun's agent store (restart 1), our ranks and a Python rank still meet in one group", async () => {
  // The Python rank's init_process_group makes its store as torch's rendezvous does under the
  // agent (before torch 2.5 under the prefix '/worker/attempt_1', from 2.5 on without one); our
  // ranks must make the same, or the group never forms and this times out.
  const port = await freePort();
  const agent = await startAgentStore(port);
  try {
    const results = await collectivesOf3(port, { TORCHELASTIC_USE_AGENT_STORE: 'True', TORCHELASTIC_RESTART_COUNT: '1', DIST_TIMEOUT_MS: '20000' });
    assert.deepEqual(results[0], { ...results[2], rank: 0 });
    assert.deepEqual(results[1], { ...results[2], rank: 1 });
    assert.deepEqual(results[2]!['broadcast'], [10, 11, 12, 13, 14]);
  } finally {
    agent.close();
  }
});

/** networks_ref.py's NCSN++ at its smallest: 8x8, one level of attention. */
const TINY: SongUNetConfig = {
  architecture: 'song',
  imgResolution: 8,
  inChannels: 1,
  outChannels: 1,
  labelDim: 0,
  modelChannels: 16,
  channelMult: [1, 2],
  channelMultEmb: 2,
  numBlocks: 1,
  attnResolutions: [4],
  dropout: 0,
  dropoutMaxResolution: null,
  embeddingType: 'fourier',
  fourierScale: 1,
  channelMultNoise: 1,
  encoderType: 'standard',
  decoderType: 'standard',
  resampleFilter: [1, 1],
};

test('DistributedDataParallel (Python, Gloo) and our ranks reach the same weights after K Adam steps', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ddp-test-'));
  try {
    const K = 3,
      B = 4,
      lr = 1e-3;
    tidy(() => {
      const g = new Generator(7, 'cpu');
      const R = TINY.imgResolution;
      saveSafetensors(join(dir, 'data.safetensors'), {
        x: randn([K, B, 1, R, R], { generator: g }),
        noise: randn([K, B], { generator: g }),
        target: randn([K, B, 1, R, R], { generator: g }),
      });
    });
    const cfg = JSON.stringify(TINY);
    // Ours: 2 ranks x 2 samples, each cut into 2 micro-batches of 1; then 1 rank x 4 in one piece.
    const port = await freePort();
    const ours = await Promise.all([0, 1].map((r) => ourRank(['ddp', cfg, dir, String(K), String(lr), '2'], rankEnv(r, 2, port))));
    ours.forEach((e, r) => lastJson(e, `rank ${r}`));
    // One rank starts from the same weights (rank 0's generator) and writes ts-final-1.
    lastJson(await ourRank(['ddp', cfg, dir, String(K), String(lr), '1'], rankEnv(0, 1, await freePort())), 'the single rank');
    const port2 = await freePort();
    const py = await Promise.all([0, 1].map((r) => pythonRank(['ddp', cfg, dir, String(K), String(lr)], rankEnv(r, 2, port2))));
    py.forEach((e, r) => lastJson(e, `Python rank ${r}`));
    const init = loadSafetensors(join(dir, 'init.safetensors')).tensors;
    const ts2 = loadSafetensors(join(dir, 'ts-final-2.safetensors')).tensors;
    const ts1 = loadSafetensors(join(dir, 'ts-final-1.safetensors')).tensors;
    const ref = loadSafetensors(join(dir, 'py-final.safetensors')).tensors;
    assert.equal(ts2.size, ref.size);
    let moved = 0;
    for (const [name, want] of ref) {
      const got = ts2.get(name);
      assert.ok(got, `missing ${name}`);
      const a = got.toFloat32Array(),
        one = ts1.get(name)!.toFloat32Array(),
        w = want.toFloat32Array(),
        i0 = init.get(name)!.toFloat32Array();
      for (let i = 0; i < w.length; i++) {
        moved = Math.max(moved, Math.abs(w[i]! - i0[i]!));
        assert.ok(Math.abs(a[i]! - w[i]!) <= 2e-5 + 1e-4 * Math.abs(w[i]!), `${name}[${i}]: our 2 ranks ${a[i]}, DDP ${w[i]}`);
        assert.ok(Math.abs(one[i]! - w[i]!) <= 2e-5 + 1e-4 * Math.abs(w[i]!), `${name}[${i}]: our 1 rank ${one[i]}, DDP ${w[i]}`);
      }
    }
    // Adam moves every weight by about lr per step: the comparison is not of unchanged weights.
    assert.ok(moved > lr, `weights moved at most ${moved}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('faults: a rank that never arrives ends rank 0 with one line, within the timeout', async () => {
  const e = await ourRank(['collectives'], rankEnv(0, 2, await freePort(), { DIST_TIMEOUT_MS: '2000' }));
  assert.equal(e.code, 1);
  assert.match(e.stderr.trim(), /^rank 0: not all 2 ranks arrived at 127\.0\.0\.1:\d+ within 2 s/);
  assert.equal(e.stderr.trim().split('\n').length, 1, e.stderr);
  assert.ok(e.ms < 15_000, `took ${e.ms} ms`);
});

test('faults: a port in use is one clear line', async () => {
  const srv = createServer();
  const port = await new Promise<number>((resolve) => srv.listen(0, '127.0.0.1', () => resolve((srv.address() as { port: number }).port)));
  try {
    const e = await ourRank(['collectives'], rankEnv(0, 2, port, { DIST_TIMEOUT_MS: '2000' }));
    assert.equal(e.code, 1);
    assert.equal(e.stderr.trim(), `rank 0: port ${port} is in use on 127.0.0.1; pick another --master-port (or stop what holds it)`);
  } finally {
    srv.close();
  }
});

test('faults: ranks with different configs stop with one line naming the rank', async () => {
  const port = await freePort();
  const [a, b] = await Promise.all([ourRank(['same', 'config-a'], rankEnv(0, 2, port)), ourRank(['same', 'config-b'], rankEnv(1, 2, port))]);
  for (const e of [a, b]) {
    assert.equal(e.code, 1);
    assert.equal(e.stderr.trim(), "rank 1's config differs from rank 0's: start every rank with the same config");
  }
  const [c, d] = await Promise.all([ourRank(['same', 'config-a'], rankEnv(0, 2, port + 0)), ourRank(['same', 'config-a'], rankEnv(1, 2, port + 0))]);
  assert.deepEqual([lastJson(c, 'rank 0')['same'], lastJson(d, 'rank 1')['same']], [true, true]);
});

async function waitForFile(path: string, ms: number): Promise<string> {
  const t0 = Date.now();
  while (!existsSync(path) || readFileSync(path, 'utf8') === '') {
    if (Date.now() - t0 > ms) throw new Error(`${path} did not appear within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return readFileSync(path, 'utf8');
}

test('faults: a SIGKILLed peer makes the waiting rank exit non-zero within the timeout', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dist-kill-'));
  try {
    const port = await freePort();
    const ready = join(dir, 'ready');
    const env = (r: number): NodeJS.ProcessEnv => rankEnv(r, 2, port, { DIST_TIMEOUT_MS: '5000', READY_FILE: ready });
    const r0 = ourRank(['hang'], env(0));
    const r1 = ourRank(['hang'], env(1));
    const pid = Number(await waitForFile(ready, 30_000));
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const [e0, e1] = await Promise.all([r0, r1]);
    assert.equal(e1.signal, 'SIGKILL');
    assert.equal(e0.code, 1, e0.stderr);
    assert.match(e0.stderr.trim(), /^rank 0: allReduceSum failed, another rank is gone or stuck \(/);
    assert.equal(e0.stderr.trim().split('\n').length, 1, e0.stderr);
    assert.ok(Date.now() - killedAt < 5000 + 10_000, `rank 0 took ${Date.now() - killedAt} ms after the kill`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('faults: under the launcher, a SIGKILLed worker is named and every rank stops', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dist-launch-'));
  try {
    const ready = join(dir, 'ready');
    const lines: string[] = [];
    const t0 = Date.now();
    const done = launch({
      command: process.execPath,
      args: [WORKER, 'hang'],
      nproc: 2,
      masterAddr: '127.0.0.1',
      masterPort: 0,
      threads: 1,
      timeoutS: 5,
      env: { ...process.env, DIST_TIMEOUT_MS: '5000', READY_FILE: ready },
      log: (l) => lines.push(l),
    });
    const pid = Number(await waitForFile(ready, 30_000));
    process.kill(pid, 'SIGKILL');
    const result = await done;
    assert.equal(result.exitCode, 1);
    assert.equal(result.failedRank, 1);
    assert.deepEqual(lines, [`consistency: rank 1 (pid ${pid}) was killed by SIGKILL; stopping the other ranks`]);
    assert.ok(Date.now() - t0 < 40_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const NCCL_SKIP = distributedSupport().nccl ? false : 'NCCL needs a CUDA libtorch and a GPU; this addon was built without CUDA';

test('NCCL: one rank per GPU sums and broadcasts CUDA tensors', { skip: NCCL_SKIP }, async () => {
  const e = await ourRank(['nccl'], rankEnv(0, 1, await freePort()));
  assert.deepEqual(lastJson(e, 'rank 0')['sum'], [1, 2, 3]);
});
