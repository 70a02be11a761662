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
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from './command.js';
import { UsageError, bool, camelCase, num, parseCommandFlags, str, type FlagSpecs, type ParsedFlags } from './args.js';
import { PRECISION_FLAGS, checkDeviceFlag, precisionFlag } from './common.js';
import { setDefaultDevice } from '../tensor/device.js';
import { loadDataset } from '../data/index.js';
import { CHECKPOINT_FILE, readCheckpoint, readCheckpointConfig, type Checkpoint } from '../train/checkpoint.js';
import { diffRunConfigs, type RunConfig, type RuntimeConfig } from '../train/config.js';
import { CONFIG_FLAGS, resolveRunConfig, type ConfigFlagValues } from '../train/config-flags.js';
import { Trainer, TrainSetupError, checkDataFitsConfig } from '../train/trainer.js';
import { defaultOptimizerFactory } from '../train/optimizer.js';
import { runPreset, runPresetNames } from '../train/presets.js';
import { defaultSampleCount } from '../train/samples.js';
import { formatDuration } from '../train/progress.js';
import {
  DataParallelRun,
  DistributedError,
  LAUNCH_FLAG_HELP,
  defaultThreadsPerWorker,
  distributedEnvFrom,
  launch,
  projectVersion,
  takeLaunchFlags,
  type LaunchFlags,
} from '../distributed/index.js';
import { FileWriteError, ensureDirectory } from '../io/atomic.js';

const NAME = 'consistency train';
const USAGE = `${NAME} --preset NAME [--data PATH] --out DIR [flags]   |   ${NAME} --out DIR --resume [flags]`;
const SUMMARY = 'train a consistency model (iCT; CT with --method ct) with checkpoints, metrics, sample grids';

/** The flags of the table (src/train/config-flags.ts) as the parser's specs. */
function configFlagSpecs(): FlagSpecs {
  const specs: FlagSpecs = {};
  for (const row of CONFIG_FLAGS) specs[row.flag] = { kind: row.kind, help: row.help, ...(row.choices && { choices: row.choices }) };
  return specs;
}

const TRAIN_FLAGS: FlagSpecs = {
  preset: { kind: 'string', help: `starting settings: ${runPresetNames().join(', ')} (default mnist-quick)` },
  out: { kind: 'string', help: 'the run directory (checkpoint, metrics.jsonl, samples/, loss.png)', required: true },
  resume: { kind: 'boolean', help: 'continue the run in --out from its checkpoint' },
  // The method, optimization and data: one flag per run-config field.
  ...configFlagSpecs(),
  // Runtime (may change on --resume).
  'micro-batch': { kind: 'int', help: 'images per forward/backward pass; gradients accumulate to the batch (default: the batch)' },
  // Data parallelism (src/distributed/env.ts takes these out before the flags are parsed).
  nproc: { kind: 'int', help: LAUNCH_FLAG_HELP['nproc'] ?? '' },
  nnodes: { kind: 'int', help: LAUNCH_FLAG_HELP['nnodes'] ?? '' },
  'node-rank': { kind: 'int', help: LAUNCH_FLAG_HELP['node-rank'] ?? '' },
  'master-addr': { kind: 'string', help: LAUNCH_FLAG_HELP['master-addr'] ?? '' },
  'master-port': { kind: 'int', help: LAUNCH_FLAG_HELP['master-port'] ?? '' },
  'dist-timeout': { kind: 'number', help: LAUNCH_FLAG_HELP['dist-timeout'] ?? '' },
  threads: {
    kind: 'int',
    help: 'libtorch threads; fixed threads make runs bit-reproducible (default: automatic, 1 or all cores, whichever steps faster on this machine now)',
  },
  device: { kind: 'string', help: 'cpu, cuda or cuda:N (default cpu)' },
  ...PRECISION_FLAGS,
  'checkpoint-every': { kind: 'int', help: 'save a checkpoint every M steps (default 500)' },
  'sample-every': { kind: 'int', help: 'write a sample grid and the loss curve every S steps (default 500)' },
  'log-every': { kind: 'int', help: 'a progress line every this many steps when stderr is not a terminal (default 50)' },
  samples: { kind: 'int', help: 'images per sample grid (default 64; with at most 16 classes, whole rows of one image per class: 60 for 10)' },
};

