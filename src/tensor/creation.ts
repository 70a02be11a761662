/** Functions that make new tensors. Defaults: dtype float32, the default device. */
import { native } from './native.js';
import { Tensor } from './tensor.js';
import { type DType, dtypeCode, dtypeOfTypedArray, dtypeSize } from './dtype.js';
import { getDefaultDevice } from './device.js';
import type { Generator } from './random.js';

export interface CreationOptions {
  dtype?: DType | undefined;
  device?: string | undefined;
}

export interface RandomOptions extends CreationOptions {
  generator?: Generator | undefined;
}

function opts(o: CreationOptions | undefined, dtype: DType = 'float32'): [number, string] {
  const d = o?.dtype ?? dtype;
  if (!(d in dtypeCode)) throw new TypeError(`unknown dtype '${d}'; expected one of ${Object.keys(dtypeCode).join(', ')}`);
  return [dtypeCode[d], o?.device ?? getDefaultDevice()];
}

export function zeros(shape: number[], o?: CreationOptions): Tensor {
  return new Tensor(native.zeros(shape, ...opts(o)));
}
export function ones(shape: number[], o?: CreationOptions): Tensor {
  return new Tensor(native.ones(shape, ...opts(o)));
}
export function full(shape: number[], value: number, o?: CreationOptions): Tensor {
  return new Tensor(native.full(shape, value, ...opts(o)));
}
export function empty(shape: number[], o?: CreationOptions): Tensor {
  return new Tensor(native.empty(shape, ...opts(o)));
}
/** A 0-d tensor holding one value. */
export function scalar(value: number, o?: CreationOptions): Tensor {
  return new Tensor(native.scalarTensor(value, ...opts(o)));
}
/** Values start, start+step, ... below end (one argument: 0..end-1). */
export function arange(start: number, end?: number, step = 1, o?: CreationOptions): Tensor {
  if (end === undefined) [start, end] = [0, start];
  return new Tensor(native.arange(start, end, step, ...opts(o)));
}
export function linspace(start: number, end: number, steps: number, o?: CreationOptions): Tensor {
  return new Tensor(native.linspace(start, end, steps, ...opts(o)));
}
export function eye(n: number, o?: CreationOptions): Tensor {
  return new Tensor(native.eye(n, ...opts(o)));
}
/** Uniform on [0, 1). */
export function rand(shape: number[], o?: RandomOptions): Tensor {
  return new Tensor(native.rand(shape, o?.generator?.handle ?? null, ...opts(o)));
}
/** Standard normal. */
export function randn(shape: number[], o?: RandomOptions): Tensor {
  return new Tensor(native.randn(shape, o?.generator?.handle ?? null, ...opts(o)));
}
/** Integers uniform on [low, high); dtype int64 unless given. */
export function randint(low: number, high: number, shape: number[], o?: RandomOptions): Tensor {
  return new Tensor(native.randint(low, high, shape, o?.generator?.handle ?? null, ...opts(o, 'int64')));
}
/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, o?: { generator?: Generator | undefined; device?: string | undefined }): Tensor {
  return new Tensor(native.randperm(n, o?.generator?.handle ?? null, o?.device ?? getDefaultDevice()));
}
export function zerosLike(t: Tensor): Tensor {
  return new Tensor(native.zerosLike(t.handle));
}
export function onesLike(t: Tensor): Tensor {
  return new Tensor(native.onesLike(t.handle));
}
export function fullLike(t: Tensor, value: number): Tensor {
  return new Tensor(native.fullLike(t.handle, value));
}
export function randnLike(t: Tensor, generator?: Generator): Tensor {
  return new Tensor(native.randnLike(t.handle, generator?.handle ?? null));
}
export function randLike(t: Tensor, generator?: Generator): Tensor {
  return new Tensor(native.randLike(t.handle, generator?.handle ?? null));
}
/** 1 with probability p, else 0, in t's shape and dtype. */
export function bernoulli(t: Tensor, p: number, generator?: Generator): Tensor {
  return new Tensor(native.bernoulli(t.handle, p, generator?.handle ?? null));
}

/**
 * A tensor from a typed array (copied). `shape` defaults to [data.length]; `dtype` defaults to the
 * array's type (Float32Array -> float32, ...). For float16/bfloat16 pass their raw bits as Uint16Array.
 */
export function tensor(data: ArrayBufferView | number[], shape?: number[], o?: CreationOptions): Tensor {
  let view: ArrayBufferView;
  let dtype: DType;
  if (Array.isArray(data)) {
    dtype = o?.dtype ?? 'float32';
    view = dtype === 'float64' ? Float64Array.from(data) : Float32Array.from(data);
    if (dtype !== 'float32' && dtype !== 'float64') {
      const t = tensor(Float64Array.from(data), shape ?? [data.length], { device: o?.device, dtype: 'float64' });
      try {
        return t.toDtype(dtype);
      } finally {
        t.dispose();
      }
    }
  } else {
    view = data;
    dtype = o?.dtype ?? dtypeOfTypedArray(data);
  }
  const count = view.byteLength / dtypeSize[dtype];
  return new Tensor(native.fromBuffer(view, dtypeCode[dtype], shape ?? [count], o?.device ?? getDefaultDevice()));
}

export function cat(tensors: Tensor[], dim = 0): Tensor {
  return new Tensor(
    native.cat(
      tensors.map((t) => t.handle),
      dim,
    ),
  );
}
export function stack(tensors: Tensor[], dim = 0): Tensor {
  return new Tensor(
    native.stack(
      tensors.map((t) => t.handle),
      dim,
    ),
  );
}
/** Elementwise choice: condition ? a : b. */
export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  return new Tensor(native.where(condition.handle, a.handle, b.handle));
}
export function einsum(equation: string, ...operands: Tensor[]): Tensor {
  return new Tensor(
    native.einsum(
      equation,
      operands.map((t) => t.handle),
    ),
  );
}
/** Pairwise Euclidean distances between rows of x1 [..., P, M] and x2 [..., R, M]. */
export function cdist(x1: Tensor, x2: Tensor): Tensor {
  return new Tensor(native.cdist(x1.handle, x2.handle));
}
/** Eigenvalues (ascending) and eigenvectors of a symmetric matrix. */
export function eigh(a: Tensor): { eigenvalues: Tensor; eigenvectors: Tensor } {
  const [l, v] = native.linalgEigh(a.handle);
  return { eigenvalues: new Tensor(l!), eigenvectors: new Tensor(v!) };
}
export function svd(a: Tensor, fullMatrices = false): { U: Tensor; S: Tensor; Vh: Tensor } {
  const [u, s, vh] = native.linalgSvd(a.handle, fullMatrices);
  return { U: new Tensor(u!), S: new Tensor(s!), Vh: new Tensor(vh!) };
}
