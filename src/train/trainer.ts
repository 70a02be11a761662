/**
 * The consistency-training loop (iCT by default, original CT by config; docs/method.md sections 2-5): it
 * owns the network, the optimizer, the EMAs and the data loader, and for each step k of K draws
 * the next GLOBAL batch, takes this process's contiguous share of it, and runs THE training step
 * (src/train/step.ts: levels, accumulate over micro-batches, check, update, EMAs). Then it
 * records: JSONL metrics and progress; every M steps a checkpoint (src/train/checkpoint.ts), every
 * S steps a sample grid (src/train/samples.ts).
 *
 * Noise and levels follow from (seed, step, global sample index) and every other random source
 * has its own seeded generator whose state goes into the checkpoint, so a run that is stopped and
 * resumed computes exactly what an uninterrupted run computes.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { ensureDirectory, writeFileAtomic } from '../io/atomic.js';
import { Generator } from '../tensor/random.js';
import { tensor } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import { setNumThreads } from '../tensor/device.js';
import { ConsistencyLoss } from '../method/loss.js';
import { ConsistencyDenoiser } from '../method/denoiser.js';
import { ExponentialMovingAverage } from '../method/ema.js';
import { BatchLoader } from '../data/loader.js';
import { deriveState } from '../data/random.js';
import type { ImageDataset } from '../data/types.js';
import { createNetwork } from '../networks/build.js';
import type { ImageNetwork } from '../networks/network.js';
import { CHECKPOINT_FILE, nonFiniteTensors, restoreTrainingState, trainingCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint.js';
import { diffRunConfigs, imageShape, runConfigToJson, type RunConfig, type RuntimeConfig } from './config.js';
import { MetricsLog, METRICS_FILE } from './metrics-log.js';
import type { TrainingReplicas } from '../distributed/run.js';
import { ProgressBar, formatLoss, type ProgressStream } from './progress.js';
import { TrainingSamples } from './samples.js';
import type { OptimizerFactory, TrainOptimizer } from './optimizer.js';
import { ThreadTuner } from './threads.js';
import { rankSlice, type GradientSync } from './gradient-sync.js';
import { LossScaler } from '../optim/loss-scaler.js';
import { trainingStep, warmupLearningRate, type PhaseTimes, type TrainingStepContext, type TrainingStepResult } from './step.js';
import { InputError } from '../util/input-error.js';

/** Streams of the run seed (deriveState(seed, stream)) for the trainer's random sources; noise and levels: src/train/draws.ts. */
const INIT_STREAM = 10;
const DROPOUT_STREAM = 12;

/** The run directory's files. */
export const RUN_FILES = {
  checkpoint: CHECKPOINT_FILE,
  metrics: METRICS_FILE,
  config: 'config.json',
  lossCurve: 'loss.png',
  samples: 'samples',
} as const;

export interface TrainerOptions {
  config: RunConfig;
  runtime: RuntimeConfig;
  /** The training images (already loaded). */
  dataset: ImageDataset;
  /** Makes the optimizer named by config.training.optimizer. */
  optimizerFactory: OptimizerFactory;
  /** A checkpoint to continue from; its config must equal `config`. The trainer takes its tensors. */
  resume?: Checkpoint;
  /** Where the progress bar goes (default stderr). */
  progressStream?: ProgressStream;
  /** Hook on each step's loss before the finiteness check (tests inject NaN with it). */
  lossHook?: (step: number, loss: number) => number;
  /** Accumulates per-phase times when given. */
  phaseTimes?: PhaseTimes;
  /** Skip sample grids and the loss curve (benchmarks). */
  noSamples?: boolean;
  /** Data parallelism (src/train/gradient-sync.ts); absent = a single process. */
  gradientSync?: GradientSync;
  /** The other replicas of a data-parallel run (src/distributed/run.ts): who writes, stops, checks. */
  replicas?: TrainingReplicas;
}

/** How a run ended. */
export type TrainOutcome =
  | { status: 'finished'; step: number; checkpoint: string; samples: string | null }
  | { status: 'interrupted'; signal: string; step: number; checkpoint: string | null }
  | { status: 'diverged'; step: number; message: string; checkpoint: string | null };

/** A run cannot start (mismatched resume, unusable data): exit code 2. */
export class TrainSetupError extends InputError {
  override name = 'TrainSetupError';
}

