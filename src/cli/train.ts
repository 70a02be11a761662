/**
 * `consistency train --preset NAME [--data PATH] --out DIR [flags]`: consistency training
 * (iCT by default, CT with --method ct) into a run directory, with checkpoints, a JSONL metrics
 * log, sample grids and a loss curve; `--resume` continues a stopped run exactly.
 *
 * Every input problem (unknown flag, bad value, missing data, a run directory that already holds
 * another run, a checkpoint of another configuration) exits with code 2 and one line, before
 * anything is written. SIGINT/SIGTERM finish the current step, save a checkpoint and exit with
 * 130/143. A NaN or infinite loss stops with exit code 1, keeping the last good checkpoint.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from './command.js';
import { UsageError, bool, num, parseCommandFlags, str, type FlagSpecs, type ParsedFlags } from './args.js';
import { checkDeviceFlag } from './common.js';
import { setDefaultDevice } from '../tensor/device.js';
import { METHOD_NAMES, methodPreset, type MethodConfig, type MethodName, type MethodOverrides } from '../method/presets.js';
import { DATASET_NAMES, loadDataset, type DatasetName } from '../data/index.js';
import { CHECKPOINT_FILE, readCheckpoint, readCheckpointConfig, type Checkpoint } from '../train/checkpoint.js';
import { diffRunConfigs, type RunConfig, type RuntimeConfig } from '../train/config.js';
import { Trainer, TrainSetupError, checkDataFitsConfig } from '../train/trainer.js';
import { defaultOptimizerFactory } from '../train/adapters.js';
import { runPreset, runPresetNames } from '../train/run-preset.js';
import { formatDuration } from '../train/progress.js';
import { DataParallelRun, DistributedError, LAUNCH_FLAG_HELP, defaultThreadsPerWorker, distributedEnvFrom, launch, projectVersion, takeLaunchFlags, type LaunchFlags } from '../distributed/index.js';

const NAME = 'consistency train';
const USAGE = `${NAME} --preset NAME [--data PATH] --out DIR [flags]   |   ${NAME} --out DIR --resume [flags]`;
const SUMMARY = 'train a consistency model (iCT; CT with --method ct) with checkpoints, metrics, sample grids';

export const TRAIN_FLAGS: FlagSpecs = {
  preset: { kind: 'string', help: `starting settings: ${runPresetNames().join(', ')} (default mnist-quick)` },
  data: { kind: 'string', help: 'where the images are: CIFAR-10 archive or folder, IDX folder, .npz folder, image folder' },
  dataset: { kind: 'string', help: "the dataset (default: the preset's)", choices: DATASET_NAMES },
  out: { kind: 'string', help: 'the run directory (checkpoint, metrics.jsonl, samples/, loss.png)', required: true },
  resume: { kind: 'boolean', help: 'continue the run in --out from its checkpoint' },
  // The method (spec sections 2-4).
  method: { kind: 'string', help: "ict or ct (default: the preset's, ict)", choices: METHOD_NAMES },
  teacher: { kind: 'string', help: 'stopgrad (iCT) or ema (CT)', choices: ['stopgrad', 'ema'] },
  metric: { kind: 'string', help: 'distance d: pseudo-huber (iCT), l2, l1 (lpips needs a network, not available)', choices: ['pseudo-huber', 'l2', 'l1', 'lpips'] },
  'huber-c': { kind: 'number', help: 'pseudo-Huber c (default 0.00054 sqrt(C*H*W))' },
  curriculum: { kind: 'string', help: 'N(k): ict-exp (doubling) or ct-sqrt', choices: ['ict-exp', 'ct-sqrt'] },
  levels: { kind: 'string', help: 'level distribution: lognormal (iCT) or uniform (CT)', choices: ['lognormal', 'uniform'] },
  weighting: { kind: 'string', help: 'lambda: inverse-gap (iCT) or constant (CT)', choices: ['inverse-gap', 'constant'] },
  'p-mean': { kind: 'number', help: 'P_mean of the lognormal levels (iCT -1.1)' },
  'p-std': { kind: 'number', help: 'P_std of the lognormal levels (iCT 2.0)' },
  s0: { kind: 'int', help: 'initial discretization steps s0 (iCT 10, CT 2)' },
  s1: { kind: 'int', help: 'final discretization steps s1 (iCT 1280, CT 150)' },
  mu0: { kind: 'number', help: 'CT teacher EMA rate mu0 (CT 0.9)' },
  'sigma-min': { kind: 'number', help: 'sigma_min (0.002)' },
  'sigma-max': { kind: 'number', help: 'sigma_max (80)' },
  'sigma-data': { kind: 'number', help: 'sigma_data (0.5)' },
  rho: { kind: 'number', help: 'rho of the Karras levels (7)' },
  // Optimization.
  steps: { kind: 'int', help: 'K, total optimizer steps (the curriculum length)' },
  batch: { kind: 'int', help: 'images per optimizer step' },
  'micro-batch': { kind: 'int', help: 'images per forward/backward pass; gradients accumulate to the batch (default: the batch)' },
  lr: { kind: 'number', help: 'learning rate' },
  optimizer: { kind: 'string', help: 'adam or radam', choices: ['adam', 'radam'] },
  beta1: { kind: 'number', help: 'Adam beta1 (0.9)' },
  beta2: { kind: 'number', help: 'Adam beta2 (0.999)' },
  eps: { kind: 'number', help: 'Adam epsilon (1e-8)' },
  warmup: { kind: 'int', help: 'linear learning-rate warm-up steps (0)' },
  'grad-clip': { kind: 'number', help: 'clip the gradient 2-norm to this (none)' },
  ema: { kind: 'number', help: 'rate of the evaluation EMA of the weights, in [0, 1)' },
  dropout: { kind: 'number', help: 'dropout probability in residual blocks, in [0, 1)' },
  flip: { kind: 'boolean', help: "random horizontal flips (--no-flip to disable; default: the preset's)" },
  seed: { kind: 'int', help: 'seed of initialization, data order, noise, levels, dropout (default 0)' },
  'second-sigma': { kind: 'number', help: 'second level of 2-step sample grids (0.821)' },
  limit: { kind: 'int', help: 'use at most this many training images (folders, ImageNet64)' },
  'image-size': { kind: 'int', help: "image folders: resize to this side length (default: the network's resolution)" },
  // Runtime (may change on --resume).
  // Data parallelism (src/distributed/env.ts takes these out before the flags are parsed).
  nproc: { kind: 'int', help: LAUNCH_FLAG_HELP['nproc'] ?? '' },
  nnodes: { kind: 'int', help: LAUNCH_FLAG_HELP['nnodes'] ?? '' },
  'node-rank': { kind: 'int', help: LAUNCH_FLAG_HELP['node-rank'] ?? '' },
  'master-addr': { kind: 'string', help: LAUNCH_FLAG_HELP['master-addr'] ?? '' },
  'master-port': { kind: 'int', help: LAUNCH_FLAG_HELP['master-port'] ?? '' },
  'dist-timeout': { kind: 'number', help: LAUNCH_FLAG_HELP['dist-timeout'] ?? '' },
  threads: { kind: 'int', help: 'libtorch threads; fixed threads make runs bit-reproducible (default: automatic, 1 or all cores, whichever steps faster on this machine now)' },
  device: { kind: 'string', help: 'cpu, cuda or cuda:N (default cpu)' },
  'checkpoint-every': { kind: 'int', help: 'save a checkpoint every M steps (default 500)' },
  'sample-every': { kind: 'int', help: 'write a sample grid and the loss curve every S steps (default 500)' },
  'log-every': { kind: 'int', help: 'a progress line every this many steps when stderr is not a terminal (default 50)' },
  samples: { kind: 'int', help: 'images per sample grid (default 64)' },
};

function fail(message: string): never {
  throw new UsageError(`${NAME}: ${message}`);
}

function checkRange(flag: string, v: number | undefined, ok: (x: number) => boolean, want: string): void {
  if (v !== undefined && !ok(v)) fail(`--${flag} must be ${want}; got ${v}`);
}

/** The method config: the preset's, or the named method's paper settings, with flags on top. */
function methodFromFlags(base: MethodConfig, f: ParsedFlags, notes: string[]): MethodConfig {
  const flagMethod = str(f, 'method') as MethodName | undefined;
  const overrides: MethodOverrides = {
    teacher: str(f, 'teacher') as MethodOverrides['teacher'],
    mu0: num(f, 'mu0'),
    curriculum: { kind: str(f, 'curriculum') as MethodConfig['curriculum']['kind'] | undefined, s0: num(f, 's0'), s1: num(f, 's1') },
    levels: { kind: str(f, 'levels') as MethodConfig['levels']['kind'] | undefined, pMean: num(f, 'pMean'), pStd: num(f, 'pStd') },
    weighting: str(f, 'weighting') as MethodOverrides['weighting'],
    metric: { kind: str(f, 'metric') as MethodConfig['metric']['kind'] | undefined, c: num(f, 'huberC') },
    sigmaMin: num(f, 'sigmaMin') ?? base.sigmaMin,
    sigmaMax: num(f, 'sigmaMax') ?? base.sigmaMax,
    sigmaData: num(f, 'sigmaData') ?? base.sigmaData,
    rho: num(f, 'rho') ?? base.rho,
  };
  let config: MethodConfig;
  try {
    if (flagMethod === undefined || flagMethod === base.method) {
      // The preset's tuned method, with the flags' changes.
      config = methodPreset(base.method, {
        teacher: base.teacher, mu0: base.mu0, curriculum: { ...base.curriculum }, levels: { ...base.levels }, weighting: base.weighting, metric: { ...base.metric },
      });
      config = methodPreset(base.method, mergeOverrides(config, overrides));
    } else {
      if (flagMethod === 'ct' && overrides.metric?.kind === undefined) {
        overrides.metric = { ...overrides.metric, kind: 'l2' };
        notes.push("CT's LPIPS metric needs a pretrained network that is not available here; using squared L2 (--metric l2)");
      }
      config = methodPreset(flagMethod, overrides);
    }
  } catch (e) {
    if (e instanceof RangeError) fail(flagNames(e.message));
    throw e;
  }
  if (config.metric.kind === 'lpips') fail("--metric lpips needs a pretrained LPIPS network, which this program cannot load; use pseudo-huber, l2 or l1");
  return config;
}

