/**
 * Tests of src/method/samplers.ts and src/method/editing.ts (docs/method.md section 6) with an analytic
 * network F(u, c) = a tanh(u) + 0.05 c, whose consistency function is computed here again in
 * float64 from the spec's formulas: one step is f(sigma_max z); two steps follow
 * x = f(f(sigma_max z) + sqrt(t^2 - sigma_min^2) z', t); editing keeps the known part exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Generator, Tensor, randn, rand, tensor, tidy, nnf, setNumThreads, dispose, liveTensorCount } from '../src/tensor/index.js';
import { ConsistencyDenoiser, type ConsistencyNetwork } from '../src/method/denoiser.js';
import { sampleMultistep, sampleOneStep, twoStepLevels, multistepLoop } from '../src/method/samplers.js';
import { LUMA_WEIGHTS, colorTransform, colorize, inpaint, interpolateNoises, slerp, superResolve } from '../src/method/editing.js';

setNumThreads(1);

const SIGMA_MIN = 0.002;
const SD = 0.5;

class AnalyticNet implements ConsistencyNetwork {
  calls = 0;
  constructor(readonly a = 1) {}
  forward(x: Tensor, noiseLabels: Tensor): Tensor {
    this.calls++;
    return tidy(() =>
      nnf
        .tanh(x)
        .mul(this.a)
        .add(noiseLabels.reshape([x.shape[0]!, ...x.shape.slice(1).map(() => 1)]).mul(0.05)),
    );
  }
}

/** f(x, s) of the analytic network in float64 (docs/method.md section 1). */
function f64(x: number, s: number, a = 1): number {
  const cSkip = (SD * SD) / ((s - SIGMA_MIN) ** 2 + SD * SD);
  const cOut = (SD * (s - SIGMA_MIN)) / Math.sqrt(SD * SD + s * s);
  const cIn = 1 / Math.sqrt(s * s + SD * SD);
  return cSkip * x + cOut * (a * Math.tanh(cIn * x) + 0.05 * 0.25 * Math.log(s));
}

const clip = (v: number) => Math.min(1, Math.max(-1, v));

test('one step is f(sigma_max z, sigma_max) clipped to [-1, 1]', () => {
  const model = new ConsistencyDenoiser(new AnalyticNet(3));
  const g = new Generator(1);
  tidy(() => {
    const z = randn([6, 2, 3, 3], { generator: g });
    const out = sampleOneStep(model, z);
    const direct = model.forward(z.mul(80), 80).clamp(-1, 1);
    assert.deepEqual(out.toFloat32Array(), direct.toFloat32Array());
    const zs = z.toFloat32Array();
    const os = out.toFloat32Array();
    let clipped = 0;
    for (let i = 0; i < zs.length; i++) {
      const want = clip(f64(80 * zs[i]!, 80, 3));
      if (Math.abs(want) === 1) clipped++;
      assert.ok(Math.abs(os[i]! - want) <= 1e-5, `${i}: ${os[i]} vs ${want}`);
      assert.ok(os[i]! >= -1 && os[i]! <= 1);
    }
    assert.ok(clipped > 0, 'some values were clipped (a = 3 pushes past 1)');
    // sigmaMax option
    assert.deepEqual(sampleOneStep(model, z, { sigmaMax: 40 }).toFloat32Array(), model.forward(z.mul(40), 40).clamp(-1, 1).toFloat32Array());
  });
});

