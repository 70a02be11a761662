/**
 * The soak benchmark (issue 15, "Crashes and long runs"): a long training run through the real
 * loop (src/train/trainer.ts: metrics log every step, checkpoint and sample grid every
 * `--every` steps) with the process's RSS, the JS heap, the live native tensor count and the
 * step time sampled every `--every` steps. A leak shows as a count or RSS that keeps rising; a
 * slowdown as step times that keep growing. It reports figures and writes them as JSON; it asserts
 * nothing about time (timings on a shared machine are noisy).
 *
 *   npm run build && node dist/bench/soak.js [--preset mnist-quick] [--steps 10000] [--every 500]
 *     [--batch N] [--threads N] [--json soak-PRESET.json]
 *
 * Samples are taken in the lossHook of every `--every`-th step (after its forward/backward, before
 * its update), so each sees the same phase of a step. Step times are hook-to-hook intervals, a
 * whole step including the previous step's record phase; the window's median and maximum are
 * reported (the maximum holds the checkpoint and sample-grid writes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError, num, parseCommandFlags, str, type FlagSpecs } from '../src/cli/args.js';
import { loadDataset } from '../src/data/index.js';
import { writeFileAtomic } from '../src/io/atomic.js';
import { liveTensorCount } from '../src/tensor/index.js';
import { defaultOptimizerFactory } from '../src/train/optimizer.js';
import { runPreset, runPresetNames } from '../src/train/presets.js';
import { Trainer, type TrainOutcome } from '../src/train/trainer.js';
import { median, round } from './stats.js';

const NAME = 'soak';
const USAGE = 'node dist/bench/soak.js [--preset NAME] [--steps N] [--every N] [--batch N] [--threads N] [--json FILE]';
const SUMMARY = 'a long training run with RSS, live tensors and step time sampled every --every steps';

const FLAGS: FlagSpecs = {
  preset: { kind: 'string', help: `the preset to train (${runPresetNames().join(', ')})`, default: 'mnist-quick' },
  steps: { kind: 'int', help: 'training steps (the curriculum is laid out over these)', default: 10_000 },
  every: { kind: 'int', help: 'sample, checkpoint and write a grid every this many steps', default: 500 },
  batch: { kind: 'int', help: "images per step (default: the preset's)" },
  threads: { kind: 'int', help: 'libtorch threads', default: 1 },
  json: { kind: 'string', help: 'where the figures are written (default soak-PRESET.json)' },
};

/** One sample, taken at `step`. */
export interface SoakSample {
  step: number;
  elapsed_s: number;
  rss_mb: number;
  heap_used_mb: number;
  live_tensors: number;
  /** Median and maximum step time (ms) over the steps since the previous sample. */
  step_ms_median: number;
  step_ms_max: number;
}

const mb = (bytes: number): number => round(bytes / 2 ** 20, 1);

