/**
 * Weight initializations by fan (the schemes EDM's U-Nets use): each draws from a fixed
 * distribution scaled by fan-in and/or fan-out, then multiplies by a gain. A gain of 0 gives
 * zeros without drawing.
 */
import { Tensor } from '../tensor/tensor.js';
import { empty, rand, randn, zeros } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import type { Generator } from '../tensor/random.js';

/**
 * - xavier_uniform:  U(-1, 1) * sqrt(6 / (fanIn + fanOut))
 * - xavier_normal:   N(0, 1)  * sqrt(2 / (fanIn + fanOut))
 * - kaiming_uniform: U(-1, 1) * sqrt(3 / fanIn)
 * - kaiming_normal:  N(0, 1)  * sqrt(1 / fanIn)
 */
export type InitMode = 'xavier_uniform' | 'xavier_normal' | 'kaiming_uniform' | 'kaiming_normal';

export const INIT_MODES: readonly InitMode[] = ['xavier_uniform', 'xavier_normal', 'kaiming_uniform', 'kaiming_normal'];

/** How one layer's weight and bias start. */
export interface WeightInit {
  mode: InitMode;
  /** Multiplies the weight draw (default 1). */
  weightGain?: number | undefined;
  /** Multiplies the bias draw (default 0: biases start at zero). */
  biasGain?: number | undefined;
}

/** Where and how new parameters are made. */
export interface ParameterOptions {
  /** Draws the initial values (libtorch's default generator when omitted). */
  generator?: Generator | undefined;
  /** Device of the new tensors (default: the default device). */
  device?: string | undefined;
  /**
   * 'random' (default) draws initial values; 'uninitialized' allocates without writing
   * (libtorch `empty`), for counting parameters or before loading a checkpoint.
   */
  values?: 'random' | 'uninitialized' | undefined;
}

/** A new tensor of `shape` drawn by `mode` for the given fans, times `gain`. */
export function initTensor(shape: number[], mode: InitMode, fanIn: number, fanOut: number, gain: number, o: ParameterOptions = {}): Tensor {
  if (!INIT_MODES.includes(mode)) throw new RangeError(`initTensor: unknown mode '${mode}'; expected one of ${INIT_MODES.join(', ')}`);
  if (!(fanIn > 0) || !(fanOut > 0)) throw new RangeError(`initTensor: fans must be positive, got fanIn=${fanIn}, fanOut=${fanOut}`);
  const device = o.device;
  if (o.values === 'uninitialized') return empty(shape, { device });
  if (gain === 0) return zeros(shape, { device });
  return tidy(() => {
    const g = { generator: o.generator, device };
    switch (mode) {
      case 'xavier_uniform':
        return rand(shape, g)
          .mul(2)
          .sub(1)
          .mul(Math.sqrt(6 / (fanIn + fanOut)) * gain);
      case 'xavier_normal':
        return randn(shape, g).mul(Math.sqrt(2 / (fanIn + fanOut)) * gain);
      case 'kaiming_uniform':
        return rand(shape, g)
          .mul(2)
          .sub(1)
          .mul(Math.sqrt(3 / fanIn) * gain);
      case 'kaiming_normal':
        return randn(shape, g).mul(Math.sqrt(1 / fanIn) * gain);
    }
  });
}