function fail(message: string): never {
  throw new UsageError(`${NAME}: ${message}`);
}

function checkRange(flag: string, v: number | undefined, ok: (x: number) => boolean, want: string): void {
  if (v !== undefined && !ok(v)) fail(`--${flag} must be ${want}; got ${v}`);
}

/** The values of the table's flags that were given (booleans only when given on the command line). */
function givenConfigFlags(f: ParsedFlags, argv: readonly string[]): ConfigFlagValues {
  const given: Record<string, string | number | boolean> = {};
  for (const row of CONFIG_FLAGS) {
    if (row.kind === 'boolean') {
      // Boolean flags parse to false when absent; --flip/--no-flip only override the preset when given.
      if (argv.some((a) => a === `--${row.flag}` || a === `--no-${row.flag}` || a.startsWith(`--${row.flag}=`)))
        given[row.flag] = f[camelCase(row.flag)] === true;
      continue;
    }
    const v = f[camelCase(row.flag)];
    if (typeof v === 'string' || typeof v === 'number') given[row.flag] = v;
  }
  return given;
}

/** The run config from a base and the flags; a value out of range is a UsageError naming the flag. */
function runConfigFromFlags(base: RunConfig, f: ParsedFlags, argv: readonly string[], notes: string[]): RunConfig {
  try {
    return resolveRunConfig(base, givenConfigFlags(f, argv), notes);
  } catch (e) {
    if (e instanceof RangeError) fail(e.message);
    throw e;
  }
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
    precision: precisionFlag(NAME, f, device),
    channelsLast: bool(f, 'channelsLast'),
    out,
    threads: num(f, 'threads') ?? 0,
    device,
    microBatch: Math.min(num(f, 'microBatch') ?? config.training.batch, config.training.batch),
    checkpointEvery: num(f, 'checkpointEvery') ?? 500,
    sampleEvery: num(f, 'sampleEvery') ?? 500,
    logEvery: num(f, 'logEvery') ?? 50,
    sampleCount: num(f, 'samples') ?? defaultSampleCount(config.network.labelDim),
  };
}

/**
 * `--nproc N` (or --nnodes > 1) without a torchrun environment: this process becomes the
 * launcher (src/distributed/launch.ts) of N workers running this same command.
 */
