/**
 * Tests of src/method/denoiser.ts (docs/method.md section 1: f(x, sigma) with c_skip, c_out, c_in, c_noise;
 * the boundary condition f(x, sigma_min) = x bit for bit) and src/method/metrics.ts (docs/method.md
 * section 4: pseudo-Huber on the whole sample, squared L2, L1), against the formulas written out
 * here in float64.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Generator, Tensor, randn, tensor, tidy, setNumThreads, dispose, nnf } from '../src/tensor/index.js';
import { ConsistencyDenoiser, type ConsistencyNetwork } from '../src/method/denoiser.js';
import { l1Distance, pseudoHuberDistance, sampleDistance, squaredL2Distance } from '../src/method/metrics.js';

setNumThreads(1);

/** F(u, c) = tanh(u) + 0.1 c (c broadcast over each sample), plus the inputs it saw. */
class AnalyticNet implements ConsistencyNetwork {
  seen: { x: Float32Array; noise: Float32Array; classes?: Float32Array | undefined }[] = [];
  constructor(readonly poison?: number) {}
  forward(x: Tensor, noiseLabels: Tensor, classLabels?: Tensor): Tensor {
    this.seen.push({ x: x.toFloat32Array(), noise: noiseLabels.toFloat32Array(), classes: classLabels?.toFloat32Array() });
    const shape = [x.shape[0]!, ...x.shape.slice(1).map(() => 1)];
    const out = nnf.tanh(x).add(noiseLabels.reshape(shape).mul(0.1));
    return this.poison === undefined ? out : out.mul(0).add(this.poison);
  }
}

function bits(t: Tensor): Uint8Array {
  return t.bytes();
}

test('boundary condition: f(x, sigma_min) = x bit for bit, whatever F returns', () => {
  const g = new Generator(1);
  for (const poison of [undefined, 1e30, Number.POSITIVE_INFINITY, Number.NaN, -5]) {
    const model = new ConsistencyDenoiser(new AnalyticNet(poison));
    tidy(() => {
      const x = randn([5, 3, 4, 4], { generator: g }).mul(3);
      // Include -0, tiny and huge values.
      const special = tensor(Float32Array.from([-0, 0, 1e-40, -1e38, 1, -1]), [1, 6]);
      for (const [input, sigma] of [
        [x, 0.002],
        [special, 0.002],
        [x, [0.002, 0.002, 0.002, 0.002, 0.002]],
      ] as const) {
        const out = model.forward(input, sigma);
        assert.deepEqual(bits(out), bits(input), `poison ${poison}`);
      }
      // A float32 sigma tensor holds fround(0.002): still the boundary.
      const out = model.forward(x, tensor(new Float32Array(5).fill(0.002)));
      assert.deepEqual(bits(out), bits(x));
    });
  }
  // Mixed batch: the samples at sigma_min are exact, the others are not the identity.
  const model = new ConsistencyDenoiser(new AnalyticNet());
  tidy(() => {
    const x = randn([3, 2, 3], { generator: g });
    const out = model.forward(x, [0.002, 1.0, 0.002]);
    const xs = x.toFloat32Array();
    const os = out.toFloat32Array();
    const per = 6;
    assert.deepEqual(os.slice(0, per), xs.slice(0, per));
    assert.deepEqual(os.slice(2 * per), xs.slice(2 * per));
    assert.notDeepEqual(os.slice(per, 2 * per), xs.slice(per, 2 * per));
  });
});

test('f(x, sigma) = c_skip x + c_out F(c_in x, c_noise) per sample, with any trailing shape', () => {
  const g = new Generator(2);
  const sd = 0.5;
  const smin = 0.002;
  for (const shape of [[4, 2], [4, 3, 2, 2], [4]]) {
    for (const embedding of ['fourier', 'positional'] as const) {
      const net = new AnalyticNet();
      const model = new ConsistencyDenoiser(net, { noiseEmbedding: embedding });
      const sigmas = [0.002, 0.5, 3.1, 80];
      tidy(() => {
        const x = randn(shape, { generator: g });
        const labels = tensor(Float32Array.from([0, 1, 2, 3]));
        const out = model.forward(x, sigmas, labels).toFloat32Array();
        const xs = x.toFloat32Array();
        const per = xs.length / 4;
        assert.deepEqual(net.seen[0]!.classes, labels.toFloat32Array(), 'class labels passed through');
        for (let n = 0; n < 4; n++) {
          const s = sigmas[n]!;
          const cSkip = (sd * sd) / ((s - smin) ** 2 + sd * sd);
          const cOut = (sd * (s - smin)) / Math.sqrt(sd * sd + s * s);
          const cIn = 1 / Math.sqrt(s * s + sd * sd);
          const cNoise = embedding === 'fourier' ? 0.25 * Math.log(s) : 1000 * 0.25 * Math.log(s + 1e-44);
          assert.ok(Math.abs(net.seen[0]!.noise[n]! - cNoise) <= 1e-6 * Math.abs(cNoise), `c_noise ${n}`);
          for (let i = n * per; i < (n + 1) * per; i++) {
            assert.ok(Math.abs(net.seen[0]!.x[i]! - xs[i]! * cIn) <= 1e-6 * Math.abs(xs[i]! * cIn) + 1e-30, `c_in x at ${i}`);
            const want = cSkip * xs[i]! + cOut * (Math.tanh(xs[i]! * cIn) + 0.1 * cNoise);
            assert.ok(
              Math.abs(out[i]! - want) <= 2e-6 * Math.max(1, Math.abs(want)),
              `f at ${i}: ${out[i]} vs ${want} (shape [${shape.join(', ')}], ${embedding})`,
            );
          }
        }
      });
    }
  }
});

