/**
 * Neural-network functions (PyTorch's torch.nn.functional names). Pair arguments (stride,
 * padding, ...) take a number for both spatial dims or a [h, w] pair.
 */
import { native } from './native.js';
import { Tensor } from './tensor.js';
import type { Generator } from './random.js';

type Pair = number | [number, number];
const pair = (v: Pair): number[] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

export interface Conv2dOptions {
  stride?: Pair | undefined;
  padding?: Pair | undefined;
  dilation?: Pair | undefined;
  groups?: number | undefined;
}

/** 2-D convolution: input [N, C, H, W], weight [O, C/groups, kH, kW]. */
export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}): Tensor {
  return new Tensor(
    native.conv2d(input.handle, weight.handle, bias?.handle ?? null, pair(o.stride ?? 1), pair(o.padding ?? 0), pair(o.dilation ?? 1), o.groups ?? 1),
  );
}

export interface ConvTranspose2dOptions extends Conv2dOptions {
  outputPadding?: Pair | undefined;
}

/** Transposed 2-D convolution: weight [C, O/groups, kH, kW]. */
export function convTranspose2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, o: ConvTranspose2dOptions = {}): Tensor {
  return new Tensor(
    native.convTranspose2d(
      input.handle,
      weight.handle,
      bias?.handle ?? null,
      pair(o.stride ?? 1),
      pair(o.padding ?? 0),
      pair(o.outputPadding ?? 0),
      o.groups ?? 1,
      pair(o.dilation ?? 1),
    ),
  );
}

/** x W^T + b */
export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return new Tensor(native.linear(input.handle, weight.handle, bias?.handle ?? null));
}

/**
 * Batch normalization in PyTorch's F.batch_norm argument order: with `training` false it
 * normalizes by the running statistics (inference); with it true, by the batch's, updating the
 * running ones by `momentum`.
 */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  training = false,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  return new Tensor(
    native.batchNorm(
      input.handle,
      weight?.handle ?? null,
      bias?.handle ?? null,
      runningMean?.handle ?? null,
      runningVar?.handle ?? null,
      training,
      momentum,
      eps,
    ),
  );
}

export function groupNorm(input: Tensor, numGroups: number, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  return new Tensor(native.groupNorm(input.handle, numGroups, weight?.handle ?? null, bias?.handle ?? null, eps));
}

export function layerNorm(input: Tensor, normalizedShape: number[], weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  return new Tensor(native.layerNorm(input.handle, normalizedShape, weight?.handle ?? null, bias?.handle ?? null, eps));
}

/**
 * Dropout with its mask drawn from `generator` (the default generator when omitted): replaying
 * the generator's state replays the mask. Identity when `train` is false or p is 0.
 */
export function dropout(input: Tensor, p: number, train: boolean, generator?: Generator): Tensor {
  return new Tensor(native.dropout(input.handle, p, train, generator?.handle ?? null));
}

export function relu(x: Tensor): Tensor {
  return new Tensor(native.relu(x.handle));
}
export function silu(x: Tensor): Tensor {
  return new Tensor(native.silu(x.handle));
}
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return new Tensor(native.gelu(x.handle, approximate === 'tanh'));
}
export function sigmoid(x: Tensor): Tensor {
  return new Tensor(native.sigmoid(x.handle));
}
export function tanh(x: Tensor): Tensor {
  return new Tensor(native.tanh(x.handle));
}
export function softplus(x: Tensor): Tensor {
  return new Tensor(native.softplus(x.handle));
}
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  return new Tensor(native.leakyRelu(x.handle, slope));
}
export function softmax(x: Tensor, dim: number): Tensor {
  return new Tensor(native.softmax(x.handle, dim));
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return new Tensor(native.logSoftmax(x.handle, dim));
}

export interface AvgPool2dOptions {
  /** Rounds the output size up instead of down (default false). */
  ceilMode?: boolean | undefined;
  /** Counts the zero padding in each mean (default true, PyTorch's); false is TF's SAME average pooling. */
  countIncludePad?: boolean | undefined;
}

export function avgPool2d(input: Tensor, kernel: Pair, stride?: Pair, padding: Pair = 0, o: AvgPool2dOptions = {}): Tensor {
  if (o.ceilMode === undefined && o.countIncludePad === undefined)
    return new Tensor(native.avgPool2d(input.handle, pair(kernel), pair(stride ?? kernel), pair(padding)));
  return new Tensor(
    native.avgPool2dFull(input.handle, pair(kernel), pair(stride ?? kernel), pair(padding), o.ceilMode ?? false, o.countIncludePad ?? true),
  );
}
export function maxPool2d(input: Tensor, kernel: Pair, stride?: Pair, padding: Pair = 0): Tensor {
  return new Tensor(native.maxPool2d(input.handle, pair(kernel), pair(stride ?? kernel), pair(padding)));
}
export function adaptiveAvgPool2d(input: Tensor, outputSize: Pair): Tensor {
  return new Tensor(native.adaptiveAvgPool2d(input.handle, pair(outputSize)));
}

export interface InterpolateOptions {
  /** Output [H, W]; or give scaleFactor. */
  size?: [number, number] | undefined;
  scaleFactor?: number | undefined;
  mode?: 'nearest' | 'bilinear' | undefined;
  alignCorners?: boolean | undefined;
}

/** Resizes [N, C, H, W] images (nearest or bilinear). */
export function interpolate(input: Tensor, o: InterpolateOptions): Tensor {
  const [, , h, w] = input.shape;
  if (h === undefined || w === undefined) throw new RangeError(`interpolate: input must be [N, C, H, W], got [${input.shape.join(', ')}]`);
  const size = o.size ?? (o.scaleFactor !== undefined ? [Math.floor(h * o.scaleFactor), Math.floor(w * o.scaleFactor)] : undefined);
  if (!size) throw new RangeError('interpolate: give size or scaleFactor');
  if ((o.mode ?? 'nearest') === 'nearest') return new Tensor(native.upsampleNearest2d(input.handle, size));
  return new Tensor(native.upsampleBilinear2d(input.handle, size, o.alignCorners ?? false));
}

/** Pads the last dims: pad = [left, right, top, bottom, ...] as PyTorch's F.pad. */
export function pad(input: Tensor, padding: number[], mode: 'constant' | 'reflect' | 'replicate' = 'constant', value = 0): Tensor {
  if (mode === 'constant') return new Tensor(native.pad(input.handle, padding, value));
  if (mode === 'reflect') return new Tensor(native.padReflect(input.handle, padding));
  return new Tensor(native.padReplicate(input.handle, padding));
}

/**
 * softmax(q k^T / sqrt(d)) v over the last two dims. Uses libtorch's fused
 * scaled_dot_product_attention where the libtorch has it (2.0+), matmul + softmax otherwise.
 * `mask`: boolean (true = attend) or additive.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null = null): Tensor {
  return new Tensor(native.attention(q.handle, k.handle, v.handle, mask?.handle ?? null));
}

export function mseLoss(input: Tensor, target: Tensor): Tensor {
  return new Tensor(native.mseLoss(input.handle, target.handle));
}
export function crossEntropy(logits: Tensor, target: Tensor): Tensor {
  return new Tensor(native.crossEntropy(logits.handle, target.handle));
}
export function embedding(weight: Tensor, indices: Tensor): Tensor {
  return new Tensor(native.embedding(weight.handle, indices.handle));
}
