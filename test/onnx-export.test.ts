/**
 * `consistency export` (src/export): the ONNX file passes onnx.checker (PyPI onnx, full check), and
 * onnxruntime-node's f(x, sigma) equals libtorch's (src/method/denoiser.ts) on the same inputs
 * within 1e-4 for mnist-quick, cifar10-cpu, the paper's 56M NCSN++ (cifar10, batch 1) and a small
 * class-conditional ADM, all at full-scale random weights; --weights, --fp16 and --opset; a missing,
 * corrupt or truncated checkpoint is one line, exit 2 and no file.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { runPythonScript } from './helpers/python.js';
import { libtorchDenoised, maxAbsDiff, randomNetwork, testInputs, testRunConfig, writeRandomCheckpoint } from './helpers/onnx-models.js';
import { noGrad, setNumThreads, tidy } from '../src/tensor/index.js';
import type { RunConfig } from '../src/train/config.js';
import { exportConsistencyOnnx } from '../src/export/export.js';
import { consistency } from './helpers/cli.js';

setNumThreads(1);
let dir = '';

interface CheckReport {
  ir_version: number;
  opset: number[];
  inputs: Array<{ name: string; elem_type: number; shape: Array<string | number> }>;
  outputs: Array<{ name: string; elem_type: number; shape: Array<string | number> }>;
  metadata: Record<string, string>;
  op_types: string[];
  initializer_types: number[];
}

function onnxCheck(file: string): CheckReport {
  return JSON.parse(runPythonScript('test/reference/onnx_check.py', [file])) as CheckReport;
}

async function ortDenoised(file: string | Uint8Array, inputs: ReturnType<typeof testInputs>, classes: number): Promise<Float32Array> {
  const session =
    typeof file === 'string'
      ? await ort.InferenceSession.create(file, { intraOpNumThreads: 1 })
      : await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  try {
    const n = inputs.sigma.length;
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor('float32', inputs.x, inputs.shape),
      sigma: new ort.Tensor('float32', inputs.sigma, [n]),
    };
    if (inputs.labels) feeds.class_labels = new ort.Tensor('float32', inputs.labels, [n, classes]);
    const out = (await session.run(feeds)).denoised;
    assert.ok(out, 'the model has a denoised output');
    assert.deepEqual(out.dims, inputs.shape);
    return out.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** The levels tested: sigma_max, the two-step level, a small level and sigma_min (where f is the identity). */
function testLevels(config: RunConfig): number[] {
  return [config.method.sigmaMax, config.sampling.secondSigma, 0.05, config.method.sigmaMin];
}

/** Asserts ORT equals libtorch within 1e-4, and that the network's part is far from nothing (the test could fail). */
function assertSameAsLibtorch(got: Float32Array, want: Float32Array, inputs: ReturnType<typeof testInputs>, label: string): void {
  const diff = maxAbsDiff(got, want);
  assert.ok(diff <= 1e-4, `${label}: onnxruntime differs from libtorch by ${diff}`);
  // At sigma_max c_skip is ~4e-5, so the output there is c_out F: it must be well away from 0.
  const perSample = got.length / inputs.sigma.length;
  let biggest = 0;
  for (let i = 0; i < perSample; i++) biggest = Math.max(biggest, Math.abs(want[i]!));
  assert.ok(biggest > 0.1, `${label}: the network's output at sigma_max is too small to test (${biggest})`);
  // At sigma_min the output is x itself, bit for bit.
  const last = inputs.sigma.length - 1;
  for (let i = last * perSample; i < got.length; i++) assert.equal(got[i], inputs.x[i], `${label}: f(x, sigma_min) must be x`);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'onnx-export-'));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

for (const name of ['mnist-quick', 'cifar10-cpu', 'adm-small'] as const) {
  test(`${name}: the exported file passes onnx.checker and onnxruntime equals libtorch (EMA and raw weights)`, async () => {
    const config = testRunConfig(name);
    const ckpt = join(dir, `${name}.safetensors`);
    const nets = writeRandomCheckpoint(ckpt, config, 40);
    try {
      const inputs = testInputs(config, testLevels(config), 3);
      for (const weights of ['ema', 'model'] as const) {
        const out = join(dir, `${name}-${weights}.onnx`);
        const r = consistency('export', '--ckpt', ckpt, '--out', out, '--weights', weights, '--threads', '1');
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout.trim(), out);
        const report = onnxCheck(out);
        assert.deepEqual(report.opset, [17]);
        const c = config.network;
        const image = [c.inChannels, c.imgResolution, c.imgResolution];
        const expectedInputs = [
          { name: 'x', elem_type: 1, shape: ['N', ...image] },
          { name: 'sigma', elem_type: 1, shape: ['N'] },
          ...(c.labelDim > 0 ? [{ name: 'class_labels', elem_type: 1, shape: ['N', c.labelDim] }] : []),
        ];
        assert.deepEqual(report.inputs, expectedInputs);
        assert.deepEqual(report.outputs, [{ name: 'denoised', elem_type: 1, shape: ['N', ...image] }]);
        assert.deepEqual(report.metadata, {
          preset: config.preset,
          resolution: String(c.imgResolution),
          channels: String(c.inChannels),
          classes: String(c.labelDim),
          sigma_min: String(config.method.sigmaMin),
          sigma_max: String(config.method.sigmaMax),
          sigma_data: String(config.method.sigmaData),
          two_step_sigma: String(config.sampling.secondSigma),
          noise_embedding: config.method.noiseEmbedding,
          rho: String(config.method.rho),
          step: '7',
          weights,
        });
        // The op forms onnxruntime-web's backends run: no GroupNormalization, Einsum or ConvTranspose.
        for (const op of ['GroupNormalization', 'Einsum', 'ConvTranspose', 'InstanceNormalization'])
          assert.ok(!report.op_types.includes(op), `${op} in the graph`);
        const want = libtorchDenoised(weights === 'ema' ? nets.ema : nets.model, config, inputs);
        assertSameAsLibtorch(await ortDenoised(out, inputs, c.labelDim), want, inputs, `${name} ${weights}`);
      }
    } finally {
      nets.model.dispose();
      nets.ema.dispose();
    }
  });
}