async function launchWorkers(dist: LaunchFlags, rest: string[]): Promise<number> {
  const threadsAt = rest.findIndex((a) => a === '--threads' || a.startsWith('--threads='));
  const given = threadsAt < 0 ? undefined : rest[threadsAt]?.includes('=') ? rest[threadsAt].split('=')[1] : rest[threadsAt + 1];
  const threads = given !== undefined ? Number(given) : defaultThreadsPerWorker(dist.nproc);
  if (!Number.isSafeInteger(threads) || threads < 1) throw new UsageError(`--threads must be an integer >= 1, got '${given ?? ''}'`);
  const script = process.argv[1];
  if (script === undefined) throw new UsageError('--nproc: cannot tell which program to start for the workers');
  const args = [script, 'train', ...rest, ...(threadsAt < 0 ? ['--threads', String(threads)] : []), '--dist-timeout', String(dist.timeoutS)];
  process.stderr.write(
    `launching ${dist.nproc} worker${dist.nproc > 1 ? 's' : ''} x ${threads} thread${threads > 1 ? 's' : ''}${dist.nnodes > 1 ? ` on node ${dist.nodeRank} of ${dist.nnodes}` : ''}\n`,
  );
  const result = await launch({
    command: process.execPath,
    args,
    nproc: dist.nproc,
    nnodes: dist.nnodes,
    nodeRank: dist.nodeRank,
    masterAddr: dist.masterAddr,
    masterPort: dist.masterPort,
    threads,
    timeoutS: dist.timeoutS,
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

  // Phase 1: the configuration, checked before anything is written.
  let config: RunConfig;
  let checkpoint: Checkpoint | undefined;
  if (resume) {
    if (!existsSync(checkpointPath))
      fail(
        `--resume: ${out} has no ${CHECKPOINT_FILE} to continue from (the run stopped before its first checkpoint, or never started); start it again without --resume`,
      );
    const saved = readCheckpointConfig(checkpointPath);
    const savedConfig = saved.config as unknown as RunConfig;
    const presetName = str(f, 'preset');
    let base = savedConfig;
    if (presetName !== undefined && presetName !== savedConfig.preset) {
      const p = runPreset(presetName);
      if (!p) fail(`unknown preset '${presetName}' (one of ${runPresetNames().join(', ')})`);
      base = p;
    }
    config = runConfigFromFlags(base, f, argv, notes);
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
    config = runConfigFromFlags(base, f, argv, notes);
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
  try {
    ensureDirectory(out, 'run directory');
  } catch (e) {
    if (e instanceof FileWriteError) fail(e.message);
    throw e;
  }
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
      config,
      runtime,
      dataset,
      optimizerFactory: defaultOptimizerFactory,
      ...(checkpoint && { resume: checkpoint }),
      ...(replicas && { gradientSync: replicas.sync, replicas }),
    });
    // Every rank starts from rank 0's weights (identical by seed anyway; a broadcast makes it certain).
    if (replicas)
      replicas.start(trainer.network.parameters(), [
        ...trainer.network.stateDict().values(),
        ...(trainer.teacher ? trainer.teacher.stateDict().values() : []),
      ]);
  } catch (e) {
    replicas?.close();
    if (e instanceof TrainSetupError) fail(e.message);
    if (e instanceof FileWriteError) return reportWriteFailure(e, out);
    throw e;
  }
  // Rank 0 alone speaks for a data-parallel run.
  const speaks = replicas === null || replicas.isWriter;
  if (speaks)
    process.stderr.write(
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
        if (speaks)
          process.stderr.write(
            `finished ${outcome.step} steps in ${took}${replicas ? ` on ${replicas.worldSize} ranks` : ''}; checkpoint ${outcome.checkpoint}\n`,
          );
        if (outcome.samples) console.log(`samples: ${outcome.samples}`);
        return 0;
      case 'interrupted':
        if (speaks)
          process.stderr.write(
            `${outcome.signal}: stopped after step ${outcome.step}; checkpoint ${outcome.checkpoint ?? '(none)'}; continue with: consistency train --out ${out} --resume\n`,
          );
        return outcome.signal === 'SIGTERM' ? 143 : 130;
      case 'diverged':
        process.stderr.write(
          `error: ${outcome.message}; ${outcome.checkpoint ? `the last good checkpoint is ${outcome.checkpoint}` : 'no checkpoint was written'}\n`,
        );
        return 1;
      default: {
        const unknown: never = outcome;
        throw new Error(`unknown outcome ${JSON.stringify(unknown)}`);
      }
    }
  } catch (e) {
    if (e instanceof FileWriteError) return reportWriteFailure(e, out);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    trainer.dispose();
    replicas?.close();
  }
}

/**
 * A run directory that cannot be written any more (disk full, read-only): one line naming the
 * file, the newest checkpoint on disk (atomic writes leave the previous one intact), exit code 1.
 */
function reportWriteFailure(e: FileWriteError, out: string): number {
  const path = join(out, CHECKPOINT_FILE);
  let kept = 'no checkpoint was written';
  if (existsSync(path)) {
    try {
      kept = `the newest checkpoint is ${path} (step ${readCheckpointConfig(path).step})`;
    } catch {
      kept = `${path} is there but unreadable`;
    }
  }
  // On a terminal the progress bar's line is still open.
  process.stderr.write(
    `${process.stderr.isTTY ? '\n' : ''}error: ${e.message}; ${kept}; once it can be written, continue with: consistency train --out ${out} --resume\n`,
  );
  return 1;
}

const command: Command = { summary: SUMMARY, run };
export default command;