/** Throws a TrainSetupError when the dataset's images or labels do not fit the config's network. */
export function checkDataFitsConfig(config: RunConfig, dataset: ImageDataset): void {
  const [C, H, W] = imageShape(config);
  if (dataset.channels !== C || dataset.height !== H || dataset.width !== W) {
    throw new TrainSetupError(
      `the ${dataset.name} images are ${dataset.channels}x${dataset.height}x${dataset.width}, but the network of preset '${config.preset}' takes ${C}x${H}x${W}`,
    );
  }
  if (config.network.labelDim > 0 && (!dataset.labels || dataset.numClasses > config.network.labelDim)) {
    throw new TrainSetupError(
      `the run is class-conditional (${config.network.labelDim} classes) but ${dataset.name} ${dataset.labels ? `has ${dataset.numClasses} classes` : 'has no labels'}; --classes 0 trains an unconditional network`,
    );
  }
}

function seedOf(seed: number, stream: number): number {
  return deriveState(seed, stream)[0];
}

/**
 * The seed of rank r's dropout generator: masks may differ between ranks (each rank has its own
 * samples); rank 0's is the single-process seed.
 */
export function dropoutSeed(seed: number, rank: number): number {
  return rank === 0 ? seedOf(seed, DROPOUT_STREAM) : deriveState(seed, DROPOUT_STREAM, rank)[0];
}

export class Trainer {
  readonly config: RunConfig;
  readonly runtime: RuntimeConfig;
  readonly network: ImageNetwork;
  /** CT's EMA teacher (null for iCT's stop-gradient teacher). */
  readonly teacher: ImageNetwork | null;
  readonly ema: ExponentialMovingAverage;
  readonly optimizer: TrainOptimizer;
  readonly loader: BatchLoader;
  readonly loss: ConsistencyLoss;
  /** Optimizer steps completed. */
  step: number;

  private readonly dropoutGenerator: Generator;
  private readonly stepContext: TrainingStepContext;
  private readonly lossScaler: LossScaler | null;
  private readonly slice: { start: number; end: number };
  /** Rank 0's log; other ranks of a data-parallel run write no files (null). */
  private readonly metrics: MetricsLog | null;
  /** Whether this process writes the run's files (rank 0, or the only process). */
  private readonly writer: boolean;
  private readonly progress: ProgressBar;
  private readonly samples: TrainingSamples;
  private stopSignal: string | null = null;
  private lastSavedStep = -1;

  constructor(private readonly opts: TrainerOptions) {
    const { config, runtime, dataset } = opts;
    this.config = config;
    this.runtime = runtime;
    checkDataFitsConfig(config, dataset);
    const device = runtime.device;
    const seed = config.training.seed;
    const sync = opts.gradientSync;
    this.writer = opts.replicas?.isWriter ?? true;
    this.slice = rankSlice(config.training.batch, sync?.rank ?? 0, sync?.worldSize ?? 1);
    this.network = createNetwork(config.network, { generator: new Generator(seedOf(seed, INIT_STREAM), 'cpu'), device });
    // Before the teacher, EMA and optimizer take the parameters: channels-last replaces them.
    if (runtime.channelsLast) this.network.channelsLast();
    this.network.train();
    this.dropoutGenerator = new Generator(dropoutSeed(seed, sync?.rank ?? 0), device);
    this.network.setGenerator(this.dropoutGenerator);
    if (config.method.teacher === 'ema') {
      this.teacher = createNetwork(config.network, { device, values: 'uninitialized' });
      this.teacher.loadStateDict(this.network.stateDict());
      if (runtime.channelsLast) this.teacher.channelsLast();
      this.teacher.train();
      this.teacher.setGenerator(this.dropoutGenerator);
    } else this.teacher = null;
    this.ema = new ExponentialMovingAverage(this.network, { kind: 'fixed', rate: config.training.emaRate });
    this.optimizer = opts.optimizerFactory(this.network.namedParameters(), config.training.optimizer);
    this.loss = new ConsistencyLoss(config.method);
    this.step = 0;

    // fp16 only: bf16 has float32's exponent range (src/optim/loss-scaler.ts).
    this.lossScaler = runtime.precision === 'fp16' ? new LossScaler() : null;
    const metricsPath = join(runtime.out, RUN_FILES.metrics);
    if (opts.resume) {
      const saved = opts.resume.state['lossScaler'];
      if (this.lossScaler && saved && typeof saved === 'object' && !Array.isArray(saved)) this.lossScaler.loadJson(saved);
      const diff = diffRunConfigs(opts.resume.config as unknown as RunConfig, config);
      if (diff.length > 0) throw new TrainSetupError(`the checkpoint was made with another configuration: ${diff.join(', ')} differ`);
      const restored = restoreTrainingState(opts.resume, this.stateParts(), dataset);
      this.step = restored.step;
      this.loader = restored.loader;
      this.metrics = this.writer ? MetricsLog.resume(metricsPath, this.step) : null;
      this.lastSavedStep = this.step;
    } else {
      this.loader = new BatchLoader(dataset, { batchSize: config.training.batch, seed, flip: config.data.flip });
      this.metrics = this.writer ? MetricsLog.create(metricsPath) : null;
    }
    const { optimizer: o } = config.training;
    this.stepContext = {
      student: ConsistencyDenoiser.forMethod(this.network, config.method),
      teacher: this.teacher ? ConsistencyDenoiser.forMethod(this.teacher, config.method) : undefined,
      loss: this.loss,
      optimizer: this.optimizer,
      lr: o.lr,
      warmupSteps: o.warmupSteps,
      maxGradNorm: o.gradClip,
      ema: this.ema,
      totalSteps: config.training.steps,
      seed,
      microBatch: runtime.microBatch,
      gradientSync: sync,
      lossHook: opts.lossHook,
      noiseGenerator: new Generator(0, 'cpu'),
      precision: runtime.precision ?? 'fp32',
      lossScaler: this.lossScaler ?? undefined,
    };
    this.samples = new TrainingSamples(config, runtime);
    this.progress = new ProgressBar({
      totalSteps: config.training.steps,
      startStep: this.step,
      imagesPerStep: config.training.batch,
      ...(opts.progressStream !== undefined && { stream: opts.progressStream }),
      lineEvery: runtime.logEvery,
    });
  }