test("cifar10 (the paper's 56M NCSN++, batch 1): onnx.checker accepts it and onnxruntime equals libtorch", async () => {
  const config = testRunConfig('cifar10');
  const net = randomNetwork(config, 5);
  try {
    const bytes = exportConsistencyOnnx(net, config);
    const file = join(dir, 'cifar10.onnx');
    writeFileSync(file, bytes);
    const report = onnxCheck(file);
    assert.equal(report.metadata.preset, 'cifar10');
    const inputs = testInputs(config, [config.method.sigmaMax], 9);
    const got = await ortDenoised(bytes, inputs, 0);
    const want = libtorchDenoised(net, config, inputs);
    const diff = maxAbsDiff(got, want);
    assert.ok(diff <= 1e-4, `cifar10: onnxruntime differs from libtorch by ${diff}`);
    assert.ok(Math.max(...want.map(Math.abs)) > 0.1, 'the output at sigma_max is too small to test');
  } finally {
    net.dispose();
  }
});

test('--fp16 stores float16 weights (about half the file) and equals libtorch run with the same weights rounded to float16', async () => {
  const config = testRunConfig('mnist-quick');
  const ckpt = join(dir, 'fp16.safetensors');
  const nets = writeRandomCheckpoint(ckpt, config, 80);
  try {
    const full = join(dir, 'full.onnx');
    const half = join(dir, 'half.onnx');
    assert.equal(consistency('export', '--ckpt', ckpt, '--out', full, '--threads', '1').status, 0);
    const r = consistency('export', '--ckpt', ckpt, '--out', half, '--fp16', '--threads', '1');
    assert.equal(r.status, 0, r.stderr);
    const ratio = statSync(half).size / statSync(full).size;
    assert.ok(ratio > 0.45 && ratio < 0.56, `float16 file is ${ratio} of the float32 one`);
    const report = onnxCheck(half);
    assert.ok(report.initializer_types.includes(10), 'float16 initializers'); // TensorProto.FLOAT16
    noGrad(() => {
      for (const p of nets.ema.parameters()) tidy(() => p.copy_(p.toDtype('float16').toDtype('float32')));
    });
    const inputs = testInputs(config, testLevels(config), 4);
    assertSameAsLibtorch(await ortDenoised(half, inputs, config.network.labelDim), libtorchDenoised(nets.ema, config, inputs), inputs, 'fp16');
  } finally {
    nets.model.dispose();
    nets.ema.dispose();
  }
});

test('--opset 18 and 21 (ReduceMean axes as an input) pass the checker and equal libtorch', async () => {
  const config = testRunConfig('mnist-quick');
  const ckpt = join(dir, 'opset.safetensors');
  const nets = writeRandomCheckpoint(ckpt, config, 90);
  try {
    const inputs = testInputs(config, testLevels(config), 5);
    const want = libtorchDenoised(nets.ema, config, inputs);
    for (const opset of [18, 21]) {
      const out = join(dir, `opset${opset}.onnx`);
      const r = consistency('export', '--ckpt', ckpt, '--out', out, '--opset', String(opset), '--threads', '1');
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(onnxCheck(out).opset, [opset]);
      assertSameAsLibtorch(await ortDenoised(out, inputs, config.network.labelDim), want, inputs, `opset ${opset}`);
    }
    const bad = consistency('export', '--ckpt', ckpt, '--out', join(dir, 'x.onnx'), '--opset', '12');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--opset must be one of 17, 18, 19, 20, 21; got 12/);
  } finally {
    nets.model.dispose();
    nets.ema.dispose();
  }
});

test('a missing, truncated or corrupt checkpoint is one line on stderr, exit 2, and no file', () => {
  const config = testRunConfig('mnist-quick');
  const ckpt = join(dir, 'good.safetensors');
  const nets = writeRandomCheckpoint(ckpt, config, 70);
  nets.model.dispose();
  nets.ema.dispose();
  const bytes = readFileSync(ckpt);
  const truncated = join(dir, 'truncated.safetensors');
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  const corrupt = join(dir, 'corrupt.safetensors');
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 100] = flipped[flipped.length - 100]! ^ 0xff;
  writeFileSync(corrupt, flipped);
  const garbage = join(dir, 'garbage.safetensors');
  writeFileSync(garbage, Buffer.from('not a checkpoint at all'));
  for (const input of [join(dir, 'missing.safetensors'), truncated, corrupt, garbage, dir]) {
    const out = join(dir, 'never.onnx');
    const r = consistency('export', '--ckpt', input, '--out', out);
    assert.equal(r.status, 2, `${input}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${input}: one line, got:\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
    assert.equal(existsSync(out), false, `${input}: no file written`);
  }
  const wrongExt = consistency('export', '--ckpt', ckpt, '--out', join(dir, 'model.bin'));
  assert.equal(wrongExt.status, 2);
  assert.match(wrongExt.stderr, /--out must name a \.onnx file/);
});
