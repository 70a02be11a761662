/**
 * consistency-ts/generate (src/generate): the libtorch-free runtime. Its sampling and editing equal
 * the libtorch path (src/method samplers and editing on the checkpoint's network) fed the same
 * noise; its seeded noise equals a Python implementation of the same published algorithms; the
 * subpath entry loads no libtorch; bad requests are RangeErrors.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGenerator, NoiseRng, type ConsistencyGenerator } from 'consistency-ts/generate';
import { repoRoot, runPythonScript } from './helpers/python.js';
import { maxAbsDiff, testRunConfig, writeRandomCheckpoint } from './helpers/onnx-models.js';
import { Generator, randn, setNumThreads, tensor, tidy, type Tensor } from '../src/tensor/index.js';
import { einsum, randnLike, zeros } from '../src/tensor/creation.js';
import { colorTransform } from '../src/method/color-axes.js';
import { loadModel, type LoadedModel } from '../src/train/load-model.js';
import { sampleMultistep } from '../src/method/samplers.js';
import { colorize, inpaint, interpolateNoises } from '../src/method/editing.js';
import { exportConsistencyOnnx } from '../src/export/export.js';
import { sampleImages } from '../src/train/generate.js';

setNumThreads(1);
let dir = '';
const loaded: Array<{ model: LoadedModel; gen: ConsistencyGenerator; file: string }> = [];

/** A random checkpoint of `name`, loaded by libtorch, and its export loaded by the runtime. */
async function pair(name: 'mnist-quick' | 'adm-small', seed: number): Promise<{ model: LoadedModel; gen: ConsistencyGenerator; file: string }> {
  // mnist-quick unconditional (the preset is class-conditional): the conditional model here is adm-small.
  const config = testRunConfig(name);
  if (name === 'mnist-quick') config.network = { ...config.network, labelDim: 0 };
  const ckpt = join(dir, `${name}.safetensors`);
  const nets = writeRandomCheckpoint(ckpt, config, seed);
  nets.model.dispose();
  nets.ema.dispose();
  const model = loadModel(ckpt);
  const file = join(dir, `${name}.onnx`);
  writeFileSync(file, exportConsistencyOnnx(model.network, model.config));
  const gen = await loadGenerator(file, { batch: 3, sessionOptions: { intraOpNumThreads: 1 } });
  const p = { model, gen, file };
  loaded.push(p);
  return p;
}

/** The noise a libtorch generator in `state` draws for `count` tensors of `shape`, in order (what the samplers' randnLike calls draw). */
function drawsOf(state: Uint8Array, shape: number[], count: number): Float32Array[] {
  const g = new Generator(0);
  g.setState(state);
  return Array.from({ length: count }, () => tidy(() => randn(shape, { generator: g }).toFloat32Array()));
}

/**
 * The same draws for tensors laid out like `like`: randnLike fills a tensor in its memory order, and
 * colorize's tensors come from einsum with a channels-last layout, so their noise is drawn in that order.
 */
function drawsLike(state: Uint8Array, like: Tensor, count: number): Float32Array[] {
  const g = new Generator(0);
  g.setState(state);
  return Array.from({ length: count }, () => tidy(() => randnLike(like, g).toFloat32Array()));
}

function values(t: Tensor): Float32Array {
  const v = t.toFloat32Array();
  t.dispose();
  return v;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'generate-'));
});