  private stateParts(): Omit<Parameters<typeof trainingCheckpoint>[0], 'step' | 'loader'> {
    return { network: this.network, ema: this.ema, teacher: this.teacher, optimizer: this.optimizer, dropoutGenerator: this.dropoutGenerator };
  }

  /** Asks the loop to stop after the current step (SIGINT/SIGTERM handlers call this). */
  requestStop(signal: string): void {
    this.stopSignal = signal;
  }

  /** The learning rate at step k (linear warm-up). */
  learningRate(k: number): number {
    const { lr, warmupSteps } = this.config.training.optimizer;
    return warmupLearningRate(lr, warmupSteps, k);
  }

  /** Runs steps until K, a stop request, or a non-finite loss. */
  async run(): Promise<TrainOutcome> {
    const { runtime } = this;
    const K = this.config.training.steps;
    const replicas = this.opts.replicas;
    if (this.writer) {
      ensureDirectory(join(runtime.out, RUN_FILES.samples), 'samples folder');
      writeFileAtomic(
        join(runtime.out, RUN_FILES.config),
        new TextEncoder().encode(`${JSON.stringify({ config: this.config, runtime: this.runtime }, null, 2)}\n`),
        'run config',
      );
      removeStaleTemporaries(runtime.out);
      removeStaleTemporaries(join(runtime.out, RUN_FILES.samples));
    }
    const times = this.opts.phaseTimes;
    // threads 0: choose between 1 and all cores from measured step times (src/train/threads.ts).
    const tuner = runtime.threads === 0 ? new ThreadTuner({ maxThreads: availableParallelism() }) : null;
    if (!tuner) setNumThreads(runtime.threads);
    while (this.step < K) {
      // A stop asked of any rank stops every rank before the same step (issue 10).
      const stop = replicas ? replicas.agreeToStop(this.stopSignal !== null) : this.stopSignal !== null;
      if (stop) {
        this.stopSignal ??= 'SIGTERM';
        return this.interrupt();
      }
      const k = this.step;
      const threads = tuner ? tuner.next() : runtime.threads;
      if (tuner) setNumThreads(threads);
      const stepStart = performance.now();
      const result = this.runStep(k, times);
      tuner?.record(threads, performance.now() - stepStart);
      if (result.status === 'diverged') {
        this.progress.finish();
        return { status: 'diverged', step: k + 1, message: result.message, checkpoint: this.lastCheckpoint() };
      }
      this.step = k + 1;
      replicas?.afterStep(this.step, this.network.parameters());

      // Record.
      const t0 = performance.now();
      this.metrics?.append({ step: this.step, loss: result.loss, levels: result.N, lr: result.lr, threads });
      if (this.writer) this.progress.update({ step: this.step, loss: result.loss, levels: result.N });
      if (this.step % runtime.checkpointEvery === 0 && this.step < K) {
        const saved = this.saveCheckpoint();
        if (saved !== null) return saved;
      }
      if (this.writer && !this.opts.noSamples && this.step % runtime.sampleEvery === 0 && this.step < K) this.writeSamples();
      if (times) times.record += performance.now() - t0;
      // Let signal handlers run between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const saved = this.saveCheckpoint();
    if (saved !== null) return saved;
    const samples = this.opts.noSamples || !this.writer ? null : this.writeSamples();
    this.progress.finish();
    return { status: 'finished', step: this.step, checkpoint: join(runtime.out, RUN_FILES.checkpoint), samples };
  }

  /**
   * One pass of the loop without its recording: the next global batch, this process's share of it
   * (the rank's contiguous slice), and the training step k on it.
   */
  runStep(k: number, times?: PhaseTimes): TrainingStepResult {
    const t = performance.now();
    const B = this.config.training.batch;
    const { start, end } = this.slice;
    const batch = this.loader.next(this.slice);
    if (times) times.data += performance.now() - t;
    const device = this.runtime.device;
    const shape = imageShape(this.config);
    return tidy(() => {
      const x = tensor(batch.images, [end - start, ...shape], { device });
      const labels =
        this.config.network.labelDim > 0 && batch.labels
          ? tensor(
              BigInt64Array.from(batch.labels, (v) => BigInt(v)),
              [end - start],
              { device },
            )
          : undefined;
      const globalIndices = Array.from({ length: end - start }, (_, i) => start + i);
      return trainingStep({ ...this.stepContext, phaseTimes: times }, { x, classLabels: labels, globalIndices, globalBatchSize: B }, k);
    });
  }

  /** The checkpoint of the current step as tensors and JSON (tensors are the live ones: do not dispose). */
  checkpointContents(): Checkpoint {
    const contents = trainingCheckpoint({ ...this.stateParts(), step: this.step, loader: this.loader }, runConfigToJson(this.config));
    // fp16's loss scale goes with the checkpoint, so a resumed run starts at the scale it reached.
    if (this.lossScaler) contents.state['lossScaler'] = this.lossScaler.toJson();
    return contents;
  }

  /** Saves the checkpoint; returns a 'diverged' outcome (and writes nothing) when a weight is not finite. */
  private saveCheckpoint(): TrainOutcome | null {
    if (this.lastSavedStep === this.step) return null;
    const contents = this.checkpointContents();
    const bad = nonFiniteTensors(contents.groups);
    if (bad.length > 0) {
      this.progress.finish();
      return {
        status: 'diverged',
        step: this.step,
        message: `training diverged: NaN or infinite weights after step ${this.step} (${bad.slice(0, 3).join(', ')}${bad.length > 3 ? ', ...' : ''})`,
        checkpoint: this.lastCheckpoint(),
      };
    }
    // Rank 0 writes; the others wait until the file is complete (replicas are identical).
    if (this.writer) writeCheckpoint(join(this.runtime.out, RUN_FILES.checkpoint), contents);
    this.opts.replicas?.barrier();
    this.lastSavedStep = this.step;
    return null;
  }

  private lastCheckpoint(): string | null {
    return this.lastSavedStep >= 0 ? join(this.runtime.out, RUN_FILES.checkpoint) : null;
  }

  private interrupt(): TrainOutcome {
    const saved = this.saveCheckpoint();
    this.progress.finish();
    if (saved) return saved;
    return { status: 'interrupted', signal: this.stopSignal ?? 'SIGINT', step: this.step, checkpoint: this.lastCheckpoint() };
  }

  /** Writes the sample grid of the current EMA weights and the loss curve; returns the grid's path. */
  writeSamples(): string {
    const { x, y } = this.metrics?.series('loss') ?? { x: [], y: [] };
    const path = this.samples.write({
      step: this.step,
      network: this.network,
      ema: this.ema,
      samplesDir: join(this.runtime.out, RUN_FILES.samples),
      lossCurve: join(this.runtime.out, RUN_FILES.lossCurve),
      losses: { x, y },
    });
    this.progress.message(`step ${this.step}: samples ${path} (loss ${formatLoss(y[y.length - 1] ?? Number.NaN)})`);
    return path;
  }

  /** Frees every tensor the trainer owns. */
  dispose(): void {
    this.network.dispose();
    this.teacher?.dispose();
    this.samples.dispose();
    this.ema.dispose();
    this.optimizer.dispose();
  }
}

/** Removes temporaries of atomic writes that a killed process left in a run directory. */
function removeStaleTemporaries(dir: string): void {
  for (const name of readdirSync(dir)) if (name.startsWith('.') && name.includes('.tmp-')) rmSync(join(dir, name), { force: true });
}