test('two steps follow the spec: x = f(x1 + sqrt(t^2 - sigma_min^2) z2, t), the noise z2 from the given generator', () => {
  const model = new ConsistencyDenoiser(new AnalyticNet());
  assert.deepEqual(twoStepLevels(), [80, 0.821]);
  assert.deepEqual(twoStepLevels('imagenet64'), [80, 1.526]);
  const g = new Generator(2);
  tidy(() => {
    const z = randn([4, 3, 2, 2], { generator: g });
    const gen = new Generator(99);
    const state = gen.getState();
    const out = sampleMultistep(model, z, [80, 0.821], gen).toFloat32Array();
    gen.setState(state);
    const z2 = randn(z.shape, { generator: gen }).toFloat32Array();
    const zs = z.toFloat32Array();
    const t = 0.821;
    for (let i = 0; i < zs.length; i++) {
      const x1 = f64(80 * zs[i]!, 80);
      const want = clip(f64(x1 + Math.sqrt(t * t - SIGMA_MIN * SIGMA_MIN) * z2[i]!, t));
      assert.ok(Math.abs(out[i]! - want) <= 1e-5, `${i}: ${out[i]} vs ${want}`);
    }
    // Three levels: one more round of the same.
    gen.setState(state);
    const out3 = sampleMultistep(model, z, [80, 2, 0.5], gen).toFloat32Array();
    gen.setState(state);
    const n2 = randn(z.shape, { generator: gen }).toFloat32Array();
    const n3 = randn(z.shape, { generator: gen }).toFloat32Array();
    for (let i = 0; i < zs.length; i++) {
      let x = f64(80 * zs[i]!, 80);
      x = f64(x + Math.sqrt(4 - SIGMA_MIN ** 2) * n2[i]!, 2);
      x = clip(f64(x + Math.sqrt(0.25 - SIGMA_MIN ** 2) * n3[i]!, 0.5));
      assert.ok(Math.abs(out3[i]! - x) <= 1e-5, `3 levels ${i}: ${out3[i]} vs ${x}`);
    }
  });
});

test('sampler level checks and memory', () => {
  const model = new ConsistencyDenoiser(new AnalyticNet());
  const z = randn([2, 3]);
  assert.throws(
    () => sampleMultistep(model, z, [80, 90], new Generator(1)),
    (e: Error) => e instanceof RangeError && /levels must decrease strictly, got levels\[0\]=80 then levels\[1\]=90/.test(e.message),
  );
  assert.throws(() => sampleMultistep(model, z, [80, 0.001], new Generator(1)), /levels\[1\] must be a finite number >= sigmaMin=0.002, got 0.001/);
  assert.throws(() => sampleMultistep(model, z, [], new Generator(1)), /non-empty/);
  assert.throws(() => sampleMultistep(model, z, [80, 1], undefined), /needs a generator/);
  assert.throws(() => twoStepLevels('cifar10', 0.5), /sigmaMax must be > 0.821, got 0.5/);
  const live = liveTensorCount();
  const out = sampleMultistep(model, z, [80, 5, 1, 0.3], new Generator(3));
  assert.equal(liveTensorCount(), live + 1, 'only the output survives');
  dispose([out, z]);
});

test('inpainting keeps the known pixels exactly and generates the rest', () => {
  const net = new AnalyticNet();
  const model = new ConsistencyDenoiser(net);
  const g = new Generator(4);
  tidy(() => {
    const images = rand([2, 3, 8, 8], { generator: g }).mul(2).sub(1);
    // Known: the left half of every image.
    const maskData = new Uint8Array(64).map((_, i) => (i % 8 < 4 ? 1 : 0));
    const known = tensor(maskData, [1, 1, 8, 8], { dtype: 'uint8' });
    const out = inpaint(model, images, known, [80, 2, 0.5], new Generator(5));
    const o = out.toFloat32Array();
    const y = images.toFloat32Array();
    let changed = 0;
    for (let i = 0; i < o.length; i++) {
      if (i % 8 < 4) assert.equal(o[i], y[i], `known pixel ${i}`);
      else if (o[i] !== y[i]) changed++;
    }
    assert.ok(changed > 0.9 * (o.length / 2), 'unknown pixels are generated');
    assert.equal(net.calls, 3, 'one network call per level');
    // A boolean mask works the same.
    const again = inpaint(model, images, known.ne(0), [80, 2, 0.5], new Generator(5));
    assert.deepEqual(again.toFloat32Array(), o);
    assert.throws(() => inpaint(model, images.reshape([2, 192]), known, [80], new Generator(5)), /images must be \[N, C, H, W\], got \[2, 192\]/);
  });
});

