/**
 * The one table from command-line flags to run-config fields, shared by `consistency train` and
 * `consistency schedule`: each flag, the dotted path it sets, how its value is read and checked.
 * Range errors name the flag (method config errors are worded with the table's flags through
 * MethodConfigError.describe, not by rewriting message text).
 */
import { resolve as resolvePath } from 'node:path';
import {
  CURRICULUM_KINDS,
  LEVELS_KINDS,
  METHOD_NAMES,
  METRIC_KINDS,
  MethodConfigError,
  TEACHER_KINDS,
  WEIGHTING_KINDS,
  methodPreset,
  type MethodConfig,
  type MethodName,
  type MethodOverrides,
} from '../method/presets.js';
import { DATASET_NAMES } from '../data/index.js';
import { OPTIMIZER_KINDS, type RunConfig } from './config.js';
import { runPreset } from './presets.js';

/** How a flag's value is read: text (optionally one of `choices`), a number, an integer, or a switch. */
export type ConfigFlagKind = 'string' | 'number' | 'int' | 'boolean';

/** One row of the table. */
export interface ConfigFlag {
  /** The flag without dashes ('p-mean'). */
  readonly flag: string;
  /** The run-config field it sets ('method.levels.pMean'). */
  readonly path: string;
  readonly kind: ConfigFlagKind;
  readonly help: string;
  readonly choices?: readonly string[];
  /** A range check on numbers, and how the message words the range. */
  readonly valid?: (x: number) => boolean;
  readonly want?: string;
}

const unit = (x: number): boolean => x >= 0 && x < 1;

