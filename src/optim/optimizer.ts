/**
 * The shared part of the Adam-family optimizers: the parameters by name, per-parameter state
 * (step count and moment tensors, created at a parameter's first update as in PyTorch), and the
 * state as named tensors for checkpoints. Subclasses write one parameter's update rule.
 *
 * Parameters whose gradient is absent are skipped (their step count does not advance), as in
 * PyTorch. Construct the optimizer after moving the network to its device.
 */
import type { Tensor } from '../tensor/tensor.js';
import { scalar, zerosLike } from '../tensor/creation.js';
import { noGrad } from '../tensor/autograd.js';
import { buildInfo } from '../tensor/device.js';
import { keep, tidy } from '../tensor/scope.js';
import type { Module } from '../nn/module.js';

/** One parameter's state: PyTorch's state['step'], ['exp_avg'], ['exp_avg_sq']. */
export interface MomentState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

/** What every optimizer here offers. */
export interface Optimizer {
  /** The learning rate (may be changed between steps). */
  lr: number;
  /** Applies one update to every parameter that has a gradient. */
  step(): void;
  /** Drops every parameter's gradient. */
  zeroGrad(): void;
  /** The state as named tensors (see AdamFamily.stateDict). */
  stateDict(): Map<string, Tensor>;
  loadStateDict(state: Map<string, Tensor>): void;
  dispose(): void;
}

/** The state-name prefixes of a checkpoint. */
const STEP = 'step.';
const EXP_AVG = 'exp_avg.';
const EXP_AVG_SQ = 'exp_avg_sq.';

/** PyTorch 2.x updates the first moment with lerp_, 1.x with mul_ + add_: the rounding differs, so follow the libtorch in use. */
const lerpFirstMoment = Number(buildInfo().torchVersion.split('.')[0]) >= 2;

/** exp_avg <- beta1 exp_avg + (1 - beta1) g, in place, with the same ops as the running libtorch's own torch.optim. */
export function updateFirstMoment(expAvg: Tensor, g: Tensor, beta1: number): void {
  if (lerpFirstMoment) expAvg.lerp_(g, 1 - beta1);
  else expAvg.mul_(beta1).add_(g, 1 - beta1);
}

export function checkBetas(fn: string, betas: readonly [number, number]): void {
  betas.forEach((b, i) => {
    if (typeof b !== 'number' || !(b >= 0 && b < 1)) throw new RangeError(`${fn}: betas[${i}] must be a number in [0, 1), got ${b}`);
  });
}

export function checkNonNegative(fn: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`${fn}: ${name} must be a finite number >= 0, got ${v}`);
}

/** Base of Adam and RAdam: parameters, lazily created moments, checkpoint state. */
export abstract class AdamFamily implements Optimizer {
  readonly params: Map<string, Tensor>;
  readonly state = new Map<string, MomentState>();

  protected constructor(
    readonly name: string,
    params: Module | Map<string, Tensor>,
    public lr: number,
  ) {
    checkNonNegative(name, 'lr', lr);
    this.params = new Map(params instanceof Map ? params : params.namedParameters());
    if (this.params.size === 0) throw new RangeError(`${name}: no parameters to optimize`);
  }

  /** One parameter's update, in place; runs inside noGrad and tidy. `grad` is the parameter's gradient. */
  protected abstract update(param: Tensor, grad: Tensor, state: MomentState): void;

  step(): void {
    checkNonNegative(this.name, 'lr', this.lr);
    noGrad(() => {
      for (const [name, p] of this.params) {
        tidy(() => {
          const grad = p.grad;
          if (grad === null) return;
          let st = this.state.get(name);
          if (!st) {
            st = { step: 0, expAvg: keep(zerosLike(p)), expAvgSq: keep(zerosLike(p)) };
            this.state.set(name, st);
          }
          this.update(p, grad, st);
        });
      }
    });
  }

  zeroGrad(): void {
    for (const p of this.params.values()) p.clearGrad();
  }

  /**
   * The state as named tensors: 'step.<param>' (a float64 scalar), 'exp_avg.<param>' and
   * 'exp_avg_sq.<param>' for every parameter updated so far. The moment tensors are the
   * optimizer's own (do not dispose them); the step scalars are new (the caller owns them).
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, st] of this.state) {
      out.set(STEP + name, scalar(st.step, { dtype: 'float64' }));
      out.set(EXP_AVG + name, st.expAvg);
      out.set(EXP_AVG_SQ + name, st.expAvgSq);
    }
    return out;
  }

  /** Restores state written by stateDict(); errors name unknown, incomplete or mis-shaped entries. */
  loadStateDict(state: Map<string, Tensor>): void {
    const problems: string[] = [];
    const names = new Set<string>();
    for (const key of state.keys()) {
      const prefix = [STEP, EXP_AVG_SQ, EXP_AVG].find((p) => key.startsWith(p));
      const name = prefix ? key.slice(prefix.length) : undefined;
      if (name === undefined || !this.params.has(name)) problems.push(`unexpected entry '${key}'`);
      else names.add(name);
    }
    for (const name of names) {
      const p = this.params.get(name)!;
      const step = state.get(STEP + name);
      const m = state.get(EXP_AVG + name);
      const v = state.get(EXP_AVG_SQ + name);
      if (!step || !m || !v) problems.push(`'${name}' needs step, exp_avg and exp_avg_sq`);
      else {
        if (step.size !== 1) problems.push(`'${STEP + name}' must hold one value, got [${step.shape.join(', ')}]`);
        else if (!Number.isSafeInteger(step.item()) || step.item() < 0) problems.push(`'${STEP + name}' must be an integer >= 0, got ${step.item()}`);
        for (const [k, t] of [
          [EXP_AVG + name, m],
          [EXP_AVG_SQ + name, v],
        ] as const)
          if (t.shape.join(',') !== p.shape.join(',')) problems.push(`'${k}' must be [${p.shape.join(', ')}], got [${t.shape.join(', ')}]`);
      }
    }
    if (problems.length) throw new RangeError(`${this.name}.loadStateDict: ${problems.join('; ')}`);
    for (const st of this.state.values()) {
      st.expAvg.dispose();
      st.expAvgSq.dispose();
    }
    this.state.clear();
    noGrad(() => {
      for (const name of names) {
        const p = this.params.get(name)!;
        const copy = (t: Tensor): Tensor => keep(zerosLike(p).copy_(t));
        const step = state.get(STEP + name)!.item();
        this.state.set(name, { step, expAvg: copy(state.get(EXP_AVG + name)!), expAvgSq: copy(state.get(EXP_AVG_SQ + name)!) });
      }
    });
  }

  dispose(): void {
    for (const st of this.state.values()) {
      st.expAvg.dispose();
      st.expAvgSq.dispose();
    }
    this.state.clear();
  }
}