function mergeOverrides(c: MethodConfig, o: MethodOverrides): MethodOverrides {
  const pick = <T extends object>(base: T, over: Partial<T> | undefined): T => {
    const out = { ...base };
    for (const [k, v] of Object.entries(over ?? {})) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
    return out;
  };
  return {
    teacher: o.teacher ?? c.teacher, mu0: o.mu0 ?? c.mu0,
    curriculum: pick(c.curriculum, o.curriculum), levels: pick(c.levels, o.levels), weighting: o.weighting ?? c.weighting, metric: pick(c.metric, o.metric),
    sigmaMin: o.sigmaMin ?? c.sigmaMin, sigmaMax: o.sigmaMax ?? c.sigmaMax, sigmaData: o.sigmaData ?? c.sigmaData, rho: o.rho ?? c.rho,
  };
}

/** Rewrites methodPreset's field names as the flags that set them. */
function flagNames(message: string): string {
  const map: Array<[RegExp, string]> = [
    [/\bcurriculum\.s0\b/g, '--s0'], [/\bcurriculum\.s1\b/g, '--s1'], [/\bs0=/g, '--s0='], [/\bcurriculum\.kind\b/g, '--curriculum'],
    [/\blevels\.pMean\b/g, '--p-mean'], [/\blevels\.pStd\b/g, '--p-std'], [/\blevels\.kind\b/g, '--levels'], [/\bmetric\.kind\b/g, '--metric'],
    [/\bmetric\.c\b/g, '--huber-c'], [/\bsigmaMin\b/g, '--sigma-min'], [/\bsigmaMax\b/g, '--sigma-max'], [/\bsigmaData\b/g, '--sigma-data'],
    [/\brho\b/g, '--rho'], [/\bmu0\b/g, '--mu0'], [/\bteacher\b/g, '--teacher'], [/\bweighting\b/g, '--weighting'],
  ];
  let m = message.replace(/^methodPreset: /, '');
  for (const [re, flag] of map) m = m.replace(re, flag);
  return m;
}

