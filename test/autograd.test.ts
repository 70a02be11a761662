/**
 * Autograd through the engine: requiresGrad, backward with and without an upstream gradient,
 * accumulation over two backward calls, clearGrad, detach cutting the graph, and noGrad scopes.
 * Expected gradients are the calculus of each small function, evaluated here in float64 from the
 * same input values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Tensor, tensor, tidy, noGrad, enableGrad, isGradEnabled, setNumThreads, liveTensorCount, ones } from '../src/tensor/index.js';
import { Rng, assertAllClose } from './helpers/tensor-data.js';

setNumThreads(1);

const TOL = { rtol: 1e-5, atol: 1e-6 };

function randomValues(n: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.normal());
}

/** A float32 leaf tensor from values (the values are rounded to float32 for the expectations). */
function leaf(values: number[], shape: number[], requiresGrad = true): { t: Tensor; v: number[] } {
  const t = tensor(Float32Array.from(values), shape);
  if (requiresGrad) t.requiresGrad_();
  return { t, v: Array.from(Float32Array.from(values)) };
}

function gradValues(t: Tensor): Float64Array {
  const g = t.grad;
  assert.ok(g, 'the gradient exists');
  try {
    return g.toFloat64Array();
  } finally {
    g.dispose();
  }
}

test('requiresGrad, isLeaf and grad before any backward', () => {
  tidy(() => {
    const plain = ones([3]);
    assert.equal(plain.requiresGrad, false);
    assert.equal(plain.isLeaf, true);
    const { t: x } = leaf([1, 2, 3], [3]);
    assert.equal(x.requiresGrad, true);
    assert.equal(x.isLeaf, true);
    assert.equal(x.grad, null, 'no gradient before backward');
    const y = x.mul(2);
    assert.equal(y.requiresGrad, true, 'an op on a tensor that requires grad requires grad');
    assert.equal(y.isLeaf, false);
    assert.equal(plain.add(plain).requiresGrad, false, 'ops on tensors without grad build no graph');
    x.requiresGrad_(false);
    assert.equal(x.requiresGrad, false, 'requiresGrad_(false) turns it off');
  });
});

test('backward of a scalar without an upstream gradient gives d/dx of sum(x^2 w + 3x)', () => {
  tidy(() => {
    const { t: x, v: xv } = leaf(randomValues(12, 1), [3, 4]);
    const { t: w, v: wv } = leaf(randomValues(12, 2), [3, 4]);
    const y = x.square().mul(w).add(x.mul(3)).sum();
    assert.deepEqual(y.shape, []);
    y.backward();
    assertAllClose(
      gradValues(x),
      xv.map((a, i) => 2 * a * wv[i]! + 3),
      TOL,
      'dy/dx',
    );
    assertAllClose(
      gradValues(w),
      xv.map((a) => a * a),
      TOL,
      'dy/dw',
    );
  });
});

test('backward of a non-scalar takes an upstream gradient (vector-Jacobian product)', () => {
  tidy(() => {
    const { t: x, v: xv } = leaf(randomValues(6, 3), [2, 3]);
    const { t: w, v: wv } = leaf(randomValues(6, 4), [2, 3]);
    const u = randomValues(6, 5);
    const y = x.mul(w).exp();
    y.backward(tensor(Float32Array.from(u), [2, 3]));
    const uf = Array.from(Float32Array.from(u));
    assertAllClose(
      gradValues(x),
      xv.map((a, i) => uf[i]! * wv[i]! * Math.exp(a * wv[i]!)),
      TOL,
      'u * dy/dx',
    );
    assertAllClose(
      gradValues(w),
      xv.map((a, i) => uf[i]! * a * Math.exp(a * wv[i]!)),
      TOL,
      'u * dy/dw',
    );

    // A matrix product: d/dA sum(U * (A B)) = U B^T.
    const { t: a, v: av } = leaf(randomValues(6, 6), [2, 3]);
    const { t: b, v: bv } = leaf(randomValues(12, 7), [3, 4]);
    const up = randomValues(8, 8).map((z) => Math.fround(z));
    a.matmul(b).backward(tensor(Float32Array.from(up), [2, 4]));
    const expectA: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let k = 0; k < 3; k++) {
        let s = 0;
        for (let j = 0; j < 4; j++) s += up[i * 4 + j]! * bv[k * 4 + j]!;
        expectA.push(s);
      }
    assertAllClose(gradValues(a), expectA, TOL, 'U B^T');
    const expectB: number[] = [];
    for (let k = 0; k < 3; k++)
      for (let j = 0; j < 4; j++) {
        let s = 0;
        for (let i = 0; i < 2; i++) s += av[i * 3 + k]! * up[i * 4 + j]!;
        expectB.push(s);
      }
    assertAllClose(gradValues(b), expectB, TOL, 'A^T U');

    // Without an upstream gradient a non-scalar output is refused with libtorch's message.
    assert.throws(() => x.mul(2).backward(), /backward: grad can be implicitly created only for scalar outputs/);
  });
});

