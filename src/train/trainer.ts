/**
 * The consistency-training loop (iCT by default, original CT by config; docs/method.md sections 2-5).
 *
 * One step k of K, in phases:
 *   1. levels   N(k) and p(i) from the curriculum; pair indices for the batch from a seeded
 *               JS generator; z for the whole batch from a seeded libtorch generator.
 *   2. gradients the batch is cut into micro-batches; each adds (size / batch) times its mean
 *               loss to the gradients, so the update equals one pass over the whole batch.
 *   3. check    a NaN or infinite loss stops the run before any update (the last checkpoint
 *               on disk stays the last good one).
 *   4. update   optional gradient clipping, the optimizer step, the evaluation EMA, and for CT
 *               the EMA teacher with rate mu(k).
 *   5. record   JSONL metrics, progress; every M steps a checkpoint, every S steps a sample grid.
 *
 * Everything random has its own seeded generator whose state goes into the checkpoint, so a run
 * that is stopped and resumed computes exactly what an uninterrupted run computes.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { Generator } from '../tensor/random.js';
import { randn, tensor } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import { noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { ConsistencyLoss } from '../method/loss.js';
import { ExponentialMovingAverage, emaUpdate } from '../method/ema.js';
import { levelSchedule, type LevelSchedule } from '../method/presets.js';
import { sampleLevelIndices } from '../method/schedules.js';
import { BatchLoader, type LoaderState } from '../data/loader.js';
import { Xoshiro128, deriveState } from '../data/random.js';
import type { ImageDataset } from '../data/types.js';
import type { ImageNetwork } from '../networks/network.js';
import { CHECKPOINT_FILE, CheckpointError, nonFiniteTensors, writeCheckpoint, type Checkpoint } from './checkpoint.js';
import { diffRunConfigs, imageShape, runConfigToJson, type RunConfig, type RuntimeConfig } from './config.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json.js';
import { MetricsLog, METRICS_FILE } from './metrics-log.js';
import { ProgressBar, formatLoss, type ProgressStream } from './progress.js';
import { fixedNoise, oneAndTwoStepSamples, samplesGridPng, writeLossCurve, type FixedNoise } from './samples.js';
import { networkFromConfig, type OptimizerFactory, type TrainOptimizer } from './adapters.js';
import { clipGradNorm } from '../optim/clip.js';
import { ThreadTuner } from './threads.js';
import { setNumThreads } from '../tensor/device.js';
import { availableParallelism } from 'node:os';

/** Streams of the run seed (deriveState(seed, stream)) for each random source. */
const INIT_STREAM = 10;
const NOISE_STREAM = 11;
const DROPOUT_STREAM = 12;
const LEVEL_STREAM = 13;

/** The run directory's files. */
export const RUN_FILES = { checkpoint: CHECKPOINT_FILE, metrics: METRICS_FILE, config: 'config.json', lossCurve: 'loss.png', samples: 'samples' } as const;

/** Time spent per phase of the step (milliseconds, summed over steps), for the benchmark. */
export interface PhaseTimes {
  data: number;
  levels: number;
  gradients: number;
  update: number;
  record: number;
}

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
}

/** How a run ended. */
export type TrainOutcome =
  | { status: 'finished'; step: number; checkpoint: string; samples: string | null }
  | { status: 'interrupted'; signal: string; step: number; checkpoint: string | null }
  | { status: 'diverged'; step: number; message: string; checkpoint: string | null };

/** A run cannot start (mismatched resume, unusable data): exit code 2. */
export class TrainSetupError extends Error {
  override name = 'TrainSetupError';
  readonly exitCode = 2;
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
      `preset '${config.preset}' is class-conditional (${config.network.labelDim} classes) but ${dataset.name} ${dataset.labels ? `has ${dataset.numClasses} classes` : 'has no labels'}`,
    );
  }
}