/** The run config: a preset (or a resumed run's config) with the flags applied. */
export function resolveRunConfig(base: RunConfig, f: ParsedFlags, notes: string[] = [], flipGiven = false): RunConfig {
  const c: RunConfig = structuredClone(base);
  c.method = methodFromFlags(base.method, f, notes);
  const dataset = str(f, 'dataset') as DatasetName | undefined;
  if (dataset !== undefined) c.data.dataset = dataset;
  const data = str(f, 'data');
  if (data !== undefined) c.data.path = resolve(data);
  if (flipGiven) c.data.flip = f.flip === true;
  if (num(f, 'limit') !== undefined) c.data.limit = num(f, 'limit')!;
  if (num(f, 'imageSize') !== undefined) c.data.size = num(f, 'imageSize')!;
  // Image folders are resized to the network's resolution unless told otherwise.
  if (c.data.dataset === 'folder' && c.data.size === null) c.data.size = c.network.imgResolution;
  // MNIST-shaped presets pad 28 -> 32 the same way for Fashion-MNIST.
  if (c.data.dataset !== 'mnist' && c.data.dataset !== 'fashion-mnist') c.data.pad32 = false;
  const t = c.training;
  const o = t.optimizer;
  checkRange('steps', num(f, 'steps'), (x) => x >= 1, 'an integer >= 1');
  checkRange('batch', num(f, 'batch'), (x) => x >= 1, 'an integer >= 1');
  checkRange('lr', num(f, 'lr'), (x) => x >= 0, 'a number >= 0');
  checkRange('beta1', num(f, 'beta1'), (x) => x >= 0 && x < 1, 'in [0, 1)');
  checkRange('beta2', num(f, 'beta2'), (x) => x >= 0 && x < 1, 'in [0, 1)');
  checkRange('eps', num(f, 'eps'), (x) => x >= 0, 'a number >= 0');
  checkRange('warmup', num(f, 'warmup'), (x) => x >= 0, 'an integer >= 0');
  checkRange('grad-clip', num(f, 'gradClip'), (x) => x > 0, 'a number > 0');
  checkRange('ema', num(f, 'ema'), (x) => x >= 0 && x < 1, 'in [0, 1)');
  checkRange('dropout', num(f, 'dropout'), (x) => x >= 0 && x < 1, 'in [0, 1)');
  checkRange('seed', num(f, 'seed'), (x) => x >= 0, 'an integer >= 0');
  checkRange('second-sigma', num(f, 'secondSigma'), (x) => x >= c.method.sigmaMin && x < c.method.sigmaMax, `in [sigma_min, sigma_max) = [${c.method.sigmaMin}, ${c.method.sigmaMax})`);
  checkRange('limit', num(f, 'limit'), (x) => x >= 1, 'an integer >= 1');
  checkRange('image-size', num(f, 'imageSize'), (x) => x >= 1, 'an integer >= 1');
  t.steps = num(f, 'steps') ?? t.steps;
  t.batch = num(f, 'batch') ?? t.batch;
  o.lr = num(f, 'lr') ?? o.lr;
  o.kind = (str(f, 'optimizer') as 'adam' | 'radam' | undefined) ?? o.kind;
  o.beta1 = num(f, 'beta1') ?? o.beta1;
  o.beta2 = num(f, 'beta2') ?? o.beta2;
  o.eps = num(f, 'eps') ?? o.eps;
  o.warmupSteps = num(f, 'warmup') ?? o.warmupSteps;
  o.gradClip = num(f, 'gradClip') ?? o.gradClip;
  t.emaRate = num(f, 'ema') ?? t.emaRate;
  t.seed = num(f, 'seed') ?? t.seed;
  c.network.dropout = num(f, 'dropout') ?? c.network.dropout;
  c.sampling.secondSigma = num(f, 'secondSigma') ?? c.sampling.secondSigma;
  return c;
}

