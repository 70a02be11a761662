/**
 * Random generators with explicit state. Every random op takes an optional Generator; saving
 * and restoring a generator's state replays the same draws (used so the student and the teacher
 * passes share dropout masks, docs/method.md section 4, and so a resumed run continues exactly).
 */
import { native } from './native.js';
import type { GeneratorHandle } from './handles.js';
import { Tensor } from './tensor.js';
import { getDefaultDevice, checkDevice } from './device.js';

export class Generator {
  readonly handle: GeneratorHandle;
  readonly device: string;

  /** A new generator for `device` (default: the default device), seeded with `seed`. */
  constructor(seed: number, device: string = getDefaultDevice()) {
    checkSeed(seed, 'Generator');
    checkDevice(device);
    this.device = device;
    this.handle = native.generatorNew(device, seed);
  }

  /** Reseeds the generator. */
  manualSeed(seed: number): this {
    checkSeed(seed, 'Generator.manualSeed');
    native.generatorManualSeed(this.handle, seed);
    return this;
  }

  /** The full state as bytes (a copy). */
  getState(): Uint8Array {
    const h = native.generatorGetState(this.handle);
    try {
      return new Uint8Array(native.toBuffer(h));
    } finally {
      native.dispose(h);
    }
  }

  /** Restores a state from getState(). */
  setState(state: Uint8Array): this {
    const h = native.fromBuffer(state, 0, [state.length], 'cpu');
    try {
      native.generatorSetState(this.handle, h);
    } finally {
      native.dispose(h);
    }
    return this;
  }

  /** Runs `fn`, then puts the generator back to the state it had before (replays the same draws next time). */
  replay<T>(fn: () => T): T {
    const state = this.getState();
    try {
      return fn();
    } finally {
      this.setState(state);
    }
  }
}

function checkSeed(seed: number, where: string): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${where}: seed must be a non-negative safe integer, got ${seed}`);
}

/** Seeds libtorch's default generators (CPU and every GPU). */
export function manualSeed(seed: number): void {
  checkSeed(seed, 'manualSeed');
  native.manualSeed(seed);
}

/** A Tensor type re-export so random ops' callers need one import. */
export type { Tensor };