function seedOf(seed: number, stream: number): number {
  return deriveState(seed, stream)[0];
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

  private readonly noiseGenerator: Generator;
  private readonly dropoutGenerator: Generator;
  private levelRng: Xoshiro128;
  private readonly metrics: MetricsLog;
  private readonly progress: ProgressBar;
  private readonly shape: [number, number, number];
  private evalNetwork: ImageNetwork | null = null;
  private sampleNoise: FixedNoise | null = null;
  private stopSignal: string | null = null;
  private lastSavedStep = -1;
  private schedule: { step: number; value: LevelSchedule } | null = null;

  constructor(private readonly opts: TrainerOptions) {
    const { config, runtime, dataset } = opts;
    this.config = config;
    this.runtime = runtime;
    this.shape = imageShape(config);
    checkDataFitsConfig(config, dataset);
    const device = runtime.device;
    const seed = config.training.seed;
    this.network = networkFromConfig(config.network, { generator: new Generator(seedOf(seed, INIT_STREAM), 'cpu'), device });
    this.network.to(device);
    this.network.train();
    this.dropoutGenerator = new Generator(seedOf(seed, DROPOUT_STREAM), device);
    this.noiseGenerator = new Generator(seedOf(seed, NOISE_STREAM), device);
    this.levelRng = Xoshiro128.from(seed, LEVEL_STREAM);
    this.network.setGenerator(this.dropoutGenerator);
    if (config.method.teacher === 'ema') {
      this.teacher = networkFromConfig(config.network, { device, uninitialized: true });
      this.teacher.loadStateDict(this.network.stateDict());
      this.teacher.train();
      this.teacher.setGenerator(this.dropoutGenerator);
    } else this.teacher = null;
    this.ema = new ExponentialMovingAverage(this.network, { kind: 'fixed', rate: config.training.emaRate });
    this.optimizer = opts.optimizerFactory(this.network.namedParameters(), config.training.optimizer);
    this.loss = new ConsistencyLoss(config.method, { noiseEmbedding: config.noiseEmbedding });
    this.step = 0;

    const metricsPath = join(runtime.out, RUN_FILES.metrics);
    if (opts.resume) {
      this.loader = this.restore(opts.resume);
      this.metrics = MetricsLog.resume(metricsPath, this.step);
      this.lastSavedStep = this.step;
    } else {
      this.loader = new BatchLoader(dataset, { batchSize: config.training.batch, seed, flip: config.data.flip });
      this.metrics = MetricsLog.create(metricsPath);
    }
    this.progress = new ProgressBar({
      totalSteps: config.training.steps,
      startStep: this.step,
      imagesPerStep: config.training.batch,
      ...(opts.progressStream !== undefined && { stream: opts.progressStream }),
      lineEvery: runtime.logEvery,
    });
  }

  /** Loads a checkpoint's weights and states; returns the data loader at its saved position. */
  private restore(ckpt: Checkpoint): BatchLoader {
    const diff = diffRunConfigs(ckpt.config as unknown as RunConfig, this.config);
    if (diff.length > 0) throw new TrainSetupError(`the checkpoint was made with another configuration: ${diff.join(', ')} differ`);
    const group = (name: string): Map<string, Tensor> => {
      const g = ckpt.groups.get(name);
      if (!g) throw new CheckpointError(`checkpoint has no '${name}' tensors`);
      return g;
    };
    const state = ckpt.state;
    const ints = (v: JsonValue | undefined, what: string): number[] => {
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new CheckpointError(`checkpoint state: bad ${what}`);
      return v as number[];
    };
    this.network.loadStateDict(group('model'));
    this.ema.loadStateDict(group('ema'), typeof state.emaUpdates === 'number' ? state.emaUpdates : ckpt.step);
    if (this.teacher) this.teacher.loadStateDict(group('teacher'));
    this.optimizer.loadState(group('optimizer'), isJsonObject(state.optimizer) ? state.optimizer : {});
    for (const [name, gen] of [['noise', this.noiseGenerator], ['dropout', this.dropoutGenerator]] as const) {
      const bytes = ckpt.generators.get(name);
      if (!bytes) throw new CheckpointError(`checkpoint has no '${name}' generator state`);
      gen.setState(bytes);
    }
    const lvl = ints(state.levelRng, 'level generator state');
    this.levelRng = new Xoshiro128(lvl);
    for (const g of ckpt.groups.values()) for (const t of g.values()) t.dispose();
    this.step = ckpt.step;
    if (!isJsonObject(state.loader)) throw new CheckpointError('checkpoint state: no data loader position');
    return BatchLoader.fromState(this.opts.dataset, state.loader as unknown as LoaderState);
  }

  /** Asks the loop to stop after the current step (SIGINT/SIGTERM handlers call this). */
  requestStop(signal: string): void {
    this.stopSignal = signal;
  }

  /** The level schedule at step k (cached while N(k) and the step are the same). */
  private levels(k: number): LevelSchedule {
    if (!this.schedule || this.schedule.step !== k) this.schedule = { step: k, value: levelSchedule(this.config.method, k, this.config.training.steps) };
    return this.schedule.value;
  }

  /** The learning rate at step k (linear warm-up). */
  learningRate(k: number): number {
    const { lr, warmupSteps } = this.config.training.optimizer;
    return warmupSteps > 0 ? lr * Math.min(1, (k + 1) / warmupSteps) : lr;
  }

  /** Runs steps until K, a stop request, or a non-finite loss. */
  async run(): Promise<TrainOutcome> {
    const { runtime } = this;
    const K = this.config.training.steps;
    mkdirSync(join(runtime.out, RUN_FILES.samples), { recursive: true });
    writeFileAtomic(join(runtime.out, RUN_FILES.config), new TextEncoder().encode(`${JSON.stringify({ config: this.config, runtime: this.runtime }, null, 2)}\n`));
    removeStaleTemporaries(runtime.out);
    const times = this.opts.phaseTimes;
    // threads 0: choose between 1 and all cores from measured step times (src/train/threads.ts).
    const tuner = runtime.threads === 0 ? new ThreadTuner({ maxThreads: availableParallelism() }) : null;
    if (!tuner) setNumThreads(runtime.threads);
    let lastLoss = Number.NaN;
    while (this.step < K) {
      if (this.stopSignal) return this.interrupt();
      const k = this.step;
      const threads = tuner ? tuner.next() : runtime.threads;
      if (tuner) setNumThreads(threads);
      const stepStart = performance.now();
      const result = this.trainStep(k, times);
      tuner?.record(threads, performance.now() - stepStart);
      if (result.status === 'diverged') {
        this.progress.finish();
        return { status: 'diverged', step: k + 1, message: result.message, checkpoint: this.lastCheckpoint() };
      }
      lastLoss = result.loss;
      this.step = k + 1;

      // Phase 5: record.
      const t0 = performance.now();
      const N = this.levels(k).N;
      this.metrics.append({ step: this.step, loss: lastLoss, levels: N, lr: this.learningRate(k), threads });
      this.progress.update({ step: this.step, loss: lastLoss, levels: N });
      if (this.step % runtime.checkpointEvery === 0 && this.step < K) {
        const saved = this.saveCheckpoint();
        if (saved !== null) return saved;
      }
      if (!this.opts.noSamples && this.step % runtime.sampleEvery === 0 && this.step < K) this.writeSamples();
      if (times) times.record += performance.now() - t0;
      // Let signal handlers run between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const saved = this.saveCheckpoint();
    if (saved !== null) return saved;
    const samples = this.opts.noSamples ? null : this.writeSamples();
    this.progress.finish();
    return { status: 'finished', step: this.step, checkpoint: join(runtime.out, RUN_FILES.checkpoint), samples };
  }

  /** Phases 1-4 of one step. */
  trainStep(k: number, times?: PhaseTimes): { status: 'ok'; loss: number } | { status: 'diverged'; message: string } {
    let loss = this.accumulateGradients(k, times);
    let t = performance.now();

    // Phase 3: a non-finite loss stops the run before the weights change.
    if (this.opts.lossHook) loss = this.opts.lossHook(k + 1, loss);
    if (!Number.isFinite(loss)) {
      this.network.zeroGrad();
      return { status: 'diverged', message: `training diverged: the loss is ${loss} at step ${k + 1}` };
    }

    // Phase 4: update.
    const clip = this.config.training.optimizer.gradClip;
    if (clip !== null) clipGradNorm(this.network, clip);
    this.optimizer.step(this.learningRate(k));
    this.network.zeroGrad();
    this.ema.update(this.network);
    if (this.teacher) emaUpdate(this.teacher, this.network, this.levels(k).teacherEmaRate);
    if (times) times.update += performance.now() - t;
    return { status: 'ok', loss };
  }

  /**
   * Phases 1-2 of step k: draws the batch, its levels and noise, and adds the gradient of the
   * batch's mean loss to the parameters' gradients, one micro-batch at a time (each contributes
   * size / batch times its own mean). Returns the batch's mean loss.
   */
  accumulateGradients(k: number, times?: PhaseTimes): number {
    const B = this.config.training.batch;
    const m = Math.min(this.runtime.microBatch, B);
    let t = performance.now();
    const mark = (phase: keyof PhaseTimes): void => {
      if (!times) return;
      const now = performance.now();
      times[phase] += now - t;
      t = now;
    };

    // Phase 1: data, levels for the whole batch (so micro-batching does not change any draw).
    const batch = this.loader.next();
    mark('data');
    const schedule = this.levels(k);
    const indices = sampleLevelIndices(schedule.probabilities, B, () => this.levelRng.nextFloat());
    mark('levels');

    // Phase 2: gradients over micro-batches.
    const device = this.runtime.device;
    let loss = 0;
    tidy(() => {
      const x = tensor(batch.images, batch.shape, { device });
      const labels = this.config.network.labelDim > 0 && batch.labels ? tensor(BigInt64Array.from(batch.labels, (v) => BigInt(v)), [B], { device }) : undefined;
      const z = randn(batch.shape, { generator: this.noiseGenerator, device });
      for (let start = 0; start < B; start += m) {
        const end = Math.min(B, start + m);
        const whole = end - start === B;
        tidy(() => {
          const res = this.loss.compute({
            network: this.network,
            ...(this.teacher && { teacherNetwork: this.teacher }),
            x: whole ? x : x.slice(0, start, end),
            ...(labels && { classLabels: whole ? labels : labels.slice(0, start, end) }),
            levels: { schedule, indices: indices.slice(start, end) },
            noise: whole ? z : z.slice(0, start, end),
          });
          const share = (end - start) / B;
          (whole ? res.loss : res.loss.mul(share)).backward();
          loss += whole ? res.loss.item() : res.loss.item() * share;
        });
      }
    });
    mark('gradients');
    return loss;
  }

  /** The checkpoint of the current step as tensors and JSON (tensors are the live ones: do not dispose). */
  checkpointContents(): Checkpoint {
    const groups = new Map<string, Map<string, Tensor>>([
      ['model', this.network.stateDict()],
      ['ema', this.ema.stateDict()],
      ['optimizer', this.optimizer.stateTensors()],
    ]);
    if (this.teacher) groups.set('teacher', this.teacher.stateDict());
    const state: JsonObject = {
      loader: this.loader.state() as unknown as JsonObject,
      levelRng: this.levelRng.state(),
      emaUpdates: this.ema.updates,
      optimizer: this.optimizer.stateJson(),
    };
    return {
      step: this.step,
      config: runConfigToJson(this.config),
      groups,
      generators: new Map([
        ['noise', this.noiseGenerator.getState()],
        ['dropout', this.dropoutGenerator.getState()],
      ]),
      state,
    };
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
    writeCheckpoint(join(this.runtime.out, RUN_FILES.checkpoint), contents);
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
    const { config, runtime } = this;
    if (!this.evalNetwork) {
      this.evalNetwork = networkFromConfig(config.network, { device: runtime.device, uninitialized: true });
      this.evalNetwork.loadStateDict(this.network.stateDict());
      this.evalNetwork.eval();
    }
    if (!this.sampleNoise) this.sampleNoise = fixedNoise(config.training.seed, runtime.sampleCount, this.shape, config.network.labelDim, runtime.device);
    this.ema.copyTo(this.evalNetwork);
    noGrad(() => {
      const own = this.network.namedBuffers();
      for (const [n, b] of this.evalNetwork!.namedBuffers()) b.copy_(own.get(n)!);
    });
    const images = oneAndTwoStepSamples(this.evalNetwork, config.method, config.noiseEmbedding, this.sampleNoise, config.sampling.secondSigma);
    const png = samplesGridPng(images, runtime.sampleCount, this.shape);
    const path = join(runtime.out, RUN_FILES.samples, `step-${String(this.step).padStart(7, '0')}.png`);
    writeFileAtomic(path, png);
    const { x, y } = this.metrics.series('loss');
    writeLossCurve(join(runtime.out, RUN_FILES.lossCurve), x, y, `${config.preset}: loss`);
    this.progress.message(`step ${this.step}: samples ${path} (loss ${formatLoss(y[y.length - 1] ?? Number.NaN)})`);
    return path;
  }

  /** Frees every tensor the trainer owns. */
  dispose(): void {
    this.network.dispose();
    this.teacher?.dispose();
    this.evalNetwork?.dispose();
    this.ema.dispose();
    this.optimizer.dispose();
    if (this.sampleNoise) {
      this.sampleNoise.z1.dispose();
      this.sampleNoise.labels?.dispose();
    }
  }
}

/** Removes temporaries of atomic writes that a killed process left in a run directory. */
function removeStaleTemporaries(dir: string): void {
  for (const name of readdirSync(dir)) if (name.startsWith('.') && name.includes('.tmp-')) rmSync(join(dir, name), { force: true });
}