test('denoiser input errors name the value and the range', () => {
  const model = new ConsistencyDenoiser(new AnalyticNet());
  const x = randn([2, 3]);
  assert.throws(
    () => model.forward(x, 0),
    (e: Error) => e instanceof RangeError && /sigma must be a finite number > 0, got 0/.test(e.message),
  );
  assert.throws(() => model.forward(x, [1, -2]), /sigma must be a finite number > 0, got -2/);
  assert.throws(() => model.forward(x, 0.001), /sigma must be >= sigmaMin=0.002, got 0.001/);
  assert.throws(() => model.forward(x, [1, 2, 3]), /one level per sample \(2\), got 3/);
  assert.throws(() => model.forward(x, Number.NaN), /got NaN/);
  assert.throws(() => new ConsistencyDenoiser(new AnalyticNet(), { sigmaData: 0 }), /sigmaData must be a finite number > 0, got 0/);
  const wrong: ConsistencyNetwork = { forward: (u: Tensor) => u.sum(1) };
  assert.throws(() => new ConsistencyDenoiser(wrong).forward(x, 1), /the network returned \[2\] for an input of \[2, 3\]/);
  x.dispose();
});

test('metrics: per-sample pseudo-Huber on the whole sample, squared L2 and L1', () => {
  const g = new Generator(3);
  tidy(() => {
    const a = randn([3, 3, 4, 4], { generator: g });
    const b = randn([3, 3, 4, 4], { generator: g });
    const av = a.toFloat64Array();
    const bv = b.toFloat64Array();
    const D = 48;
    const c = 0.00054 * Math.sqrt(D);
    const ph = pseudoHuberDistance(a, b).toFloat64Array();
    const ph2 = pseudoHuberDistance(a, b, 0.7).toFloat64Array();
    const l2 = squaredL2Distance(a, b).toFloat64Array();
    const l1 = l1Distance(a, b).toFloat64Array();
    assert.equal(ph.length, 3);
    for (let n = 0; n < 3; n++) {
      let sq = 0;
      let ab = 0;
      for (let i = n * D; i < (n + 1) * D; i++) {
        sq += (av[i]! - bv[i]!) ** 2;
        ab += Math.abs(av[i]! - bv[i]!);
      }
      const close = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) <= 1e-5 * want, `${what} ${n}: ${got} vs ${want}`);
      close(ph[n]!, Math.sqrt(sq + c * c) - c, 'pseudo-Huber');
      close(ph2[n]!, Math.sqrt(sq + 0.49) - 0.7, 'pseudo-Huber c=0.7');
      close(l2[n]!, sq, 'l2');
      close(l1[n]!, ab, 'l1');
    }
    // Not per element: per-element pseudo-Huber would be a different number.
    let perElement = 0;
    for (let i = 0; i < D; i++) perElement += Math.sqrt((av[i]! - bv[i]!) ** 2 + c * c) - c;
    assert.ok(Math.abs(ph[0]! - perElement) > 1e-3);
    // Near 0 the pseudo-Huber distance is ~ ||a - b||^2 / (2c); identical samples give 0.
    assert.deepEqual(Array.from(pseudoHuberDistance(a, a).toFloat32Array()), [0, 0, 0]);
    // sampleDistance dispatches on the config, and names unknown metrics.
    assert.deepEqual(sampleDistance({ kind: 'l2' })(a, b).toFloat32Array(), squaredL2Distance(a, b).toFloat32Array());
    assert.deepEqual(sampleDistance({ kind: 'pseudo-huber', c: 0.7 })(a, b).toFloat32Array(), pseudoHuberDistance(a, b, 0.7).toFloat32Array());
    assert.throws(
      () => sampleDistance({ kind: 'l3' as 'l2' }),
      (e: Error) => e instanceof RangeError && /metric must be one of pseudo-huber, l2, l1, lpips, got l3/.test(e.message),
    );
    assert.throws(() => sampleDistance({ kind: 'lpips' }), /'lpips' needs a learned network/);
    assert.throws(() => squaredL2Distance(a, b.slice(0, 0, 2)), /same shape/);
  });
  dispose([]);
});