function resolveRuntime(f: ParsedFlags, config: RunConfig, out: string): RuntimeConfig {
  checkRange('micro-batch', num(f, 'microBatch'), (x) => x >= 1, 'an integer >= 1');
  checkRange('threads', num(f, 'threads'), (x) => x >= 1, 'an integer >= 1');
  checkRange('checkpoint-every', num(f, 'checkpointEvery'), (x) => x >= 1, 'an integer >= 1');
  checkRange('sample-every', num(f, 'sampleEvery'), (x) => x >= 1, 'an integer >= 1');
  checkRange('log-every', num(f, 'logEvery'), (x) => x >= 1, 'an integer >= 1');
  checkRange('samples', num(f, 'samples'), (x) => x >= 1 && x <= 1024, 'an integer in [1, 1024]');
  const device = str(f, 'device') ?? 'cpu';
  checkDeviceFlag(NAME, device);
  return {
    out,
    threads: num(f, 'threads') ?? 0,
    device,
    microBatch: Math.min(num(f, 'microBatch') ?? config.training.batch, config.training.batch),
    checkpointEvery: num(f, 'checkpointEvery') ?? 500,
    sampleEvery: num(f, 'sampleEvery') ?? 500,
    logEvery: num(f, 'logEvery') ?? 50,
    sampleCount: num(f, 'samples') ?? 64,
  };
}

