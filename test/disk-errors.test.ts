/**
 * Issue 15, "Crashes and long runs": a run directory that fills up or turns read-only while
 * `consistency train` writes its checkpoint, its sample grid or its metrics log. Each time: one
 * clear `error:` line naming the file and the reason, exit code 1, the previous checkpoint intact
 * (it loads, its SHA-256 checks out) and no temporary file left behind where the folder is still
 * writable; after space is freed, `--resume` finishes the run.
 *
 * As root, file permissions do not stop writes, so the tests use real filesystems: a size-limited
 * tmpfs mounted by the test (disk full) and a bind mount remounted read-only (read-only). Both need
 * root and `mount`, which scripts/setup.sh's machines (and CI) have; without them the tests fail
 * with that message. Every mount is undone in `finally` (and at exit, should a test die first).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint, disposeCheckpoint, CHECKPOINT_FILE } from '../src/train/checkpoint.js';
import { readMetrics } from '../src/train/metrics-log.js';
import { setNumThreads } from '../src/tensor/index.js';
import { FileWriteError, writeFileAtomic } from '../src/io/atomic.js';
import { CLI } from './helpers/cli.js';

setNumThreads(1);

const TINY = ['--preset', 'mnist-quick', '--batch', '2', '--threads', '1', '--log-every', '1000'];

// ---------------------------------------------------------------------------------------------
// Mounts, always undone.

const mounted: string[] = [];

function run(cmd: string, args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  // null when the spawn itself failed (r.error), whatever the types say.
  const stderr = r.stderr as string | null;
  return { status: r.status, stderr: `${stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function mountOrFail(args: string[], target: string): void {
  const r = run('mount', [...args, target]);
  assert.equal(
    r.status,
    0,
    `mount ${args.join(' ')} ${target} failed (${r.stderr.trim()}): these tests need root and mount, as scripts/setup.sh's machines have`,
  );
  if (!mounted.includes(target)) mounted.push(target);
}

/** A tmpfs of `kib` KiB at `dir` (created). */
function mountTmpfs(dir: string, kib: number): void {
  mkdirSync(dir, { recursive: true });
  mountOrFail(['-t', 'tmpfs', '-o', `size=${kib}k,mode=0755`, 'tmpfs'], dir);
}

/** `dir` bind-mounted on itself, so that it can be remounted read-only alone. */
function bindSelf(dir: string): void {
  mountOrFail(['--bind', dir], dir);
}

/** Remounts a bind mount read-only; retried while a file on it is open for writing (EBUSY). */
function remountReadOnly(dir: string): boolean {
  const r = run('mount', ['-o', 'remount,bind,ro', dir]);
  return r.status === 0;
}

function unmountAll(): void {
  while (mounted.length > 0) {
    const dir = mounted.pop()!;
    if (run('umount', [dir]).status !== 0) run('umount', ['-l', dir]);
  }
}
after(unmountAll);
process.on('exit', unmountAll);

// ---------------------------------------------------------------------------------------------

function train(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'train', ...TINY, ...args], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** The one `error:` line of stderr (and no stack trace). */
function errorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('error:'));
  assert.equal(lines.length, 1, `one error line expected:\n${stderr}`);
  assert.ok(!/^\s+at /m.test(stderr), `no stack trace:\n${stderr}`);
  return lines[0]!;
}

function checkpointStep(out: string): number {
  const ckpt = readCheckpoint(out, { device: 'cpu' });
  disposeCheckpoint(ckpt);
  return ckpt.step;
}

function temporaries(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.includes('.tmp-'));
}

