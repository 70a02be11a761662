/**
 * Every op of native/ops.table, forward and gradient, against Python's torch on the same inputs
 * (test/reference/ops_ref.py, one Python process for all cases). Inputs are made here from a
 * seeded JS generator and sent as bytes; the engine's gradients are those of
 * sum_k sum(output_k * upstream_k) for a fixed random upstream per output, as in the reference.
 * The reference runs in float64 (from the same float32 inputs) unless a case keeps the dtypes.
 *
 * Random creation ops are checked by statistics and by exact replay of a Generator's seed and
 * state (their streams need not equal Python's); dropout by its kept fraction, scale and replay.
 * A last test checks that every op in the table ran here or is listed with where it is tested.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';

import {
  Tensor,
  tidy,
  setNumThreads,
  nnf,
  Generator,
  isFloating,
  liveTensorCount,
  zeros,
  ones,
  full,
  empty,
  scalar,
  arange,
  linspace,
  eye,
  rand,
  randn,
  randint,
  randperm,
  zerosLike,
  onesLike,
  fullLike,
  randnLike,
  randLike,
  bernoulli,
  tensor,
  cat,
  stack,
  where,
  einsum,
  cdist,
  eigh,
  svd,
  type DType,
} from '../src/tensor/index.js';
import { native } from '../src/tensor/native.js';
import { generatedOpNames } from '../src/tensor/ops.generated.js';
import { runPythonScript } from './helpers/python.js';
import { testDevice, cudaSkip } from './helpers/device.js';
import {
  Rng,
  seedOf,
  inputValues,
  inputDtype,
  tensorOf,
  tensorBase64,
  float64FromBase64,
  assertAllClose,
  dtypeTolerance,
  type InputSpec,
} from './helpers/tensor-data.js';

setNumThreads(1);

// CONSISTENCY_TEST_DEVICE=cuda: the reference-compared cases run their inputs on the GPU here and
// in ops_ref.py (creation and random ops, which take no inputs, and the checks after the
// reference cases stay on the CPU).
const DEVICE = testDevice();
const SKIP = cudaSkip(DEVICE);

// ---------------------------------------------------------------------------------------------
// Which native ops the checked code called (for the coverage test at the end).

const calledOps = new Set<string>();
let recording = false;
{
  const table = native as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of generatedOpNames) {
    const original = table[name]!;
    table[name] = (...args: unknown[]) => {
      if (recording) calledOps.add(name);
      return original(...args);
    };
  }
}
function recorded<T>(fn: () => T): T {
  recording = true;
  try {
    return fn();
  } finally {
    recording = false;
  }
}

/** Ops of the table that this file does not run, and the file whose tests check them. */
const TESTED_ELSEWHERE: Record<string, string> = {
  contiguousChannelsLast: 'channels-last.test.ts (layout, values, a whole network against torch.channels_last)',
  isContiguousChannelsLast: 'channels-last.test.ts',
  requiresGrad_: 'autograd.test.ts (also used by every gradient case here)',
  requiresGrad: 'autograd.test.ts',
  backward: 'autograd.test.ts (also used by every gradient case here)',
  grad: 'autograd.test.ts (also used by every gradient case here)',
  clearGrad: 'autograd.test.ts',
  isLeaf: 'autograd.test.ts',
};

// ---------------------------------------------------------------------------------------------
// The cases. `op` names the function on both sides: OURS below and OPS in ops_ref.py.

interface Params {
  size?: number[];
  shape?: number[];
  dims?: number[];
  repeats?: number[] | number;
  pad?: number[];
  shifts?: number[];
  dtype?: DType;
  value?: number;
  scalar?: number;
  min?: number;
  max?: number;
  weight?: number;
  alpha?: number;
  start?: number;
  end?: number;
  step?: number;
  steps?: number;
  n?: number;
  dim?: number;
  dim0?: number;
  dim1?: number;
  keepdim?: boolean;
  unbiased?: boolean;
  p?: number;
  k?: number;
  largest?: boolean;
  descending?: boolean;
  chunks?: number;
  index?: number;
  diagonal?: number;
  equation?: string;
  rtol?: number;
  atol?: number;
  stride?: number[];
  padding?: number[];
  dilation?: number[];
  outputPadding?: number[];
  groups?: number;
  eps?: number;
  kernel?: number[];
  approximate?: 'none' | 'tanh';
  mode?: string;
  alignCorners?: boolean;
  values?: number[];
  ceilMode?: boolean;
  countIncludePad?: boolean;
  training?: boolean;
  momentum?: number;
  beta1?: number;
  beta2?: number;
  lr?: number;
  scaleFactor?: number;
  sizes?: number[];
  splitSize?: number | number[];
}

type Output = Tensor | Tensor[] | number | boolean;
type OpFn = (x: Tensor[], p: Params) => Output;

const unaryMethod =
  (name: keyof Tensor): OpFn =>
  (x) =>
    (x[0]![name] as () => Tensor).call(x[0]);
