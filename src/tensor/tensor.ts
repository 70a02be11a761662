/**
 * The Tensor class: one owned libtorch tensor. Methods mirror PyTorch's names where they exist.
 * Every tensor belongs to the innermost open `tidy` scope, or to the caller; `dispose()` frees
 * its memory at once. Using a disposed tensor throws DisposedTensorError.
 */
import { native } from './native.js';
import type { TensorHandle } from './handles.js';
import { type DType, dtypeCode, dtypeFromCode, typedArrayOf, type AnyTypedArray } from './dtype.js';
import { track, scopedMarker, type ScopedResource } from './scope.js';

export class DisposedTensorError extends Error {
  override name = 'DisposedTensorError';
}

/** A tensor, or a number that broadcasts like a 0-d tensor. */
export type TensorOrScalar = Tensor | number;

/** Normalizes a negative dim against a rank. */
function dimIndex(dim: number, rank: number, op: string): number {
  const d = dim < 0 ? dim + rank : dim;
  if (!Number.isInteger(d) || d < 0 || d >= Math.max(rank, 1)) throw new RangeError(`${op}: dim ${dim} is out of range for a tensor of rank ${rank}`);
  return d;
}

/**
 * The garbage-collection backstop: frees the native tensor of a Tensor that became unreachable
 * without dispose(). Only tensors that no tidy scope owns are registered (made outside any
 * scope, kept, or returned out of the outermost one): a scope holds its tensors until it
 * disposes them, so registering those would only cost time (about 1 us a tensor).
 */
const backstop = new FinalizationRegistry<TensorHandle>((handle) => {
  native.dispose(handle);
});

export class Tensor implements ScopedResource {
  readonly [scopedMarker] = true as const;
  kept = false;
  #handle: TensorHandle | null;
  #shape: number[] | null = null;
  #registered = false;

  /** Wraps a native handle; use the creation functions instead of calling this. */
  constructor(handle: TensorHandle) {
    this.#handle = handle;
    track(this);
  }

