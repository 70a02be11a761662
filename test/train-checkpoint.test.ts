/**
 * The training checkpoint file: read back by an independent Python reader (safetensors + torch
 * generator states), atomic under a failed write and under kill -9, NaN refusal, corruption and
 * format errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  readCheckpoint,
  writeCheckpoint,
  readCheckpointConfig,
  disposeCheckpoint,
  resolveCheckpointPath,
  CheckpointError,
  CHECKPOINT_FILE,
  type Checkpoint,
} from '../src/train/checkpoint.js';
import { Generator, setNumThreads, randn, tensor, full, tidy, liveTensorCount } from '../src/tensor/index.js';
import { runPythonScript, repoRoot } from './helpers/python.js';

setNumThreads(1);

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'ckpt-test-'));
}

function sampleCheckpoint(step: number, gen: Generator): Checkpoint {
  const model = new Map([
    ['conv.weight', randn([4, 3, 3, 3], { generator: gen })],
    ['conv.bias', tensor(Float32Array.from([1, 2, 3, 4]))],
  ]);
  const ema = new Map([['conv.weight', full([4, 3, 3, 3], 0.5)]]);
  const optimizer = new Map([
    ['0.exp_avg', full([4, 3, 3, 3], 0.25)],
    ['step', tensor(BigInt64Array.from([BigInt(step)]), [])],
  ]);
  return {
    step,
    config: { preset: 'unit-test', training: { batch: 8, lr: 0.0002 }, method: { curriculum: { s0: 10, s1: 1280 } } },
    groups: new Map([
      ['model', model],
      ['ema', ema],
      ['optimizer', optimizer],
    ]),
    generators: new Map([['noise', gen.getState()]]),
    state: { loader: { epoch: 3, offset: 40 }, levelRng: [1, 2, 3, 4] },
  };
}

test('a checkpoint reads back in JS and in an independent Python reader (safetensors, SHA-256, torch generator state)', () => {
  const dir = tmp();
  try {
    const gen = new Generator(1234);
    randn([17], { generator: gen }).dispose(); // advance the generator past its seed state
    const ckpt = sampleCheckpoint(42, gen);
    const file = join(dir, CHECKPOINT_FILE);
    writeCheckpoint(file, ckpt);

    const py = JSON.parse(runPythonScript('test/reference/checkpoint_ref.py', [file])) as {
      format: string;
      version: string;
      step: number;
      config: unknown;
      state: unknown;
      sha_ok: boolean;
      data_start_aligned: boolean;
      tensors: Record<string, { dtype: string; shape: number[]; sum: number }>;
      rng_draws: Record<string, number[]>;
    };
    assert.equal(py.format, 'consistency-ts/checkpoint');
    assert.equal(py.version, '1');
    assert.equal(py.step, 42);
    assert.deepEqual(py.config, ckpt.config);
    assert.deepEqual(py.state, ckpt.state);
    assert.equal(py.sha_ok, true);
    assert.equal(py.data_start_aligned, true);
    assert.deepEqual(Object.keys(py.tensors).sort(), [
      'ema/conv.weight',
      'model/conv.bias',
      'model/conv.weight',
      'optimizer/0.exp_avg',
      'optimizer/step',
    ]);
    assert.equal(py.tensors['model/conv.bias']!.sum, 10);
    assert.equal(py.tensors['optimizer/step']!.dtype, 'int64');
    const w = ckpt.groups.get('model')!.get('conv.weight')!;
    assert.ok(Math.abs(py.tensors['model/conv.weight']!.sum - tidy(() => w.double().sum().item())) < 1e-9);

    // The generator state restored in torch draws what our generator draws next.
    const ours = tidy(() => randn([5], { generator: gen, dtype: 'float64' }).toFloat64Array());
    assert.deepEqual(py.rng_draws.noise, Array.from(ours));

    // And in JS: every tensor and the generator state come back.
    const back = readCheckpoint(dir); // a run directory resolves to its checkpoint file
    assert.equal(back.step, 42);
    assert.deepEqual(back.config, ckpt.config);
    assert.deepEqual(back.state, ckpt.state);
    for (const [g, tensors] of ckpt.groups) {
      for (const [n, t] of tensors) assert.deepEqual(back.groups.get(g)!.get(n)!.bytes(), t.bytes(), `${g}/${n}`);
    }
    const g2 = new Generator(0).setState(back.generators.get('noise')!);
    const g3 = new Generator(0).setState(ckpt.generators.get('noise')!);
    assert.deepEqual(
      tidy(() => randn([5], { generator: g2 }).toFloat32Array()),
      tidy(() => randn([5], { generator: g3 }).toFloat32Array()),
    );
    assert.equal(readCheckpointConfig(file).step, 42);
    disposeCheckpoint(back);
    for (const g of ckpt.groups.values()) for (const t of g.values()) t.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a checkpoint with NaN or infinite weights is refused and the previous file stays', () => {
  const dir = tmp();
  try {
    const file = join(dir, CHECKPOINT_FILE);
    const good = sampleCheckpoint(1, new Generator(1));
    writeCheckpoint(file, good);
    const before = readFileSync(file);
    const bad = sampleCheckpoint(2, new Generator(2));
    const w = bad.groups.get('ema')!.get('conv.weight')!;
    const nanT = tensor(Float32Array.from([Number.NaN]), [1]);
    const patched = tidy(() => w.reshape(-1).slice(0, 1).copy_(nanT)); // writes through the view
    patched.dispose();
    assert.throws(
      () => writeCheckpoint(file, bad),
      (e: unknown) => e instanceof CheckpointError && /step 2/.test(e.message) && /ema\/conv\.weight/.test(e.message),
    );
    assert.deepEqual(readFileSync(file), before);
    assert.deepEqual(readdirSync(dir), [CHECKPOINT_FILE]);
    for (const c of [good, bad]) for (const g of c.groups.values()) for (const t of g.values()) t.dispose();
    nanT.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const checkpointModule = pathToFileURL(join(repoRoot, 'dist', 'src', 'train', 'checkpoint.js')).href;
const creationModule = pathToFileURL(join(repoRoot, 'dist', 'src', 'tensor', 'creation.js')).href;

/** A child process that writes checkpoints of 4M floats (16 MB) whose every value is the step. */
function writerScript(loop: boolean): string {
  return `
import { writeCheckpoint } from ${JSON.stringify(checkpointModule)};
import { full } from ${JSON.stringify(creationModule)};
const path = process.argv[1];
let step = Number(process.argv[2]);
do {
  step++;
  const t = full([4_000_000], step);
  writeCheckpoint(path, { step, config: { step }, groups: new Map([['model', new Map([['w', t]])]]), generators: new Map(), state: { step } });
  t.dispose();
  process.stdout.write(step + '\\n');
} while (${loop});
`;
}