const binaryMethod =
  (name: 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'): OpFn =>
  (x) =>
    x[0]![name](x[1]!);
const scalarMethod =
  (name: 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'rsub' | 'rdiv' | 'rpow'): OpFn =>
  (x, p) =>
    x[0]![name](p.scalar!);
/** An in-place op on a copy of the first input; the copy is the output. */
const inPlace =
  (apply: (s: Tensor, x: Tensor[], p: Params) => void): OpFn =>
  (x, p) => {
    const s = x[0]!.clone();
    apply(s, x.slice(1), p);
    return s;
  };
/** Signs making the first row non-negative (eigen/singular vectors are defined up to sign); as in ops_ref.py. */
const signFix = (v: Tensor): Tensor => v.slice(-2, 0, 1).sign().detach();

const OURS: Record<string, OpFn> = {
  // creation
  zeros: (_, p) => zeros(p.size!, { dtype: p.dtype }),
  ones: (_, p) => ones(p.size!, { dtype: p.dtype }),
  full: (_, p) => full(p.size!, p.value!, { dtype: p.dtype }),
  empty: (_, p) => empty(p.size!, { dtype: p.dtype }),
  scalar: (_, p) => scalar(p.value!, { dtype: p.dtype }),
  arange: (_, p) => arange(p.start!, p.end, p.step, { dtype: p.dtype }),
  linspace: (_, p) => linspace(p.start!, p.end!, p.steps!, { dtype: p.dtype }),
  eye: (_, p) => eye(p.n!, { dtype: p.dtype }),
  zerosLike: (x) => zerosLike(x[0]!),
  onesLike: (x) => onesLike(x[0]!),
  fullLike: (x, p) => fullLike(x[0]!, p.scalar!),
  tensorFromList: (_, p) => tensor(p.values!, p.shape, { dtype: p.dtype }),
  // conversion
  to: (x, p) => x[0]!.to({ dtype: p.dtype, device: 'cpu' }),
  toDtype: (x, p) => x[0]!.toDtype(p.dtype!),
  toDevice: (x) => x[0]!.cpu(),
  clone: (x) => x[0]!.clone(),
  contiguous: (x) => x[0]!.transpose(0, 1).contiguous(),
  detach: (x) => x[0]!.detach(),
  item: (x) => x[0]!.item(),
  // elementwise
  neg: unaryMethod('neg'),
  abs: unaryMethod('abs'),
  exp: unaryMethod('exp'),
  expm1: unaryMethod('expm1'),
  log: unaryMethod('log'),
  log1p: unaryMethod('log1p'),
  log2: unaryMethod('log2'),
  sqrt: unaryMethod('sqrt'),
  rsqrt: unaryMethod('rsqrt'),
  square: unaryMethod('square'),
  reciprocal: unaryMethod('reciprocal'),
  sin: unaryMethod('sin'),
  cos: unaryMethod('cos'),
  tanh: unaryMethod('tanh'),
  erf: unaryMethod('erf'),
  erfinv: unaryMethod('erfinv'),
  floor: unaryMethod('floor'),
  ceil: unaryMethod('ceil'),
  round: unaryMethod('round'),
  sign: unaryMethod('sign'),
  logicalNot: unaryMethod('logicalNot'),
  isnan: unaryMethod('isnan'),
  isfinite: unaryMethod('isfinite'),
  add: binaryMethod('add'),
  sub: binaryMethod('sub'),
  mul: binaryMethod('mul'),
  div: binaryMethod('div'),
  pow: binaryMethod('pow'),
  maximum: (x) => x[0]!.maximum(x[1]!),
  minimum: (x) => x[0]!.minimum(x[1]!),
  atan2: (x) => x[0]!.atan2(x[1]!),
  addScalar: scalarMethod('add'),
  subScalar: scalarMethod('sub'),
  rsubScalar: scalarMethod('rsub'),
  mulScalar: scalarMethod('mul'),
  divScalar: scalarMethod('div'),
  rdivScalar: scalarMethod('rdiv'),
  powScalar: scalarMethod('pow'),
  rpowScalar: scalarMethod('rpow'),
  clamp: (x, p) => x[0]!.clamp(p.min, p.max),
  where: (x) => where(x[0]!, x[1]!, x[2]!),
  lerp: (x, p) => x[0]!.lerp(x[1]!, p.weight!),
  maskedFill: (x, p) => x[0]!.maskedFill(x[1]!, p.value!),
  // comparison and logic
  eq: binaryMethod('eq'),
  ne: binaryMethod('ne'),
  lt: binaryMethod('lt'),
  le: binaryMethod('le'),
  gt: binaryMethod('gt'),
  ge: binaryMethod('ge'),
  eqScalar: scalarMethod('eq'),
  neScalar: scalarMethod('ne'),
  ltScalar: scalarMethod('lt'),
  leScalar: scalarMethod('le'),
  gtScalar: scalarMethod('gt'),
  geScalar: scalarMethod('ge'),
  logicalAnd: (x) => x[0]!.logicalAnd(x[1]!),
  logicalOr: (x) => x[0]!.logicalOr(x[1]!),
  allClose: (x, p) => x[0]!.allClose(x[1]!, p.rtol, p.atol),
  // reductions
  sumAll: (x) => x[0]!.sum(),
  meanAll: (x) => x[0]!.mean(),
  maxAll: (x) => x[0]!.max(),
  minAll: (x) => x[0]!.min(),
  sum: (x, p) => x[0]!.sum(p.dims, p.keepdim),
  mean: (x, p) => x[0]!.mean(p.dims, p.keepdim),
  amax: (x, p) => x[0]!.max(p.dims, p.keepdim),
  amin: (x, p) => x[0]!.min(p.dims, p.keepdim),
  argmax: (x, p) => x[0]!.argmax(p.dim!, p.keepdim),
  argmin: (x, p) => x[0]!.argmin(p.dim!, p.keepdim),
  var: (x, p) => x[0]!.var(p.dims, p.unbiased, p.keepdim),
  std: (x, p) => x[0]!.std(p.dims, p.unbiased, p.keepdim),
  prod: (x, p) => x[0]!.prod(p.dim!, p.keepdim),
  logsumexp: (x, p) => x[0]!.logsumexp(p.dims!, p.keepdim),
  cumsum: (x, p) => x[0]!.cumsum(p.dim!),
  norm: (x, p) => x[0]!.norm(p.p, p.dims, p.keepdim),
  anyAll: (x) => x[0]!.any(),
  allAll: (x) => x[0]!.all(),
  topk: (x, p) => {
    const r = x[0]!.topk(p.k!, p.dim, p.largest);
    return [r.values, r.indices];
  },
  sort: (x, p) => {
    const r = x[0]!.sort(p.dim, p.descending);
    return [r.values, r.indices];
  },
  kthvalue: (x, p) => {
    const r = x[0]!.kthvalue(p.k!, p.dim, p.keepdim);
    return [r.values, r.indices];
  },
  // linear algebra
  matmul: (x) => x[0]!.matmul(x[1]!),
  mm: (x) => x[0]!.mm(x[1]!),
  bmm: (x) => x[0]!.bmm(x[1]!),
  einsum: (x, p) => einsum(p.equation!, ...x),
  cdist: (x) => cdist(x[0]!, x[1]!),
  linalgEigh: (x) => {
    const r = eigh(x[0]!);
    return [r.eigenvalues, r.eigenvectors.mul(signFix(r.eigenvectors))];
  },
  linalgSvd: (x) => {
    const r = svd(x[0]!);
    const s = signFix(r.U);
    return [r.U.mul(s), r.S, r.Vh.mul(s.T)];
  },
  trace: (x) => x[0]!.trace(),
  outer: (x) => x[0]!.outer(x[1]!),
  // shape
  reshape: (x, p) => x[0]!.reshape(p.shape!),
  view: (x, p) => x[0]!.view(p.shape!),
  permute: (x, p) => x[0]!.permute(p.dims!),
  transpose: (x, p) => x[0]!.transpose(p.dim0!, p.dim1!),
  T: (x) => x[0]!.T,
  squeeze: (x, p) => x[0]!.squeeze(p.dim!),
  unsqueeze: (x, p) => x[0]!.unsqueeze(p.dim!),
  flatten: (x, p) => x[0]!.flatten(p.start, p.end),
  cat: (x, p) => cat(x, p.dim),
  stack: (x, p) => stack(x, p.dim),
  chunk: (x, p) => x[0]!.chunk(p.chunks!, p.dim),
  split: (x, p) => x[0]!.split(p.splitSize!, p.dim),
  slice: (x, p) => x[0]!.slice(p.dim!, p.start!, p.end, p.step),
  select: (x, p) => x[0]!.select(p.dim!, p.index!),
  indexSelect: (x, p) => x[0]!.indexSelect(p.dim!, x[1]!),
  gather: (x, p) => x[0]!.gather(p.dim!, x[1]!),
  scatterAdd: (x, p) => x[0]!.scatterAdd(p.dim!, x[1]!, x[2]!),
  expand: (x, p) => x[0]!.expand(p.size!),
  repeat: (x, p) => x[0]!.repeat(p.repeats as number[]),
  repeatInterleave: (x, p) => x[0]!.repeatInterleave(p.repeats as number, p.dim!),
  flip: (x, p) => x[0]!.flip(p.dims!),
  roll: (x, p) => x[0]!.roll(p.shifts!, p.dims!),
  pad: (x, p) => nnf.pad(x[0]!, p.pad!, p.mode as 'constant' | 'reflect' | 'replicate', p.value),
  tril: (x, p) => x[0]!.tril(p.diagonal),
  triu: (x, p) => x[0]!.triu(p.diagonal),
  // in place
  copy_: inPlace((s, x) => s.copy_(x[0]!)),
  zero_: inPlace((s) => s.zero_()),
  fill_: inPlace((s, _, p) => s.fill_(p.value!)),
  add_: inPlace((s, x, p) => s.add_(x[0]!, p.alpha)),
  addScalar_: inPlace((s, _, p) => s.add_(p.value!)),
  sub_: inPlace((s, x) => s.sub_(x[0]!)),
  mul_: inPlace((s, x) => s.mul_(x[0]!)),
  mulScalar_: inPlace((s, _, p) => s.mul_(p.value!)),
  div_: inPlace((s, x) => s.div_(x[0]!)),
  divScalar_: inPlace((s, _, p) => s.div_(p.value!)),
  addcmul_: inPlace((s, x, p) => s.addcmul_(x[0]!, x[1]!, p.value)),
  addcdiv_: inPlace((s, x, p) => s.addcdiv_(x[0]!, x[1]!, p.value)),
  lerp_: inPlace((s, x, p) => s.lerp_(x[0]!, p.weight!)),
  sqrt_: inPlace((s) => s.sqrt_()),
  clamp_: inPlace((s, _, p) => s.clamp_(p.min, p.max)),
  indexCopy_: inPlace((s, x, p) => s.indexCopy_(p.dim!, x[0]!, x[1]!)),
  adam: inPlace((param, x, p) => {
    // One Adam update with in-place ops, as an optimizer writes it (same sequence in ops_ref.py).
    const [grad, m0, v0] = x as [Tensor, Tensor, Tensor];
    const [m, v] = [m0.clone(), v0.clone()];
    const [b1, b2, lr, eps, t] = [p.beta1!, p.beta2!, p.lr!, p.eps!, p.step!];
    m.lerp_(grad, 1 - b1);
    v.mul_(b2).addcmul_(grad, grad, 1 - b2);
    const denom = v
      .div(1 - b2 ** t)
      .sqrt()
      .add_(eps);
    param.addcdiv_(m, denom, -lr / (1 - b1 ** t));
  }),
  // neural-network functions
  conv2d: (x, p) =>
    nnf.conv2d(x[0]!, x[1]!, x[2] ?? null, { stride: pair(p.stride), padding: pair(p.padding), dilation: pair(p.dilation), groups: p.groups }),
  convTranspose2d: (x, p) =>
    nnf.convTranspose2d(x[0]!, x[1]!, x[2] ?? null, {
      stride: pair(p.stride),
      padding: pair(p.padding),
      outputPadding: pair(p.outputPadding),
      groups: p.groups,
      dilation: pair(p.dilation),
    }),
  linear: (x) => nnf.linear(x[0]!, x[1]!, x[2] ?? null),
  groupNorm: (x, p) => nnf.groupNorm(x[0]!, p.groups!, x[1] ?? null, x[2] ?? null, p.eps),
  layerNorm: (x, p) => nnf.layerNorm(x[0]!, p.shape!, x[1] ?? null, x[2] ?? null, p.eps),
  relu: (x) => nnf.relu(x[0]!),
  silu: (x) => nnf.silu(x[0]!),
  sigmoid: (x) => nnf.sigmoid(x[0]!),
  softplus: (x) => nnf.softplus(x[0]!),
  gelu: (x, p) => nnf.gelu(x[0]!, p.approximate),
  leakyRelu: (x, p) => nnf.leakyRelu(x[0]!, p.scalar),
  softmax: (x, p) => nnf.softmax(x[0]!, p.dim!),
  logSoftmax: (x, p) => nnf.logSoftmax(x[0]!, p.dim!),
  avgPool2d: (x, p) => nnf.avgPool2d(x[0]!, pair(p.kernel)!, pair(p.stride), pair(p.padding)),
  maxPool2d: (x, p) => nnf.maxPool2d(x[0]!, pair(p.kernel)!, pair(p.stride), pair(p.padding)),
  avgPool2dFull: (x, p) =>
    nnf.avgPool2d(x[0]!, pair(p.kernel)!, pair(p.stride), pair(p.padding), { ceilMode: p.ceilMode!, countIncludePad: p.countIncludePad! }),
  batchNorm: (x, p) => {
    // Running statistics are updated in training mode: copies go in, and come back as outputs.
    const [mean, variance] = [x[3]!.clone(), x[4]!.clone()];
    const out = nnf.batchNorm(x[0]!, mean, variance, x[1], x[2], p.training, p.momentum, p.eps);
    return [out, mean, variance];
  },
  adaptiveAvgPool2d: (x, p) => nnf.adaptiveAvgPool2d(x[0]!, pair(p.size)!),
  interpolate: (x, p) =>
    nnf.interpolate(x[0]!, {
      ...(p.scaleFactor !== undefined ? { scaleFactor: p.scaleFactor } : { size: pair(p.size) }),
      mode: p.mode as 'nearest' | 'bilinear',
      alignCorners: p.alignCorners,
    }),
  attention: (x) => nnf.scaledDotProductAttention(x[0]!, x[1]!, x[2]!, x[3] ?? null),
  mseLoss: (x) => nnf.mseLoss(x[0]!, x[1]!),
  crossEntropy: (x) => nnf.crossEntropy(x[0]!, x[1]!),
  embedding: (x) => nnf.embedding(x[0]!, x[1]!),
};

function pair(v: number[] | undefined): [number, number] | undefined {
  return v === undefined ? undefined : [v[0]!, v[1] ?? v[0]!];
}

interface OpCase {
  /** Unique; also seeds the inputs. */
  id: string;
  op: string;
  inputs: InputSpec[];
  params?: Params;
  /** 'same': the reference keeps the inputs' dtypes (float16/bfloat16 cases, dtype conversions). */
  precision?: 'float64' | 'same';
  /** Only shape and dtype are compared (empty). */
  valuesUnspecified?: boolean;
  /** Loosens the float32 tolerance (ops whose float32 result is ill-conditioned). */
  tolScale?: number;
}

// Input shorthands.
const N = (...shape: number[]): InputSpec => ({ shape });
const Nd = (dtype: DType, ...shape: number[]): InputSpec => ({ shape, dtype });
const Pos = (...shape: number[]): InputSpec => ({ shape, kind: 'positive' });
const U = (low: number, high: number, ...shape: number[]): InputSpec => ({ shape, kind: 'uniform', low, high });
const Rnd = (...shape: number[]): InputSpec => ({ shape, kind: 'round', low: -2, high: 3 });
const I = (low: number, high: number, ...shape: number[]): InputSpec => ({ shape, kind: 'int', low, high });
const B = (...shape: number[]): InputSpec => ({ shape, kind: 'bool' });
const noGradOf = (s: InputSpec): InputSpec => ({ ...s, grad: false });

const cases: OpCase[] = [];
function add(op: string, inputs: InputSpec[], params: Params = {}, extra: Partial<OpCase> = {}): void {
  const id = extra.id ?? `${op}#${cases.filter((c) => c.op === op).length}`;
  cases.push({ id, op, inputs, params, ...extra });
}

// ---- creation (deterministic values) ----
add('zeros', [], { size: [2, 3], dtype: 'float32' });
add('zeros', [], { size: [4], dtype: 'int64' });
add('ones', [], { size: [3, 1, 2], dtype: 'float64' });
add('ones', [], { size: [5], dtype: 'bool' });
add('full', [], { size: [2, 2], value: 0.1, dtype: 'float32' });
add('full', [], { size: [3], value: -7, dtype: 'int64' });
add('empty', [], { size: [3, 4], dtype: 'float16' }, { valuesUnspecified: true });
add('scalar', [], { value: 2.5, dtype: 'float32' });
add('arange', [], { start: 0, end: 5, step: 1, dtype: 'int64' });
add('arange', [], { start: -1, end: 1, step: 0.25, dtype: 'float32' });
add('linspace', [], { start: -2, end: 3, steps: 7, dtype: 'float32' });
add('linspace', [], { start: 0, end: 1, steps: 5, dtype: 'float64' });
add('eye', [], { n: 4, dtype: 'float32' });
add('zerosLike', [N(2, 3)]);
add('onesLike', [Nd('float64', 3)]);
add('fullLike', [I(0, 5, 2, 2)], { scalar: 3 });
add('tensorFromList', [], { values: [1, -2, 3, 40, 5, 6], shape: [2, 3], dtype: 'int64' });
add('tensorFromList', [], { values: [0.5, 1.5, -2.25, 4], shape: [4], dtype: 'float64' });
// ---- conversion ----
add('to', [N(3, 2)], { dtype: 'float64' });
add('toDtype', [N(3, 4)], { dtype: 'float16' }, { precision: 'same' });
add('toDtype', [N(3, 4)], { dtype: 'bfloat16' }, { precision: 'same' });
add('toDtype', [{ shape: [10], scale: 5 }], { dtype: 'int64' });
add('toDtype', [I(0, 256, 10)], { dtype: 'uint8' });
add('toDtype', [Rnd(10)], { dtype: 'bool' });
add('toDtype', [Nd('float16', 6)], { dtype: 'float32' }, { precision: 'same' });
add('toDtype', [Nd('bfloat16', 6)], { dtype: 'float64' }, { precision: 'same' });
add('toDevice', [N(2, 3)]);
add('clone', [N(2, 3)]);
add('contiguous', [N(3, 4)]);
add('detach', [N(2, 3)]);
add('item', [N(1)]);
add('item', [I(-9, 9, 1, 1)]);
// ---- elementwise ----
for (const op of ['neg', 'abs', 'exp', 'expm1', 'square', 'sin', 'cos', 'tanh', 'erf', 'sign', 'relu', 'silu', 'sigmoid', 'softplus'])
  add(op, [N(3, 5)]);
for (const op of ['log', 'log1p', 'log2', 'sqrt', 'rsqrt', 'reciprocal']) add(op, [Pos(3, 5)]);
for (const op of ['floor', 'ceil', 'round']) add(op, [{ shape: [3, 5], scale: 3 }]);
add('erfinv', [U(-0.9, 0.9, 3, 5)]);
add('exp', [Nd('float64', 4, 3)]);
add('neg', [I(-5, 5, 6)]);
add('abs', [I(-5, 5, 6)]);
add('logicalNot', [B(3, 4)]);
add('isnan', [{ shape: [40], kind: 'special', grad: false }]);
add('isfinite', [{ shape: [40], kind: 'special', grad: false }]);
add('add', [N(3, 4), N(4)]);
add('add', [N(2, 1, 4), N(3, 1)]);
add('add', [I(-5, 5, 3, 4), N(3, 4)]);
add('add', [Nd('float64', 3), N(3)]);
add('add', [Nd('float16', 3, 4), Nd('float16', 3, 4)], {}, { precision: 'same' });
add('sub', [N(3, 4), N(3, 4)]);
add('mul', [N(3, 4), N(3, 1)]);
add('mul', [Nd('bfloat16', 3, 4), Nd('bfloat16', 3, 4)], {}, { precision: 'same' });
add('div', [N(3, 4), Pos(3, 4)]);
add('div', [I(-9, 9, 5), I(1, 4, 5)]);
add('pow', [Pos(3, 4), N(3, 4)]);
add('maximum', [N(3, 4), N(3, 4)]);
add('minimum', [N(3, 4), N(4)]);
add('atan2', [N(3, 4), N(3, 4)]);
add('addScalar', [N(3, 4)], { scalar: 1.5 });
add('addScalar', [I(0, 9, 4)], { scalar: 2 });
add('subScalar', [N(3, 4)], { scalar: -0.5 });
add('rsubScalar', [N(3, 4)], { scalar: 2 });
add('mulScalar', [N(3, 4)], { scalar: -3 });
add('mulScalar', [I(0, 9, 4)], { scalar: 2 });
add('divScalar', [N(3, 4)], { scalar: 4 });
add('divScalar', [I(0, 9, 4)], { scalar: 2 });
add('rdivScalar', [Pos(3, 4)], { scalar: 3 });
// Integral JS numbers act as Python ints: int64 tensors stay int64 (and 2.5 promotes to float32).
add('powScalar', [I(0, 5, 6)], { scalar: 2 });
add('rsubScalar', [I(0, 5, 6)], { scalar: 10 });
add('subScalar', [I(0, 5, 6)], { scalar: 2.5 });
add('maskedFill', [I(0, 5, 6), B(6)], { value: -1 });
add('add_', [I(0, 5, 6), I(0, 5, 6)], { alpha: 2 });
add('fill_', [I(0, 5, 6)], { value: 7 });
add('pad', [I(0, 5, 2, 3)], { pad: [1, 1], mode: 'constant', value: 9 });
add('powScalar', [Pos(3, 4)], { scalar: 2.5 });
add('powScalar', [N(3, 4)], { scalar: 2 });
add('rpowScalar', [N(3, 4)], { scalar: 2 });
add('clamp', [N(4, 5)], { min: -0.5, max: 0.7 });
add('clamp', [N(4, 5)], { min: 0 });
add('clamp', [N(4, 5)], { max: 0.25 });
add('clamp', [I(-9, 9, 8)], { min: -2, max: 3 });
add('where', [B(3, 4), N(3, 4), N(3, 4)]);
add('where', [B(3, 1), N(1, 4), N(3, 4)]);
add('lerp', [N(3, 4), N(3, 4)], { weight: 0.3 });
add('maskedFill', [N(3, 4), B(3, 4)], { value: -1.5 });
add('maskedFill', [N(3, 4), B(4)], { value: 9 });
// ---- comparison and logic ----
for (const op of ['eq', 'ne', 'lt', 'le', 'gt', 'ge']) {
  add(op, [Rnd(4, 5), Rnd(4, 5)]);
  add(`${op}Scalar`, [Rnd(4, 5)], { scalar: 1 });
}
add('lt', [I(-2, 3, 6), Rnd(6)]);
add('logicalAnd', [B(4, 5), B(4, 5)]);
add('logicalOr', [B(4, 5), B(5)]);
add('allClose', [N(3, 4), { shape: [3, 4], kind: 'near', of: 0, scale: 1e-7 }], { rtol: 1e-5, atol: 1e-6 });
add('allClose', [N(3, 4), { shape: [3, 4], kind: 'near', of: 0, scale: 1e-2 }], { rtol: 1e-5, atol: 1e-6 });
// ---- reductions ----
add('sumAll', [N(3, 4, 5)]);
add('sumAll', [I(-9, 9, 7)]);
add('sumAll', [B(7)]);
add('sum', [N(3, 4, 5)], { dims: [1], keepdim: false });
add('sum', [N(3, 4, 5)], { dims: [0, 2], keepdim: true });
add('sum', [N(3, 4, 5)], { dims: [-1], keepdim: false });
add('meanAll', [N(3, 4, 5)]);
add('mean', [N(3, 4, 5)], { dims: [1, 2], keepdim: false });
add('mean', [N(3, 4, 5)], { dims: [-2], keepdim: true });
add('maxAll', [N(3, 4)]);
add('minAll', [N(3, 4)]);
add('amax', [N(3, 4, 5)], { dims: [1], keepdim: true });
add('amax', [N(3, 4, 5)], { dims: [0, 2], keepdim: false });
add('amin', [N(3, 4, 5)], { dims: [-1], keepdim: false });
add('argmax', [N(3, 4, 5)], { dim: 1, keepdim: false });
add('argmax', [N(3, 4, 5)], { dim: -1, keepdim: true });
add('argmin', [N(3, 4, 5)], { dim: 0, keepdim: false });
add('var', [N(3, 4, 5)], { dims: [1], unbiased: true, keepdim: false });
add('var', [N(3, 4, 5)], { dims: [0, 2], unbiased: false, keepdim: true });
add('var', [N(3, 4)], {});
add('std', [N(3, 4, 5)], { dims: [2], unbiased: true, keepdim: true });
add('std', [N(6, 5)], {});
add('prod', [U(0.5, 1.5, 3, 4)], { dim: 1, keepdim: false });
add('prod', [U(0.5, 1.5, 3, 4)], { dim: 0, keepdim: true });
add('logsumexp', [N(3, 4, 5)], { dims: [2], keepdim: false });
add('logsumexp', [N(3, 4, 5)], { dims: [0, 1], keepdim: true });
add('cumsum', [N(3, 4)], { dim: 1 });
add('cumsum', [N(3, 4)], { dim: -2 });
add('norm', [N(3, 4)], { p: 2 });
add('norm', [N(3, 4, 2)], { p: 1, dims: [1], keepdim: true });
add('norm', [N(3, 4, 2)], { p: 3, dims: [0, 2], keepdim: false });
add('anyAll', [B(6)]);
add('anyAll', [{ shape: [6], kind: 'int', low: 0, high: 1, dtype: 'bool' }]);
add('allAll', [B(6)]);
add('allAll', [{ shape: [6], kind: 'int', low: 1, high: 2, dtype: 'bool' }]);
add('topk', [N(4, 7)], { k: 3, dim: -1, largest: true });
add('topk', [N(4, 7)], { k: 2, dim: 0, largest: false });
add('sort', [N(4, 7)], { dim: -1, descending: false });
add('sort', [N(4, 7)], { dim: 0, descending: true });
add('kthvalue', [N(4, 7)], { k: 3, dim: -1, keepdim: false });
add('kthvalue', [N(4, 7)], { k: 2, dim: 0, keepdim: true });
// ---- linear algebra ----
add('matmul', [N(2, 3, 4), N(4, 5)]);
add('matmul', [N(4), N(4, 5)]);
add('matmul', [N(3, 4), N(4)]);
add('matmul', [N(2, 1, 3, 4), N(3, 4, 2)]);
add('matmul', [Nd('float64', 3, 4), Nd('float64', 4, 2)]);
add('matmul', [Nd('bfloat16', 3, 4), Nd('bfloat16', 4, 2)], {}, { precision: 'same' });
add('mm', [N(3, 4), N(4, 6)]);
add('bmm', [N(2, 3, 4), N(2, 4, 5)]);
add('einsum', [N(2, 3, 4), N(2, 4, 5)], { equation: 'bij,bjk->bik' });
add('einsum', [N(3, 4)], { equation: 'ij->ji' });
add('einsum', [N(5), N(5)], { equation: 'i,i->' });
add('einsum', [N(2, 3, 4)], { equation: 'bij->b' });
add('cdist', [N(5, 3), N(4, 3)]);
add('cdist', [N(2, 5, 3), N(2, 4, 3)]);
add('linalgEigh', [{ shape: [5, 5], kind: 'symmetric' }], {}, { tolScale: 10 });
add('linalgSvd', [N(5, 3)], {}, { tolScale: 10 });
add('trace', [N(4, 4)]);
add('outer', [N(3), N(4)]);
// ---- shape ----
add('reshape', [N(2, 3, 4)], { shape: [6, 4] });
add('reshape', [N(2, 3, 4)], { shape: [-1, 2] });
add('view', [N(2, 3, 4)], { shape: [4, 6] });
add('view', [N(2, 3, 4)], { shape: [2, -1] });
add('permute', [N(2, 3, 4)], { dims: [2, 0, 1] });
add('permute', [N(2, 3, 4)], { dims: [-1, -3, -2] });
add('transpose', [N(2, 3, 4)], { dim0: 0, dim1: 2 });
add('T', [N(2, 3, 4)]);
add('squeeze', [N(3, 1, 4)], { dim: 1 });
add('squeeze', [N(3, 1, 4)], { dim: 0 });
add('unsqueeze', [N(3, 4)], { dim: -1 });
add('unsqueeze', [N(3, 4)], { dim: 0 });
add('flatten', [N(2, 3, 4, 5)], { start: 1, end: -1 });
add('flatten', [N(2, 3, 4, 5)], { start: 0, end: 1 });
add('cat', [N(2, 3), N(2, 1), N(2, 4)], { dim: 1 });
add('cat', [N(2, 3, 1), N(2, 3, 2)], { dim: -1 });
add('cat', [N(1, 3), N(2, 3)], { dim: 0 });
add('stack', [N(2, 3), N(2, 3), N(2, 3)], { dim: 0 });
add('stack', [N(2, 3), N(2, 3)], { dim: 2 });
add('chunk', [N(3, 7)], { chunks: 3, dim: 1 });
add('chunk', [N(4, 2)], { chunks: 2, dim: 0 });
add('split', [N(5, 3)], { splitSize: 2, dim: 0 });
add('split', [N(3, 5)], { splitSize: [1, 3, 1], dim: -1 });
add('slice', [N(3, 8)], { dim: 1, start: 1, end: 7, step: 2 });
add('slice', [N(5, 3)], { dim: 0, start: -3, step: 1 });
add('slice', [N(3, 8)], { dim: -1, start: -6, end: -1, step: 3 });
add('slice', [N(3, 8)], { dim: 1, start: 0, end: 100, step: 3 });
add('select', [N(3, 4, 5)], { dim: 1, index: -1 });
add('select', [N(3, 4, 5)], { dim: 0, index: 2 });
add('indexSelect', [N(5, 3), I(0, 5, 7)], { dim: 0 });
add('indexSelect', [N(3, 5), I(0, 5, 4)], { dim: -1 });
add('gather', [N(4, 5), I(0, 5, 4, 3)], { dim: 1 });
add('gather', [N(4, 5), I(0, 4, 2, 5)], { dim: 0 });
add('scatterAdd', [N(4, 5), I(0, 5, 4, 3), N(4, 3)], { dim: 1 });
add('expand', [N(3, 1)], { size: [2, 3, 4] });
add('expand', [N(1, 4)], { size: [3, -1] });
add('repeat', [N(2, 3)], { repeats: [2, 1, 3] });
add('repeatInterleave', [N(2, 3)], { repeats: 2, dim: 1 });
add('flip', [N(2, 3, 4)], { dims: [0, 2] });
add('flip', [N(2, 3, 4)], { dims: [-2] });
add('roll', [N(3, 4)], { shifts: [1, -2], dims: [0, 1] });
add('pad', [N(2, 3, 4)], { pad: [1, 2, 0, 1], mode: 'constant', value: 0.5 });
add('pad', [N(2, 3, 4)], { pad: [2, 0], mode: 'constant', value: 0 });
add('pad', [N(1, 2, 4, 5)], { pad: [2, 1, 2, 1], mode: 'reflect' });
add('pad', [N(1, 2, 4, 5)], { pad: [1, 2, 0, 3], mode: 'replicate' });
add('tril', [N(4, 5)], { diagonal: 0 });
add('tril', [N(4, 5)], { diagonal: -1 });
add('triu', [N(4, 5)], { diagonal: 1 });
// ---- in place ----
add('copy_', [N(3, 4), N(4)]);
add('zero_', [N(3, 4)]);
add('fill_', [N(3, 4)], { value: 2.5 });
add('add_', [N(3, 4), N(3, 4)], { alpha: -0.5 });
add('addScalar_', [N(3, 4)], { value: 3 });
add('sub_', [N(3, 4), N(4)]);
add('mul_', [N(3, 4), N(3, 4)]);
add('mulScalar_', [N(3, 4)], { value: 0.9 });
add('div_', [N(3, 4), Pos(3, 4)]);
add('divScalar_', [N(3, 4)], { value: -2 });
add('addcmul_', [N(3, 4), N(3, 4), N(3, 4)], { value: 0.1 });
add('addcdiv_', [N(3, 4), N(3, 4), Pos(3, 4)], { value: -0.3 });
add('lerp_', [N(3, 4), N(3, 4)], { weight: 0.01 });
add('sqrt_', [Pos(3, 4)]);
add('clamp_', [N(3, 4)], { min: -1, max: 0.5 });
add('clamp_', [N(3, 4)], { min: 0 });
add('indexCopy_', [N(5, 3), { shape: [5], kind: 'perm' }, N(5, 3)], { dim: 0 });
add('adam', [noGradOf(N(4, 3)), noGradOf(N(4, 3)), noGradOf(N(4, 3)), noGradOf(Pos(4, 3))], {
  beta1: 0.9,
  beta2: 0.999,
  lr: 1e-3,
  eps: 1e-8,
  step: 3,
});
// ---- neural-network functions ----
add('conv2d', [N(2, 3, 6, 7), N(4, 3, 3, 3), N(4)], { stride: [1], padding: [1], dilation: [1], groups: 1 });
add('conv2d', [N(2, 3, 7, 7), N(5, 3, 3, 3)], { stride: [2], padding: [1], dilation: [1], groups: 1 });
add('conv2d', [N(1, 2, 8, 8), N(3, 2, 3, 3), N(3)], { stride: [1], padding: [2], dilation: [2], groups: 1 });
add('conv2d', [N(2, 4, 6, 6), N(6, 2, 3, 1), N(6)], { stride: [2, 1], padding: [0, 1], dilation: [1], groups: 2 });
add('conv2d', [N(1, 4, 5, 5), N(4, 1, 3, 3)], { stride: [1], padding: [1], dilation: [1], groups: 4 });
add('convTranspose2d', [N(2, 3, 4, 4), N(3, 5, 3, 3), N(5)], { stride: [2], padding: [1], outputPadding: [1], groups: 1, dilation: [1] });
add('convTranspose2d', [N(1, 4, 3, 5), N(4, 2, 2, 3)], { stride: [1, 2], padding: [0], outputPadding: [0], groups: 2, dilation: [1] });
add('convTranspose2d', [N(1, 2, 4, 4), N(2, 3, 3, 3), N(3)], { stride: [1], padding: [1], outputPadding: [0], groups: 1, dilation: [2] });
add('linear', [N(2, 3, 4), N(5, 4), N(5)]);
add('linear', [N(3, 4), N(2, 4)]);
add('groupNorm', [N(2, 4, 3, 3), N(4), N(4)], { groups: 2, eps: 1e-5 });
add('groupNorm', [N(2, 6, 4, 4)], { groups: 3, eps: 1e-6 });
add('groupNorm', [{ shape: [2, 4, 3, 3], scale: 3 }, N(4), N(4)], { groups: 4, eps: 1e-5 });
add('layerNorm', [N(2, 3, 5), N(5), N(5)], { shape: [5], eps: 1e-5 });
add('layerNorm', [N(2, 3, 4, 5)], { shape: [4, 5], eps: 1e-5 });
add('gelu', [{ shape: [3, 5], scale: 2 }], { approximate: 'none' });
add('gelu', [{ shape: [3, 5], scale: 2 }], { approximate: 'tanh' });
add('leakyRelu', [N(3, 5)], { scalar: 0.1 });
add('softmax', [N(3, 5)], { dim: 1 });
add('softmax', [{ shape: [2, 3, 4], scale: 3 }], { dim: 0 });
add('logSoftmax', [N(3, 5)], { dim: -1 });
add('avgPool2d', [N(2, 3, 6, 6)], { kernel: [2], stride: [2], padding: [0] });
add('avgPool2d', [N(1, 2, 7, 7)], { kernel: [3], stride: [2], padding: [1] });
add('maxPool2d', [N(2, 3, 6, 6)], { kernel: [2], stride: [2], padding: [0] });
add('maxPool2d', [N(1, 2, 7, 7)], { kernel: [3], stride: [2], padding: [1] });
add('avgPool2dFull', [N(1, 2, 7, 7)], { kernel: [3], stride: [2], padding: [1], ceilMode: true, countIncludePad: false });
add('avgPool2dFull', [N(1, 2, 6, 5)], { kernel: [2], stride: [2], padding: [1], ceilMode: false, countIncludePad: true });
for (const training of [true, false]) {
  add('batchNorm', [N(3, 4, 5, 5), N(4), N(4), noGradOf(N(4)), noGradOf(Pos(4))], { training, momentum: 0.1, eps: 1e-3 });
}
add('adaptiveAvgPool2d', [N(1, 2, 7, 7)], { size: [3, 3] });
add('adaptiveAvgPool2d', [N(2, 3, 8, 6)], { size: [1, 1] });
add('interpolate', [N(1, 2, 3, 5)], { size: [6, 10], mode: 'nearest' });
add('interpolate', [N(1, 2, 3, 5)], { size: [7, 8], mode: 'nearest' });
add('interpolate', [N(1, 2, 3, 5)], { size: [6, 10], scaleFactor: 2, mode: 'nearest' });
add('interpolate', [N(1, 2, 3, 5)], { size: [7, 9], mode: 'bilinear', alignCorners: false });
add('interpolate', [N(1, 2, 3, 5)], { size: [7, 9], mode: 'bilinear', alignCorners: true });
add('interpolate', [N(1, 2, 8, 8)], { size: [4, 4], mode: 'bilinear', alignCorners: false });
add('attention', [N(2, 3, 5, 4), N(2, 3, 6, 4), N(2, 3, 6, 2)]);
add('attention', [N(2, 5, 4), N(2, 5, 4), N(2, 5, 3), { shape: [5, 5], kind: 'boolTril' }]);
add('attention', [N(2, 5, 4), N(2, 6, 4), N(2, 6, 3), N(5, 6)]);
add('mseLoss', [N(3, 4), N(3, 4)]);
add('crossEntropy', [N(5, 4), I(0, 4, 5)]);
add('embedding', [N(10, 3), I(0, 10, 2, 4)]);
// ---- float16 / bfloat16 / float64 variants of common ops ----
add('sumAll', [Nd('float16', 4, 5)], {}, { precision: 'same' });
add('softmax', [Nd('float64', 3, 5)], { dim: 1 });
add('conv2d', [Nd('float64', 1, 2, 5, 5), Nd('float64', 3, 2, 3, 3), Nd('float64', 3)], { stride: [1], padding: [1], dilation: [1], groups: 1 });
add(
  'conv2d',
  [Nd('bfloat16', 1, 2, 5, 5), Nd('bfloat16', 3, 2, 3, 3)],
  { stride: [1], padding: [1], dilation: [1], groups: 1 },
  { precision: 'same', tolScale: 4 },
);
add('silu', [Nd('bfloat16', 3, 5)], {}, { precision: 'same' });

// ---------------------------------------------------------------------------------------------
// Running the cases here and in Python.

interface Encoded {
  dtype: DType;
  shape: number[];
  b64: string;
}
interface TensorResult {
  dtype: DType;
  shape: number[];
  values: Float64Array;
}
type OutputResult = TensorResult | { scalar: number | boolean };
interface OurResult {
  inputs: Array<Encoded & { grad: boolean }>;
  upstream: Array<Encoded | null>;
  outputs: OutputResult[];
  grads: Array<Float64Array | null>;
}
interface ReferenceResult {
  id: string;
  error?: string;
  outputs: Array<{ dtype: DType; shape: number[]; b64: string } | { scalar: number | boolean }>;
  grads: Array<{ dtype: DType; shape: number[]; b64: string } | null>;
}

function encode(t: Tensor): Encoded {
  return { dtype: t.dtype, shape: t.shape, b64: tensorBase64(t) };
}

function runOurs(c: OpCase): OurResult {
  const rng = new Rng(seedOf(c.id));
  return tidy(() => {
    const values: number[][] = [];
    const inputs = c.inputs.map((spec) => {
      const v = inputValues(spec, rng, values);
      values.push(v);
      const t = tensorOf(v, spec.shape, inputDtype(spec));
      return DEVICE === 'cpu' ? t : t.to({ device: DEVICE });
    });
    const gradFlags = c.inputs.map((spec, k) => spec.grad ?? isFloating(inputs[k]!.dtype));
    const encodedInputs = inputs.map((t, k) => ({ ...encode(t), grad: gradFlags[k]! }));
    inputs.forEach((t, k) => gradFlags[k] && t.requiresGrad_());

    const fn = OURS[c.op];
    if (!fn) throw new Error(`no engine function for op '${c.op}'`);
    const raw = recorded(() => fn(inputs, c.params ?? {}));
    const outs = Array.isArray(raw) ? raw : [raw];

    // A fixed random upstream gradient for every floating output that requires grad.
    const upstream = outs.map((o) => {
      if (!(o instanceof Tensor) || !isFloating(o.dtype) || !o.requiresGrad) return null;
      const up = tensorOf(
        Array.from({ length: o.size }, () => rng.normal()),
        o.shape,
        'float32',
      );
      return { tensor: DEVICE === 'cpu' ? up : up.to({ device: DEVICE }), encoded: encode(up) };
    });
    let loss: Tensor | null = null;
    for (let k = 0; k < outs.length; k++) {
      const [o, up] = [outs[k], upstream[k]];
      if (!up || !(o instanceof Tensor)) continue;
      const term = o.mul(up.tensor.toDtype(o.dtype)).sum();
      loss = loss === null ? term : loss.add(term);
    }
    const total = loss;
    if (total !== null) recorded(() => total.backward());

    const outputs: OutputResult[] = outs.map((o) =>
      o instanceof Tensor ? { dtype: o.dtype, shape: o.shape, values: o.toFloat64Array() } : { scalar: o },
    );
    const grads = inputs.map((t) => {
      const g = t.grad;
      return g === null ? null : g.toFloat64Array();
    });
    return { inputs: encodedInputs, upstream: upstream.map((u) => u?.encoded ?? null), outputs, grads };
  });
}

const ours = new Map<string, OurResult | Error>();
const reference = new Map<string, ReferenceResult>();

before(() => {
  if (SKIP) return;
  const liveBefore = liveTensorCount();
  for (const c of cases) {
    try {
      ours.set(c.id, runOurs(c));
    } catch (e) {
      ours.set(c.id, e as Error);
    }
  }
  // Every tensor made by the cases was freed by tidy (grads included).
  assert.equal(liveTensorCount(), liveBefore, 'the op cases leaked tensors');
  const payload = cases.flatMap((c) => {
    const r = ours.get(c.id);
    if (!(r instanceof Object) || r instanceof Error) return [];
    return [{ id: c.id, op: c.op, params: c.params ?? {}, precision: c.precision ?? 'float64', inputs: r.inputs, upstream: r.upstream }];
  });
  const out = runPythonScript('test/reference/ops_ref.py', [], JSON.stringify(payload));
  for (const r of JSON.parse(out) as ReferenceResult[]) reference.set(r.id, r);
});

function toleranceFor(dtype: DType, c: OpCase): { rtol: number; atol: number } {
  const t = dtypeTolerance(dtype);
  const s = c.tolScale ?? 1;
  return { rtol: t.rtol * s, atol: t.atol * s };
}

function compareCase(c: OpCase): void {
  const mine = ours.get(c.id);
  if (mine instanceof Error) assert.fail(`the engine failed on ${c.id}: ${mine.stack}`);
  const ref = reference.get(c.id);
  assert.ok(mine && ref, `no result for ${c.id}`);
  if (ref.error) assert.fail(`the Python reference failed on ${c.id}: ${ref.error}`);
  assert.equal(mine.outputs.length, ref.outputs.length, `${c.id}: number of outputs`);
  ref.outputs.forEach((r, k) => {
    const m = mine.outputs[k]!;
    const what = `${c.id} output ${k}`;
    if ('scalar' in r) {
      assert.ok('scalar' in m, `${what}: expected a JS value, got a tensor`);
      if (typeof r.scalar === 'boolean') assert.equal(m.scalar, r.scalar, what);
      else assertAllClose([Number(m.scalar)], [r.scalar], { rtol: 1e-6, atol: 1e-6 }, what);
      return;
    }
    assert.ok(!('scalar' in m), `${what}: expected a tensor, got ${JSON.stringify(m)}`);
    assert.equal(m.dtype, r.dtype, `${what}: dtype`);
    assert.deepEqual(m.shape, r.shape, `${what}: shape`);
    if (c.valuesUnspecified) return;
    assertAllClose(m.values, float64FromBase64(r.b64), toleranceFor(r.dtype, c), what);
  });
  assert.equal(mine.grads.length, ref.grads.length, `${c.id}: number of gradients`);
  ref.grads.forEach((r, k) => {
    const m = mine.grads[k];
    const what = `${c.id} gradient of input ${k}`;
    if (r === null) {
      assert.equal(m, null, `${what}: the reference has none`);
      return;
    }
    assert.ok(m, `${what}: the engine computed none`);
    const inputDtypeName = mine.inputs[k]!.dtype;
    assertAllClose(m, float64FromBase64(r.b64), toleranceFor(inputDtypeName, c), what);
  });
}

for (const c of cases) {
  test(`${c.id} matches torch on ${DEVICE} (${describeInputs(c)})`, { skip: SKIP }, () => compareCase(c));
}

function describeInputs(c: OpCase): string {
  const ins = c.inputs.map((s) => `${inputDtype(s)}[${s.shape.join(',')}]`).join(' ');
  const ps = c.params && Object.keys(c.params).length ? ` ${JSON.stringify(c.params)}` : '';
  return `${ins}${ps}`;
}

// ---------------------------------------------------------------------------------------------
// Typed-array round trips of every dtype.

test('typed arrays round-trip through tensors bit for bit in every dtype', () => {
  tidy(() => {
    const f32 = Float32Array.from([0, -1.5, 3.25, 1e-30, -Infinity, NaN]);
    const f64 = Float64Array.from([0, -1.5, Math.PI, 1e-300, Infinity, -0]);
    const i64 = BigInt64Array.from([0n, -1n, 9007199254740993n, -(2n ** 62n)]);
    const u8 = Uint8Array.from([0, 1, 127, 128, 255]);
    const boolBytes = Uint8Array.from([1, 0, 0, 1]);
    const f16Bits = Uint16Array.from([0x0000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0xfc00]); // 0, 1, -2, 65504, min subnormal, -inf
    const bf16Bits = Uint16Array.from([0x0000, 0x3f80, 0xc040, 0x7f7f, 0x0001, 0x7f80]); // 0, 1, -3, max, min subnormal, inf
    const cases: Array<[ArrayBufferView, DType]> = [
      [f32, 'float32'],
      [f64, 'float64'],
      [i64, 'int64'],
      [u8, 'uint8'],
      [boolBytes, 'bool'],
      [f16Bits, 'float16'],
      [bf16Bits, 'bfloat16'],
    ];
    for (const [data, dtype] of cases) {
      const t = recorded(() => tensor(data, undefined, { dtype }));
      assert.equal(t.dtype, dtype);
      const n = data.byteLength / (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      assert.deepEqual(t.shape, [n]);
      assert.deepEqual(Buffer.from(t.bytes()), Buffer.from(data.buffer, data.byteOffset, data.byteLength), `${dtype} bytes`);
      const back = t.dataSync();
      assert.deepEqual(Buffer.from(back.buffer), Buffer.from(data.buffer, data.byteOffset, data.byteLength), `${dtype} dataSync`);
    }
    // The half-precision bit patterns decode to the values IEEE 754 / bfloat16 define.
    assert.deepEqual(Array.from(tensor(f16Bits, undefined, { dtype: 'float16' }).toFloat64Array()), [0, 1, -2, 65504, 2 ** -24, -Infinity]);
    assert.deepEqual(Array.from(tensor(bf16Bits, undefined, { dtype: 'bfloat16' }).toFloat64Array()), [
      0,
      1,
      -3,
      3.3895313892515355e38,
      2 ** -133,
      Infinity,
    ]);
    // A view's offset is respected: only its bytes are copied.
    const big = Float32Array.from([9, 1, 2, 3, 9]);
    assert.deepEqual(Array.from(tensor(big.subarray(1, 4), [3]).toFloat32Array()), [1, 2, 3]);
    // Shapes other than 1-D and JS number lists.
    assert.deepEqual(tensor([1, 2, 3, 4, 5, 6], [2, 3]).toArray(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(Array.from(tensor([1, 0, 2], [3], { dtype: 'bool' }).dataSync() as Uint8Array), [1, 0, 1]);
  });
});

// ---------------------------------------------------------------------------------------------
// Random creation: statistics, and exact replay of a generator's seed and state.

/** Mean and standard deviation of a sample. */
function moments(values: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  const mean = s / values.length;
  let v = 0;
  for (let i = 0; i < values.length; i++) v += (values[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(v / (values.length - 1)) };
}

const SAMPLES = 200_000;
// Four standard errors of the mean of 200k draws with std 1 is 0.009.
const MEAN_TOL = 0.01;

test('randn, rand, randint, randperm and bernoulli have the distributions they promise', () => {
  tidy(() => {
    const g = new Generator(1234);
    recorded(() => {
      const n = randn([SAMPLES], { generator: g });
      assert.deepEqual([n.shape, n.dtype], [[SAMPLES], 'float32']);
      const nm = moments(n.toFloat64Array());
      assert.ok(Math.abs(nm.mean) < MEAN_TOL && Math.abs(nm.std - 1) < 0.01, `randn moments ${JSON.stringify(nm)}`);

      const u = rand([SAMPLES], { generator: g, dtype: 'float64' });
      assert.equal(u.dtype, 'float64');
      const uv = u.toFloat64Array();
      assert.ok(
        uv.every((x) => x >= 0 && x < 1),
        'rand is in [0, 1)',
      );
      const um = moments(uv);
      assert.ok(Math.abs(um.mean - 0.5) < MEAN_TOL && Math.abs(um.std - Math.sqrt(1 / 12)) < 0.005, `rand moments ${JSON.stringify(um)}`);

      const r = randint(-3, 4, [SAMPLES], { generator: g });
      assert.equal(r.dtype, 'int64');
      const counts = new Map<number, number>();
      for (const x of r.toFloat64Array()) counts.set(x, (counts.get(x) ?? 0) + 1);
      assert.deepEqual(
        [...counts.keys()].sort((a, b) => a - b),
        [-3, -2, -1, 0, 1, 2, 3],
      );
      for (const [k, c] of counts) assert.ok(Math.abs(c / SAMPLES - 1 / 7) < 0.01, `randint frequency of ${k}: ${c / SAMPLES}`);

      const p = randperm(50, { generator: g });
      assert.equal(p.dtype, 'int64');
      assert.deepEqual(
        Array.from(p.toFloat64Array()).sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i),
      );

      const b = bernoulli(zeros([SAMPLES]), 0.3, g);
      const bv = b.toFloat64Array();
      assert.ok(bv.every((x) => x === 0 || x === 1));
      assert.ok(Math.abs(moments(bv).mean - 0.3) < MEAN_TOL, 'bernoulli(0.3) frequency');

      const like = zeros([SAMPLES], { dtype: 'float64' });
      const rl = randnLike(like, g);
      assert.deepEqual([rl.shape, rl.dtype], [[SAMPLES], 'float64']);
      const rlm = moments(rl.toFloat64Array());
      assert.ok(Math.abs(rlm.mean) < MEAN_TOL && Math.abs(rlm.std - 1) < 0.01, `randnLike moments ${JSON.stringify(rlm)}`);
      const ul = randLike(like, g).toFloat64Array();
      assert.ok(ul.every((x) => x >= 0 && x < 1) && Math.abs(moments(ul).mean - 0.5) < MEAN_TOL, 'randLike');

      const nrm = empty([SAMPLES]).normal_(3, 0.5, g);
      const nrmm = moments(nrm.toFloat64Array());
      assert.ok(Math.abs(nrmm.mean - 3) < MEAN_TOL && Math.abs(nrmm.std - 0.5) < 0.005, `normal_(3, 0.5) moments ${JSON.stringify(nrmm)}`);
      const uni = empty([SAMPLES]).uniform_(-2, 6, g).toFloat64Array();
      assert.ok(
        uni.every((x) => x >= -2 && x < 6),
        'uniform_(-2, 6) range',
      );
      assert.ok(Math.abs(moments(uni).mean - 2) < 4 * MEAN_TOL, 'uniform_(-2, 6) mean');
    });
  });
});

test('the same generator seed or state replays random ops exactly; other seeds differ', () => {
  tidy(() => {
    recorded(() => {
      const draw = (g: Generator): number[] => [
        ...randn([64], { generator: g }).toFloat64Array(),
        ...rand([16], { generator: g }).toFloat64Array(),
        ...randint(0, 1000, [16], { generator: g }).toFloat64Array(),
        ...randperm(20, { generator: g }).toFloat64Array(),
        ...bernoulli(zeros([32]), 0.5, g).toFloat64Array(),
        ...randnLike(zeros([8]), g).toFloat64Array(),
        ...randLike(zeros([8]), g).toFloat64Array(),
        ...empty([8]).normal_(0, 1, g).toFloat64Array(),
        ...empty([8]).uniform_(0, 1, g).toFloat64Array(),
      ];
      const a = draw(new Generator(42));
      const b = draw(new Generator(42));
      assert.deepEqual(a, b, 'two generators with seed 42 draw the same values');
      assert.notDeepEqual(draw(new Generator(43)), a, 'seed 43 draws other values');

      const g = new Generator(7);
      draw(g);
      const state = g.getState();
      const next = draw(g);
      g.setState(state);
      assert.deepEqual(draw(g), next, 'setState(getState()) replays the draws');
      g.manualSeed(42);
      assert.deepEqual(draw(g), a, 'manualSeed(42) restarts the seed-42 stream');
      const inside = g.replay(() => draw(g));
      assert.deepEqual(draw(g), inside, 'replay() puts the state back');
    });
  });
});

test(
  `dropout on ${DEVICE} keeps about 1-p of the values, scales them by 1/(1-p), and replays its mask from the generator state`,
  { skip: SKIP },
  () => {
    tidy(() => {
      recorded(() => {
        const p = 0.3;
        const x = ones([SAMPLES], { device: DEVICE });
        const g = new Generator(99, DEVICE);
        const state = g.getState();
        const y = nnf.dropout(x, p, true, g).toFloat64Array();
        const scale = Math.fround(1 / (1 - p));
        let kept = 0;
        for (const v of y) {
          if (v !== 0) {
            kept++;
            assert.ok(Math.abs(v - scale) <= 1e-6 * scale, `a kept value is ${v}, expected ${scale}`);
          }
        }
        assert.ok(Math.abs(kept / SAMPLES - (1 - p)) < MEAN_TOL, `kept fraction ${kept / SAMPLES}`);

        g.setState(state);
        assert.deepEqual(nnf.dropout(x, p, true, g).toFloat64Array(), y, 'the same generator state gives the same mask');
        assert.notDeepEqual(nnf.dropout(x, p, true, g).toFloat64Array(), y, 'the next call draws a new mask');

        // Gradient: the mask times 1/(1-p).
        const w = randn([1000], { device: DEVICE }).requiresGrad_();
        g.setState(state);
        const out = nnf.dropout(w, p, true, g);
        out.sum().backward();
        const grad = w.grad!.toFloat64Array();
        const outValues = out.toFloat64Array();
        const wValues = w.toFloat64Array();
        grad.forEach((gv, i) => {
          const expectedOut = gv === 0 ? 0 : wValues[i]! * scale;
          assert.ok(gv === 0 || Math.abs(gv - scale) < 1e-6, `gradient ${gv}`);
          assert.ok(Math.abs(outValues[i]! - expectedOut) < 1e-5, `output ${i}`);
        });

        // Identity in eval mode and for p = 0; p outside [0, 1) is refused.
        const z = randn([100], { device: DEVICE });
        assert.deepEqual(nnf.dropout(z, 0.5, false, g).toFloat64Array(), z.toFloat64Array());
        assert.deepEqual(nnf.dropout(z, 0, true, g).toFloat64Array(), z.toFloat64Array());
        assert.throws(() => nnf.dropout(z, 1, true, g), /dropout: argument 'p' must be in \[0, 1\), got 1/);
      });
    });
  },
);

// ---------------------------------------------------------------------------------------------

test('every op of native/ops.table is checked here or in a named test file', { skip: SKIP }, () => {
  const unchecked = generatedOpNames.filter((n) => !calledOps.has(n) && !(n in TESTED_ELSEWHERE));
  assert.deepEqual(unchecked, [], `ops that no test checks: ${unchecked.join(', ')}`);
  const stale = Object.keys(TESTED_ELSEWHERE).filter((n) => !generatedOpNames.includes(n));
  assert.deepEqual(stale, [], 'TESTED_ELSEWHERE names ops that are not in the table');
});