test('gradients accumulate over two backward calls until clearGrad', () => {
  tidy(() => {
    const { t: x, v: xv } = leaf(randomValues(5, 9), [5]);
    x.mul(x).sum().backward(); // 2x
    x.mul(3).sum().backward(); // + 3
    assertAllClose(
      gradValues(x),
      xv.map((a) => 2 * a + 3),
      TOL,
      'accumulated gradient',
    );
    x.clearGrad();
    assert.equal(x.grad, null, 'clearGrad drops the gradient');
    x.mul(-1).sum().backward();
    assertAllClose(
      gradValues(x),
      xv.map(() => -1),
      TOL,
      'a fresh gradient after clearGrad',
    );
  });
});

test('a variable used twice sums both paths; the grad getter returns independent copies', () => {
  tidy(() => {
    const { t: x, v: xv } = leaf(randomValues(4, 10), [4]);
    const y = x.sin().mul(x).sum(); // d/dx = cos(x) x + sin(x)
    y.backward();
    assertAllClose(
      gradValues(x),
      xv.map((a) => Math.cos(a) * a + Math.sin(a)),
      TOL,
      'product rule',
    );
    const g1 = x.grad!;
    g1.dispose();
    assert.ok(x.grad, 'disposing one grad object leaves the stored gradient');
  });
});

test('detach cuts the graph and shares storage', () => {
  tidy(() => {
    const { t: x, v: xv } = leaf(randomValues(6, 11), [6]);
    const d = x.detach();
    assert.equal(d.requiresGrad, false, 'a detached tensor does not require grad');
    // y = sum(detach(x) * x): only the second factor carries gradient, so dy/dx = x (not 2x).
    d.mul(x).sum().backward();
    assertAllClose(gradValues(x), xv, TOL, 'gradient through the non-detached path only');
    // The detached tensor is a view of the same storage.
    noGrad(() => d.mul_(0));
    assertAllClose(
      x.toFloat64Array(),
      xv.map(() => 0),
      TOL,
      'x sees the in-place change of its detached view',
    );
    // A whole detached branch leaves no gradient at all.
    const { t: z } = leaf(randomValues(3, 12), [3]);
    const out = z.detach().mul(2).sum();
    assert.equal(out.requiresGrad, false);
    assert.throws(() => out.backward(), /backward: element 0 of tensors does not require grad/);
    assert.equal(z.grad, null);
  });
});

test('noGrad builds no graph; the previous mode comes back, also after a throw; enableGrad nests inside', () => {
  tidy(() => {
    const { t: x } = leaf([1, 2, 3], [3]);
    assert.equal(isGradEnabled(), true);
    const y = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      const inner = enableGrad(() => {
        assert.equal(isGradEnabled(), true);
        return x.mul(2);
      });
      assert.equal(inner.requiresGrad, true, 'enableGrad inside noGrad tracks again');
      assert.equal(isGradEnabled(), false, 'enableGrad restores the noGrad mode');
      return x.mul(2).add(1);
    });
    assert.equal(y.requiresGrad, false, 'a result made under noGrad does not require grad');
    assert.equal(isGradEnabled(), true);
    assert.throws(
      () =>
        noGrad(() => {
          throw new Error('inside');
        }),
      /inside/,
    );
    assert.equal(isGradEnabled(), true, 'grad mode restored after an exception');
    // In-place updates of a leaf that requires grad are allowed under noGrad (optimizer steps).
    noGrad(() => x.add_(ones([3]), -0.5));
    assert.deepEqual(Array.from(x.toFloat64Array()), [0.5, 1.5, 2.5]);
    assert.equal(x.requiresGrad, true);
    assert.throws(() => x.add_(ones([3])), /add_: a leaf Variable that requires grad is being used in an in-place operation/);
  });
});

test('backward frees its graph: a second backward through it fails cleanly, and no tensors leak', () => {
  const before = liveTensorCount();
  tidy(() => {
    const { t: x } = leaf([1, 2], [2]);
    const y = x.exp().sum();
    y.backward();
    assert.throws(() => y.backward(), /backward: Trying to backward through the graph a second time/);
  });
  assert.equal(liveTensorCount(), before);
});