/**
 * `--nproc N` (or --nnodes > 1) without a torchrun environment: this process becomes the
 * launcher (src/distributed/launch.ts) of N workers running this same command.
 */
async function launchWorkers(dist: LaunchFlags, rest: string[]): Promise<number> {
  const threadsAt = rest.findIndex((a) => a === '--threads' || a.startsWith('--threads='));
  const given = threadsAt < 0 ? undefined : rest[threadsAt]?.includes('=') ? rest[threadsAt]?.split('=')[1] : rest[threadsAt + 1];
  const threads = given !== undefined ? Number(given) : defaultThreadsPerWorker(dist.nproc);
  if (!Number.isSafeInteger(threads) || threads < 1) throw new UsageError(`--threads must be an integer >= 1, got '${given ?? ''}'`);
  const script = process.argv[1];
  if (script === undefined) throw new UsageError('--nproc: cannot tell which program to start for the workers');
  const args = [script, 'train', ...rest, ...(threadsAt < 0 ? ['--threads', String(threads)] : []), '--dist-timeout', String(dist.timeoutS)];
  process.stderr.write(`launching ${dist.nproc} worker${dist.nproc > 1 ? 's' : ''} x ${threads} thread${threads > 1 ? 's' : ''}${dist.nnodes > 1 ? ` on node ${dist.nodeRank} of ${dist.nnodes}` : ''}\n`);
  const result = await launch({
    command: process.execPath, args, nproc: dist.nproc, nnodes: dist.nnodes, nodeRank: dist.nodeRank,
    masterAddr: dist.masterAddr, masterPort: dist.masterPort, threads, timeoutS: dist.timeoutS,
  });
  if (result.message !== null) process.stderr.write(`error: ${result.message}\n`);
  return result.exitCode;
}

