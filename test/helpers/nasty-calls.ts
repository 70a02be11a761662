/**
 * Malformed calls that could crash a native addon (a petabyte allocation, size overflow, handles
 * of the wrong kind, detached buffers, garbage generator state, ...). Run as a child process by
 * test/errors.test.ts: it prints one JSON line per call ({name, threw, errorName, message}) and
 * exits normally; an abort or a signal fails the parent test.
 */
import { fileURLToPath } from 'node:url';
import { ones, zeros, empty, tensor, cat, stack, einsum, eigh, arange, randint, Generator, setNumThreads, nnf } from '../../src/tensor/index.js';
import { native } from '../../src/tensor/native.js';

/** Each call with the message it must fail with. */
export const nastyCalls: Array<{ name: string; call: () => unknown; message: RegExp }> = [
  { name: 'a petabyte allocation', call: () => empty([2 ** 48]), message: /^empty: .*can't allocate memory/ },
  {
    name: 'a size whose element count overflows int64',
    call: () => zeros([2 ** 40, 2 ** 40]),
    message: /^zeros: Storage size calculation overflowed/,
  },
  {
    name: 'a tensor handle as a generator',
    call: () => native.randn([2], ones([1]).handle as never, 6, 'cpu'),
    message: /^randn: argument 'generator' must be a generator, got native handle of another kind/,
  },
  {
    name: 'a generator handle as a tensor',
    call: () => native.add(new Generator(1).handle as never, ones([1]).handle),
    message: /^add: argument 'self' must be a tensor, got native handle of another kind/,
  },
  {
    name: 'plain objects as tensors',
    call: () => native.add({} as never, [] as never),
    message: /^add: argument 'self' must be a tensor, got object/,
  },
  { name: 'a symbol as a tensor', call: () => native.neg(Symbol('x') as never), message: /^neg: argument 'self' must be a tensor/ },
  { name: 'dispose of a string', call: () => native.dispose('x' as never), message: /^dispose: argument 'tensor' must be a tensor, got string/ },
  {
    name: 'a disposed handle passed straight to the addon',
    call: () => {
      const t = ones([2]);
      const h = t.handle;
      t.dispose();
      return native.toBuffer(h);
    },
    message: /^toBuffer: argument 'tensor' is a disposed tensor/,
  },
  {
    name: 'a typed array over a detached buffer',
    call: () => {
      const buf = new ArrayBuffer(16);
      const view = new Float32Array(buf);
      structuredClone(buf, { transfer: [buf] });
      return tensor(view, [4]);
    },
    message: /^fromBuffer: shape \[4\] of Float needs 16 bytes, the data has 0/,
  },
  {
    name: 'a garbage generator state',
    call: () => new Generator(1).setState(new Uint8Array(7)),
    message: /^generatorSetState: Expected .* but found the input RNG state size to be 7/,
  },
  { name: 'a NaN seed', call: () => native.generatorNew('cpu', NaN), message: /^generatorNew: argument 'seed' must be an integer, got number nan/ },
  { name: 'an unknown dtype code', call: () => native.zeros([2], 99, 'cpu'), message: /^zeros: argument 'dtype' is not a supported dtype code: 99/ },
  {
    name: 'a malformed device string',
    call: () => zeros([2], { device: 'cuda:abc' }),
    message: /^zeros: argument 'device' is not a device string: 'cuda:abc'/,
  },
  {
    name: 'a number as a device',
    call: () => native.zeros([2], 6, 42 as never),
    message: /^zeros: argument 'device' must be a device string such as 'cpu' or 'cuda:0', got number 42/,
  },
  {
    name: 'too many arguments',
    call: () => (native.neg as (...a: unknown[]) => unknown)(ones([1]).handle, 1, 2),
    message: /^neg: expected 1 arguments, got 3/,
  },
  { name: 'no arguments', call: () => (native.matmul as (...a: unknown[]) => unknown)(), message: /^matmul: expected 2 arguments, got 0/ },
  { name: 'zero threads', call: () => setNumThreads(0), message: /^setNumThreads: argument 'threads' must be between 1 and 1024, got 0/ },
  { name: 'einsum with too few operands', call: () => einsum('ij,jk->ik', ones([2, 2])), message: /^einsum: .*fewer operands/ },
  { name: 'cat of nothing', call: () => cat([]), message: /^cat: .*expected a non-empty list of Tensors/ },
  { name: 'stack of unequal shapes', call: () => stack([ones([2]), ones([3])]), message: /^stack: stack expects each tensor to be equal size/ },
  { name: 'eigh of a non-square matrix', call: () => eigh(ones([2, 3])), message: /^linalgEigh: .*square matrices/ },
  { name: 'item of four elements', call: () => ones([4]).item(), message: /^item: a Tensor with 4 elements cannot be converted to Scalar/ },
  { name: 'arange with step 0', call: () => arange(0, 5, 0), message: /^arange: step must be nonzero/ },
  { name: 'randint with low >= high', call: () => randint(5, 2, [3]), message: /^randint: random_ expects 'from' to be less than 'to'/ },
  {
    name: 'backward of a non-scalar without a gradient',
    call: () => ones([2]).requiresGrad_().mul(2).backward(),
    message: /^backward: grad can be implicitly created only for scalar outputs/,
  },
  {
    name: 'reflect padding wider than the input',
    call: () => nnf.pad(ones([1, 1, 2, 2]), [5, 5, 5, 5], 'reflect'),
    message: /^padReflect: .*Padding size should be less than the corresponding input dimension/,
  },
  { name: 'a slice with step 0', call: () => ones([5]).slice(0, 0, 5, 0), message: /^slice: slice step must be positive/ },
  {
    name: 'cross entropy with a target out of range',
    call: () => nnf.crossEntropy(ones([2, 3]), tensor(BigInt64Array.from([0n, 7n]))),
    message: /^crossEntropy: Target 7 is out of bounds/,
  },
  {
    name: 'embedding with an index out of range',
    call: () => nnf.embedding(ones([3, 2]), tensor(BigInt64Array.from([0n, 7n]))),
    message: /^embedding: index out of range in self/,
  },
  {
    name: 'scatterAdd with an index out of range',
    call: () => ones([3]).scatterAdd(0, tensor(BigInt64Array.from([9n])), ones([1])),
    message: /^scatterAdd: index 9 is out of bounds/,
  },
  {
    name: 'indexCopy_ with an index out of range',
    call: () => ones([3, 2]).indexCopy_(0, tensor(BigInt64Array.from([9n])), ones([1, 2])),
    message: /^indexCopy_: .*index 9 is out of bounds/,
  },
  { name: 'a conv2d weight of rank 3', call: () => nnf.conv2d(ones([1, 1, 4, 4]), ones([1, 1, 3])), message: /^conv2d: / },
  {
    name: 'attention with mismatched ranks',
    call: () => nnf.scaledDotProductAttention(ones([2, 3]), ones([2, 3, 4]), ones([2, 3])),
    message: /^attention: query, key and value must have the same rank/,
  },
];

function main(): void {
  for (const { name, call } of nastyCalls) {
    try {
      call();
      console.log(JSON.stringify({ name, threw: false }));
    } catch (e) {
      // Anything may be thrown (null, a string, an object without a prototype): optional fields all.
      const err = e as { constructor?: { name?: unknown }; message?: unknown } | null | undefined;
      console.log(
        JSON.stringify({ name, threw: true, errorName: err?.constructor?.name, isError: err instanceof Error, message: String(err?.message) }),
      );
    }
  }
  console.log(JSON.stringify({ done: true }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