function checkConsistent(file: string): number {
  const c = readCheckpoint(file, { device: 'cpu' });
  const w = c.groups.get('model')!.get('w')!;
  const lo = tidy(() => w.min().item());
  const hi = tidy(() => w.max().item());
  assert.equal(lo, c.step);
  assert.equal(hi, c.step);
  assert.deepEqual(c.config, { step: c.step });
  disposeCheckpoint(c);
  return c.step;
}

test('a write that fails part-way (file size limit) leaves the old checkpoint intact and nothing partial under its name', () => {
  const dir = tmp();
  try {
    const file = join(dir, CHECKPOINT_FILE);
    const small = full([10], 7);
    writeCheckpoint(file, {
      step: 7,
      config: { step: 7 },
      groups: new Map([['model', new Map([['w', small]])]]),
      generators: new Map(),
      state: { step: 7 },
    });
    small.dispose();
    const before = readFileSync(file);
    // 2000 KiB limit: the 16 MB write fails with EFBIG (or SIGXFSZ) in the middle of the data.
    const r = spawnSync('bash', ['-c', `ulimit -f 2000; exec "${process.execPath}" --input-type=module -e "$0" "$1" 0`, writerScript(false), file], {
      encoding: 'utf8',
    });
    assert.ok(/EFBIG/.test(r.stderr) || r.signal === 'SIGXFSZ', `the writer should have failed with EFBIG: status ${r.status} ${r.stderr}`);
    assert.deepEqual(readFileSync(file), before);
    assert.equal(checkConsistent(file), 7);
    // Only the old file carries the final name; a killed writer may leave a hidden temporary.
    assert.deepEqual(
      readdirSync(dir).filter((n) => !n.startsWith('.')),
      [CHECKPOINT_FILE],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kill -9 during a loop of checkpoint writes always leaves a complete old or new checkpoint', async () => {
  const dir = tmp();
  try {
    const file = join(dir, CHECKPOINT_FILE);
    let last = 0;
    const delays = [0, 37, 90, 150, 260];
    for (const delay of delays) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', writerScript(true), file, String(last)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      // Wait for the first complete write, then kill at a varying moment of later writes.
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve();
        });
        child.on('exit', () => reject(new Error(`writer exited early: ${err}`)));
      });
      await new Promise((r) => setTimeout(r, delay));
      const exited = new Promise((r) => child.on('exit', r));
      child.kill('SIGKILL');
      await exited;
      const written = out.trim().split('\n').map(Number);
      const step = checkConsistent(file);
      // The file is the last completed write, or the one in flight when it had been renamed already.
      assert.ok(step === written[written.length - 1] || step === written[written.length - 1]! + 1, `step ${step} after writes ${written.join(',')}`);
      last = step;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('corrupt, truncated, foreign and missing checkpoints are CheckpointErrors (exit code 2) with one clear line', () => {
  const dir = tmp();
  try {
    const file = join(dir, CHECKPOINT_FILE);
    const ckpt = sampleCheckpoint(3, new Generator(3));
    writeCheckpoint(file, ckpt);
    const bytes = readFileSync(file);
    const live = liveTensorCount();

    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 3] = flipped[flipped.length - 3]! ^ 0x40;
    writeFileSync(join(dir, 'flipped.safetensors'), flipped);
    assert.throws(
      () => readCheckpoint(join(dir, 'flipped.safetensors')),
      (e: unknown) => e instanceof CheckpointError && (e.exitCode as number) === 2 && /SHA-256/.test(e.message),
    );

    writeFileSync(join(dir, 'truncated.safetensors'), bytes.subarray(0, bytes.length - 100));
    assert.throws(
      () => readCheckpoint(join(dir, 'truncated.safetensors')),
      (e: unknown) => e instanceof CheckpointError && /corrupt checkpoint/.test(e.message) && !e.message.includes('\n'),
    );

    writeFileSync(join(dir, 'garbage.safetensors'), Buffer.from('hello, this is not a checkpoint at all'));
    assert.throws(
      () => readCheckpoint(join(dir, 'garbage.safetensors')),
      (e: unknown) => e instanceof CheckpointError && /corrupt checkpoint/.test(e.message),
    );

    assert.throws(
      () => readCheckpoint(join(dir, 'missing.safetensors')),
      (e: unknown) => e instanceof CheckpointError && /no such checkpoint/.test(e.message),
    );
    const empty = mkdtempSync(join(dir, 'run-'));
    assert.throws(
      () => resolveCheckpointPath(empty),
      (e: unknown) => e instanceof CheckpointError && /has no checkpoint\.safetensors/.test(e.message),
    );
    // Tensors of a rejected file are freed.
    assert.equal(liveTensorCount(), live);
    assert.ok(existsSync(file));
    for (const g of ckpt.groups.values()) for (const t of g.values()) t.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