async function run(argvWithLaunchFlags: string[]): Promise<number> {
  const { flags: dist, rest: argv } = takeLaunchFlags(argvWithLaunchFlags);
  const torchrun = distributedEnvFrom(process.env);
  if (torchrun === null && (dist.nproc > 1 || dist.nnodes > 1)) return launchWorkers(dist, argv);
  const f = parseCommandFlags(NAME, USAGE, SUMMARY, argv, TRAIN_FLAGS);
  if (!f) return 0;
  const out = resolve(str(f, 'out')!);
  const checkpointPath = join(out, CHECKPOINT_FILE);
  const resume = bool(f, 'resume');
  const notes: string[] = [];
  // Boolean flags parse to false when absent; --flip/--no-flip only override the preset when given.
  const flipGiven = argv.some((a) => a === '--flip' || a === '--no-flip' || a.startsWith('--flip='));

  // Phase 1: the configuration, checked before anything is written.
  let config: RunConfig;
  let checkpoint: Checkpoint | undefined;
  if (resume) {
    if (!existsSync(checkpointPath)) fail(`--resume: ${out} has no ${CHECKPOINT_FILE} to continue from`);
    const saved = readCheckpointConfig(checkpointPath);
    const savedConfig = saved.config as unknown as RunConfig;
    const presetName = str(f, 'preset');
    let base = savedConfig;
    if (presetName !== undefined && presetName !== savedConfig.preset) {
      const p = runPreset(presetName);
      if (!p) fail(`unknown preset '${presetName}' (one of ${runPresetNames().join(', ')})`);
      base = p;
    }
    config = resolveRunConfig(base, f, notes, flipGiven);
    const diff = diffRunConfigs(savedConfig, config);
    if (diff.length > 0) fail(`--resume: the checkpoint in ${out} was made with another configuration; these fields differ: ${diff.join(', ')}`);
  } else {
    if (existsSync(checkpointPath)) {
      const saved = readCheckpointConfig(checkpointPath);
      fail(`${out} already holds a run (checkpoint at step ${saved.step}); pass --resume to continue it or choose another --out`);
    }
    if (existsSync(out) && !statSync(out).isDirectory()) fail(`--out ${out} is a file, not a directory`);
    const presetName = str(f, 'preset') ?? 'mnist-quick';
    const base = runPreset(presetName);
    if (!base) fail(`unknown preset '${presetName}' (one of ${runPresetNames().join(', ')})`);
    config = resolveRunConfig(base, f, notes, flipGiven);
  }
  const resolved = resolveRuntime(f, config, out);
  // torchrun / --nproc: each rank takes its GPU from LOCAL_RANK ('cuda' -> 'cuda:LOCAL_RANK').
  const parallel = torchrun !== null && torchrun.worldSize > 1 ? torchrun : null;
  const runtime = parallel && resolved.device === 'cuda' ? { ...resolved, device: `cuda:${parallel.localRank}` } : resolved;
  setDefaultDevice(runtime.device);
  for (const n of notes) process.stderr.write(`note: ${n}\n`);

  // Phase 2: the data (a DataError is exit code 2; nothing written yet).
  const c = config.data;
  const dataset = await loadDataset(c.dataset, {
    ...(c.path !== null && { data: c.path }),
    pad32: c.pad32,
    ...(c.size !== null && { size: c.size }),
    ...(c.limit !== null && { limit: c.limit }),
    ...(config.network.labelDim > 0 && c.dataset === 'folder' && { labels: 'folders' as const }),
  });

  // Phase 3: the trainer (a mismatch between data and network is exit code 2; still nothing written).
  try {
    checkDataFitsConfig(config, dataset);
  } catch (e) {
    if (e instanceof TrainSetupError) fail(e.message);
    throw e;
  }
  if (resume) checkpoint = readCheckpoint(checkpointPath, { device: runtime.device });
  mkdirSync(out, { recursive: true });
  // Data parallelism: join the group, and stop at once (one line) if the ranks disagree.
  let replicas: DataParallelRun | null = null;
  if (parallel) {
    try {
      replicas = DataParallelRun.join(parallel, dist.timeoutS, runtime.device.startsWith('cuda') ? 'nccl' : 'gloo');
      replicas.group.requireSame('project version', projectVersion());
      replicas.group.requireSame('configuration', JSON.stringify({ config, resumeStep: checkpoint ? checkpoint.step : 0 }));
    } catch (e) {
      replicas?.close();
      if (e instanceof DistributedError) {
        process.stderr.write(`error: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
  }
  let trainer: Trainer;
  try {
    trainer = new Trainer({
      config, runtime, dataset, optimizerFactory: defaultOptimizerFactory, ...(checkpoint && { resume: checkpoint }),
      ...(replicas && { gradientSync: replicas.sync, replicas }),
    });
    // Every rank starts from rank 0's weights (identical by seed anyway; a broadcast makes it certain).
    if (replicas) replicas.start(trainer.network.parameters(), [...trainer.network.stateDict().values(), ...(trainer.teacher ? trainer.teacher.stateDict().values() : [])]);
  } catch (e) {
    replicas?.close();
    if (e instanceof TrainSetupError) fail(e.message);
    throw e;
  }
  // Rank 0 alone speaks for a data-parallel run.
  const speaks = replicas === null || replicas.isWriter;
  if (speaks) process.stderr.write(
    `${resume ? `resuming ${config.preset} at step ${trainer.step}` : `training ${config.preset}`}: ${config.method.method}, ` +
      `${(trainer.network.parameterCount() / 1e6).toFixed(2)}M parameters, ${dataset.name} ${dataset.count} images ${dataset.channels}x${dataset.height}x${dataset.width}, ` +
      `batch ${config.training.batch}${runtime.microBatch < config.training.batch ? ` (micro-batches of ${runtime.microBatch})` : ''}, ${config.training.steps} steps, ` +
      `${runtime.threads === 0 ? 'threads automatic' : `${runtime.threads} thread${runtime.threads > 1 ? 's' : ''}`}, run directory ${out}\n`,
  );

  // Phase 4: train; signals finish the current step, save and exit.
  const onSignal = (signal: NodeJS.Signals): void => trainer.requestStop(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = performance.now();
  try {
    // A lost or diverging rank (DistributedError) ends this rank with one line and exit code 1.
    const ended = await trainer.run().then(
      (o) => ({ outcome: o, lost: null }),
      (e: unknown) => {
        if (e instanceof DistributedError) return { outcome: null, lost: e };
        throw e;
      },
    );
    if (ended.outcome === null) {
      process.stderr.write(`error: ${ended.lost.message}; the last checkpoint on disk stays resumable\n`);
      return 1;
    }
    const outcome = ended.outcome;
    const took = formatDuration((performance.now() - started) / 1000);
    switch (outcome.status) {
      case 'finished':
        if (speaks) process.stderr.write(`finished ${outcome.step} steps in ${took}${replicas ? ` on ${replicas.worldSize} ranks` : ''}; checkpoint ${outcome.checkpoint}\n`);
        if (outcome.samples) console.log(`samples: ${outcome.samples}`);
        return 0;
      case 'interrupted':
        if (speaks) process.stderr.write(
          `${outcome.signal}: stopped after step ${outcome.step}; checkpoint ${outcome.checkpoint ?? '(none)'}; continue with: consistency train --out ${out} --resume\n`,
        );
        return outcome.signal === 'SIGTERM' ? 143 : 130;
      case 'diverged':
        process.stderr.write(`error: ${outcome.message}; ${outcome.checkpoint ? `the last good checkpoint is ${outcome.checkpoint}` : 'no checkpoint was written'}\n`);
        return 1;
      default: {
        const unknown: never = outcome;
        throw new Error(`unknown outcome ${JSON.stringify(unknown)}`);
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    trainer.dispose();
    replicas?.close();
  }
}

const command: Command = { summary: SUMMARY, run };
export default command;