  /** Called when no scope owns this tensor any more: from now on the GC backstop covers it. */
  unscoped(): void {
    if (this.#registered || this.#handle === null) return;
    backstop.register(this, this.#handle, this);
    this.#registered = true;
  }

  /** The native handle (throws if disposed). */
  get handle(): TensorHandle {
    if (this.#handle === null) throw new DisposedTensorError('tensor: used after dispose()');
    return this.#handle;
  }

  get isDisposed(): boolean {
    return this.#handle === null;
  }

  /** Frees the native memory now (the storage goes when no other view shares it). */
  dispose(): void {
    if (this.#handle === null) return;
    native.dispose(this.#handle);
    this.#handle = null;
    if (this.#registered) {
      backstop.unregister(this);
      this.#registered = false;
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- facts ----
  get shape(): number[] {
    if (this.#shape === null) this.#shape = native.shape(this.handle);
    return this.#shape.slice();
  }
  get rank(): number {
    if (this.#shape === null) this.#shape = native.shape(this.handle);
    return this.#shape.length;
  }
  get size(): number {
    if (this.#shape === null) this.#shape = native.shape(this.handle);
    return this.#shape.reduce((a, b) => a * b, 1);
  }
  get dtype(): DType {
    return dtypeFromCode(native.dtype(this.handle));
  }
  get device(): string {
    return native.device(this.handle);
  }
  get requiresGrad(): boolean {
    return native.requiresGrad(this.handle);
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.handle);
  }
  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }

  // ---- data out ----
  /** A copy of the values as a typed array (float16/bfloat16 as raw Uint16 bits; int64 as BigInt64Array). */
  dataSync(): AnyTypedArray {
    return typedArrayOf(this.dtype, native.toBuffer(this.handle));
  }
  /** The values as float32 (converted in libtorch). */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return new Float32Array(native.toBuffer(this.handle));
    const h = native.toDtype(this.handle, dtypeCode.float32);
    try {
      return new Float32Array(native.toBuffer(h));
    } finally {
      native.dispose(h);
    }
  }
  /** The values as float64. */
  toFloat64Array(): Float64Array {
    if (this.dtype === 'float64') return new Float64Array(native.toBuffer(this.handle));
    const h = native.toDtype(this.handle, dtypeCode.float64);
    try {
      return new Float64Array(native.toBuffer(h));
    } finally {
      native.dispose(h);
    }
  }
  /** The raw bytes in the tensor's dtype, contiguous (safetensors layout). */
  bytes(): Uint8Array {
    return new Uint8Array(native.toBuffer(this.handle));
  }
  /** The single value of a one-element tensor. */
  item(): number {
    return native.item(this.handle);
  }
  /** Nested arrays of numbers (for printing and small tests). */
  toArray(): unknown {
    const data = Array.from(this.toFloat64Array());
    const shape = this.shape;
    if (shape.length === 0) return data[0];
    const build = (dim: number, offset: number): unknown => {
      const n = shape[dim]!;
      const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(dim === shape.length - 1 ? data[offset + i] : build(dim + 1, offset + i * stride));
      return out;
    };
    return build(0, 0);
  }

  // ---- conversion ----
  to(options: { dtype?: DType | undefined; device?: string | undefined }): Tensor {
    const dtype = options.dtype ?? this.dtype;
    const device = options.device ?? this.device;
    return new Tensor(native.to(this.handle, dtypeCode[dtype], device));
  }
  toDtype(dtype: DType): Tensor {
    return new Tensor(native.toDtype(this.handle, dtypeCode[dtype]));
  }
  float(): Tensor {
    return this.toDtype('float32');
  }
  double(): Tensor {
    return this.toDtype('float64');
  }
  cpu(): Tensor {
    return new Tensor(native.toDevice(this.handle, 'cpu'));
  }
  cuda(index = 0): Tensor {
    return new Tensor(native.toDevice(this.handle, `cuda:${index}`));
  }
  clone(): Tensor {
    return new Tensor(native.clone(this.handle));
  }
  contiguous(): Tensor {
    return new Tensor(native.contiguous(this.handle));
  }
  /** A copy in channels-last (NHWC) memory order of a 4-D tensor; same shape and values (torch's memory_format=torch.channels_last). */
  channelsLast(): Tensor {
    return new Tensor(native.contiguousChannelsLast(this.handle));
  }
  /** True when this tensor is laid out channels-last (NHWC). */
  get isChannelsLast(): boolean {
    return native.isContiguousChannelsLast(this.handle);
  }
  /** A tensor sharing this one's storage, cut from the autograd graph. */
  detach(): Tensor {
    return new Tensor(native.detach(this.handle));
  }

  // ---- arithmetic (a number broadcasts as a scalar) ----
  add(other: TensorOrScalar): Tensor {
    return new Tensor(typeof other === 'number' ? native.addScalar(this.handle, other) : native.add(this.handle, operand(other, 'add', 'other')));
  }
  sub(other: TensorOrScalar): Tensor {
    return new Tensor(typeof other === 'number' ? native.subScalar(this.handle, other) : native.sub(this.handle, operand(other, 'sub', 'other')));
  }
  /** other - this */
  rsub(other: number): Tensor {
    return new Tensor(native.rsubScalar(this.handle, other));
  }
  mul(other: TensorOrScalar): Tensor {
    return new Tensor(typeof other === 'number' ? native.mulScalar(this.handle, other) : native.mul(this.handle, operand(other, 'mul', 'other')));
  }
  div(other: TensorOrScalar): Tensor {
    return new Tensor(typeof other === 'number' ? native.divScalar(this.handle, other) : native.div(this.handle, operand(other, 'div', 'other')));
  }
  /** other / this */
  rdiv(other: number): Tensor {
    return new Tensor(native.rdivScalar(this.handle, other));
  }
  pow(exponent: TensorOrScalar): Tensor {
    return new Tensor(
      typeof exponent === 'number' ? native.powScalar(this.handle, exponent) : native.pow(this.handle, operand(exponent, 'pow', 'exponent')),
    );
  }
  /** base ** this */
  rpow(base: number): Tensor {
    return new Tensor(native.rpowScalar(this.handle, base));
  }
  maximum(other: Tensor): Tensor {
    return new Tensor(native.maximum(this.handle, other.handle));
  }
  minimum(other: Tensor): Tensor {
    return new Tensor(native.minimum(this.handle, other.handle));
  }
  atan2(other: Tensor): Tensor {
    return new Tensor(native.atan2(this.handle, other.handle));
  }
  neg(): Tensor {
    return new Tensor(native.neg(this.handle));
  }
  abs(): Tensor {
    return new Tensor(native.abs(this.handle));
  }
  exp(): Tensor {
    return new Tensor(native.exp(this.handle));
  }
  expm1(): Tensor {
    return new Tensor(native.expm1(this.handle));
  }
  log(): Tensor {
    return new Tensor(native.log(this.handle));
  }
  log1p(): Tensor {
    return new Tensor(native.log1p(this.handle));
  }
  log2(): Tensor {
    return new Tensor(native.log2(this.handle));
  }
  sqrt(): Tensor {
    return new Tensor(native.sqrt(this.handle));
  }
  rsqrt(): Tensor {
    return new Tensor(native.rsqrt(this.handle));
  }
  square(): Tensor {
    return new Tensor(native.square(this.handle));
  }
  reciprocal(): Tensor {
    return new Tensor(native.reciprocal(this.handle));
  }
  sin(): Tensor {
    return new Tensor(native.sin(this.handle));
  }
  cos(): Tensor {
    return new Tensor(native.cos(this.handle));
  }
  tanh(): Tensor {
    return new Tensor(native.tanh(this.handle));
  }
  sigmoid(): Tensor {
    return new Tensor(native.sigmoid(this.handle));
  }
  erf(): Tensor {
    return new Tensor(native.erf(this.handle));
  }
  erfinv(): Tensor {
    return new Tensor(native.erfinv(this.handle));
  }
  floor(): Tensor {
    return new Tensor(native.floor(this.handle));
  }
  ceil(): Tensor {
    return new Tensor(native.ceil(this.handle));
  }
  round(): Tensor {
    return new Tensor(native.round(this.handle));
  }
  sign(): Tensor {
    return new Tensor(native.sign(this.handle));
  }
  relu(): Tensor {
    return new Tensor(native.relu(this.handle));
  }
  silu(): Tensor {
    return new Tensor(native.silu(this.handle));
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return new Tensor(native.clamp(this.handle, min ?? null, max ?? null));
  }
  lerp(end: Tensor, weight: number): Tensor {
    return new Tensor(native.lerp(this.handle, end.handle, weight));
  }
  /** Elements where `mask` is true replaced by `value`. */
  maskedFill(mask: Tensor, value: number): Tensor {
    return new Tensor(native.maskedFill(this.handle, mask.handle, value));
  }

  // ---- comparison ----
  eq(other: TensorOrScalar): Tensor {
    return new Tensor(typeof other === 'number' ? native.eqScalar(this.handle, other) : native.eq(this.handle, operand(other, 'eq', 'other')));
  }
  ne(other: TensorOrScalar): Tensor {
    return new Tensor(typeof other === 'number' ? native.neScalar(this.handle, other) : native.ne(this.handle, operand(other, 'ne', 'other')));
  }
  lt(other: TensorOrScalar): Tensor {
    return new Tensor(typeof other === 'number' ? native.ltScalar(this.handle, other) : native.lt(this.handle, operand(other, 'lt', 'other')));
  }
  le(other: TensorOrScalar): Tensor {
    return new Tensor(typeof other === 'number' ? native.leScalar(this.handle, other) : native.le(this.handle, operand(other, 'le', 'other')));
  }
  gt(other: TensorOrScalar): Tensor {
    return new Tensor(typeof other === 'number' ? native.gtScalar(this.handle, other) : native.gt(this.handle, operand(other, 'gt', 'other')));
  }
  ge(other: TensorOrScalar): Tensor {
    return new Tensor(typeof other === 'number' ? native.geScalar(this.handle, other) : native.ge(this.handle, operand(other, 'ge', 'other')));
  }
  logicalNot(): Tensor {
    return new Tensor(native.logicalNot(this.handle));
  }
  logicalAnd(other: Tensor): Tensor {
    return new Tensor(native.logicalAnd(this.handle, other.handle));
  }
  logicalOr(other: Tensor): Tensor {
    return new Tensor(native.logicalOr(this.handle, other.handle));
  }
  isnan(): Tensor {
    return new Tensor(native.isnan(this.handle));
  }
  isfinite(): Tensor {
    return new Tensor(native.isfinite(this.handle));
  }
  any(): boolean {
    return native.anyAll(this.handle);
  }
  all(): boolean {
    return native.allAll(this.handle);
  }
  allClose(other: Tensor, rtol = 1e-5, atol = 1e-8): boolean {
    return native.allClose(this.handle, other.handle, rtol, atol);
  }

  // ---- reductions (no dims: over all elements) ----
  sum(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(dims === undefined ? native.sumAll(this.handle) : native.sum(this.handle, toDims(dims), keepdim));
  }
  mean(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(dims === undefined ? native.meanAll(this.handle) : native.mean(this.handle, toDims(dims), keepdim));
  }
  max(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(dims === undefined ? native.maxAll(this.handle) : native.amax(this.handle, toDims(dims), keepdim));
  }
  min(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(dims === undefined ? native.minAll(this.handle) : native.amin(this.handle, toDims(dims), keepdim));
  }
  argmax(dim: number, keepdim = false): Tensor {
    return new Tensor(native.argmax(this.handle, dim, keepdim));
  }
  argmin(dim: number, keepdim = false): Tensor {
    return new Tensor(native.argmin(this.handle, dim, keepdim));
  }
  /** Variance (unbiased by default, as PyTorch). */
  var(dims?: number | number[], unbiased = true, keepdim = false): Tensor {
    return new Tensor(native.var(this.handle, dims === undefined ? allDims(this.rank) : toDims(dims), unbiased, keepdim));
  }
  std(dims?: number | number[], unbiased = true, keepdim = false): Tensor {
    return new Tensor(native.std(this.handle, dims === undefined ? allDims(this.rank) : toDims(dims), unbiased, keepdim));
  }
  prod(dim: number, keepdim = false): Tensor {
    return new Tensor(native.prod(this.handle, dim, keepdim));
  }
  logsumexp(dims: number | number[], keepdim = false): Tensor {
    return new Tensor(native.logsumexp(this.handle, toDims(dims), keepdim));
  }
  cumsum(dim: number): Tensor {
    return new Tensor(native.cumsum(this.handle, dim));
  }
  /** p-norm over dims (all dims when omitted). */
  norm(p = 2, dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.norm(this.handle, p, dims === undefined ? allDims(this.rank) : toDims(dims), keepdim));
  }
  topk(k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
    const [v, i] = native.topk(this.handle, k, dim, largest, sorted);
    return { values: new Tensor(v!), indices: new Tensor(i!) };
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [v, i] = native.sort(this.handle, dim, descending);
    return { values: new Tensor(v!), indices: new Tensor(i!) };
  }
  /** The k-th smallest value (1-based k) along dim. */
  kthvalue(k: number, dim = -1, keepdim = false): { values: Tensor; indices: Tensor } {
    const [v, i] = native.kthvalue(this.handle, k, dim, keepdim);
    return { values: new Tensor(v!), indices: new Tensor(i!) };
  }

  // ---- linear algebra ----
  matmul(other: Tensor): Tensor {
    return new Tensor(native.matmul(this.handle, other.handle));
  }
  mm(other: Tensor): Tensor {
    return new Tensor(native.mm(this.handle, other.handle));
  }
  bmm(other: Tensor): Tensor {
    return new Tensor(native.bmm(this.handle, other.handle));
  }
  trace(): Tensor {
    return new Tensor(native.trace(this.handle));
  }
  outer(other: Tensor): Tensor {
    return new Tensor(native.outer(this.handle, other.handle));
  }

  // ---- shape ----
  reshape(...shape: number[] | [number[]]): Tensor {
    return new Tensor(native.reshape(this.handle, flatArgs(shape)));
  }
  view(...shape: number[] | [number[]]): Tensor {
    return new Tensor(native.view(this.handle, flatArgs(shape)));
  }
  permute(...dims: number[] | [number[]]): Tensor {
    return new Tensor(native.permute(this.handle, flatArgs(dims)));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return new Tensor(native.transpose(this.handle, dim0, dim1));
  }
  /** Swaps the last two dims. */
  get T(): Tensor {
    return this.transpose(-2, -1);
  }
  squeeze(dim: number): Tensor {
    return new Tensor(native.squeeze(this.handle, dim));
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(native.unsqueeze(this.handle, dim));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return new Tensor(native.flatten(this.handle, startDim, endDim));
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return native.chunk(this.handle, chunks, dim).map((h) => new Tensor(h));
  }
  /** Splits into pieces of `size` (a number) or of the given sizes (an array) along dim. */
  split(size: number | number[], dim = 0): Tensor[] {
    const hs = typeof size === 'number' ? native.split(this.handle, size, dim) : native.splitSizes(this.handle, size, dim);
    return hs.map((h) => new Tensor(h));
  }
  /** Python's t[start:end:step] along dim; negative indices count from the end. */
  slice(dim: number, start: number, end?: number, step = 1): Tensor {
    const n = this.shape[dimIndex(dim, this.rank, 'slice')]!;
    return new Tensor(native.slice(this.handle, dim, start, end ?? n, step));
  }
  /** t[index] along dim (the dim is removed). */
  select(dim: number, index: number): Tensor {
    return new Tensor(native.select(this.handle, dim, index));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.indexSelect(this.handle, dim, index.handle));
  }
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.gather(this.handle, dim, index.handle));
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return new Tensor(native.scatterAdd(this.handle, dim, index.handle, src.handle));
  }
  expand(...shape: number[] | [number[]]): Tensor {
    return new Tensor(native.expand(this.handle, flatArgs(shape)));
  }
  repeat(...repeats: number[] | [number[]]): Tensor {
    return new Tensor(native.repeat(this.handle, flatArgs(repeats)));
  }
  repeatInterleave(repeats: number, dim: number): Tensor {
    return new Tensor(native.repeatInterleave(this.handle, repeats, dim));
  }
  flip(dims: number | number[]): Tensor {
    return new Tensor(native.flip(this.handle, toDims(dims)));
  }
  roll(shifts: number | number[], dims: number | number[]): Tensor {
    return new Tensor(native.roll(this.handle, toDims(shifts), toDims(dims)));
  }
  tril(diagonal = 0): Tensor {
    return new Tensor(native.tril(this.handle, diagonal));
  }
  triu(diagonal = 0): Tensor {
    return new Tensor(native.triu(this.handle, diagonal));
  }

  // ---- in place (optimizers, EMA, buffers); each returns this ----
  copy_(src: Tensor): this {
    native.copy_(this.handle, src.handle);
    return this;
  }
  zero_(): this {
    native.zero_(this.handle);
    return this;
  }
  fill_(value: number): this {
    native.fill_(this.handle, value);
    return this;
  }
  /** this += alpha * other (or += other when a number) */
  add_(other: TensorOrScalar, alpha = 1): this {
    if (typeof other === 'number') native.addScalar_(this.handle, other);
    else native.add_(this.handle, operand(other, 'add_'), alpha);
    return this;
  }
  sub_(other: Tensor): this {
    native.sub_(this.handle, other.handle);
    return this;
  }
  mul_(other: TensorOrScalar): this {
    if (typeof other === 'number') native.mulScalar_(this.handle, other);
    else native.mul_(this.handle, operand(other, 'mul_'));
    return this;
  }
  div_(other: TensorOrScalar): this {
    if (typeof other === 'number') native.divScalar_(this.handle, other);
    else native.div_(this.handle, operand(other, 'div_'));
    return this;
  }
  /** this += value * t1 * t2 */
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this {
    native.addcmul_(this.handle, t1.handle, t2.handle, value);
    return this;
  }
  /** this += value * t1 / t2 */
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this {
    native.addcdiv_(this.handle, t1.handle, t2.handle, value);
    return this;
  }
  /** this += weight * (end - this) */
  lerp_(end: Tensor, weight: number): this {
    native.lerp_(this.handle, end.handle, weight);
    return this;
  }
  sqrt_(): this {
    native.sqrt_(this.handle);
    return this;
  }
  clamp_(min?: number | null, max?: number | null): this {
    native.clamp_(this.handle, min ?? null, max ?? null);
    return this;
  }
  indexCopy_(dim: number, index: Tensor, source: Tensor): this {
    native.indexCopy_(this.handle, dim, index.handle, source.handle);
    return this;
  }
  normal_(mean = 0, std = 1, generator?: { handle: import('./handles.js').GeneratorHandle }): this {
    native.normal_(this.handle, mean, std, generator?.handle ?? null);
    return this;
  }
  uniform_(from = 0, to = 1, generator?: { handle: import('./handles.js').GeneratorHandle }): this {
    native.uniform_(this.handle, from, to, generator?.handle ?? null);
    return this;
  }

  // ---- autograd ----
  /** Marks this leaf tensor as a parameter whose gradient backward() accumulates. */
  requiresGrad_(requiresGrad = true): this {
    native.requiresGrad_(this.handle, requiresGrad);
    return this;
  }
  /** Backpropagates from this tensor (a scalar, or with an upstream gradient of its shape). */
  backward(gradient?: Tensor): void {
    native.backward(this.handle, gradient ? gradient.handle : null);
  }
  /** The accumulated gradient, or null. A new Tensor object each call: dispose it after use. */
  get grad(): Tensor | null {
    const h = native.grad(this.handle);
    return h === null ? null : new Tensor(h);
  }
  /** Drops the accumulated gradient (PyTorch's zero_grad(set_to_none=True)). */
  clearGrad(): void {
    native.clearGrad(this.handle);
  }
}

/**
 * The handle of a tensor operand of a method that also takes numbers: anything else (a string, a
 * plain object) is named in the error instead of reaching the addon as 'undefined'.
 */
function operand(value: unknown, op: string, arg = 'other'): TensorHandle {
  if (value instanceof Tensor) return value.handle;
  const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  throw new TypeError(`${op}: argument '${arg}' must be a Tensor or a number, got ${got}`);
}

export function toDims(d: number | number[]): number[] {
  return typeof d === 'number' ? [d] : d;
}

function allDims(rank: number): number[] {
  return Array.from({ length: rank }, (_, i) => i);
}

function flatArgs(args: number[] | [number[]]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? args[0] : (args as number[]);
}
