/**
 * End to end on a 2-D toy (docs/method.md sections 1-6 together): a small MLP with a Fourier noise embedding,
 * trained with iCT (the training step, src/train/step.ts) on a mixture of 8 Gaussians, gives one-step samples
 * whose sliced Wasserstein distance to held-out data is within 3x that of a second held-out set of
 * the same size. The same budget with the original CT (EMA teacher, sqrt curriculum, uniform
 * levels, L2 metric since LPIPS needs images) is trained and its figure printed, not asserted.
 *
 * A point is a sample [2] (D = 2); the data are scaled so that each coordinate has a standard
 * deviation near sigma_data = 0.5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Generator, Tensor, cat, randn, randint, tidy, nnf, setNumThreads, liveTensorCount, type Precision } from '../src/tensor/index.js';
import { Module } from '../src/nn/module.js';
import { Linear } from '../src/nn/linear.js';
import { ConsistencyDenoiser } from '../src/method/denoiser.js';
import { ConsistencyLoss } from '../src/method/loss.js';
import { ExponentialMovingAverage } from '../src/method/ema.js';
import { methodPreset, type MethodConfig } from '../src/method/presets.js';
import { sampleOneStep } from '../src/method/samplers.js';
import { trainingStep, type TrainingStepContext } from '../src/train/step.js';
import { Adam } from '../src/optim/adam.js';
import { runPythonScript } from './helpers/python.js';

setNumThreads(1);

// The toy: 8 Gaussians on a circle of radius 2 (std 0.1), scaled by 1 / (2 sqrt 2) so that each
// coordinate's standard deviation is about 0.5 = sigma_data.
const MODES = 8;
const RADIUS = 2;
const MODE_STD = 0.1;
const SCALE = 1 / (2 * Math.SQRT2);

// The budget: about 10 s of one core per run (3.3 ms a step). Adam at 2e-3, decayed linearly to 0
// over the second half; the evaluation EMA is EDM2's power function with sigma_rel = 0.05.
const STEPS = 3000;
const BATCH = 256;
const LR = 2e-3;
const HIDDEN = 128;
// The Fourier embedding's frequency scale: small, as iCT lowered NCSN++'s 16 to 0.02 (docs/method.md
// section 5); at 1 the one-step map drifts between seeds (radius shrinks).
const FOURIER_SCALE = 0.02;
// Evaluation: EVAL_SETS independent draws of EVAL_POINTS points each.
const EVAL_POINTS = 1000;
const EVAL_SETS = 8;

/** Draws n points of the mixture (scaled), [n, 2]. */
function mixture(n: number, g: Generator): Tensor {
  return tidy(() => {
    const k = randint(0, MODES, [n], { generator: g })
      .toDtype('float32')
      .mul((2 * Math.PI) / MODES);
    const centers = cat([k.cos().unsqueeze(1), k.sin().unsqueeze(1)], 1).mul(RADIUS);
    return centers.add(randn([n, 2], { generator: g }).mul(MODE_STD)).mul(SCALE);
  });
}

/** MLP F(x, c_noise): Fourier features of c_noise (fixed random frequencies) enter every layer. */
class ToyMlp extends Module {
  readonly inp: Linear;
  readonly hidden: Linear[];
  readonly emb: Linear;
  readonly out: Linear;

  constructor(width: number, init: Generator) {
    super();
    const o = { generator: init };
    this.registerBuffer(
      'freqs',
      tidy(() => randn([16], { generator: init }).mul(2 * Math.PI * FOURIER_SCALE)),
    );
    this.emb = this.registerModule('emb', new Linear(32, width, o));
    this.inp = this.registerModule('inp', new Linear(2, width, o));
    this.hidden = [0, 1].map((i) => this.registerModule(`hidden${i}`, new Linear(width, width, o)));
    this.out = this.registerModule('out', new Linear(width, 2, o));
  }

  forward(x: Tensor, noiseLabels: Tensor): Tensor {
    return tidy(() => {
      const phase = noiseLabels.unsqueeze(1).mul(this.tensor('freqs').unsqueeze(0));
      const e = this.emb.forward(cat([phase.sin(), phase.cos()], 1));
      let h = nnf.silu(this.inp.forward(x).add(e));
      for (const layer of this.hidden) h = nnf.silu(layer.forward(h).add(e));
      return this.out.forward(h);
    });
  }
}

