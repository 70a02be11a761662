/**
 * The training benchmark (issue "Training from the command line"): images per second of
 * consistency training for the presets mnist-quick and cifar10-cpu, and the share of each step
 * spent outside libtorch (data loading, level sampling, JS bookkeeping and the JS side of every
 * op call). Target: under 10% outside.
 *
 * Method: the trainer's own steps (src/train/trainer.ts, micro-batch = batch) on the preset's
 * dataset (CIFAR-10 from $CIFAR10_ARCHIVE when set, else random images of
 * its shape: the data path costs the same per image). Per thread count:
 *   1. images/s: `warmup` untimed steps, then `steps` timed steps; the median step time.
 *   2. inside vs outside: every function of the native addon is wrapped with a timer, `steps`
 *      more steps run, and time inside native calls is compared with the total. The wrapper's
 *      own cost (measured on a no-op call) is subtracted from the outside share. The trainer's
 *      phase times (data, levels, gradients, update, record) come with it.
 * One JSON line per preset and thread count.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { native } from '../src/tensor/native.js';
import { setNumThreads, getNumThreads } from '../src/tensor/device.js';
import { loadMnist } from '../src/data/mnist.js';
import { loadCifar10 } from '../src/data/cifar10.js';
import type { ImageDataset } from '../src/data/types.js';
import { Xoshiro128 } from '../src/data/random.js';
import { Trainer } from '../src/train/trainer.js';
import type { PhaseTimes } from '../src/train/step.js';
import { defaultOptimizerFactory } from '../src/train/optimizer.js';
import { runPreset } from '../src/train/presets.js';
import type { Benchmark, BenchOptions, BenchRecord } from './registry.js';
import { median, round } from './stats.js';

/** The target: at most this share of a step outside libtorch. */
export const OUTSIDE_TARGET = 0.1;

/** Random uint8 images of a shape (when the real dataset is not on this machine). */
function randomDataset(name: string, count: number, channels: number, size: number): ImageDataset {
  const rng = Xoshiro128.from(7);
  const images = new Uint8Array(count * channels * size * size);
  for (let i = 0; i < images.length; i++) images[i] = rng.nextUint32() & 255;
  return { name, count, channels, height: size, width: size, numClasses: 0, images, labels: null };
}

async function datasetFor(preset: string, log: (l: string) => void): Promise<{ dataset: ImageDataset; source: string }> {
  if (preset.startsWith('mnist')) return { dataset: loadMnist({ pad32: runPreset(preset)!.data.pad32 }), source: 'mnist' };
  const archive = process.env.CIFAR10_ARCHIVE;
  if (archive) return { dataset: await loadCifar10({ data: archive, warn: () => undefined }), source: archive };
  log('[bench train] no CIFAR-10 archive here (set CIFAR10_ARCHIVE): using random images of its shape');
  return { dataset: randomDataset('cifar10-random', 5000, 3, 32), source: 'random' };
}

/** Wraps every native function with a timer; returns the accumulated time and an undo. */
function instrumentNative(): { insideMs: () => number; calls: () => number; reset: () => void; restore: () => void } {
  const table = native as unknown as Record<string, unknown>;
  const originals = new Map<string, (...a: unknown[]) => unknown>();
  let inside = 0;
  let calls = 0;
  let depth = 0;
  for (const [name, fn] of Object.entries(table)) {
    if (typeof fn !== 'function') continue;
    const original = fn as (...a: unknown[]) => unknown;
    originals.set(name, original);
    table[name] = function timed(this: unknown, ...args: unknown[]): unknown {
      if (depth > 0) return original.apply(this, args);
      depth++;
      calls++;
      const t0 = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        inside += performance.now() - t0;
        depth--;
      }
    };
  }
  return {
    insideMs: () => inside,
    calls: () => calls,
    reset: () => {
      inside = 0;
      calls = 0;
    },
    restore: () => {
      for (const [name, fn] of originals) table[name] = fn;
    },
  };
}

/** The cost of the timing wrapper per call (ms), from a native call that does almost nothing. */
function wrapperOverheadMs(): number {
  const n = 20000;
  // The addon's functions ignore `this`: calling one bare is the baseline being timed.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const plain = native.getNumThreads;
  let t0 = performance.now();
  for (let i = 0; i < n; i++) plain();
  const bare = performance.now() - t0;
  const probe = instrumentNative();
  t0 = performance.now();
  for (let i = 0; i < n; i++) native.getNumThreads();
  const wrapped = performance.now() - t0;
  probe.restore();
  return Math.max(0, (wrapped - bare) / n);
}

