/**
 * Dynamic loss scaling for fp16 training, with the rules of PyTorch's GradScaler
 * (torch.amp.GradScaler): the loss is multiplied by `scale` before backward so small fp16
 * gradients do not flush to zero; before the optimizer step the gradients are divided by it
 * again, and if any of them is inf or NaN the step is skipped and the scale multiplied by
 * `backoffFactor`; after `growthInterval` steps in a row without overflow it is multiplied by
 * `growthFactor`. The scale and the count of clean steps go into the checkpoint (stateDict).
 * bf16 and fp32 need no scaler (bf16 has float32's exponent range).
 */
import type { Tensor } from '../tensor/tensor.js';
import { scalar } from '../tensor/creation.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/scope.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from './optimizer.js';

export interface LossScalerOptions {
  /** The first scale (GradScaler's init_scale, 2^16). */
  initScale?: number;
  /** Multiplier after growthInterval clean steps (growth_factor, 2). */
  growthFactor?: number;
  /** Multiplier after an overflow (backoff_factor, 0.5). */
  backoffFactor?: number;
  /** Clean steps in a row before the scale grows (growth_interval, 2000). */
  growthInterval?: number;
}

type Params = Module | Map<string, Tensor> | Iterable<Tensor>;

/** The checkpoint entries (float64 scalars). */
const SCALE = 'loss_scaler.scale';
const GROWTH_TRACKER = 'loss_scaler.growth_tracker';

function grads(params: Params): Tensor[] {
  const list = params instanceof Map ? [...params.values()] : 'namedParameters' in params ? params.parameters() : [...params];
  const out: Tensor[] = [];
  for (const p of list) {
    const g = p.grad;
    if (g !== null) out.push(g);
  }
  return out;
}

function positive(name: string, v: number, opts: { aboveOne?: boolean; belowOne?: boolean; integer?: boolean } = {}): number {
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    v > 0 &&
    (!opts.aboveOne || v > 1) &&
    (!opts.belowOne || v < 1) &&
    (!opts.integer || Number.isInteger(v));
  if (!ok) {
    const what = opts.aboveOne
      ? 'a finite number > 1'
      : opts.belowOne
        ? 'a number in (0, 1)'
        : opts.integer
          ? 'an integer >= 1'
          : 'a finite number > 0';
    throw new RangeError(`LossScaler: ${name} must be ${what}, got ${v}`);
  }
  return v;
}

export class LossScaler {
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  #scale: number;
  #growthTracker = 0;
  /** Whether this step's gradients were unscaled already, and whether they held an inf/NaN. */
  #unscaled = false;
  #foundInf = false;

  constructor(options: LossScalerOptions = {}) {
    this.#scale = positive('initScale', options.initScale ?? 2 ** 16);
    this.growthFactor = positive('growthFactor', options.growthFactor ?? 2, { aboveOne: true });
    this.backoffFactor = positive('backoffFactor', options.backoffFactor ?? 0.5, { belowOne: true });
    this.growthInterval = positive('growthInterval', options.growthInterval ?? 2000, { integer: true });
  }

  /** The current scale. */
  get scale(): number {
    return this.#scale;
  }

  /** Clean steps since the last growth or overflow. */
  get growthTracker(): number {
    return this.#growthTracker;
  }

  /** The loss times the scale (backward this instead of the loss). */
  scaleLoss(loss: Tensor): Tensor {
    return loss.mul(this.#scale);
  }

  /**
   * Divides the gradients by the scale in place (so clipping sees true gradients) and records
   * whether any is inf or NaN; returns that. Once per step: a second call before update() fails,
   * as in GradScaler.
   */
  unscale(params: Params): boolean {
    if (this.#unscaled) throw new Error('LossScaler: unscale() was already called since the last update()');
    const inv = 1 / this.#scale;
    this.#foundInf = tidy(() =>
      noGrad(() => {
        let bad = false;
        for (const g of grads(params)) {
          if (!bad && !g.isfinite().all()) bad = true;
          g.mul_(inv);
        }
        return bad;
      }),
    );
    this.#unscaled = true;
    return this.#foundInf;
  }

  /** Unscales (unless done) and runs optimizer.step() unless a gradient overflowed; returns whether it stepped. */
  step(optimizer: Optimizer, params: Params): boolean {
    if (!this.#unscaled) this.unscale(params);
    if (this.#foundInf) return false;
    optimizer.step();
    return true;
  }

  /** Adjusts the scale after a step (GradScaler.update): back off on overflow, grow after growthInterval clean steps. */
  update(): void {
    if (!this.#unscaled) throw new Error('LossScaler: update() without unscale()/step() in this step');
    if (this.#foundInf) {
      this.#scale *= this.backoffFactor;
      this.#growthTracker = 0;
    } else if (++this.#growthTracker === this.growthInterval) {
      this.#scale *= this.growthFactor;
      this.#growthTracker = 0;
    }
    this.#unscaled = false;
    this.#foundInf = false;
  }

  /** The state for a checkpoint: new float64 scalars the caller owns. */
  stateDict(): Map<string, Tensor> {
    return new Map([
      [SCALE, scalar(this.#scale, { dtype: 'float64' })],
      [GROWTH_TRACKER, scalar(this.#growthTracker, { dtype: 'float64' })],
    ]);
  }

  /** The state as JSON (for a checkpoint's state record). */
  toJson(): { scale: number; growthTracker: number } {
    return { scale: this.#scale, growthTracker: this.#growthTracker };
  }

  /** Restores toJson()'s record through the same checks as loadStateDict. */
  loadJson(state: { scale?: unknown; growthTracker?: unknown }): void {
    const { scale, growthTracker } = state;
    if (typeof scale !== 'number' || typeof growthTracker !== 'number')
      throw new Error('LossScaler: the saved state needs numbers scale and growthTracker');
    const map = new Map([
      [SCALE, scalar(scale, { dtype: 'float64' })],
      [GROWTH_TRACKER, scalar(growthTracker, { dtype: 'float64' })],
    ]);
    try {
      this.loadStateDict(map);
    } finally {
      for (const t of map.values()) t.dispose();
    }
  }

  /** Restores stateDict()'s entries; errors name what is missing or invalid. */
  loadStateDict(state: Map<string, Tensor>): void {
    const scale = state.get(SCALE);
    const tracker = state.get(GROWTH_TRACKER);
    if (!scale || !tracker) throw new Error(`LossScaler: the state lacks '${scale ? GROWTH_TRACKER : SCALE}'`);
    const s = scale.item();
    const t = tracker.item();
    positive(SCALE, s);
    if (!Number.isInteger(t) || t < 0 || t >= this.growthInterval)
      throw new RangeError(`LossScaler: ${GROWTH_TRACKER} must be an integer in [0, ${this.growthInterval}), got ${t}`);
    this.#scale = s;
    this.#growthTracker = t;
    this.#unscaled = false;
    this.#foundInf = false;
  }
}