async function main(argv: string[]): Promise<number> {
  const f = parseCommandFlags(NAME, USAGE, SUMMARY, argv, FLAGS);
  if (!f) return 0;
  const presetName = str(f, 'preset')!;
  const config = runPreset(presetName);
  if (!config) throw new UsageError(`${NAME}: unknown preset '${presetName}' (one of ${runPresetNames().join(', ')})`);
  const steps = num(f, 'steps')!;
  const every = num(f, 'every')!;
  const threads = num(f, 'threads')!;
  for (const [flag, v] of [
    ['steps', steps],
    ['every', every],
    ['threads', threads],
    ['batch', num(f, 'batch') ?? 1],
  ] as const)
    if (!(v >= 1)) throw new UsageError(`${NAME}: --${flag} must be an integer >= 1; got ${v}`);
  config.training.steps = steps;
  config.training.batch = num(f, 'batch') ?? config.training.batch;
  const jsonPath = resolve(str(f, 'json') ?? `soak-${presetName}.json`);

  const dataset = await loadDataset(config.data.dataset, { pad32: config.data.pad32 });
  const out = mkdtempSync(join(tmpdir(), 'soak-'));
  const samples: SoakSample[] = [];
  let windowMs: number[] = [];
  let last = performance.now();
  const start = last;
  const trainer = new Trainer({
    config,
    runtime: {
      out,
      threads,
      device: 'cpu',
      microBatch: config.training.batch,
      checkpointEvery: every,
      sampleEvery: every,
      logEvery: every,
      sampleCount: 16,
    },
    dataset,
    optimizerFactory: defaultOptimizerFactory,
    lossHook: (step, loss) => {
      const now = performance.now();
      if (step > 1) windowMs.push(now - last);
      last = now;
      if (step % every === 0 || step === 1) {
        const mem = process.memoryUsage();
        samples.push({
          step,
          elapsed_s: round((now - start) / 1000, 1),
          rss_mb: mb(mem.rss),
          heap_used_mb: mb(mem.heapUsed),
          live_tensors: liveTensorCount(),
          step_ms_median: windowMs.length ? round(median(windowMs), 1) : 0,
          step_ms_max: windowMs.length ? round(Math.max(...windowMs), 1) : 0,
        });
        windowMs = [];
        // Written as it goes, so a soak stopped early still leaves its figures.
        writeFileAtomic(
          jsonPath,
          new TextEncoder().encode(`${JSON.stringify({ bench: 'soak', preset: presetName, complete: false, samples }, null, 2)}\n`),
        );
      }
      return loss;
    },
  });
  const parameters = trainer.network.parameterCount();
  let outcome: TrainOutcome;
  try {
    process.stderr.write(
      `[soak] ${presetName}: ${steps} steps, batch ${config.training.batch}, ${threads} thread(s), ${(parameters / 1e6).toFixed(2)}M parameters; run directory ${out}\n`,
    );
    outcome = await trainer.run();
  } finally {
    trainer.dispose();
    rmSync(out, { recursive: true, force: true });
  }
  if (outcome.status !== 'finished') throw new Error(`${NAME}: the run ended with '${outcome.status}' at step ${outcome.step}`);

  // Flatness from the third sample on: by then the first checkpoint and sample grid have been
  // written (the grid's evaluation network and fixed noise are made once, at the first grid).
  const first = samples[2] ?? samples[samples.length - 1]!;
  const final = samples[samples.length - 1]!;
  const summary = {
    bench: 'soak',
    preset: presetName,
    complete: true,
    steps,
    every,
    batch: config.training.batch,
    threads,
    parameters,
    total_s: round((performance.now() - start) / 1000, 1),
    from_step: first.step,
    to_step: final.step,
    rss_mb_change: round(final.rss_mb - first.rss_mb, 1),
    heap_used_mb_change: round(final.heap_used_mb - first.heap_used_mb, 1),
    live_tensors_change: final.live_tensors - first.live_tensors,
    step_ms_median_first_last: [first.step_ms_median, final.step_ms_median],
    samples,
  };
  console.log('  step  elapsed_s  rss_mb  heap_mb  live_tensors  step_ms_median  step_ms_max');
  for (const s of samples) {
    console.log(
      `${String(s.step).padStart(6)} ${String(s.elapsed_s).padStart(10)} ${String(s.rss_mb).padStart(7)} ${String(s.heap_used_mb).padStart(8)} ` +
        `${String(s.live_tensors).padStart(13)} ${String(s.step_ms_median).padStart(15)} ${String(s.step_ms_max).padStart(12)}`,
    );
  }
  console.log(
    `steps ${first.step} -> ${final.step}: RSS ${summary.rss_mb_change >= 0 ? '+' : ''}${summary.rss_mb_change} MB, heap ${summary.heap_used_mb_change} MB, ` +
      `live tensors ${summary.live_tensors_change >= 0 ? '+' : ''}${summary.live_tensors_change}, median step ${first.step_ms_median} -> ${final.step_ms_median} ms`,
  );
  writeFileAtomic(jsonPath, new TextEncoder().encode(`${JSON.stringify(summary, null, 2)}\n`));
  console.log(`figures written to ${jsonPath}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof UsageError ? err.message : `error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
