/**
 * Deterministic test inputs made in JavaScript (so the same numbers can be sent to the Python
 * reference byte for byte) and comparisons of tensor values with a tolerance.
 */
import assert from 'node:assert/strict';
import { Tensor, tensor, isFloating, type DType } from '../../src/tensor/index.js';

/** A small seeded generator (mulberry32) with uniform and normal draws. */
export class Rng {
  #state: number;
  #spare: number | null = null;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform on [0, 1). */
  uniform(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** An integer on [low, high). */
  int(low: number, high: number): number {
    return low + Math.floor(this.uniform() * (high - low));
  }
}

/** A seed from a string (FNV-1a), so each test case gets its own fixed inputs. */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** How to fill one input tensor. */
export interface InputSpec {
  shape: number[];
  /**
   * normal: N(0, 1) * scale; uniform: [low, high); positive: [0.5, 2); round: integers in
   * [low, high) stored as floats; int: integers in [low, high) (int64 unless dtype says);
   * bool: true with probability 0.5; boolTril: a lower-triangular boolean mask over the last two
   * dims; perm: a permutation of 0..shape[0]-1 (int64); special: normal values with NaN, +Inf and
   * -Inf mixed in; symmetric: (A + A^T) / 2 of a normal A over the last two dims; near: input
   * `of` plus uniform noise of size `scale`.
   */
  kind?: 'normal' | 'uniform' | 'positive' | 'round' | 'int' | 'bool' | 'boolTril' | 'perm' | 'special' | 'symmetric' | 'near';
  low?: number;
  high?: number;
  scale?: number;
  /** For kind 'near': the index of the earlier input to copy. */
  of?: number;
  dtype?: DType;
  /** Whether the gradient with respect to this input is compared (default: floating inputs). */
  grad?: boolean;
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The values of an input spec as float64 numbers (booleans as 0/1). */
export function inputValues(spec: InputSpec, rng: Rng, earlier: readonly number[][]): number[] {
  const n = numel(spec.shape);
  const out = new Array<number>(n);
  const kind = spec.kind ?? 'normal';
  const scale = spec.scale ?? 1;
  const [rows, cols] = [spec.shape.at(-2) ?? 1, spec.shape.at(-1) ?? 1];
  switch (kind) {
    case 'normal':
      for (let i = 0; i < n; i++) out[i] = rng.normal() * scale;
      break;
    case 'uniform':
      for (let i = 0; i < n; i++) out[i] = (spec.low ?? 0) + rng.uniform() * ((spec.high ?? 1) - (spec.low ?? 0));
      break;
    case 'positive':
      for (let i = 0; i < n; i++) out[i] = 0.5 + 1.5 * rng.uniform();
      break;
    case 'round':
    case 'int':
      for (let i = 0; i < n; i++) out[i] = rng.int(spec.low ?? -3, spec.high ?? 4);
      break;
    case 'bool':
      for (let i = 0; i < n; i++) out[i] = rng.uniform() < 0.5 ? 1 : 0;
      break;
    case 'boolTril':
      for (let i = 0; i < n; i++) out[i] = i % cols <= Math.floor(i / cols) % rows ? 1 : 0;
      break;
    case 'perm': {
      const m = spec.shape[0]!;
      const p = Array.from({ length: m }, (_, i) => i);
      for (let i = m - 1; i > 0; i--) {
        const j = rng.int(0, i + 1);
        [p[i], p[j]] = [p[j]!, p[i]!];
      }
      for (let i = 0; i < n; i++) out[i] = p[i]!;
      break;
    }
    case 'special':
      for (let i = 0; i < n; i++) out[i] = i % 5 === 1 ? NaN : i % 7 === 2 ? Infinity : i % 11 === 3 ? -Infinity : rng.normal();
      break;
    case 'symmetric': {
      const a = Array.from({ length: n }, () => rng.normal() * scale);
      for (let i = 0; i < n; i++) {
        const base = i - (i % (rows * cols));
        const r = Math.floor((i % (rows * cols)) / cols);
        const c = i % cols;
        out[i] = (a[i]! + a[base + c * cols + r]!) / 2;
      }
      break;
    }
    case 'near': {
      const src = earlier[spec.of ?? 0];
      if (!src || src.length !== n) throw new Error(`input spec 'near' needs an earlier input ${spec.of} of the same size`);
      for (let i = 0; i < n; i++) out[i] = src[i]! + (rng.uniform() - 0.5) * scale;
      break;
    }
  }
  return out;
}

/** The dtype an input spec makes. */
export function inputDtype(spec: InputSpec): DType {
  if (spec.dtype) return spec.dtype;
  if (spec.kind === 'int' || spec.kind === 'perm') return 'int64';
  if (spec.kind === 'bool' || spec.kind === 'boolTril') return 'bool';
  return 'float32';
}

/** A tensor of the given dtype holding `values` (converted by libtorch from float64). */
export function tensorOf(values: readonly number[], shape: number[], dtype: DType): Tensor {
  const t64 = tensor(Float64Array.from(values), shape);
  if (dtype === 'float64') return t64;
  try {
    return t64.toDtype(dtype);
  } finally {
    t64.dispose();
  }
}

/** Base64 of a tensor's raw bytes (what the Python reference decodes). */
export function tensorBase64(t: Tensor): string {
  return Buffer.from(t.bytes()).toString('base64');
}

/** Float64 values from base64 float64 bytes. */
export function float64FromBase64(b64: string): Float64Array {
  const buf = Buffer.from(b64, 'base64');
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return new Float64Array(copy.buffer);
}

/** The relative tolerance of comparing a value held in a dtype with an exact reference. */
export function dtypeTolerance(dtype: DType): { rtol: number; atol: number } {
  switch (dtype) {
    case 'float16':
      return { rtol: 2e-3, atol: 2e-3 };
    case 'bfloat16':
      return { rtol: 1.6e-2, atol: 1.6e-2 };
    case 'float32':
      return { rtol: 1e-4, atol: 2e-5 };
    case 'float64':
      return { rtol: 1e-10, atol: 1e-12 };
    default:
      return { rtol: 0, atol: 0 };
  }
}

/**
 * Asserts |actual - expected| <= atol * max(1, max|expected|) + rtol * |expected| elementwise
 * (NaN matches NaN, infinities must match exactly); the message names the first bad index.
 */
export function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: { rtol: number; atol: number }, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} values, expected ${expected.length}`);
  let maxAbs = 1;
  for (let i = 0; i < expected.length; i++) if (Number.isFinite(expected[i]!)) maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      if (!Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e))) assert.fail(`${what}: element ${i} is ${a}, expected ${e}`);
      continue;
    }
    const bound = tol.atol * maxAbs + tol.rtol * Math.abs(e);
    if (!(Math.abs(a - e) <= bound)) assert.fail(`${what}: element ${i} is ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${bound})`);
  }
}

/** The largest |a - b| over every entry of the tensors `a` names (`b` has each, of the same length), and the largest |a|. */
export function mapDifference(a: ReadonlyMap<string, Float32Array>, b: ReadonlyMap<string, Float32Array>): { maxDiff: number; maxAbs: number } {
  let maxDiff = 0;
  let maxAbs = 0;
  for (const [k, va] of a) {
    const vb = b.get(k)!;
    assert.equal(va.length, vb.length, k);
    for (let i = 0; i < va.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(va[i]! - vb[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(va[i]!));
    }
  }
  return { maxDiff, maxAbs };
}

export { isFloating };