after(async () => {
  for (const p of loaded) {
    await p.gen.release();
    p.model.dispose();
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('NoiseRng equals a Python implementation of splitmix32 + xoshiro128** + Box-Muller', () => {
  for (const seed of [0, 1, 123456789, 0xffffffff]) {
    const ref = JSON.parse(runPythonScript('test/reference/noise_ref.py', [String(seed), '64', '101'])) as { uint32: number[]; normal: number[] };
    const ints = new NoiseRng(seed);
    assert.deepEqual(
      Array.from({ length: 64 }, () => ints.nextUint32()),
      ref.uint32,
      `seed ${seed}`,
    );
    const normal = new NoiseRng(seed).normal(101);
    assert.ok(maxAbsDiff(normal, Float32Array.from(ref.normal)) <= 1e-6, `seed ${seed}: normals`);
  }
  const big = new NoiseRng(7).normal(100_000);
  const mean = big.reduce((a, b) => a + b, 0) / big.length;
  const variance = big.reduce((a, b) => a + (b - mean) ** 2, 0) / big.length;
  assert.ok(Math.abs(mean) < 0.01 && Math.abs(variance - 1) < 0.02, `mean ${mean}, variance ${variance}`);
  assert.throws(() => new NoiseRng(-1), /seed must be an integer in \[0, 2\^32\)/);
});

test('sample: one and two steps equal src/method sampleMultistep on the same noise, clipped to [-1, 1]', async () => {
  const { model, gen } = await pair('mnist-quick', 11);
  const [C, H, W] = model.shape;
  const n = 4;
  const shape = [n, C, H, W];
  assert.deepEqual(gen.shape, [C, H, W]);
  for (const steps of [1, 2, 3]) {
    const levels = gen.levels(steps);
    const zGen = new Generator(5);
    const stepGen = new Generator(6);
    const z = randn(shape, { generator: zGen });
    const state = stepGen.getState();
    const want = values(sampleMultistep(model.denoiser, z, levels, stepGen));
    const got = await gen.sample({ n, levels, noise: [z.toFloat32Array(), ...drawsOf(state, shape, levels.length - 1)] });
    z.dispose();
    assert.deepEqual(got.shape, shape);
    const diff = maxAbsDiff(got.data, want);
    assert.ok(diff <= 1e-4, `${steps} steps: the runtime differs from libtorch by ${diff}`);
    assert.ok(
      got.data.every((v) => v >= -1 && v <= 1),
      'clipped',
    );
    assert.ok(got.data.some((v) => v === 1 || v === -1) || got.data.some((v) => Math.abs(v) > 0.2), 'images are not blank');
  }
});

test("seeded sampling is reproducible, draws z then the later levels' noise from NoiseRng(seed), and depends on the seed", async () => {
  const { gen } = await pair('mnist-quick', 12);
  const size = 2 * gen.imageSize;
  const a = await gen.sample({ n: 2, steps: 2, seed: 9 });
  const b = await gen.sample({ n: 2, steps: 2, seed: 9 });
  assert.deepEqual(a.data, b.data);
  const rng = new NoiseRng(9);
  const explicit = await gen.sample({ n: 2, steps: 2, noise: [rng.normal(size), rng.normal(size)] });
  assert.deepEqual(explicit.data, a.data);
  const c = await gen.sample({ n: 2, steps: 2, seed: 10 });
  assert.ok(maxAbsDiff(a.data, c.data) > 0.1, 'another seed gives other images');
});

test('interpolate equals src/method interpolateNoises on the same noises (later noise shared by every alpha)', async () => {
  const { model, gen } = await pair('mnist-quick', 13);
  const [C, H, W] = model.shape;
  const shape = [2, C, H, W];
  const g = new Generator(21);
  const z0 = randn(shape, { generator: g });
  const z1 = randn(shape, { generator: g });
  const levels = gen.levels(2);
  const state = g.getState();
  const alphas = [0, 0.3, 1];
  const want = interpolateNoises(model.denoiser, z0, z1, alphas, levels, g).map(values);
  const got = await gen.interpolate({ alphas, n: 2, levels, z0: z0.toFloat32Array(), z1: z1.toFloat32Array(), stepNoise: drawsOf(state, shape, 1) });
  z0.dispose();
  z1.dispose();
  assert.equal(got.length, 3);
  got.forEach((images, i) => {
    const diff = maxAbsDiff(images.data, want[i]!);
    assert.ok(diff <= 1e-4, `alpha ${alphas[i]}: the runtime differs from libtorch by ${diff}`);
  });
  assert.ok(maxAbsDiff(got[0]!.data, got[2]!.data) > 0.1, 'the endpoints differ');
});

test('inpaint equals src/method inpaint on the same noise and keeps the known pixels', async () => {
  const { model, gen } = await pair('mnist-quick', 14);
  const [C, H, W] = model.shape;
  const shape = [2, C, H, W];
  const images = tidy(() =>
    randn(shape, { generator: new Generator(3) })
      .clamp(-1, 1)
      .toFloat32Array(),
  );
  // Known: the left half of every image.
  const known = new Uint8Array(H * W).map((_, i) => (i % W < W / 2 ? 1 : 0));
  const levels = gen.levels(2);
  const g = new Generator(31);
  const state = g.getState();
  const want = tidy(() => inpaint(model.denoiser, tensor(images, shape), tensor(Float32Array.from(known), [1, 1, H, W]), levels, g).toFloat32Array());
  const got = await gen.inpaint({ images, known, levels, noise: drawsOf(state, shape, 2) });
  const diff = maxAbsDiff(got.data, want);
  assert.ok(diff <= 1e-4, `inpaint: the runtime differs from libtorch by ${diff}`);
  for (let i = 0; i < images.length; i++) if (known[i % (H * W)]) assert.equal(got.data[i], images[i]);
  // Without clipping the intermediate estimates, both paths agree too, and differ from the clipped run.
  const g2 = new Generator(31);
  const wantRaw = tidy(() =>
    inpaint(model.denoiser, tensor(images, shape), tensor(Float32Array.from(known), [1, 1, H, W]), levels, g2, {
      clipDenoised: false,
    }).toFloat32Array(),
  );
  const gotRaw = await gen.inpaint({ images, known, levels, noise: drawsOf(state, shape, 2), clipDenoised: false });
  assert.ok(maxAbsDiff(gotRaw.data, wantRaw) <= 1e-4, 'inpaint without clipDenoised equals libtorch');
  assert.ok(maxAbsDiff(gotRaw.data, got.data) > 1e-3, 'clipping the estimates changes the result here');
});

test('colorize (3-channel class-conditional ADM) equals src/method colorize on the same noise and keeps the luma', async () => {
  const { model, gen } = await pair('adm-small', 15);
  const [, H, W] = model.shape;
  const n = 2;
  const gray = tidy(() =>
    randn([n, 1, H, W], { generator: new Generator(4) })
      .mul(0.3)
      .clamp(-1, 1)
      .toFloat32Array(),
  );
  const levels = gen.levels(2);
  const g = new Generator(41);
  const state = g.getState();
  const classLabels = tensor(BigInt64Array.from([2n, 7n]), [n]);
  const want = tidy(() => colorize(model.denoiser, tensor(gray, [n, 1, H, W]), levels, g, { classLabels }).toFloat32Array());
  classLabels.dispose();
  const like = tidy(() => einsum('ndhw,cd->nchw', zeros([n, 3, H, W]), tensor(Float32Array.from(colorTransform().flat()), [3, 3])));
  const noise = drawsLike(state, like, 2);
  like.dispose();
  const got = await gen.colorize({ gray, levels, classLabel: [2, 7], noise });
  const diff = maxAbsDiff(got.data, want);
  assert.ok(diff <= 1e-4, `colorize: the runtime differs from libtorch by ${diff}`);
  // Where nothing was clipped, 0.2989 R + 0.587 G + 0.114 B is the gray image.
  const plane = H * W;
  let checked = 0;
  for (let i = 0; i < n; i++)
    for (let p = 0; p < plane; p++) {
      const rgb = [0, 1, 2].map((c) => got.data[(i * 3 + c) * plane + p]!);
      if (rgb.some((v) => Math.abs(v) >= 1)) continue;
      checked++;
      assert.ok(Math.abs(0.2989 * rgb[0]! + 0.587 * rgb[1]! + 0.114 * rgb[2]! - gray[i * plane + p]!) < 1e-5);
    }
  assert.ok(checked > plane / 2, `only ${checked} unclipped pixels to check`);
  await assert.rejects(gen.sample({ n: 1, classLabel: 10 }), /class labels must be integers in \[0, 9\]/);
});

test('without a class, image i asks for class (offset + i) mod K in the runtime and in libtorch sampleImages', async () => {
  const { model, gen } = await pair('adm-small', 17);
  const [C, H, W] = model.shape;
  const n = 12; // more than the 10 classes, so the cycle wraps
  const cycled = Array.from({ length: n }, (_, i) => i % 10);
  const levels = gen.levels(1);
  const byDefault = await gen.sample({ n, levels, seed: 5 });
  const asked = await gen.sample({ n, levels, seed: 5, classLabel: cycled });
  assert.deepEqual(byDefault.data, asked.data, 'runtime: the default labels are i mod 10');
  const allZero = await gen.sample({ n, levels, seed: 5, classLabel: 0 });
  assert.ok(maxAbsDiff(allZero.data, byDefault.data) > 1e-3, 'the labels change the images here');
  // sampleImages draws z from Generator(seed) and the later noise from Generator(seed + 1), one batch here.
  const offset = 3;
  const got = sampleImages(model, { count: n, levels, seed: 8, batch: n, offset });
  const want = tidy(() => {
    const z = randn([n, C, H, W], { generator: new Generator(8) });
    const classLabels = tensor(
      BigInt64Array.from({ length: n }, (_, i) => BigInt((offset + i) % 10)),
      [n],
    );
    return sampleMultistep(model.denoiser, z, levels, new Generator(9), { clipDenoised: true, classLabels }).toFloat32Array();
  });
  assert.deepEqual(got, want, 'libtorch: the default labels are (offset + i) mod 10');
});

test('bad requests are RangeErrors naming the problem', async () => {
  const { gen, model } = await pair('mnist-quick', 16);
  await assert.rejects(gen.sample({ n: 0 }), /sample: n must be an integer >= 1/);
  await assert.rejects(gen.sample({ n: 1, classLabel: 1 }), /classLabel given for an unconditional model/);
  await assert.rejects(gen.sample({ n: 1, levels: [0.5, 2] }), /levels must decrease strictly/);
  await assert.rejects(gen.sample({ n: 1, levels: [200] }), new RegExp(`above the model's sigma_max ${model.config.method.sigmaMax}$`));
  await assert.rejects(gen.sample({ n: 1, noise: [new Float32Array(3)] }), /noise\[0\] must be a Float32Array of 784 values/);
  await assert.rejects(gen.colorize({ gray: new Float32Array(784) }), /colorization needs a 3-channel model/);
  await assert.rejects(gen.denoise(new Float32Array(784).fill(NaN), 80), /x holds a value that is not finite/);
  await assert.rejects(loadGenerator(join(dir, 'missing.onnx')), /missing\.onnx: cannot read the model \(ENOENT\)/);
  await assert.rejects(loadGenerator(new Uint8Array([1, 2, 3])), /not an ONNX model|has no 'preset' metadata/);
});

test('the consistency-ts/generate entry samples without loading libtorch or the addon', async () => {
  const { file } = await pair('mnist-quick', 17);
  const script = `
    import { loadGenerator } from 'consistency-ts/generate';
    import { readFileSync } from 'node:fs';
    const gen = await loadGenerator(${JSON.stringify(file)});
    const { data } = await gen.sample({ n: 2, steps: 2, seed: 1 });
    const maps = readFileSync('/proc/self/maps', 'utf8');
    console.log(JSON.stringify({ values: data.length, torch: /libtorch|libc10|\\.node$/m.test(maps.split('\\n').filter((l) => !l.includes('onnxruntime')).join('\\n')), ort: maps.includes('onnxruntime') }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { values: 2 * 784, torch: false, ort: true });
});