/** Fills the filesystem holding `dir` to the last page; returns the filler's path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = new Uint8Array(64 * 1024);
  try {
    for (let size = chunk.length; size >= 512;) {
      try {
        writeSync(fd, chunk, 0, size);
      } catch (e) {
        if ((e as { code?: string }).code !== 'ENOSPC') throw e;
        size >>= 1;
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

let prepared: { dir: string; out: string; checkpointBytes: number } | null = null;
/** A 2-step run on the ordinary disk (checkpoint every step), made once and copied by the tests. */
function preparedRun(): { dir: string; out: string; checkpointBytes: number } {
  if (prepared) return prepared;
  const dir = mkdtempSync(join(tmpdir(), 'disk-errors-prepared-'));
  const out = join(dir, 'run');
  const r = train('--steps', '2', '--checkpoint-every', '1', '--sample-every', '1000', '--samples', '4', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  prepared = { dir, out, checkpointBytes: statSync(join(out, CHECKPOINT_FILE)).size };
  return prepared;
}
after(() => {
  if (prepared) rmSync(prepared.dir, { recursive: true, force: true });
});

test('writeFileAtomic on a full and on a read-only filesystem: a FileWriteError naming the file and reason, the old file unchanged, no temporary', () => {
  const dir = mkdtempSync(join(tmpdir(), 'disk-errors-'));
  const small = join(dir, 'small');
  try {
    mountTmpfs(small, 64);
    const path = join(small, 'data.bin');
    const old = Uint8Array.from({ length: 20_000 }, (_, i) => i % 251);
    writeFileAtomic(path, old);
    const tooBig = new Uint8Array(60 * 1024).fill(7);
    assert.throws(
      () => writeFileAtomic(path, [tooBig.subarray(0, 30_000), tooBig.subarray(30_000)], 'test file'),
      (e: unknown) =>
        e instanceof FileWriteError &&
        e.code === 'ENOSPC' &&
        e.path === path &&
        e.message === `cannot write the test file ${path}: no space left on device (ENOSPC)`,
    );
    assert.ok(readFileSync(path).equals(Buffer.from(old)), 'the old file is unchanged');
    assert.deepEqual(readdirSync(small), ['data.bin'], 'the temporary file is removed');

    assert.equal(run('mount', ['-o', 'remount,ro', small]).status, 0);
    assert.throws(
      () => writeFileAtomic(path, Uint8Array.of(1)),
      (e: unknown) =>
        e instanceof FileWriteError && e.code === 'EROFS' && /^cannot write the file .*data\.bin: read-only file system \(EROFS\)$/.test(e.message),
    );
    assert.throws(
      () => writeFileAtomic(join(small, 'sub', 'new.bin'), Uint8Array.of(1)),
      (e: unknown) => e instanceof FileWriteError && e.code === 'EROFS',
    );
    assert.ok(readFileSync(path).equals(Buffer.from(old)));
  } finally {
    unmountAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('disk full while writing a checkpoint: one error line, the previous checkpoint intact, no temporary left; --resume finishes once there is space', () => {
  const size = preparedRun().checkpointBytes;
  const dir = mkdtempSync(join(tmpdir(), 'disk-errors-'));
  const out = join(dir, 'run');
  try {
    // Room for one checkpoint and half of the next: the write of step 2's checkpoint runs out.
    mountTmpfs(out, Math.ceil((1.5 * size) / 4096) * 4);
    const r = train('--steps', '4', '--checkpoint-every', '1', '--sample-every', '1000', '--samples', '4', '--out', out);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      errorLine(r.stderr),
      /^error: cannot write the checkpoint .*\/run\/checkpoint\.safetensors: no space left on device \(ENOSPC\); the newest checkpoint is .*checkpoint\.safetensors \(step 1\); once it can be written, continue with: consistency train --out .*\/run --resume$/,
    );
    assert.equal(checkpointStep(out), 1);
    assert.deepEqual(temporaries(out), [], 'the failed write removed its temporary file');
    assert.deepEqual(
      readMetrics(join(out, 'metrics.jsonl')).map((m) => m.step),
      [1, 2],
    );

    assert.equal(run('mount', ['-o', 'remount,size=64m', out]).status, 0);
    const resumed = train('--steps', '4', '--checkpoint-every', '1', '--sample-every', '1000', '--samples', '4', '--out', out, '--resume');
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.equal(checkpointStep(out), 4);
    assert.deepEqual(
      readMetrics(join(out, 'metrics.jsonl')).map((m) => m.step),
      [1, 2, 3, 4],
    );
  } finally {
    unmountAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('disk full while writing a sample grid: one error line naming the grid, the checkpoint intact', () => {
  const dir = mkdtempSync(join(tmpdir(), 'disk-errors-'));
  const out = join(dir, 'run');
  try {
    // The grids' folder is a one-page tmpfs; a 64-image grid needs more.
    mountTmpfs(join(out, 'samples'), 4);
    const r = train('--steps', '4', '--checkpoint-every', '1', '--sample-every', '2', '--samples', '64', '--out', out);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      errorLine(r.stderr),
      /^error: cannot write the sample grid .*\/run\/samples\/step-0000002\.png: no space left on device \(ENOSPC\); the newest checkpoint is .*checkpoint\.safetensors \(step 2\);/,
    );
    assert.equal(checkpointStep(out), 2);
    assert.deepEqual(temporaries(join(out, 'samples')), []);
    assert.deepEqual(readdirSync(join(out, 'samples')), [], 'no partial grid');
  } finally {
    unmountAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('disk full when --resume rewrites the metrics log: one error line naming it, checkpoint and log unchanged', () => {
  const { out: source, checkpointBytes } = preparedRun();
  const dir = mkdtempSync(join(tmpdir(), 'disk-errors-'));
  const out = join(dir, 'run');
  try {
    mountTmpfs(out, Math.ceil((checkpointBytes + 512 * 1024) / 4096) * 4);
    cpSync(source, out, { recursive: true });
    const before = readFileSync(join(out, CHECKPOINT_FILE));
    const log = readFileSync(join(out, 'metrics.jsonl'));
    fill(out);
    const r = train('--steps', '2', '--checkpoint-every', '1', '--sample-every', '1000', '--samples', '4', '--out', out, '--resume');
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      errorLine(r.stderr),
      /^error: cannot write the metrics log .*\/run\/metrics\.jsonl: no space left on device \(ENOSPC\); the newest checkpoint is .* \(step 2\);/,
    );
    assert.ok(readFileSync(join(out, CHECKPOINT_FILE)).equals(before), 'the checkpoint is byte for byte the one before');
    assert.ok(readFileSync(join(out, 'metrics.jsonl')).equals(log), 'the metrics log is unchanged');
    assert.deepEqual(temporaries(out), []);
  } finally {
    unmountAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the run directory turns read-only during training: one error line, the newest checkpoint loads; read-only at --resume, at a new --out and for a sample grid', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'disk-errors-'));
  const out = join(dir, 'run');
  mkdirSync(out);
  bindSelf(out);
  const child = spawn(
    process.execPath,
    [CLI, 'train', ...TINY, '--steps', '400', '--checkpoint-every', '1', '--sample-every', '1000', '--samples', '4', '--out', out],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  try {
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      stderr += c;
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Once the first checkpoint is on disk, remount read-only (retried while a write is open).
    let readOnly = false;
    const deadline = Date.now() + 120_000;
    while (!readOnly && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 20));
      if (existsSync(join(out, CHECKPOINT_FILE))) readOnly = remountReadOnly(out);
    }
    assert.ok(readOnly, `could not remount ${out} read-only while training ran:\n${stderr}`);
    const status = await exited;
    assert.equal(status, 1, stderr);
    const line = errorLine(stderr);
    console.log(`# read-only mid-run: ${line}`);
    const m =
      /^error: cannot write the (?:metrics log|checkpoint|sample grid|loss curve) .*\/run\/[^ ]+: read-only file system \(EROFS\); the newest checkpoint is .* \(step (\d+)\);/.exec(
        line,
      );
    assert.ok(m, line);
    assert.equal(checkpointStep(out), Number(m[1]));
    const ckptBytes = readFileSync(join(out, CHECKPOINT_FILE));

    // --resume in the read-only directory: the metrics log cannot be rewritten; nothing changes.
    const resumed = train('--steps', '400', '--checkpoint-every', '1', '--sample-every', '1000', '--samples', '4', '--out', out, '--resume');
    assert.equal(resumed.status, 1, resumed.stderr);
    assert.match(
      errorLine(resumed.stderr),
      /^error: cannot write the metrics log .*metrics\.jsonl: read-only file system \(EROFS\); the newest checkpoint is/,
    );
    assert.ok(readFileSync(join(out, CHECKPOINT_FILE)).equals(ckptBytes));

    // A new run whose --out is inside the read-only folder: exit 2 before anything is written.
    const fresh = train('--steps', '2', '--out', join(out, 'inner'));
    assert.equal(fresh.status, 2, fresh.stderr);
    assert.match(fresh.stderr.trim(), /^consistency train: cannot write the run directory .*\/inner: read-only file system \(EROFS\)$/);

    // `consistency sample` writing its grid there: one error line, exit 1.
    const sample = spawnSync(
      process.execPath,
      [CLI, 'sample', '--ckpt', out, '--n', '2', '--steps', '1', '--threads', '1', '--out', join(out, 'grid.png')],
      { encoding: 'utf8' },
    );
    assert.equal(sample.status, 1, sample.stderr);
    assert.match(errorLine(sample.stderr), /^error: cannot write the file .*\/run\/grid\.png: read-only file system \(EROFS\)$/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    unmountAll();
    rmSync(dir, { recursive: true, force: true });
  }
});
