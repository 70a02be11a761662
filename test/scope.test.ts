/**
 * Scopes (src/tensor/scope.ts): tidy frees what it does not return, keeps what it returns (also
 * inside arrays, Maps and objects) and hands that to the enclosing scope, frees on exceptions,
 * refuses async functions; keep() and dispose(); use after dispose throws DisposedTensorError.
 * Counts come from the native side (liveTensorCount), not from the JS objects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  Tensor,
  DisposedTensorError,
  tidy,
  keep,
  dispose,
  scopeDepth,
  liveTensorCount,
  ones,
  zeros,
  randn,
  setNumThreads,
} from '../src/tensor/index.js';

setNumThreads(1);

/** Asserts that `fn` leaves the live-tensor count where it found it. */
function noLeak<T>(fn: () => T): T {
  const before = liveTensorCount();
  const result = fn();
  assert.equal(liveTensorCount(), before, 'live tensor count changed');
  return result;
}

test('tidy frees every tensor made inside and returns the tensor fn returns', () => {
  const before = liveTensorCount();
  const kept = tidy(() => {
    const a = ones([4]);
    const b = a.mul(2);
    const c = b.add(1);
    assert.equal(liveTensorCount(), before + 3);
    return c;
  });
  assert.equal(liveTensorCount(), before + 1, 'only the returned tensor survives');
  assert.equal(kept.isDisposed, false);
  assert.deepEqual(Array.from(kept.toFloat64Array()), [3, 3, 3, 3]);
  kept.dispose();
  assert.equal(liveTensorCount(), before);
});

test('tidy keeps tensors returned inside arrays, Maps and nested plain objects', () => {
  const before = liveTensorCount();
  const out = tidy(() => {
    const scratch = zeros([2]);
    scratch.add(1);
    return { list: [ones([1]), ones([2])], nested: { deep: { t: ones([3]) } }, map: new Map([['m', ones([4])]]), n: 5 };
  });
  assert.equal(liveTensorCount(), before + 4);
  assert.equal(out.n, 5);
  const all: Tensor[] = [...out.list, out.nested.deep.t, out.map.get('m')!];
  assert.ok(all.every((t) => !t.isDisposed));
  dispose(out);
  assert.ok(
    all.every((t) => t.isDisposed),
    'dispose() walks the same structures',
  );
  assert.equal(liveTensorCount(), before);
});

test('nested tidy moves returned tensors to the parent scope, which frees them unless it returns them', () => {
  const before = liveTensorCount();
  let innerResult: Tensor | null = null;
  const outer = tidy(() => {
    assert.equal(scopeDepth(), 1);
    innerResult = tidy(() => {
      assert.equal(scopeDepth(), 2);
      ones([2]);
      return ones([3]);
    });
    assert.equal(innerResult.isDisposed, false, 'alive in the parent scope');
    assert.equal(liveTensorCount(), before + 1);
    return ones([5]);
  });
  assert.equal(scopeDepth(), 0);
  assert.equal(innerResult!.isDisposed, true, 'the parent freed the inner result it did not return');
  assert.equal(outer.isDisposed, false);
  outer.dispose();
  assert.equal(liveTensorCount(), before);

  // Returned by both levels: survives both.
  const both = tidy(() => tidy(() => ones([2])));
  assert.equal(both.isDisposed, false);
  both.dispose();
  assert.equal(liveTensorCount(), before);
});

test('an exception inside tidy still frees the tensors made inside and closes the scope', () => {
  const before = liveTensorCount();
  assert.throws(
    () =>
      tidy(() => {
        ones([10]);
        tidy(() => {
          ones([2]);
          throw new RangeError('boom');
        });
      }),
    (e: unknown) => e instanceof RangeError && e.message === 'boom',
  );
  assert.equal(liveTensorCount(), before);
  assert.equal(scopeDepth(), 0);
});

test('tidy refuses a Promise-returning function and frees what it made', async () => {
  const before = liveTensorCount();
  assert.throws(
    () =>
      tidy(() => {
        ones([3]);
        return Promise.resolve(1);
      }),
    /tidy: the function returned a Promise/,
  );
  assert.throws(() => tidy(async () => ones([2])), /tidy: the function returned a Promise/);
  // Let the async function's own promise settle; then nothing is left over.
  await new Promise((r) => setImmediate(r));
  assert.equal(liveTensorCount(), before);
  assert.equal(scopeDepth(), 0);
});

test('keep() protects a tensor from every enclosing scope', () => {
  const before = liveTensorCount();
  let kept: Tensor | null = null;
  tidy(() => {
    tidy(() => {
      kept = keep(ones([2]));
    });
  });
  assert.equal(kept!.isDisposed, false);
  kept!.dispose();
  assert.equal(liveTensorCount(), before);
});

test('use after dispose throws DisposedTensorError; dispose twice is harmless', () => {
  noLeak(() => {
    const t = randn([2, 2]);
    const u = ones([2, 2]);
    t.dispose();
    t.dispose();
    assert.equal(t.isDisposed, true);
    assert.equal(t.toString(), 'Tensor(disposed)');
    for (const use of [() => t.shape, () => t.add(u), () => u.add(t), () => t.toFloat32Array(), () => t.item(), () => t.backward()]) {
      assert.throws(use, (e: unknown) => e instanceof DisposedTensorError && /used after dispose\(\)/.test(e.message));
    }
    // A tensor freed by its scope is just as unusable.
    let escaped: Tensor | null = null;
    tidy(() => {
      escaped = ones([1]);
    });
    assert.throws(() => escaped!.sum(), DisposedTensorError);
    u.dispose();
  });
});

test('Symbol.dispose frees a tensor at the end of its block', () => {
  noLeak(() => {
    let t: Tensor;
    {
      t = ones([3]);
      t[Symbol.dispose]();
    }
    assert.equal(t.isDisposed, true);
  });
});