/** Sliced 1-Wasserstein distance between two point sets of equal size, over `directions` fixed directions. */
function slicedWasserstein(a: Float32Array, b: Float32Array, directions = 128): number {
  const n = a.length / 2;
  assert.equal(b.length, a.length);
  let total = 0;
  for (let d = 0; d < directions; d++) {
    const angle = (Math.PI * d) / directions;
    const [u, v] = [Math.cos(angle), Math.sin(angle)];
    const pa = new Float64Array(n);
    const pb = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      pa[i] = u * a[2 * i]! + v * a[2 * i + 1]!;
      pb[i] = u * b[2 * i]! + v * b[2 * i + 1]!;
    }
    pa.sort();
    pb.sort();
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.abs(pa[i]! - pb[i]!);
    total += s / n;
  }
  return total / directions;
}

interface ToyResult {
  swd: number;
  baseline: number;
  untrainedSwd: number;
  firstLoss: number;
  lastLoss: number;
  seconds: number;
}

/**
 * The one-step samples of `network` against held-out data: EVAL_SETS independent draws of model
 * samples M_k and held-out sets A_k, B_k (EVAL_POINTS each); returns the averages of SWD(M_k, A_k)
 * and SWD(B_k, A_k). One pair alone is too noisy: the mode counts of two held-out sets of 1000
 * vary enough to move their distance by 3x.
 */
function evaluate(network: ToyMlp, config: MethodConfig, seed: number): { swd: number; baseline: number } {
  const wasTraining = network.training;
  network.eval();
  const model = new ConsistencyDenoiser(network, config);
  const evalGen = new Generator(seed + 6);
  let swd = 0;
  let baseline = 0;
  for (let k = 0; k < EVAL_SETS; k++) {
    const [m, a, b] = tidy(() => {
      const z = randn([EVAL_POINTS, 2], { generator: evalGen });
      return [
        sampleOneStep(model, z, { sigmaMax: config.sigmaMax }).toFloat32Array(),
        mixture(EVAL_POINTS, evalGen).toFloat32Array(),
        mixture(EVAL_POINTS, evalGen).toFloat32Array(),
      ];
    });
    swd += slicedWasserstein(m, a) / EVAL_SETS;
    baseline += slicedWasserstein(b, a) / EVAL_SETS;
  }
  network.train(wasTraining);
  return { swd, baseline };
}

function trainToy(config: MethodConfig, seed: number, precision: Precision = 'fp32'): ToyResult {
  const started = Date.now();
  const net = new ToyMlp(HIDDEN, new Generator(seed));
  const untrained = evaluate(net, config, seed); // the criterion must be able to fail
  net.setGenerator(new Generator(seed + 1));
  let teacher: ToyMlp | undefined;
  if (config.teacher === 'ema') {
    teacher = new ToyMlp(HIDDEN, new Generator(seed));
    teacher.setGenerator(new Generator(seed + 2));
    teacher.loadStateDict(net.stateDict());
  }
  const adam = new Adam(net, { lr: LR });
  const ctx: TrainingStepContext = {
    student: new ConsistencyDenoiser(net),
    teacher: teacher && new ConsistencyDenoiser(teacher),
    loss: new ConsistencyLoss(config),
    optimizer: adam,
    lr: LR,
    ema: new ExponentialMovingAverage(net, { kind: 'power', sigmaRel: 0.05 }),
    totalSteps: STEPS,
    seed: seed + 3,
    maxGradNorm: 10,
    precision, // training only: the EMA network below samples in float32
  };
  const dataGen = new Generator(seed + 5);
  const losses: number[] = [];
  let live = -1;
  for (let k = 0; k < STEPS; k++) {
    if (k === 1) live = liveTensorCount(); // after the optimizer has made its state
    ctx.lr = LR * Math.min(1, (2 * (STEPS - k)) / STEPS);
    const x = mixture(BATCH, dataGen);
    const r = trainingStep(ctx, { x }, k);
    x.dispose();
    losses.push(r.loss);
    assert.ok(r.status === 'ok' && Number.isFinite(r.loss) && Number.isFinite(r.gradNorm), `step ${k}: ${r.status}, loss ${r.loss}`);
  }
  assert.equal(liveTensorCount(), live, 'training steps free every temporary');

  // One-step samples from the EMA weights against held-out data.
  const evalNet = new ToyMlp(HIDDEN, new Generator(seed));
  ctx.ema!.copyTo(evalNet);
  const trained = evaluate(evalNet, config, seed);
  const mean = (v: number[]) => v.reduce((p, q) => p + q, 0) / v.length;
  const result = {
    swd: trained.swd,
    baseline: trained.baseline,
    untrainedSwd: untrained.swd,
    firstLoss: mean(losses.slice(0, 50)),
    lastLoss: mean(losses.slice(-50)),
    seconds: (Date.now() - started) / 1000,
  };
  for (const m of [net, teacher, evalNet]) m?.dispose();
  adam.dispose();
  ctx.ema!.dispose();
  return result;
}

