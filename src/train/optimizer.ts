/**
 * The optimizer a run config names (src/optim's Adam or RAdam), with its state split into tensors
 * and JSON for the checkpoint.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { OptimizerConfig } from './config.js';
import type { JsonObject } from './json.js';
import { Adam } from '../optim/adam.js';
import { RAdam } from '../optim/radam.js';
import type { AdamFamily } from '../optim/optimizer.js';

/** What the training loop needs from an optimizer. */
export interface TrainOptimizer {
  /** The learning rate of the next update (the training step sets it: warm-up). */
  lr: number;
  /** Applies one update from the parameters' accumulated gradients. */
  step(): void;
  /** The state as named tensors (for checkpoints). */
  stateTensors(): Map<string, Tensor>;
  /** The state's non-tensor part (for checkpoints). */
  stateJson(): JsonObject;
  /** Restores both parts. */
  loadState(tensors: Map<string, Tensor>, json: JsonObject): void;
  dispose(): void;
}

/** Creates the optimizer a config names over `params` (by name). */
export type OptimizerFactory = (params: Map<string, Tensor>, config: OptimizerConfig) => TrainOptimizer;

/** The optimizers of src/optim (Adam, RAdam) behind the trainer's interface. */
export const defaultOptimizerFactory: OptimizerFactory = (params, config) => {
  const common = { lr: config.lr, betas: [config.beta1, config.beta2] as [number, number], eps: config.eps };
  const opt: AdamFamily = config.kind === 'radam' ? new RAdam(params, common) : new Adam(params, common);
  let scalars: Tensor[] = [];
  const releaseScalars = (): void => {
    for (const t of scalars) t.dispose();
    scalars = [];
  };
  return {
    get lr() {
      return opt.lr;
    },
    set lr(lr: number) {
      opt.lr = lr;
    },
    step() {
      opt.step();
    },
    stateTensors() {
      releaseScalars();
      const state = opt.stateDict();
      // The step counts are new scalars (the moments are the optimizer's own): freed at the next call.
      for (const [k, t] of state) if (k.startsWith('step.')) scalars.push(t);
      return state;
    },
    stateJson() {
      return { kind: config.kind };
    },
    loadState(tensors) {
      opt.loadStateDict(tensors);
    },
    dispose() {
      releaseScalars();
      opt.dispose();
    },
  };
};
