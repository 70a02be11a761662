/**
 * Mixed precision through libtorch's autocast (src/tensor/autocast.ts) against Python torch's
 * torch.autocast("cpu", bfloat16) on the same conv2d -> relu -> linear chain
 * (test/reference/autocast_ref.py): the dtypes autocast gives, the outputs, the float32 loss and
 * the float32 weight gradients; and the state handling (nesting, restore after a throw, refusals).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { arange, autocast, fullPrecision, isAutocastEnabled, nnf, parsePrecision, setNumThreads, tidy, type Tensor } from '../src/tensor/index.js';
import { runPythonScript } from './helpers/python.js';

setNumThreads(1);

interface RefRun {
  hDtype: string;
  yDtype: string;
  y: number[];
  loss: number;
  gradW: number[];
  gradV: number[];
  gradDtype: string;
}
const ref = JSON.parse(runPythonScript('test/reference/autocast_ref.py')) as { bf16: RefRun; fp32: RefRun };

function wave(n: number, f: 'sin' | 'cos', a: number, b: number, scale: number): Tensor {
  const t = arange(n).mul(a).add(b);
  return (f === 'sin' ? t.sin() : t.cos()).div(scale);
}

function run(precision: 'bf16' | 'fp32'): RefRun {
  return tidy(() => {
    const x = wave(2 * 3 * 8 * 8, 'sin', 0.37, 0, 1).reshape([2, 3, 8, 8]);
    const w = wave(4 * 3 * 3 * 3, 'cos', 0.11, 0, 6)
      .reshape([4, 3, 3, 3])
      .requiresGrad_();
    const v = wave(5 * 4 * 6 * 6, 'sin', 0.05, 1, 8)
      .reshape([5, 4 * 6 * 6])
      .requiresGrad_();
    const { h, y } = autocast(precision, 'cpu', () => {
      const hh = nnf.relu(nnf.conv2d(x, w));
      return { h: hh, y: nnf.linear(hh.reshape([2, -1]), v) };
    });
    const loss = fullPrecision(() => y.float().pow(2).mean());
    loss.backward();
    const gw = w.grad!;
    const gv = v.grad!;
    return {
      hDtype: h.dtype,
      yDtype: y.dtype,
      y: Array.from(y.float().dataSync() as Float32Array),
      loss: loss.item(),
      gradW: Array.from(gw.dataSync() as Float32Array),
      gradV: Array.from(gv.dataSync() as Float32Array),
      gradDtype: gw.dtype,
    };
  });
}

/** Largest |a - b| over the largest |b|: one relative figure for a whole tensor. */
function relErr(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

test('bf16 autocast on CPU lowers conv2d and linear to bfloat16 like torch.autocast; weights and their gradients stay float32', () => {
  const got = run('bf16');
  assert.equal(got.hDtype, ref.bf16.hDtype);
  assert.equal(got.yDtype, 'bfloat16');
  assert.equal(got.gradDtype, 'float32', 'master weights get float32 gradients');
  // Same libtorch, same kernels: within one bfloat16 rounding step of Python's results.
  assert.ok(relErr(got.y, ref.bf16.y) < 8e-3, `y vs torch.autocast: ${relErr(got.y, ref.bf16.y)}`);
  assert.ok(Math.abs(got.loss - ref.bf16.loss) < 8e-3 * ref.bf16.loss, `loss ${got.loss} vs ${ref.bf16.loss}`);
  assert.ok(relErr(got.gradW, ref.bf16.gradW) < 8e-3, `conv weight grad: ${relErr(got.gradW, ref.bf16.gradW)}`);
  assert.ok(relErr(got.gradV, ref.bf16.gradV) < 8e-3, `linear weight grad: ${relErr(got.gradV, ref.bf16.gradV)}`);
  // And autocast really changed the arithmetic: bf16 results are not the float32 ones.
  assert.ok(relErr(got.y, ref.fp32.y) > 1e-4, 'bf16 output differs from float32');
});

test('fp32 runs the chain unchanged, in float32, as torch does', () => {
  const got = run('fp32');
  assert.equal(got.yDtype, 'float32');
  assert.ok(relErr(got.y, ref.fp32.y) < 1e-5, `y: ${relErr(got.y, ref.fp32.y)}`);
  assert.ok(relErr(got.gradW, ref.fp32.gradW) < 1e-5, `grad: ${relErr(got.gradW, ref.fp32.gradW)}`);
});

test('autocast regions nest, fullPrecision turns autocast off inside, and the state comes back after a throw', () => {
  tidy(() => {
    const a = arange(6).reshape([2, 3]);
    assert.equal(isAutocastEnabled('cpu'), false);
    autocast('bf16', 'cpu', () => {
      assert.equal(isAutocastEnabled('cpu'), true);
      assert.equal(a.matmul(a.T).dtype, 'bfloat16');
      fullPrecision(() => {
        assert.equal(isAutocastEnabled('cpu'), false);
        assert.equal(a.matmul(a.T).dtype, 'float32');
      });
      autocast('bf16', 'cpu', () => assert.equal(a.matmul(a.T).dtype, 'bfloat16'));
      assert.equal(isAutocastEnabled('cpu'), true, 'the inner region leaves the outer one on');
    });
    assert.equal(isAutocastEnabled('cpu'), false);
    assert.throws(
      () =>
        autocast('bf16', 'cpu', () => {
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.equal(isAutocastEnabled('cpu'), false, 'restored after a throw');
    assert.equal(a.matmul(a.T).dtype, 'float32');
  });
});

test('bad precisions and fp16 on CPU are refused with one clear message; async functions are refused', () => {
  assert.equal(parsePrecision('bf16'), 'bf16');
  assert.throws(() => parsePrecision('fp8'), /precision must be one of fp32, bf16, fp16, got 'fp8'/);
  assert.throws(() => autocast('fp16', 'cpu', () => 1), /precision fp16 needs a CUDA device \(CPU mixed precision is bf16/);
  assert.throws(() => autocast('bf16', 'cpu', () => Promise.resolve(1)), /must be synchronous/);
  assert.equal(isAutocastEnabled('cpu'), false);
});