async function benchPreset(preset: string, threads: number, o: { steps: number; warmup: number }, log: (l: string) => void): Promise<BenchRecord> {
  const config = runPreset(preset);
  if (!config) throw new Error(`bench train: unknown preset ${preset}`);
  const { dataset, source } = await datasetFor(preset, log);
  const dir = mkdtempSync(join(tmpdir(), 'bench-train-'));
  setNumThreads(threads);
  const trainer = new Trainer({
    config,
    runtime: {
      out: dir,
      threads,
      device: 'cpu',
      microBatch: config.training.batch,
      checkpointEvery: 1e9,
      sampleEvery: 1e9,
      logEvery: 1e9,
      sampleCount: 1,
    },
    dataset,
    optimizerFactory: defaultOptimizerFactory,
    progressStream: { write: () => true },
    noSamples: true,
  });
  try {
    let k = 0;
    for (let i = 0; i < o.warmup; i++) trainer.runStep(k++);
    // 1. Throughput without instrumentation.
    const stepMs: number[] = [];
    for (let i = 0; i < o.steps; i++) {
      const t0 = performance.now();
      trainer.runStep(k++);
      stepMs.push(performance.now() - t0);
    }
    const med = median(stepMs);
    // 2. Inside vs outside libtorch.
    const overhead = wrapperOverheadMs();
    const probe = instrumentNative();
    const phases: PhaseTimes = { data: 0, levels: 0, gradients: 0, update: 0, record: 0 };
    let total = 0;
    try {
      probe.reset();
      const t0 = performance.now();
      for (let i = 0; i < o.steps; i++) trainer.runStep(k++, phases);
      total = performance.now() - t0;
    } finally {
      probe.restore();
    }
    const inside = probe.insideMs();
    const calls = probe.calls();
    const outsideRaw = total - inside;
    const outside = Math.max(0, outsideRaw - calls * overhead);
    const totalCorrected = inside + outside;
    const per = (v: number): number => round(v / o.steps, 2);
    return {
      bench: 'train',
      preset,
      data: source,
      threads,
      batch: config.training.batch,
      parameters: trainer.network.parameterCount(),
      timed_steps: o.steps,
      step_ms_median: round(med, 1),
      images_per_s: round((config.training.batch * 1000) / med, 1),
      native_calls_per_step: Math.round(calls / o.steps),
      inside_libtorch_ms_per_step: per(inside),
      outside_libtorch_ms_per_step: per(outside),
      outside_share: round(outside / totalCorrected, 4),
      outside_share_uncorrected: round(outsideRaw / total, 4),
      wrapper_overhead_us_per_call: round(overhead * 1000, 3),
      phases_ms_per_step: {
        data: per(phases.data),
        levels: per(phases.levels),
        gradients: per(phases.gradients),
        update: per(phases.update),
      },
      target_outside_share: OUTSIDE_TARGET,
      meets_target: outside / totalCorrected < OUTSIDE_TARGET,
    };
  } finally {
    trainer.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The presets measured by default. */
export const BENCH_PRESETS = ['mnist-quick', 'cifar10-cpu'] as const;

/** Runs the measurement for `presets` (default both). */
export async function runTrainBench(
  options: BenchOptions,
  emit: (r: BenchRecord) => void,
  log: (l: string) => void,
  presets: readonly string[] = BENCH_PRESETS,
): Promise<void> {
  const threads = options.threads ?? [getNumThreads()];
  for (const preset of presets) {
    const small = preset.startsWith('mnist');
    const steps = options.steps ?? (small ? 10 : 3);
    const warmup = options.warmup ?? (small ? 2 : 1);
    for (const t of threads) {
      log(`[bench train] ${preset}, ${t} thread(s): ${warmup} warm-up + 2 x ${steps} steps`);
      emit(await benchPreset(preset, t, { steps, warmup }, log));
    }
  }
}

const bench: Benchmark = {
  summary: 'training images/s of mnist-quick and cifar10-cpu and the share of each step outside libtorch (target < 10%)',
  run: (options, emit, log) => runTrainBench(options, emit, log),
};
export default bench;

// `node dist/bench/train.js [--steps N] [--warmup N] [--threads 1,2] [--presets mnist-quick,cifar10-cpu]` runs it directly.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const steps = arg('steps');
  const warmup = arg('warmup');
  const threads = arg('threads');
  const presets = arg('presets')?.split(',');
  await runTrainBench(
    {
      ...(steps !== undefined && { steps: Number(steps) }),
      ...(warmup !== undefined && { warmup: Number(warmup) }),
      ...(threads !== undefined && { threads: threads.split(',').map(Number) }),
    },
    (r) => console.log(JSON.stringify(r)),
    (l) => console.error(l),
    presets ?? BENCH_PRESETS,
  );
  console.error('[bench train] done');
}
