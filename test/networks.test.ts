/**
 * Tests of src/networks (NCSN++ and ADM as in EDM, presets, building, counting), the layers in
 * src/nn they use, and `consistency describe`.
 *
 * The reference is test/reference/networks_ref.py, an independent PyTorch implementation of the
 * same published architectures: it reads the TypeScript network's weights from a safetensors
 * file and must give the same outputs (train mode with dropout 0, and eval mode) and the same
 * gradient of every parameter for sum(output * upstream), within float32 tolerance. Parameter
 * counts of the full configurations must equal both the reference's and EDM's counts as given
 * in docs/method.md section 5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

import { Generator, liveTensorCount, noGrad, randint, randn, setNumThreads, tidy, type Tensor } from '../src/tensor/index.js';
import { loadSafetensors, saveSafetensors } from '../src/io/safetensors.js';
import { StateDictError } from '../src/nn/module.js';
import { UNetBlock } from '../src/nn/unet-block.js';
import { ResampleConv2d } from '../src/nn/resample-conv2d.js';
import type { NetworkConfig, SongUNetConfig, DhariwalUNetConfig } from '../src/networks/config.js';
import { PRESET_NAMES, buildNetwork, resolvePreset } from '../src/train/presets.js';
import { countParameters, createNetwork } from '../src/networks/build.js';
import { oneHot, type ImageNetwork } from '../src/networks/network.js';
import { runPythonScript } from './helpers/python.js';
import { CLI } from './helpers/cli.js';
import { testDevice, cudaSkip } from './helpers/device.js';

setNumThreads(1);

// CONSISTENCY_TEST_DEVICE=cuda: the comparisons with the reference run both networks on the GPU
// (weights drawn on the CPU, then moved), and so does the dropout-mask replay; the other tests stay on the CPU.
const DEVICE = testDevice();
const SKIP = cudaSkip(DEVICE);

const REF = 'test/reference/networks_ref.py';

// ---------------------------------------------------------------------------------------------
// Reduced configurations (small width, depth and resolution; every code path of both networks)

/** NCSN++ at reduced size: Fourier embedding, residual encoder, FIR [1,3,3,1], attention at 8x8. */
const SONG_SMALL: SongUNetConfig = {
  architecture: 'song',
  imgResolution: 16,
  inChannels: 3,
  outChannels: 3,
  labelDim: 0,
  modelChannels: 32,
  channelMult: [1, 2, 2],
  channelMultEmb: 4,
  numBlocks: 1,
  attnResolutions: [8],
  dropout: 0,
  dropoutMaxResolution: null,
  embeddingType: 'fourier',
  fourierScale: 1,
  channelMultNoise: 2,
  encoderType: 'residual',
  decoderType: 'standard',
  resampleFilter: [1, 3, 3, 1],
};

/** The other SongUNet paths: positional embedding, class labels, 'skip' encoder and decoder, box filter. */
const SONG_SKIP: SongUNetConfig = {
  ...SONG_SMALL,
  labelDim: 10,
  channelMult: [1, 2],
  attnResolutions: [16],
  embeddingType: 'positional',
  channelMultNoise: 1,
  encoderType: 'skip',
  decoderType: 'skip',
  resampleFilter: [1, 1],
};

/** ADM at reduced size: 10 classes, multi-head attention at 8 and 4 (16 channels per head). */
const ADM_SMALL: DhariwalUNetConfig = {
  architecture: 'adm',
  imgResolution: 16,
  inChannels: 3,
  outChannels: 3,
  labelDim: 10,
  modelChannels: 32,
  channelMult: [1, 2, 3],
  channelMultEmb: 4,
  numBlocks: 1,
  attnResolutions: [8, 4],
  channelsPerHead: 16,
  dropout: 0,
  dropoutMaxResolution: 8,
};

