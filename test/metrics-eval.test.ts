/**
 * `consistency eval` end to end on small image sets, against an independent Python pipeline:
 * the reference script builds the pytorch-fid network with seeded random weights, computes the
 * pool3 features and logits of the same images, and numpy computes FID, IS, precision/recall and
 * KID from them. The CLI reads the samples from a folder of PNGs and the reference from an .npz
 * of NHWC uint8 images, saves the reference statistics, and gives the same FID from them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { runPythonScript } from './helpers/python.js';
import { xorshift32 } from './helpers/xorshift.js';
import { CLI } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'eval-cli-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const N = 12;
const H = 36;
const W = 36;

/** Deterministic pseudo-random bytes (xorshift32), smoothed a little so images are not pure noise. */
function images(seed: number, n: number): Uint8Array {
  const next = xorshift32(seed);
  const out = new Uint8Array(n * 3 * H * W);
  for (let i = 0; i < n; i++) {
    const base = [next(), next(), next()];
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const wave = 0.5 + 0.5 * Math.sin((x + y * base[(c + 1) % 3]! * 3) * base[c]! * 0.7);
          out[((i * 3 + c) * H + y) * W + x] = Math.round(255 * (0.6 * wave + 0.4 * next()));
        }
  }
  return out;
}

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'eval', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CONSISTENCY_CACHE: join(dir, 'cache') },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertClose(actual: number, expected: number, rel: number, what: string): void {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-12);
  assert.ok(err <= rel, `${what}: ${actual} vs ${expected} (relative error ${err.toExponential(2)})`);
}

