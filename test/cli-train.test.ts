/**
 * `consistency train` input errors (exit 2, one line, nothing on disk changed) and divergence
 * (exit 1 naming the step, the last good checkpoint kept, no NaN weights written), and the default size
 * of its sample grids.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint, disposeCheckpoint, nonFiniteTensors } from '../src/train/checkpoint.js';
import { readMetrics } from '../src/train/metrics-log.js';
import { consistency } from './helpers/cli.js';

const tiny = ['--preset', 'mnist-quick', '--batch', '4', '--threads', '1', '--sample-every', '1000', '--samples', '4'];

/** Every file under dir with its bytes and modification time. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out.set(p, `${st.mtimeMs}:${readFileSync(p).toString('base64')}`);
    }
  };
  walk(dir);
  return out;
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`);
  return lines[0]!;
}

test('usage errors exit 2 with one line and write nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-train-'));
  try {
    const out = join(dir, 'run');
    const cases: Array<[string[], RegExp]> = [
      [['--bogus', '--out', out], /unknown flag --bogus/],
      [['--out', out, '--preset', 'no-such-preset'], /unknown preset 'no-such-preset'/],
      [['--out', out, '--lr', 'fast'], /--lr must be a number/],
      [['--out', out, '--method', 'sgd'], /--method must be one of ict, ct/],
      [['--out', out, '--ema', '1.5'], /--ema must be in \[0, 1\)/],
      [['--out', out, '--p-std', '-1'], /--p-std must be a finite number > 0/],
      [['--out', out, '--s0', '20', '--s1', '10'], /--s1 must be an integer >= --s0=20/],
      [['--out', out, '--metric', 'lpips'], /--metric lpips needs a pretrained LPIPS network/],
      [['--preset', 'mnist-quick'], /--out is required/],
      [['--out', out, '--dataset', 'cifar10', '--data', join(dir, 'missing.tar.gz')], /missing\.tar\.gz: CIFAR-10 data not found/],
      [['--out', out, '--resume'], /has no checkpoint\.safetensors to continue from/],
    ];
    for (const [args, message] of cases) {
      const r = consistency('train', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(oneLine(r.stderr), message);
      assert.equal(existsSync(out), false, `${args.join(' ')} created ${out}`);
    }
    const help = consistency('train', '--help');
    assert.equal(help.status, 0);
    for (const flag of [
      '--preset',
      '--data',
      '--out',
      '--resume',
      '--method',
      '--teacher',
      '--metric',
      '--curriculum',
      '--levels',
      '--weighting',
      '--p-mean',
      '--p-std',
      '--s0',
      '--s1',
      '--mu0',
      '--sigma-min',
      '--sigma-max',
      '--steps',
      '--batch',
      '--micro-batch',
      '--lr',
      '--optimizer',
      '--ema',
      '--dropout',
      '--seed',
      '--threads',
      '--device',
    ])
      assert.ok(help.stdout.includes(`  ${flag} `), `--help lists ${flag}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an existing run: refusing to overwrite, a resume with other settings names the differing fields, a corrupt checkpoint; nothing changes on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-train-'));
  try {
    const out = join(dir, 'run');
    const first = consistency('train', ...tiny, '--steps', '4', '--out', out);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /^samples: .*step-0000004\.png$/m);
    const before = snapshot(out);

    let r = consistency('train', ...tiny, '--steps', '4', '--out', out);
    assert.equal(r.status, 2);
    assert.match(oneLine(r.stderr), /already holds a run \(checkpoint at step 4\); pass --resume/);

    r = consistency('train', ...tiny, '--steps', '8', '--lr', '0.01', '--s1', '80', '--out', out, '--resume');
    assert.equal(r.status, 2);
    const line = oneLine(r.stderr);
    assert.match(line, /another configuration/);
    for (const field of ['training.steps', 'training.optimizer.lr', 'method.curriculum.s1'])
      assert.ok(line.includes(field), `names ${field}: ${line}`);
    assert.ok(!line.includes('training.batch'), 'does not name equal fields');
    assert.deepEqual(snapshot(out), before);

    // Runtime settings may change on resume; a finished run resumed has nothing left to do.
    r = consistency('train', ...tiny, '--steps', '4', '--out', out, '--resume', '--log-every', '3', '--micro-batch', '2');
    assert.equal(r.status, 0, r.stderr);

    const ckpt = join(out, 'checkpoint.safetensors');
    const bytes = readFileSync(ckpt);
    const corrupt = Buffer.from(bytes);
    corrupt[corrupt.length - 10] = corrupt[corrupt.length - 10]! ^ 0xff;
    writeFileSync(ckpt, corrupt);
    const corruptState = snapshot(out);
    r = consistency('train', ...tiny, '--steps', '4', '--out', out, '--resume');
    assert.equal(r.status, 2);
    assert.match(oneLine(r.stderr), /corrupt checkpoint/);
    assert.deepEqual(snapshot(out), corruptState);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a learning rate of 1e30 makes the loss non-finite: exit 1 naming the step, the last good checkpoint kept', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-train-'));
  try {
    const out = join(dir, 'run');
    const r = consistency('train', ...tiny, '--steps', '10', '--checkpoint-every', '1', '--lr', '1e30', '--out', out);
    assert.equal(r.status, 1, r.stderr);
    const m = /training diverged: (?:the loss is (?:NaN|Infinity|-Infinity) at step (\d+)|NaN or infinite weights after step (\d+))/.exec(r.stderr);
    assert.ok(m, r.stderr);
    const badStep = Number(m[1] ?? m[2]);
    assert.ok(badStep >= 2 && badStep <= 10, `step ${badStep}`);
    assert.match(r.stderr, /the last good checkpoint is .*checkpoint\.safetensors/);
    const ckpt = readCheckpoint(out, { device: 'cpu' });
    // The checkpoint is from before the failing step and holds only finite numbers.
    assert.equal(ckpt.step, badStep - 1);
    assert.deepEqual(nonFiniteTensors(ckpt.groups), []);
    disposeCheckpoint(ckpt);
    const logged = readMetrics(join(out, 'metrics.jsonl'));
    assert.ok(
      logged.every((rec) => Number.isFinite(rec.loss as number)),
      'no non-finite loss was logged',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CIFAR-10 from an archive whose MD5 is not the official one: a warning, flips on, training runs; image folders must match the network', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-train-'));
  try {
    // A CIFAR-10-format archive with 4 random records per batch file.
    const batches = join(dir, 'src', 'cifar-10-batches-bin');
    spawnSync('mkdir', ['-p', batches]);
    let seed = 1;
    const record = (): Buffer => {
      const b = Buffer.alloc(3073);
      b[0] = seed % 10;
      for (let i = 1; i < b.length; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      return b;
    };
    for (const name of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch'])
      writeFileSync(join(batches, `${name}.bin`), Buffer.concat([record(), record(), record(), record()]));
    const archive = join(dir, 'cifar-10-binary.tar.gz');
    const tar = spawnSync('tar', ['czf', archive, '-C', join(dir, 'src'), 'cifar-10-batches-bin']);
    assert.equal(tar.status, 0, String(tar.stderr));

    const out = join(dir, 'run');
    const r = consistency(
      'train',
      '--preset',
      'cifar10-cpu',
      '--data',
      archive,
      '--steps',
      '1',
      '--batch',
      '2',
      '--threads',
      '1',
      '--samples',
      '1',
      '--out',
      out,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stderr,
      /warning: .*cifar-10-binary\.tar\.gz: MD5 [0-9a-f]{32} differs from the official CIFAR-10 archive's c32a1d4ab5d03f1284b67883e8d87530/,
    );
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as {
      config: { data: { dataset: string; flip: boolean; path: string } };
    };
    assert.equal(saved.config.data.dataset, 'cifar10');
    assert.equal(saved.config.data.flip, true);
    assert.equal(saved.config.data.path, archive);

    // RGB images from a folder do not fit a one-channel MNIST network: exit 2 before writing.
    const pngs = join(dir, 'pngs');
    spawnSync('mkdir', ['-p', pngs]);
    const grid = join(out, 'samples', 'step-0000001.png');
    writeFileSync(join(pngs, 'a.png'), readFileSync(grid));
    // (--classes 0: unconditional, so the folder needs no class sub-folders.)
    const bad = consistency('train', '--preset', 'mnist-quick', '--classes', '0', '--dataset', 'folder', '--data', pngs, '--out', join(dir, 'run2'));
    assert.equal(bad.status, 2);
    assert.match(
      oneLine(bad.stderr),
      /images are 3x28x28, but the network of preset 'mnist-quick' takes 1x28x28|images are 3x32x32, but the network of preset 'mnist-quick' takes 1x32x32/,
    );
    assert.equal(existsSync(join(dir, 'run2')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a 10-class run's sample grid holds 60 images by default (whole rows of one image per class), as --samples 60 does", () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-train-grid-'));
  try {
    const grid = (...samples: string[]): Buffer => {
      const out = join(dir, `run${samples.join('')}`);
      const r = consistency('train', ...tiny.slice(0, tiny.indexOf('--samples')), ...samples, '--steps', '1', '--out', out);
      assert.equal(r.status, 0, r.stderr);
      return readFileSync(join(out, 'samples', 'step-0000001.png'));
    };
    const byDefault = grid();
    const of64 = grid('--samples', '64');
    assert.deepEqual(byDefault, grid('--samples', '60'));
    // PNG IHDR: width at byte 16, height at 20. Both grids have 10 columns; 64 images need a seventh, partial row.
    const size = (png: Buffer): [number, number] => [png.readUInt32BE(16), png.readUInt32BE(20)];
    const [[w60, h60], [w64, h64]] = [size(byDefault), size(of64)];
    assert.equal(w60, w64);
    assert.ok(h60 < h64 && Math.abs(h60 / h64 - 6 / 7) < 0.01, `6 rows of 10 against 7: heights ${h60} and ${h64}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