function mnistTinyNoDropout(): NetworkConfig {
  return { ...resolvePreset('mnist-tiny').config.network, dropout: 0 };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'networks-test-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Replaces every parameter with random values of a useful size: EDM starts the last conv of
 * each residual branch at (near) zero, which would leave most of the network untested.
 */
function randomizeParameters(net: ImageNetwork, seed: number): void {
  const g = new Generator(seed, 'cpu');
  noGrad(() => {
    for (const p of net.parameters()) {
      tidy(() => {
        const fanIn = p.shape.length >= 2 ? p.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
        const scale = p.shape.length >= 2 ? 1 / Math.sqrt(fanIn) : 0.2;
        const r = randn(p.shape, { generator: g }).mul(scale);
        // Weights are replaced; norm scales and biases are perturbed around their start.
        p.copy_(p.shape.length >= 2 ? r : p.add(r));
      });
    }
  });
}

/**
 * max |a - b| <= tol * max(|b|) + 1e-6, with the first offending index in the message. Measured
 * float32 differences from the reference are about 1e-6 (outputs) and 1e-5 (gradients) of max |b|.
 */
function assertClose(actual: Float32Array, expected: Float32Array, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let maxRef = 0;
  for (const v of expected) maxRef = Math.max(maxRef, Math.abs(v));
  const bound = tol * maxRef + 1e-6;
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= bound, `${what}: max |diff| ${worst} at ${at} (got ${actual[at]}, want ${expected[at]}) exceeds ${bound} (max |ref| ${maxRef})`);
}

/** Same shape and bit-identical values. */
function identical(a: Tensor, b: Tensor): boolean {
  return a.shape.join(',') === b.shape.join(',') && tidy(() => a.eq(b).all());
}

function f32(t: Tensor): Float32Array {
  return t.toFloat32Array();
}

interface Comparison {
  outputs: number;
  gradients: number;
}

/**
 * Builds `config` in TypeScript, randomizes it, runs the same inputs through it and through the
 * Python reference, and compares outputs (train and eval mode) and every parameter's gradient.
 */