test('eval --images PNGs --ref images.npz: FID, IS, precision/recall, KID equal the Python pipeline; --save-ref reuses', () => {
  // Samples: PNG files. Reference: an .npz of NHWC uint8 images.
  const samples = images(11, N);
  const refImages = images(29, N);
  const pngDir = join(dir, 'samples');
  mkdirSync(pngDir);
  for (let i = 0; i < N; i++) {
    const png = new pngjs.PNG({ width: W, height: H });
    for (let p = 0; p < H * W; p++) {
      for (let c = 0; c < 3; c++) png.data[p * 4 + c] = samples[(i * 3 + c) * H * W + p]!;
      png.data[p * 4 + 3] = 255;
    }
    writeFileSync(join(pngDir, `${String(i).padStart(3, '0')}.png`), pngjs.PNG.sync.write(png));
  }
  const nhwc = new Uint8Array(refImages.length);
  for (let i = 0; i < N; i++)
    for (let c = 0; c < 3; c++) for (let p = 0; p < H * W; p++) nhwc[(i * H * W + p) * 3 + c] = refImages[(i * 3 + c) * H * W + p]!;
  writeFileSync(join(dir, 'ref.u8'), nhwc);
  writeFileSync(join(dir, 'samples.u8'), samples);
  writeFileSync(join(dir, 'refnchw.u8'), refImages);
  runPythonScript(
    'test/reference/fid_ref.py',
    [],
    JSON.stringify({ arrays: {}, tasks: [{ name: 'w', kind: 'npz_u8', path: join(dir, 'ref.npz'), raw: join(dir, 'ref.u8'), shape: [N, H, W, 3] }] }),
  );

  // Python: random weights, then features of both sets with them.
  const py = (name: string, u8: string) => {
    const out = join(dir, name);
    runPythonScript('test/reference/inception_ref.py', [
      out,
      '--load-weights',
      join(dir, 'w', 'weights.pth'),
      '--images-u8',
      join(dir, u8),
      '--shape',
      `${N},3,${H},${W}`,
    ]);
    return out;
  };
  runPythonScript('test/reference/inception_ref.py', [join(dir, 'w'), '--seed', '8']);
  const pySamples = py('py-samples', 'samples.u8');
  const pyRef = py('py-ref', 'refnchw.u8');
  const arrays = {
    fake: { path: join(dir, 'fake.f64'), shape: [N, 2048] },
    real: { path: join(dir, 'real.f64'), shape: [N, 2048] },
    logits: { path: join(dir, 'logits.f64'), shape: [N, 1008] },
  };
  const toF64 = (src: string, dst: string) => writeFileSync(dst, new Uint8Array(Float64Array.from(readF32(src)).buffer));
  toF64(join(pySamples, 'pool.f32'), arrays.fake.path);
  toF64(join(pyRef, 'pool.f32'), arrays.real.path);
  toF64(join(pySamples, 'logits_unbiased.f32'), arrays.logits.path);
  const ref = JSON.parse(
    runPythonScript(
      'test/reference/fid_ref.py',
      [],
      JSON.stringify({
        arrays,
        tasks: [
          { name: 'fid', kind: 'fid_eigh', x: 'fake', y: 'real' },
          { name: 'is', kind: 'is', logits: 'logits', splits: 6 },
          { name: 'pr', kind: 'pr', real: 'real', fake: 'fake', k: 3 },
          { name: 'kid', kind: 'mmd', x: 'real', y: 'fake' },
        ],
      }),
    ),
  ) as { fid: number; is: { mean: number; std: number }; pr: { precision: number; recall: number }; kid: number };

  const saved = join(dir, 'ref-stats.safetensors');
  const r = cli([
    '--images',
    pngDir,
    '--ref',
    join(dir, 'ref.npz'),
    '--metrics',
    'fid,is,pr,kid',
    '--inception-weights',
    join(dir, 'w', 'weights.pth'),
    '--batch',
    '5',
    '--kid-subsets',
    '2',
    '--kid-subset-size',
    String(N),
    '--save-ref',
    saved,
    '--threads',
    '1',
    '--quiet',
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /not pytorch-fid's weights/); // random weights: warned, and the feature name says so
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'one JSON line on stdout');
  const out = JSON.parse(lines[0]!) as Record<string, number | string | Record<string, string>>;
  assert.equal(out.count, N);
  assert.equal(out.ref_count, N);
  assertClose(out.fid as number, ref.fid, 1e-3, 'FID');
  assertClose(out.is_mean as number, ref.is.mean, 1e-4, 'IS mean');
  assert.equal(out.precision, ref.pr.precision);
  assert.equal(out.recall, ref.pr.recall);
  assertClose(out.kid_mean as number, ref.kid, 1e-3, 'KID');
  assert.match((out.features as Record<string, string>).fid!, /^inception-2015-12-05\/pool3@weights-sha256-[0-9a-f]{8}$/);

  // The saved reference gives the same FID without the reference images (same batch size and threads: same float32 sums).
  const again = cli([
    '--images',
    pngDir,
    '--ref',
    saved,
    '--metrics',
    'fid',
    '--inception-weights',
    join(dir, 'w', 'weights.pth'),
    '--batch',
    '5',
    '--threads',
    '1',
    '--quiet',
  ]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { fid: number }).fid, out.fid);
});

test('eval usage errors exit 2 with one line', () => {
  const cases: [string[], RegExp][] = [
    [['--images', dir], /--ref is required/],
    [['--images', dir, '--ckpt', 'x.ckpt', '--ref', 'r'], /exactly one of --images and --ckpt/],
    [['--images', dir, '--ref', 'r', '--metrics', 'fid,bogus'], /unknown metric 'bogus'/],
    [['--images', dir, '--ref', 'r', '--steps', '3'], /--steps must be 1 or 2/],
    [['--images', join(dir, 'nope'), '--ref', join(dir, 'nope2')], /nope: not found/],
    [['--ckpt', join(dir, 'model.ckpt'), '--ref', 'cifar10-train', '--n', '10'], /model\.ckpt: no such checkpoint file or run directory/],
  ];
  for (const [args, message] of cases) {
    const r = cli(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.trim(), message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