test("super-resolution: every patch's mean equals the low-resolution pixel (2x and 4x)", () => {
  const model = new ConsistencyDenoiser(new AnalyticNet(0.3));
  const g = new Generator(6);
  for (const factor of [2, 4]) {
    tidy(() => {
      const low = rand([2, 3, 3, 2], { generator: g }).sub(0.5);
      const out = superResolve(model, low, factor, [80, 5], new Generator(7));
      assert.deepEqual(out.shape, [2, 3, 3 * factor, 2 * factor]);
      const o = out.toFloat32Array();
      const l = low.toFloat32Array();
      const H = 3 * factor;
      const W = 2 * factor;
      let checked = 0;
      for (let nc = 0; nc < 6; nc++)
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 2; j++) {
            let sum = 0;
            let anyClipped = false;
            let spread = 0;
            for (let di = 0; di < factor; di++)
              for (let dj = 0; dj < factor; dj++) {
                const v = o[nc * H * W + (i * factor + di) * W + j * factor + dj]!;
                if (Math.abs(v) >= 1) anyClipped = true;
                sum += v;
                spread = Math.max(spread, Math.abs(v - o[nc * H * W + i * factor * W + j * factor]!));
              }
            if (anyClipped) continue;
            assert.ok(Math.abs(sum / (factor * factor) - l[nc * 6 + i * 2 + j]!) <= 1e-5, `patch ${nc},${i},${j}`);
            assert.ok(spread > 0, 'the patch has generated detail');
            checked++;
          }
      assert.ok(checked >= 30, `${checked} patches checked`);
    });
  }
});

test('colorization: the output luma equals the gray input; the transform is orthogonal with the luma axis first', () => {
  const Q = colorTransform();
  const norm = Math.hypot(...LUMA_WEIGHTS);
  for (let a = 0; a < 3; a++)
    for (let b = 0; b < 3; b++) {
      const dot = Q[0]![a]! * Q[0]![b]! + Q[1]![a]! * Q[1]![b]! + Q[2]![a]! * Q[2]![b]!;
      assert.ok(Math.abs(dot - (a === b ? 1 : 0)) < 1e-12, `Q^T Q at ${a},${b}`);
    }
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(Q[c]![0]! - LUMA_WEIGHTS[c]! / norm) < 1e-15);
  const model = new ConsistencyDenoiser(new AnalyticNet(0.3));
  const g = new Generator(8);
  tidy(() => {
    const gray = rand([2, 1, 4, 4], { generator: g }).sub(0.5);
    const out = colorize(model, gray, [80, 5], new Generator(9));
    assert.deepEqual(out.shape, [2, 3, 4, 4]);
    const o = out.toFloat32Array();
    const gv = gray.toFloat32Array();
    let colorful = 0;
    for (let n = 0; n < 2; n++)
      for (let p = 0; p < 16; p++) {
        const rgb = [0, 1, 2].map((c) => o[n * 48 + c * 16 + p]!);
        if (rgb.some((v) => Math.abs(v) >= 1)) continue;
        const luma = LUMA_WEIGHTS[0] * rgb[0]! + LUMA_WEIGHTS[1] * rgb[1]! + LUMA_WEIGHTS[2] * rgb[2]!;
        assert.ok(Math.abs(luma - gv[n * 16 + p]!) <= 1e-5, `pixel ${n},${p}: luma ${luma} vs ${gv[n * 16 + p]}`);
        if (Math.abs(rgb[0]! - rgb[2]!) > 1e-3) colorful++;
      }
    assert.ok(colorful > 16, 'chroma is generated');
    assert.throws(() => colorize(model, out, [80], new Generator(1)), /gray must be \[N, 1, H, W\], got \[2, 3, 4, 4\]/);
  });
});

