/**
 * Mixed precision through libtorch's autocast, as Python's torch.autocast: inside `autocast()`
 * the ops that autocast lists (convolutions, matmuls, linear layers) run in bfloat16 or float16
 * on casted copies of their float32 inputs, and the autograd graph casts gradients back, so the
 * weights, their gradients and the optimizer state stay float32 (the master weights). What must
 * stay float32 (the pseudo-Huber distance, the loss weights) runs in `fullPrecision()` on
 * `.float()` values. CPU autocast is bfloat16; CUDA takes bfloat16 or float16.
 */
import { native } from './native.js';
import { tidy } from './scope.js';
import type { Tensor } from './tensor.js';
import { dtypeCode, type DType } from './dtype.js';
import type { Device } from './device.js';

/** The --precision choices. */
export const precisions = ['fp32', 'bf16', 'fp16'] as const;
export type Precision = (typeof precisions)[number];

/** The lower-precision dtype of each choice; null: autocast stays off. */
const lowDtype: Readonly<Record<Precision, DType | null>> = { fp32: null, bf16: 'bfloat16', fp16: 'float16' };

type DeviceType = 'cpu' | 'cuda';

function deviceType(device: Device): DeviceType {
  return device === 'cpu' ? 'cpu' : 'cuda';
}

/** Parses a --precision value; throws a TypeError naming the choices. */
export function parsePrecision(value: string): Precision {
  const p = precisions.find((q) => q === value);
  if (!p) throw new TypeError(`precision must be one of ${precisions.join(', ')}, got '${value}'`);
  return p;
}

/** Throws for a precision this device cannot run: fp16 autocast is for CUDA (CPU uses bf16). */
export function checkPrecision(precision: Precision, device: Device): void {
  if (precision === 'fp16' && deviceType(device) === 'cpu')
    throw new TypeError('precision fp16 needs a CUDA device (CPU mixed precision is bf16: use --precision bf16)');
}

/** The dtype that autocast lowers to for `precision`, or null for fp32. */
export function autocastDtype(precision: Precision): DType | null {
  return lowDtype[precision];
}

function isPromise(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Runs `fn` (synchronous: the autocast state is thread-local and would not follow an await)
 * with autocast on for `device`'s type at `precision`; fp32 just runs `fn`. The previous state
 * comes back afterwards, also after a throw, and leaving the outermost region drops libtorch's
 * cache of casted weights.
 */
export function autocast<T>(precision: Precision, device: Device, fn: () => T): T {
  const dtype = lowDtype[precision];
  if (dtype === null) return fn();
  checkPrecision(precision, device);
  const type = deviceType(device);
  const previousDtype = native.autocastSetDtype(type, dtypeCode[dtype]);
  const previousEnabled = native.autocastSetEnabled(type, true);
  native.autocastEnterRegion();
  try {
    const result = fn();
    if (isPromise(result)) throw new TypeError('autocast: fn must be synchronous (it returned a promise)');
    return result;
  } finally {
    native.autocastExitRegion();
    native.autocastSetEnabled(type, previousEnabled);
    native.autocastSetDtype(type, previousDtype);
  }
}

/**
 * A network evaluation in mixed precision whose result comes back as float32 (the low-precision
 * copy is freed), so what follows (the pseudo-Huber distance, the loss weights) is float32.
 */
export function autocastToFloat32(precision: Precision, device: Device, fn: () => Tensor): Tensor {
  if (lowDtype[precision] === null) return fn();
  return tidy(() => autocast(precision, device, fn).float());
}

/** Runs `fn` with autocast off on every device type (for the parts that stay float32). */
export function fullPrecision<T>(fn: () => T): T {
  const cpu = native.autocastSetEnabled('cpu', false);
  const cuda = native.autocastSetEnabled('cuda', false);
  try {
    const result = fn();
    if (isPromise(result)) throw new TypeError('fullPrecision: fn must be synchronous (it returned a promise)');
    return result;
  } finally {
    native.autocastSetEnabled('cuda', cuda);
    native.autocastSetEnabled('cpu', cpu);
  }
}

/** True inside an autocast region for `device`'s type. */
export function isAutocastEnabled(device: Device = 'cpu'): boolean {
  return native.autocastIsEnabled(deviceType(device));
}