export const CONFIG_FLAGS: readonly ConfigFlag[] = [
  // The method (docs/method.md sections 2-4).
  {
    flag: 'method',
    path: 'method.method',
    kind: 'string',
    choices: METHOD_NAMES,
    help: "ict, or ct: the original consistency training with its paper's network and training settings (default: the preset's, ict)",
  },
  { flag: 'teacher', path: 'method.teacher', kind: 'string', choices: TEACHER_KINDS, help: 'stopgrad (iCT) or ema (CT)' },
  {
    flag: 'metric',
    path: 'method.metric.kind',
    kind: 'string',
    choices: METRIC_KINDS,
    help: 'distance d: pseudo-huber (iCT), l2, l1 (lpips needs a network, not available)',
  },
  { flag: 'huber-c', path: 'method.metric.c', kind: 'number', help: 'pseudo-Huber c (default 0.00054 sqrt(C*H*W))' },
  { flag: 'curriculum', path: 'method.curriculum.kind', kind: 'string', choices: CURRICULUM_KINDS, help: 'N(k): ict-exp (doubling) or ct-sqrt' },
  { flag: 'levels', path: 'method.levels.kind', kind: 'string', choices: LEVELS_KINDS, help: 'level distribution: lognormal (iCT) or uniform (CT)' },
  { flag: 'weighting', path: 'method.weighting', kind: 'string', choices: WEIGHTING_KINDS, help: 'lambda: inverse-gap (iCT) or constant (CT)' },
  { flag: 'p-mean', path: 'method.levels.pMean', kind: 'number', help: 'P_mean of the lognormal levels (iCT -1.1)' },
  { flag: 'p-std', path: 'method.levels.pStd', kind: 'number', help: 'P_std of the lognormal levels, > 0 (iCT 2.0)' },
  { flag: 's0', path: 'method.curriculum.s0', kind: 'int', help: 'initial discretization steps s0 (iCT 10, CT 2)' },
  { flag: 's1', path: 'method.curriculum.s1', kind: 'int', help: 'final discretization steps s1 (iCT 1280, CT 150)' },
  { flag: 'mu0', path: 'method.mu0', kind: 'number', help: 'CT teacher EMA rate mu0 (CT 0.9)' },
  { flag: 'sigma-min', path: 'method.sigmaMin', kind: 'number', help: 'smallest noise level sigma_min (0.002)' },
  { flag: 'sigma-max', path: 'method.sigmaMax', kind: 'number', help: 'largest noise level sigma_max (80)' },
  { flag: 'sigma-data', path: 'method.sigmaData', kind: 'number', help: 'sigma_data (0.5)' },
  { flag: 'rho', path: 'method.rho', kind: 'number', help: 'rho of the Karras levels (7)' },
  // Optimization.
  {
    flag: 'steps',
    path: 'training.steps',
    kind: 'int',
    help: 'K, total optimizer steps (the curriculum length)',
    valid: (x) => x >= 1,
    want: 'an integer >= 1',
  },
  {
    flag: 'batch',
    path: 'training.batch',
    kind: 'int',
    help: 'images per optimizer step (the global batch)',
    valid: (x) => x >= 1,
    want: 'an integer >= 1',
  },
  { flag: 'lr', path: 'training.optimizer.lr', kind: 'number', help: 'learning rate', valid: (x) => x >= 0, want: 'a number >= 0' },
  { flag: 'optimizer', path: 'training.optimizer.kind', kind: 'string', choices: OPTIMIZER_KINDS, help: 'adam or radam (the paper presets: radam)' },
  { flag: 'beta1', path: 'training.optimizer.beta1', kind: 'number', help: 'Adam beta1 (0.9)', valid: unit, want: 'in [0, 1)' },
  { flag: 'beta2', path: 'training.optimizer.beta2', kind: 'number', help: 'Adam beta2 (0.999)', valid: unit, want: 'in [0, 1)' },
  { flag: 'eps', path: 'training.optimizer.eps', kind: 'number', help: 'Adam epsilon (1e-8)', valid: (x) => x >= 0, want: 'a number >= 0' },
  {
    flag: 'warmup',
    path: 'training.optimizer.warmupSteps',
    kind: 'int',
    help: 'linear learning-rate warm-up steps (0)',
    valid: (x) => x >= 0,
    want: 'an integer >= 0',
  },
  {
    flag: 'grad-clip',
    path: 'training.optimizer.gradClip',
    kind: 'number',
    help: 'clip the gradient 2-norm to this (none)',
    valid: (x) => x > 0,
    want: 'a number > 0',
  },
  {
    flag: 'ema',
    path: 'training.emaRate',
    kind: 'number',
    help: 'rate of the evaluation EMA of the weights, in [0, 1)',
    valid: unit,
    want: 'in [0, 1)',
  },
  {
    flag: 'dropout',
    path: 'network.dropout',
    kind: 'number',
    help: 'dropout probability in residual blocks, in [0, 1)',
    valid: unit,
    want: 'in [0, 1)',
  },
  {
    flag: 'classes',
    path: 'network.labelDim',
    kind: 'int',
    help: "class-conditional on this many classes (the data's labels), 0 for unconditional (mnist-quick: 10)",
    valid: (x) => x >= 0,
    want: 'an integer >= 0',
  },
  {
    flag: 'fourier-scale',
    path: 'network.fourierScale',
    kind: 'number',
    help: 'NCSN++ Fourier embedding frequency scale (iCT 0.02, CT and NCSN++ 16)',
    valid: (x) => x > 0,
    want: 'a number > 0',
  },
  {
    flag: 'seed',
    path: 'training.seed',
    kind: 'int',
    help: 'seed of initialization, data order, noise, levels, dropout (default 0)',
    valid: (x) => x >= 0,
    want: 'an integer >= 0',
  },
  { flag: 'second-sigma', path: 'sampling.secondSigma', kind: 'number', help: 'second level of 2-step sample grids (0.821)' },
  // Data.
  {
    flag: 'data',
    path: 'data.path',
    kind: 'string',
    help: 'where the images are: CIFAR-10 archive or folder, IDX folder, .npz folder, image folder',
  },
  { flag: 'dataset', path: 'data.dataset', kind: 'string', choices: DATASET_NAMES, help: "the dataset (default: the preset's)" },
  { flag: 'flip', path: 'data.flip', kind: 'boolean', help: "random horizontal flips (--no-flip to disable; default: the preset's)" },
  {
    flag: 'limit',
    path: 'data.limit',
    kind: 'int',
    help: 'use at most this many training images (folders, ImageNet64)',
    valid: (x) => x >= 1,
    want: 'an integer >= 1',
  },
  {
    flag: 'image-size',
    path: 'data.size',
    kind: 'int',
    help: "image folders: resize to this side length (default: the network's resolution)",
    valid: (x) => x >= 1,
    want: 'an integer >= 1',
  },
];

/** The values of the table's flags that were given, by flag name ('p-mean'); absent flags are absent. */
export type ConfigFlagValues = Readonly<Record<string, string | number | boolean>>;

/** The row of a flag (throws for a flag not in the table: a programming error). */
export function configFlag(flag: string): ConfigFlag {
  const row = CONFIG_FLAGS.find((r) => r.flag === flag);
  if (!row) throw new Error(`config-flags: no flag '${flag}' in the table`);
  return row;
}

/** '--s1' for 'curriculum.s1' (a path inside the method config); the path itself when no flag sets it. */
export function methodFieldFlag(path: string): string {
  const row = CONFIG_FLAGS.find((r) => r.path === `method.${path}`);
  return row ? `--${row.flag}` : path;
}

function fail(message: string): never {
  throw new RangeError(message);
}