test('interpolation: spherical between two noises; the endpoints reproduce the endpoint samples', () => {
  const model = new ConsistencyDenoiser(new AnalyticNet());
  const g = new Generator(10);
  tidy(() => {
    const z0 = randn([3, 2, 4], { generator: g });
    const z1 = randn([3, 2, 4], { generator: g });
    assert.deepEqual(slerp(z0, z1, 0).toFloat32Array(), z0.toFloat32Array());
    assert.deepEqual(slerp(z0, z1, 1).toFloat32Array(), z1.toFloat32Array());
    // Midpoint: sin(theta/2)/sin(theta) (z0 + z1) = (z0 + z1) / (2 cos(theta/2)), theta the angle per sample.
    const mid = slerp(z0, z1, 0.5).toFloat64Array();
    const a = z0.toFloat64Array();
    const b = z1.toFloat64Array();
    for (let n = 0; n < 3; n++) {
      const dot = (u: Float64Array, v: Float64Array) => {
        let s = 0;
        for (let i = n * 8; i < (n + 1) * 8; i++) s += u[i]! * v[i]!;
        return s;
      };
      const theta = Math.acos(dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b)));
      for (let i = n * 8; i < (n + 1) * 8; i++) {
        const want = (a[i]! + b[i]!) / (2 * Math.cos(theta / 2));
        assert.ok(Math.abs(mid[i]! - want) < 1e-5, `sample ${n} value ${i}: ${mid[i]} vs ${want}`);
      }
    }
    const levels = [80, 1.5];
    const gen = new Generator(11);
    const state = gen.getState();
    const frames = interpolateNoises(model, z0, z1, [0, 0.3, 1], levels, gen);
    assert.equal(frames.length, 3);
    gen.setState(state);
    assert.deepEqual(frames[0]!.toFloat32Array(), sampleMultistep(model, z0, levels, gen).toFloat32Array());
    gen.setState(state);
    assert.deepEqual(frames[2]!.toFloat32Array(), sampleMultistep(model, z1, levels, gen).toFloat32Array());
    assert.notDeepEqual(frames[1]!.toFloat32Array(), frames[0]!.toFloat32Array());
    // One-step interpolation without a generator.
    const one = interpolateNoises(model, z0, z1, [0], [80], undefined);
    assert.deepEqual(one[0]!.toFloat32Array(), sampleOneStep(model, z0).toFloat32Array());
  });
});

test('multistepLoop applies the projection after every f', () => {
  const model = new ConsistencyDenoiser(new AnalyticNet());
  let calls = 0;
  tidy(() => {
    const z = randn([2, 4], { generator: new Generator(12) });
    const out = multistepLoop(model, z.mul(80), [80, 3, 1], new Generator(13), {
      project: (x) => {
        calls++;
        return x.mul(0).add(0.25);
      },
    });
    assert.equal(calls, 3);
    assert.deepEqual(Array.from(out.toFloat32Array()), new Array(8).fill(0.25));
  });
});

/**
 * The official code's multistep loop (openai/consistency_models' karras_sample with clip_denoised=True
 * and iterative_inpainting; the JAX notebook's samplers): x0 = clip(f(x, t)), [replace the known part],
 * x = x0 + sqrt(t_next^2 - sigma_min^2) z; the output clipped. Recomputed here per value in float64.
 */
function officialLoop(start: number, levels: number[], noise: number[], a: number, clipEach: boolean): number {
  const inner = clipEach ? clip : (v: number) => v;
  let x = inner(f64(start, levels[0]!, a));
  for (let k = 1; k < levels.length; k++) x = inner(f64(x + Math.sqrt(levels[k]! ** 2 - SIGMA_MIN ** 2) * noise[k - 1]!, levels[k]!, a));
  return clip(x);
}