function report(name: string, r: ToyResult): string {
  return `${name}: one-step SWD ${r.swd.toFixed(4)} vs held-out baseline ${r.baseline.toFixed(4)} (ratio ${(r.swd / r.baseline).toFixed(2)}; untrained ${(r.untrainedSwd / r.baseline).toFixed(2)}), loss ${r.firstLoss.toPrecision(3)} -> ${r.lastLoss.toPrecision(3)}, ${r.seconds.toFixed(1)} s`;
}

// Runs are deterministic on one thread; TOY_SEED picks another seed (for checking robustness).
const SEED = process.env.TOY_SEED !== undefined ? Number(process.env.TOY_SEED) : 1;

test('iCT on 8 Gaussians: one-step samples within 3x the held-out sliced Wasserstein distance', () => {
  const r = trainToy(methodPreset('ict'), SEED);
  console.log(report('iCT', r));
  assert.ok(r.untrainedSwd > 3 * r.baseline, `the untrained network already passes: ${report('iCT', r)}`);
  assert.ok(r.swd <= 3 * r.baseline, report('iCT', r));
});

// bf16 against the reference: PyTorch's own bf16 autocast training of the same toy
// (test/reference/toy_ref.py, written from the method and this file's description) decides what
// "bf16 converges like float32" can mean here. Measured (seed 1): float32 1.44x the held-out
// distance here, 1.36x in PyTorch; bf16 4.5x here, 4.7x in PyTorch (seed 2: 4.66x here), final
// losses 0.63 on both sides against float32's 0.41. Nothing the issue wants in float32 runs in
// bf16 (weights, gradients, Adam state, EMA, the pseudo-Huber distance and the loss weights are
// float32: test/precision-train.test.ts). The floor is bf16's own: the consistency loss compares
// f at two adjacent levels whose outputs differ by far less than bf16's 8-bit rounding of the
// inputs and activations of every layer (pseudo-Huber c = 0.00076 here); PyTorch with only the
// last layer in float32 still ends at 4.2x. So the test asserts that bf16 is no worse than
// PyTorch's bf16 on the same problem (within 1.3x its distance ratio and 1.1x its final loss), and
// that it learns (below 6x, against 15-16x untrained).
test('iCT trained in bf16 autocast (float32 master weights, loss and EMA) converges as PyTorch bf16 autocast does on the same toy', () => {
  const r = trainToy(methodPreset('ict'), SEED, 'bf16');
  console.log(report('iCT bf16', r));
  const out = runPythonScript('test/reference/toy_ref.py', ['--seeds', String(SEED), '--precisions', 'bf16']);
  const ref = JSON.parse(out.trim().split('\n').pop()!) as { ratio: number; last_loss: number; first_loss: number; torch: string };
  const refText = `PyTorch ${ref.torch} bf16: ratio ${ref.ratio.toFixed(2)}, loss ${ref.first_loss.toPrecision(3)} -> ${ref.last_loss.toPrecision(3)}`;
  console.log(refText);
  assert.ok(r.untrainedSwd > 6 * r.baseline, `the untrained network already passes: ${report('iCT bf16', r)}`);
  assert.ok(r.swd <= 6 * r.baseline, report('iCT bf16', r));
  assert.ok(r.swd / r.baseline <= 1.3 * ref.ratio, `${report('iCT bf16', r)}; ${refText}`);
  assert.ok(r.lastLoss <= 1.1 * ref.last_loss, `${report('iCT bf16', r)}; ${refText}`);
  assert.ok(r.lastLoss < 0.95 * r.firstLoss, `the loss falls: ${report('iCT bf16', r)}`);
});

test('original CT at the same budget (figure printed, not asserted)', () => {
  const r = trainToy(methodPreset('ct', { metric: { kind: 'l2' } }), SEED);
  console.log(report('CT (L2)', r));
  assert.ok(Number.isFinite(r.swd));
});
