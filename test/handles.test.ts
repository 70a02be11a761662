/**
 * Tensor handles (native/binding.cc, "Tensor handles") and the garbage-collection backstop
 * (src/tensor/tensor.ts): handles are numbers naming table slots; a disposed handle stays refused
 * after its slot is reused; tensors that no scope owns are freed when collected, and tensors a
 * scope owns are freed by the scope.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { native } from '../src/tensor/native.js';
import { ones, tidy, keep, liveTensorCount, setNumThreads, type Tensor } from '../src/tensor/index.js';

setNumThreads(1);
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Collects garbage until the live count is back at `target` (FinalizationRegistry callbacks run as tasks). */
async function collectUntil(target: number): Promise<number> {
  for (let round = 0; round < 20 && liveTensorCount() > target; round++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return liveTensorCount();
}

test('a handle is a number from 2^52 up; smaller numbers are not handles', () => {
  tidy(() => {
    const h = ones([2]).handle as unknown as number;
    assert.equal(typeof h, 'number');
    assert.ok(Number.isInteger(h) && h >= 2 ** 52 && h < 2 ** 53, `handle ${h}`);
    assert.throws(() => native.exp(5 as never), { name: 'TypeError', message: "exp: argument 'self' must be a tensor, got number 5" });
    assert.throws(() => native.exp((2 ** 52 + 2 ** 24 * 5000 + 123) as never), TypeError);
  });
});

test('a disposed handle is refused even after its slot holds a new tensor', () => {
  const a = ones([3]);
  const stale = a.handle;
  a.dispose();
  // The freed slot is the next one handed out: b reuses it with a new generation.
  const b = ones([3]);
  try {
    assert.notEqual(b.handle, stale);
    assert.throws(() => native.exp(stale), { name: 'TypeError', message: "exp: argument 'self' is a disposed tensor" });
    assert.equal(native.dispose(stale), false, 'disposing a stale handle does nothing');
    assert.deepEqual(Array.from(b.toFloat32Array()), [1, 1, 1], 'the new tensor in the reused slot is untouched');
  } finally {
    b.dispose();
  }
});

test('tensors no scope owns are freed when collected: made outside tidy, and returned out of it', async () => {
  const before = await collectUntil(0);
  (() => {
    for (let i = 0; i < 50; i++) ones([4]);
    for (let i = 0; i < 50; i++) tidy(() => ones([4]).add(1));
  })();
  assert.equal(liveTensorCount(), before + 100);
  assert.equal(await collectUntil(before), before, 'every dropped tensor was freed by the backstop');
});

test('a kept tensor survives its scope, is freed when collected, and dispose() unregisters it', async () => {
  const before = await collectUntil(0);
  let held: Tensor | null = tidy(() => {
    keep(ones([2]));
    return null;
  });
  assert.equal(held, null);
  assert.equal(liveTensorCount(), before + 1, 'the kept tensor outlives the scope');
  assert.equal(await collectUntil(before), before, 'and the backstop frees it once unreachable');

  held = keep(ones([2]));
  held.dispose();
  assert.equal(liveTensorCount(), before);
  // Dropping the last reference is the point: the collector may then run the finalizer.
  // eslint-disable-next-line no-useless-assignment
  held = null;
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(liveTensorCount(), before, 'a disposed tensor is not freed twice');
});

test('tensors a scope owns are freed by the scope, not the collector', () => {
  const before = liveTensorCount();
  tidy(() => {
    for (let i = 0; i < 100; i++) ones([4]).add(1);
    collectGarbage();
    assert.equal(liveTensorCount(), before + 200, 'the open scope holds its tensors');
  });
  assert.equal(liveTensorCount(), before);
});