test('multistep sampling clips every intermediate estimate to [-1, 1] (the official code); clipDenoised: false does not', () => {
  // a = 3 pushes f past 1 at every level, so clipping the intermediate estimate changes the result.
  const model = new ConsistencyDenoiser(new AnalyticNet(3));
  const levels = [80, 2, 0.5];
  tidy(() => {
    const z = randn([4, 3, 2, 2], { generator: new Generator(21) });
    const zs = z.toFloat32Array();
    const gen = new Generator(22);
    const state = gen.getState();
    const n2 = randn(z.shape, { generator: gen }).toFloat32Array();
    const n3 = randn(z.shape, { generator: gen }).toFloat32Array();
    gen.setState(state);
    const clipped = sampleMultistep(model, z, levels, gen).toFloat32Array();
    gen.setState(state);
    const explicit = sampleMultistep(model, z, levels, gen, { clipDenoised: true }).toFloat32Array();
    gen.setState(state);
    const unclipped = sampleMultistep(model, z, levels, gen, { clipDenoised: false }).toFloat32Array();
    assert.deepEqual(explicit, clipped, 'clipping is the default');
    let differ = 0;
    for (let i = 0; i < zs.length; i++) {
      const noise = [n2[i]!, n3[i]!];
      const wantClipped = officialLoop(80 * zs[i]!, levels, noise, 3, true);
      const wantUnclipped = officialLoop(80 * zs[i]!, levels, noise, 3, false);
      assert.ok(Math.abs(clipped[i]! - wantClipped) <= 1e-5, `clipped ${i}: ${clipped[i]} vs ${wantClipped}`);
      assert.ok(Math.abs(unclipped[i]! - wantUnclipped) <= 1e-4, `unclipped ${i}: ${unclipped[i]} vs ${wantUnclipped}`);
      if (Math.abs(wantClipped - wantUnclipped) > 1e-3) differ++;
    }
    assert.ok(differ >= 5, `the two loops differ on ${differ} of ${zs.length} values`);
    // One step: the estimate and the output are the same clip, so the flag changes nothing.
    assert.deepEqual(sampleOneStep(model, z, { clipDenoised: false }).toFloat32Array(), sampleOneStep(model, z).toFloat32Array());
  });
});

test('editing clips the estimate before putting the known pixels back, as iterative_inpainting does; clipDenoised: false does not', () => {
  const model = new ConsistencyDenoiser(new AnalyticNet(3));
  const levels = [80, 2, 0.5];
  tidy(() => {
    const images = rand([2, 1, 4, 4], { generator: new Generator(23) })
      .mul(2)
      .sub(1);
    const known = tensor(
      new Uint8Array(16).map((_, i) => (i % 4 < 2 ? 1 : 0)),
      [1, 1, 4, 4],
      { dtype: 'uint8' },
    );
    const gen = new Generator(24);
    const state = gen.getState();
    // editLoop draws the starting noise, then one draw per later level, all from `gen`.
    const z1 = randn(images.shape, { generator: gen }).toFloat32Array();
    const n2 = randn(images.shape, { generator: gen }).toFloat32Array();
    const n3 = randn(images.shape, { generator: gen }).toFloat32Array();
    const y = images.toFloat32Array();
    const outs: Float32Array[] = [];
    for (const clipDenoised of [true, false]) {
      gen.setState(state);
      const out = inpaint(model, images, known, levels, gen, { clipDenoised }).toFloat32Array();
      outs.push(out);
      for (let i = 0; i < out.length; i++) {
        // The analytic network acts per value, so an unknown pixel follows the sampler's loop from t_1 z.
        const want = i % 4 < 2 ? y[i]! : officialLoop(80 * z1[i]!, levels, [n2[i]!, n3[i]!], 3, clipDenoised);
        assert.ok(Math.abs(out[i]! - want) <= 1e-4, `clipDenoised ${clipDenoised}, value ${i}: ${out[i]} vs ${want}`);
      }
    }
    assert.notDeepEqual(outs[0], outs[1], 'clipping the intermediate estimate changes the generated pixels');
  });
});