/** The method-config changes among `given`, as overrides (the 'method' flag itself excluded). */
export function methodOverridesFrom(given: ConfigFlagValues): MethodOverrides {
  const o: Record<string, unknown> = {};
  for (const row of CONFIG_FLAGS) {
    const v = given[row.flag];
    if (v === undefined || row.flag === 'method' || !row.path.startsWith('method.')) continue;
    const keys = row.path.slice('method.'.length).split('.');
    let at = o;
    for (const k of keys.slice(0, -1)) at = (at[k] ??= {}) as Record<string, unknown>;
    at[keys[keys.length - 1]!] = v;
  }
  return o;
}

/**
 * `method` with the overrides applied; a value out of range is a RangeError whose message names
 * the flags (`--s1 must be an integer >= --s0=20, got 10`).
 */
export function methodWithOverrides(method: MethodName, overrides: MethodOverrides): MethodConfig {
  try {
    return methodPreset(method, overrides);
  } catch (e) {
    if (e instanceof MethodConfigError) fail(e.describe(methodFieldFlag));
    throw e;
  }
}

/** The method config of `base` with its nested parts spelled out as overrides (so a preset's tuning survives methodPreset). */
function asOverrides(m: MethodConfig): MethodOverrides {
  const rest: Partial<MethodConfig> = structuredClone(m);
  delete rest.method;
  return rest;
}

function merge(base: MethodOverrides, over: MethodOverrides): MethodOverrides {
  const out: Record<string, unknown> = structuredClone(base) as Record<string, unknown>;
  for (const [k, v] of Object.entries(over)) {
    const cur = out[k];
    out[k] = typeof v === 'object' && v !== null && typeof cur === 'object' && cur !== null ? { ...cur, ...v } : v;
  }
  return out;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let at = target;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  at[keys[keys.length - 1]!] = value;
}

/**
 * The run config: a preset's (or a resumed run's) config with the given flags applied. `--method`
 * with another method than the base's starts from that method's run of the same preset
 * (src/train/presets.ts). Notes for the user (substitutions made) are pushed to `notes`.
 *
 * @throws RangeError with a message that names the flag for a value out of range.
 */
export function resolveRunConfig(preset: RunConfig, given: ConfigFlagValues, notes: string[] = []): RunConfig {
  const flagMethod = given.method as MethodName | undefined;
  const switched = flagMethod !== undefined && flagMethod !== preset.method.method ? runPreset(preset.preset, flagMethod) : undefined;
  const c: RunConfig = structuredClone(switched ?? preset);

  // The method: the base's tuned settings, then the flags; a method the preset table does not
  // know for this preset (a renamed preset) starts from that method's paper settings.
  const overrides = methodOverridesFrom(given);
  if (flagMethod !== undefined && flagMethod !== c.method.method) {
    const metric = overrides.metric?.kind === undefined && flagMethod === 'ct' ? { metric: { ...overrides.metric, kind: 'l2' as const } } : {};
    c.method = methodWithOverrides(flagMethod, { ...overrides, ...metric, noiseEmbedding: c.method.noiseEmbedding });
  } else c.method = methodWithOverrides(c.method.method, merge(asOverrides(c.method), overrides));
  if (flagMethod === 'ct' && c.method.method === 'ct' && preset.method.method !== 'ct' && given.metric === undefined)
    notes.push("CT's LPIPS metric needs a pretrained network that is not available here; using squared L2 (--metric l2)");
  if (c.method.metric.kind === 'lpips')
    fail('--metric lpips needs a pretrained LPIPS network, which this program cannot load; use pseudo-huber, l2 or l1');

  // Every other field: checked, then set at its path.
  for (const row of CONFIG_FLAGS) {
    const v = given[row.flag];
    if (v === undefined || row.path.startsWith('method.')) continue;
    if (typeof v === 'number' && row.valid && !row.valid(v)) fail(`--${row.flag} must be ${row.want ?? 'in range'}; got ${v}`);
    if (row.flag === 'second-sigma' && typeof v === 'number' && !(v >= c.method.sigmaMin && v < c.method.sigmaMax))
      fail(`--second-sigma must be in [sigma_min, sigma_max) = [${c.method.sigmaMin}, ${c.method.sigmaMax}); got ${v}`);
    if (row.flag === 'fourier-scale' && c.network.architecture !== 'song')
      fail(`--fourier-scale: preset '${c.preset}' has an ADM network, which has no Fourier embedding`);
    setPath(c as unknown as Record<string, unknown>, row.path, row.flag === 'data' && typeof v === 'string' ? resolvePath(v) : v);
  }
  // Image folders are resized to the network's resolution unless told otherwise; only MNIST-shaped
  // data (MNIST, Fashion-MNIST) is padded 28 -> 32.
  if (c.data.dataset === 'folder' && c.data.size === null) c.data.size = c.network.imgResolution;
  if (c.data.dataset !== 'mnist' && c.data.dataset !== 'fashion-mnist') c.data.pad32 = false;
  return c;
}
