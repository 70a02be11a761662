/**
 * Malformed calls give clean JS errors whose messages name the op, the argument and what was
 * wrong; none of them aborts the process. The nastiest calls (test/helpers/nasty-calls.ts) run in
 * a child process, which must exit normally after reporting each error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import {
  Tensor,
  DisposedTensorError,
  tensor,
  ones,
  zeros,
  randn,
  Generator,
  setDefaultDevice,
  getDefaultDevice,
  cudaAvailable,
  liveTensorCount,
  tidy,
  setNumThreads,
  nnf,
  type DType,
} from '../src/tensor/index.js';
import { native } from '../src/tensor/native.js';
import { nastyCalls } from './helpers/nasty-calls.js';
import { runPythonScript } from './helpers/python.js';

setNumThreads(1);

/** libtorch's own wording of errors that changed between versions (1.13 vs 2.x), from Python's torch on the same libtorch. */
const torchMessage = JSON.parse(runPythonScript('test/reference/error_messages_ref.py')) as {
  matmulShapes: string;
  matmulDtypes: string;
  zerosNegative: string;
};
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Our message: the op name, then exactly libtorch's. */
const fromTorch = (op: string, text: string): RegExp => new RegExp(`^${op}: ${escape(text)}`);

/** Asserts that fn throws an instance of `kind` whose message matches `message`. */
function throwsClean(fn: () => unknown, kind: new (...args: never[]) => Error, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof kind, `expected a ${kind.name}, got ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
    assert.match(e.message, message);
    return true;
  });
}

test('wrong argument types name the op, the argument and what was given', () => {
  tidy(() => {
    const t = ones([2]);
    throwsClean(() => t.add('x' as unknown as Tensor), TypeError, /^add: argument 'other' must be a Tensor or a number, got a string$/);
    throwsClean(() => t.mul({} as unknown as Tensor), TypeError, /^mul: argument 'other' must be a Tensor or a number, got an object$/);
    throwsClean(() => t.pow(null as unknown as Tensor), TypeError, /^pow: argument 'exponent' must be a Tensor or a number, got null$/);
    throwsClean(() => native.add(1 as never, 2 as never), TypeError, /^add: argument 'self' must be a tensor, got number 1$/);
    throwsClean(() => native.sum(t.handle, 1 as never, false), TypeError, /^sum: argument 'dims' must be an array of integers, got number 1$/);
    throwsClean(() => native.softmax(t.handle, '0' as never), TypeError, /^softmax: argument 'dim' must be an integer, got string$/);
    throwsClean(() => native.sum(t.handle, [0], 'yes' as never), TypeError, /^sum: argument 'keepdim' must be a boolean, got string$/);
    throwsClean(() => zeros([2], { dtype: 'float8' as DType }), TypeError, /unknown dtype 'float8'/);
  });
});

test('a wrong argument count to a native function is refused', () => {
  tidy(() => {
    const h = ones([2]).handle;
    throwsClean(() => (native.add as (...a: unknown[]) => unknown)(h), TypeError, /^add: expected 2 arguments, got 1$/);
    throwsClean(() => (native.zeros as (...a: unknown[]) => unknown)([2], 6, 'cpu', 'extra'), TypeError, /^zeros: expected 3 arguments, got 4$/);
  });
});

test('shape mismatches in add, matmul and conv2d give libtorch messages with the shapes', () => {
  tidy(() => {
    throwsClean(
      () => ones([2, 3]).add(ones([4, 5])),
      Error,
      /^add: The size of tensor a \(3\) must match the size of tensor b \(5\) at non-singleton dimension 1/,
    );
    assert.match(torchMessage.matmulShapes, /mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)/);
    throwsClean(() => ones([2, 3]).matmul(ones([4, 5])), Error, fromTorch('matmul', torchMessage.matmulShapes));
    throwsClean(
      () => nnf.conv2d(ones([1, 3, 5, 5]), ones([4, 2, 3, 3])),
      Error,
      /^conv2d: Given groups=1, weight of size \[4, 2, 3, 3\], expected input\[1, 3, 5, 5\] to have 2 channels, but got 3 channels instead/,
    );
    throwsClean(() => ones([6]).reshape([4, -1]), Error, /^reshape: shape '\[4, -1\]' is invalid for input of size 6/);
  });
});

test('dtype mismatches that libtorch refuses', () => {
  tidy(() => {
    assert.match(torchMessage.matmulDtypes, /Float but found Double|float != double/);
    throwsClean(() => ones([2, 3]).matmul(ones([3, 2], { dtype: 'float64' })), Error, fromTorch('matmul', torchMessage.matmulDtypes));
    throwsClean(
      () => ones([2], { dtype: 'int64' }).add_(ones([2]).mul(0.5)),
      Error,
      /^add_: result type Float can't be cast to the desired output type Long/,
    );
    throwsClean(() => ones([3]).indexSelect(0, ones([1])), Error, /^indexSelect: index_select\(\): Expected dtype int32 or int64 for index/);
  });
});

test("unknown device 'tpu' and CUDA on a build without it", () => {
  throwsClean(() => zeros([2], { device: 'tpu' }), TypeError, /^zeros: argument 'device' is not a device string: 'tpu'/);
  throwsClean(() => setDefaultDevice('tpu'), TypeError, /device must be 'cpu', 'cuda' or 'cuda:N', got 'tpu'/);
  assert.equal(getDefaultDevice(), 'cpu', 'a refused device does not change the default');
  if (!cudaAvailable()) {
    throwsClean(() => zeros([2], { device: 'cuda' }), TypeError, /^zeros: argument 'device': device 'cuda' asked for, but this libtorch has no CUDA/);
    tidy(() =>
      throwsClean(() => ones([2]).cuda(), TypeError, /^toDevice: argument 'device': device 'cuda:0' asked for, but this libtorch has no CUDA/),
    );
    throwsClean(() => setDefaultDevice('cuda'), Error, /device 'cuda' asked for, but this libtorch .* has no CUDA or no GPU is visible/);
    throwsClean(() => new Generator(1, 'cuda'), Error, /device 'cuda' asked for/);
  } else {
    // With CUDA, a device index that does not exist is the error to get cleanly.
    throwsClean(() => zeros([2], { device: 'cuda:99' }), Error, /^zeros: .*(invalid device ordinal|out of range|CUDA)/i);
  }
});

test('use of a disposed tensor throws DisposedTensorError; the addon refuses disposed handles', () => {
  const t = randn([2]);
  const h = t.handle;
  t.dispose();
  throwsClean(() => t.exp(), DisposedTensorError, /used after dispose\(\)/);
  tidy(() => throwsClean(() => ones([2]).add(t), DisposedTensorError, /used after dispose\(\)/));
  throwsClean(() => native.exp(h), TypeError, /^exp: argument 'self' is a disposed tensor$/);
  assert.equal(native.dispose(h), false, 'disposing twice reports false and does nothing');
});

test('negative and non-integer sizes', () => {
  assert.match(torchMessage.zerosNegative, /negative dimension -1|must be non-negative/);
  throwsClean(() => zeros([-1]), Error, fromTorch('zeros', torchMessage.zerosNegative));
  throwsClean(() => tensor(new Float32Array(0), [-1]), TypeError, /^fromBuffer: argument 'shape' has a negative size -1/);
  throwsClean(() => zeros([2.5]), TypeError, /^zeros: argument 'size' must be an integer, got number 2.5$/);
  throwsClean(() => zeros([NaN]), TypeError, /^zeros: argument 'size' must be an integer, got number nan$/);
  tidy(() => throwsClean(() => ones([4]).reshape([2.5, 2]), TypeError, /^reshape: argument 'shape' must be an integer, got number 2.5$/));
});

test('fromBuffer with a byte count that does not match the shape', () => {
  throwsClean(() => tensor(new Float32Array(5), [2, 3]), TypeError, /^fromBuffer: shape \[2, 3\] of Float needs 24 bytes, the data has 20$/);
  throwsClean(
    () => tensor(new Uint8Array(3), [2], { dtype: 'float16' }),
    TypeError,
    /^fromBuffer: shape \[2\] of Half needs 4 bytes, the data has 3$/,
  );
});

test('indices out of range in indexSelect, gather, select and slice dims', () => {
  tidy(() => {
    const x = ones([3, 2]);
    throwsClean(() => x.indexSelect(0, tensor(BigInt64Array.from([0n, 5n]))), Error, /^indexSelect: index out of range in self/);
    throwsClean(
      () => x.gather(0, tensor(BigInt64Array.from([0n, 10n]), [2, 1])),
      Error,
      /^gather: index 10 is out of bounds for dimension 0 with size 3/,
    );
    throwsClean(() => x.select(0, 5), Error, /^select: select\(\): index 5 out of range for tensor of size \[3, 2\] at dimension 0/);
    throwsClean(() => x.slice(4, 0), RangeError, /^slice: dim 4 is out of range for a tensor of rank 2/);
    throwsClean(() => x.squeeze(3), Error, /^squeeze: Dimension out of range/);
  });
});

test('the nastiest calls in a child process: each one a clean error, and the process exits normally', () => {
  const script = fileURLToPath(new URL('./helpers/nasty-calls.js', import.meta.url));
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.signal, null, `the child was killed by ${r.signal}; stderr:\n${r.stderr}`);
  assert.equal(r.status, 0, `the child exited with ${r.status}; stderr:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /terminate called|Aborted|core dumped|FATAL/);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { name?: string; threw?: boolean; isError?: boolean; message?: string; done?: boolean });
  assert.deepEqual(lines.at(-1), { done: true }, 'the child reached its end');
  const reported = new Map(lines.filter((l) => l.name).map((l) => [l.name!, l]));
  for (const { name, message } of nastyCalls) {
    const got = reported.get(name);
    assert.ok(got, `no report for '${name}'`);
    assert.equal(got.threw, true, `'${name}' did not throw`);
    assert.equal(got.isError, true, `'${name}' threw something that is not an Error`);
    assert.match(got.message!, message, `'${name}'`);
  }
});

test('after all these errors the process still computes, and nothing leaked', () => {
  const before = liveTensorCount();
  tidy(() => {
    for (let i = 0; i < 50; i++) assert.throws(() => ones([2, 3]).add(ones([4, 5])));
    assert.equal(ones([2, 2]).sum().item(), 4);
  });
  assert.equal(liveTensorCount(), before);
});