function compareWithReference(config: NetworkConfig, opts: { batch: number; intLabels: boolean; seed: number }): Comparison {
  return withTempDir((dir) => {
    const net = createNetwork(config, { generator: new Generator(opts.seed, 'cpu') });
    try {
      randomizeParameters(net, opts.seed + 1);
      const g = new Generator(opts.seed + 2, 'cpu');
      const { batch } = opts;
      const R = config.imgResolution;
      const result = tidy(() => {
        const x = randn([batch, config.inChannels, R, R], { generator: g });
        const noise = randn([batch], { generator: g });
        const upstream = randn([batch, config.outChannels, R, R], { generator: g });
        const labelIds = config.labelDim ? randint(0, config.labelDim, [batch], { generator: g }) : null;
        const labelsOneHot = labelIds ? oneHot(labelIds, config.labelDim) : null;
        const inputs: Record<string, Tensor> = { x, noise_labels: noise, upstream };
        if (labelsOneHot) inputs.class_labels = labelsOneHot;
        saveSafetensors(join(dir, 'weights.safetensors'), net.stateDict());
        saveSafetensors(join(dir, 'inputs.safetensors'), inputs);
        const onDevice = <T extends Tensor | null>(t: T): T => (t === null || DEVICE === 'cpu' ? t : (t.to({ device: DEVICE }) as T));
        const labels = onDevice(opts.intLabels ? labelIds : labelsOneHot);
        if (DEVICE !== 'cpu') net.to(DEVICE);
        const [xd, noised, upd] = [onDevice(x), onDevice(noise), onDevice(upstream)];

        net.train();
        net.zeroGrad();
        const outTrain = net.forward(xd, noised, labels);
        outTrain.mul(upd).sum().backward();
        const grads = new Map<string, Float32Array>();
        for (const [name, p] of net.namedParameters()) {
          const gr = p.grad;
          assert.ok(gr, `no gradient for ${name}`);
          grads.set(name, f32(gr));
          gr.dispose();
        }
        net.eval();
        const outEval = noGrad(() => net.forward(xd, noised, labels));
        return { outTrain: f32(outTrain), outEval: f32(outEval), grads };
      });

      runPythonScript(REF, [
        'run',
        JSON.stringify(config),
        join(dir, 'weights.safetensors'),
        join(dir, 'inputs.safetensors'),
        join(dir, 'out.safetensors'),
      ]);
      const ref = loadSafetensors(join(dir, 'out.safetensors')).tensors;
      try {
        assertClose(result.outTrain, f32(ref.get('out_train')!), 2e-5, 'train-mode output');
        assertClose(result.outEval, f32(ref.get('out_eval')!), 2e-5, 'eval-mode output');
        let gradients = 0;
        for (const [name, grad] of result.grads) {
          const want = ref.get(`grad.${name}`);
          assert.ok(want, `the reference has no gradient for ${name}`);
          assertClose(grad, f32(want), 1e-4, `gradient of ${name}`);
          gradients++;
        }
        assert.equal(gradients, ref.size - 2, 'the reference has gradients the TypeScript network lacks');
        return { outputs: result.outTrain.length, gradients };
      } finally {
        for (const t of ref.values()) t.dispose();
      }
    } finally {
      net.dispose();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Agreement with the Python reference

test(
  `reduced NCSN++ (Fourier, residual encoder, FIR [1,3,3,1], attention) matches the reference: outputs and every gradient (on ${DEVICE})`,
  { skip: SKIP },
  () => {
    const r = compareWithReference(SONG_SMALL, { batch: 3, intLabels: false, seed: 10 });
    assert.ok(r.gradients > 50, `only ${r.gradients} parameters compared`);
  },
);

test(
  `reduced SongUNet with the other paths (positional, class labels, skip encoder/decoder, box filter) matches the reference (on ${DEVICE})`,
  { skip: SKIP },
  () => {
    compareWithReference(SONG_SKIP, { batch: 3, intLabels: true, seed: 20 });
  },
);

test(
  `reduced ADM (scale-shift norm, multi-head attention, 10 classes) matches the reference, with int64 and one-hot labels (on ${DEVICE})`,
  { skip: SKIP },
  () => {
    compareWithReference(ADM_SMALL, { batch: 3, intLabels: true, seed: 30 });
    compareWithReference(ADM_SMALL, { batch: 2, intLabels: false, seed: 31 });
  },
);

test(`the mnist-tiny preset network (dropout 0) matches the reference (on ${DEVICE})`, { skip: SKIP }, () => {
  compareWithReference(mnistTinyNoDropout(), { batch: 2, intLabels: false, seed: 40 });
});

// ---------------------------------------------------------------------------------------------
// Parameter counts

const SPEC_COUNTS: Record<string, number> = {
  // docs/method.md section 5 (EDM's PyTorch implementations, counted there).
  cifar10: 56_395_523,
  'cifar10-deep': 97_610_499,
  imagenet64: 295_899_267,
  'imagenet64-deep': 495_357_699,
};

test('parameter counts of every preset equal the Python reference, and the paper presets equal the spec (EDM) counts', () => {
  const configs = PRESET_NAMES.map((n) => resolvePreset(n).config.network);
  const ddpmpp: SongUNetConfig = {
    ...(resolvePreset('cifar10').config.network as SongUNetConfig),
    embeddingType: 'positional',
    channelMultNoise: 1,
    encoderType: 'standard',
    resampleFilter: [1, 1],
  };
  configs.push(ddpmpp);
  const ref = JSON.parse(runPythonScript(REF, ['count', JSON.stringify(configs)])) as Array<{ parameters: number; buffers: number }>;
  configs.forEach((config, i) => {
    const name = PRESET_NAMES[i] ?? 'DDPM++ (CIFAR-10)';
    const ours = countParameters(config);
    assert.deepEqual(ours, ref[i], `${name}: TypeScript ${JSON.stringify(ours)} vs reference ${JSON.stringify(ref[i])}`);
    const spec = SPEC_COUNTS[name];
    if (spec !== undefined) {
      assert.equal(ours.parameters, spec, `${name}: spec count`);
      assert.equal(resolvePreset(name).referenceParameterCount, spec, `${name}: referenceParameterCount`);
    }
  });
  assert.equal(countParameters(ddpmpp).parameters, 55_732_739, 'DDPM++ count (docs/method.md section 5)');
});

test('CPU presets have the sizes the project asks for', () => {
  const size = (n: string) => countParameters(resolvePreset(n).config.network).parameters;
  const tiny = size('mnist-tiny');
  assert.ok(tiny >= 1e6 && tiny <= 2e6, `mnist-tiny has ${tiny} parameters, want 1-2M`);
  const quick = size('mnist-quick');
  assert.ok(quick >= 3e5 && quick <= 1e6, `mnist-quick has ${quick} parameters, want 0.3-1M`);
  const cpu = size('cifar10-cpu');
  assert.ok(cpu >= 1e6 && cpu <= 3e6, `cifar10-cpu has ${cpu} parameters, want 1-3M (a few hours of training on 2 cores)`);
  for (const n of ['mnist-tiny', 'mnist-quick']) {
    const p = resolvePreset(n).config;
    assert.equal(p.network.inChannels, 1);
    assert.equal(p.network.imgResolution, 28 + (p.data.pad32 ? 4 : 0), `${n}: 28x28 digits (padded or not) are the network's input`);
  }
  // mnist-quick (28x28) attends only at 7x7 (the decoder's first block at the lowest resolution).
  const quickNet = buildNetwork('mnist-quick', { values: 'uninitialized' });
  try {
    const attending = [...quickNet.namedParameters().keys()].filter((k) => k.endsWith('.qkv.weight'));
    assert.deepEqual(attending, ['dec.7x7_in0.qkv.weight']);
  } finally {
    quickNet.dispose();
  }
});

test("an uninitialized build has the same tensor names and shapes as a random one, and the paper presets' key settings", () => {
  const a = createNetwork(SONG_SMALL, { values: 'uninitialized' });
  const b = createNetwork(SONG_SMALL, { generator: new Generator(1, 'cpu') });
  try {
    const shapes = (n: ImageNetwork) => [...n.stateDict()].map(([k, t]) => `${k}:${t.shape.join('x')}`);
    assert.deepEqual(shapes(a), shapes(b));
  } finally {
    a.dispose();
    b.dispose();
  }
  const c = resolvePreset('cifar10').config;
  assert.equal(c.network.architecture, 'song');
  const song = c.network;
  assert.equal(song.fourierScale, 0.02);
  assert.deepEqual(song.resampleFilter, [1, 3, 3, 1]);
  assert.equal(song.dropout, 0.3);
  assert.equal(c.sampling.secondSigma, 0.821);
  assert.equal(c.training.emaRate, 0.99993);
  assert.equal(c.method.noiseEmbedding, 'fourier');
  const i = resolvePreset('imagenet64').config;
  assert.equal(i.method.noiseEmbedding, 'positional');
  assert.equal(i.sampling.secondSigma, 1.526);
  assert.equal(i.network.dropout, 0.2);
  // resolvePreset returns copies.
  c.network.numBlocks = 99;
  assert.equal(resolvePreset('cifar10').config.network.numBlocks, 4);
  assert.throws(() => resolvePreset('cifar100'), /unknown preset 'cifar100'; expected one of cifar10, cifar10-deep/);
});

// ---------------------------------------------------------------------------------------------
// Dropout

test(`dropout masks come from the module generator on ${DEVICE}: a restored state replays the pass, eval mode has none`, { skip: SKIP }, () => {
  const config: SongUNetConfig = { ...SONG_SMALL, dropout: 0.3 };
  const dropoutGen = new Generator(7, DEVICE);
  const net = createNetwork(config, { generator: new Generator(3, 'cpu'), dropoutGenerator: dropoutGen });
  try {
    randomizeParameters(net, 4);
    if (DEVICE !== 'cpu') net.to(DEVICE);
    tidy(() => {
      const g = new Generator(5, 'cpu');
      const x = randn([2, 3, 16, 16], { generator: g }).to({ device: DEVICE });
      const noise = randn([2], { generator: g }).to({ device: DEVICE });
      net.train();
      const state = dropoutGen.getState();
      const y1 = net.forward(x, noise);
      dropoutGen.setState(state);
      const y2 = net.forward(x, noise);
      const y3 = net.forward(x, noise);
      assert.ok(identical(y1, y2), 'the same generator state must give the same masks');
      assert.ok(!y1.allClose(y3, 1e-3, 1e-4), 'a later generator state must give other masks');
      net.eval();
      const e1 = net.forward(x, noise);
      const e2 = net.forward(x, noise);
      assert.ok(identical(e1, e2), 'eval mode has no dropout');
      assert.ok(!e1.allClose(y1, 1e-3, 1e-4), 'train mode with p=0.3 differs from eval mode');
    });
  } finally {
    net.dispose();
  }
});

test('ADM applies dropout only in blocks at resolution 16 and below (imagenet64 preset)', () => {
  const net = buildNetwork('imagenet64', { values: 'uninitialized' });
  try {
    let checked = 0;
    const visit = (prefix: string, m: { children(): Map<string, unknown> }) => {
      for (const [name, child] of m.children()) {
        if (child instanceof UNetBlock) {
          const res = Number(/^(\d+)x\d+_/.exec(name)?.[1]);
          assert.ok(res > 0, `block name ${prefix}${name}`);
          assert.equal(child.dropout, res <= 16 ? 0.2 : 0, `${prefix}${name}`);
          checked++;
        } else if (child && typeof child === 'object' && 'children' in child) {
          visit(`${prefix}${name}.`, child as { children(): Map<string, unknown> });
        }
      }
    };
    visit('', net);
    // Encoder: 3 downsampling blocks + 4 levels x 3 blocks; decoder: 2 middle + 3 upsampling + 4 levels x 4 blocks.
    assert.equal(checked, 3 + 4 * 3 + 2 + 3 + 4 * 4, 'every block of the network was checked');
  } finally {
    net.dispose();
  }
});

// ---------------------------------------------------------------------------------------------
// Loading weights, inputs, memory

test('loading weights with a missing, extra or mis-shaped tensor fails with an error naming it', () => {
  withTempDir((dir) => {
    const src = createNetwork(ADM_SMALL, { generator: new Generator(1, 'cpu') });
    const dst = createNetwork(ADM_SMALL, { values: 'uninitialized' });
    try {
      const file = join(dir, 'w.safetensors');
      saveSafetensors(file, src.stateDict());
      const load = () => loadSafetensors(file).tensors;

      // The round trip restores every tensor exactly.
      const good = load();
      dst.loadStateDict(good);
      for (const [k, t] of src.stateDict()) assert.ok(identical(t, dst.stateDict().get(k)!), `${k} after loading`);

      const missing = load();
      missing.delete('enc.8x8_block0.qkv.weight');
      assert.throws(
        () => dst.loadStateDict(missing),
        (e: unknown) => e instanceof StateDictError && /missing: enc\.8x8_block0\.qkv\.weight/.test(e.message),
      );

      const extra = load();
      extra.set('dec.extra.weight', randn([3]));
      assert.throws(
        () => dst.loadStateDict(extra),
        (e: unknown) => e instanceof StateDictError && /unexpected: dec\.extra\.weight/.test(e.message),
      );

      const misShaped = load();
      misShaped.set('map_label.weight', randn([128, 11]));
      assert.throws(
        () => dst.loadStateDict(misShaped),
        (e: unknown) => e instanceof StateDictError && /mis-shaped: map_label\.weight \(expected \[128, 10\], got \[128, 11\]\)/.test(e.message),
      );
      for (const m of [good, missing, extra, misShaped]) for (const t of m.values()) t.dispose();
    } finally {
      src.dispose();
      dst.dispose();
    }
  });
});

test('state dict names follow EDM (so EDM-layout checkpoints load)', () => {
  const net = createNetwork(SONG_SMALL, { values: 'uninitialized' });
  try {
    const names = [...net.stateDict().keys()];
    for (const n of [
      'map_noise.freqs',
      'map_layer0.weight',
      'enc.16x16_conv.weight',
      'enc.8x8_down.conv0.resample_filter',
      'enc.8x8_aux_residual.weight',
      'enc.8x8_block0.qkv.weight',
      'dec.4x4_in0.proj.bias',
      'dec.16x16_aux_conv.weight',
      'dec.16x16_aux_norm.weight',
    ])
      assert.ok(names.includes(n), `no tensor named ${n}`);
  } finally {
    net.dispose();
  }
});

test('forward checks its inputs and names the problem', () => {
  const song = createNetwork(SONG_SMALL, { values: 'uninitialized' });
  const adm = createNetwork(ADM_SMALL, { generator: new Generator(2, 'cpu') });
  try {
    tidy(() => {
      const x = randn([2, 3, 16, 16]);
      const noise = randn([2]);
      assert.throws(() => song.forward(randn([2, 3, 8, 8]), noise), /SongUNet\.forward: x must be \[N, 3, 16, 16\], got \[2, 3, 8, 8\]/);
      assert.throws(() => song.forward(x, randn([3])), /noiseLabels must be \[2\]/);
      assert.throws(() => song.forward(x, noise, randint(0, 10, [2])), /classLabels given to an unconditional network/);
      assert.throws(() => adm.forward(x, noise), /DhariwalUNet\.forward: classLabels are required \(labelDim 10\)/);
      assert.throws(() => adm.forward(x, noise, randn([2, 9])), /one-hot classLabels must be \[2, 10\], got \[2, 9\]/);
      assert.throws(() => adm.forward(x, noise, randint(10, 12, [2])), /class labels must be integers in \[0, 10\)/);
    });
    assert.throws(() => createNetwork({ ...SONG_SMALL, imgResolution: 18 }), /imgResolution must be divisible by 2\^2/);
    assert.throws(() => createNetwork({ ...ADM_SMALL, channelsPerHead: 20 }), /channelsPerHead 20 does not divide the 64 channels at 8x8/);
    assert.throws(() => createNetwork({ ...SONG_SMALL, dropout: 1 }), /dropout must be a number in \[0, 1\)/);
    assert.throws(() => buildNetwork('nope'), /unknown preset 'nope'/);
    assert.throws(
      () => new ResampleConv2d(4, 4, 3, { mode: 'xavier_uniform' }, { up: true, fused: true }),
      /fused resampling is only for downsampling/,
    );
    assert.throws(
      () => new ResampleConv2d(4, 4, 0, { mode: 'xavier_uniform' }, { down: true, resampleFilter: [1, 2, 1] }),
      /even, non-zero number of taps/,
    );
    assert.throws(() => createNetwork({ ...SONG_SMALL, resampleFilter: [1, 2, 1] }), /resampleFilter must be of even length/);
  } finally {
    song.dispose();
    adm.dispose();
  }
});

test('a forward and backward pass inside tidy leaves no tensors behind', () => {
  const net = createNetwork(ADM_SMALL, { generator: new Generator(9, 'cpu') });
  try {
    const before = liveTensorCount();
    tidy(() => {
      const y = net.forward(randn([2, 3, 16, 16]), randn([2]), randint(0, 10, [2]));
      y.square().mean().backward();
    });
    net.zeroGrad();
    assert.equal(liveTensorCount(), before);
  } finally {
    net.dispose();
  }
});

test('initialization is reproducible from the generator seed', () => {
  const a = createNetwork(SONG_SMALL, { generator: new Generator(11, 'cpu') });
  const b = createNetwork(SONG_SMALL, { generator: new Generator(11, 'cpu') });
  const c = createNetwork(SONG_SMALL, { generator: new Generator(12, 'cpu') });
  try {
    const sa = a.stateDict();
    const sb = b.stateDict();
    const sc = c.stateDict();
    for (const [k, t] of sa) assert.ok(identical(t, sb.get(k)!), `${k}: same seed`);
    assert.ok(!identical(sa.get('enc.16x16_conv.weight')!, sc.get('enc.16x16_conv.weight')!), 'another seed gives other weights');
    // EDM's near-zero start of each residual branch's last conv (NCSN++: xavier * 1e-5).
    const w = sa.get('dec.16x16_aux_conv.weight')!;
    assert.ok(tidy(() => w.abs().max().item()) < 1e-4);
  } finally {
    a.dispose();
    b.dispose();
    c.dispose();
  }
});

// ---------------------------------------------------------------------------------------------
// The describe command

test('consistency describe prints the exact parameter count (text and JSON); a bad preset exits 2 with one line', () => {
  const json = spawnSync(process.execPath, [CLI, 'describe', '--preset', 'imagenet64-deep', '--json'], { encoding: 'utf8' });
  assert.equal(json.status, 0, json.stderr);
  const d = JSON.parse(json.stdout) as {
    parameters: number;
    referenceParameterCount: number;
    network: { numBlocks: number };
    sampling: { secondSigma: number };
  };
  assert.equal(d.parameters, 495_357_699);
  assert.equal(d.referenceParameterCount, 495_357_699);
  assert.equal(d.network.numBlocks, 6);
  assert.equal(d.sampling.secondSigma, 1.526);

  const text = spawnSync(process.execPath, [CLI, 'describe', '--preset', 'cifar10'], { encoding: 'utf8' });
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /parameters\s+56,395,523 \(equals EDM's count\)/);
  assert.match(text.stdout, /fourierScale\s+0\.02/);

  const bad = spawnSync(process.execPath, [CLI, 'describe', '--preset', 'cifar100'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(
    bad.stderr,
    /--preset must be one of cifar10, cifar10-deep, imagenet64, imagenet64-deep, cifar10-cpu, mnist-tiny, mnist-quick; got 'cifar100'/,
  );
});
