/**
 * The channels-last benchmark (issue 12): the consistency-training step of mnist-quick and
 * cifar10-cpu at their preset batch with the network's weights contiguous (NCHW) and
 * channels-last (NHWC: ours Module.channelsLast, as `train --channels-last`; PyTorch
 * net.to(memory_format=torch.channels_last); the inputs stay contiguous on both sides, so the
 * convolutions' outputs follow the weights). Four processes per preset and thread count, ours and
 * PyTorch in each layout on the addon's build (bench/step_peers.ts), one-step blocks rotating
 * across them. Medians of ms per step, channels-last over contiguous for each side, and ours over
 * PyTorch in each layout. One JSON line per preset and thread count.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../test/helpers/python.js';
import type { Benchmark, BenchOptions, BenchRecord } from './registry.js';
import { LOSS_TOLERANCE, StepPair, engineFromBuild, interleave } from './step_peers.js';
import { median, round } from './stats.js';

const WORKLOADS = [
  { preset: 'mnist-quick', batch: 32, rounds: 12, warmup: 2 },
  { preset: 'cifar10-cpu', batch: 32, rounds: 8, warmup: 1 },
] as const;

export async function runChannelsLastBench(o: BenchOptions, emit: (r: BenchRecord) => void, log: (l: string) => void): Promise<void> {
  const engine = engineFromBuild(process.env['CHANNELS_LAST_BUILD'] ?? join(repoRoot, 'build'), 'npm run build:native');
  for (const w of WORKLOADS) {
    for (const threads of o.threads ?? [1, 2]) {
      const rounds = o.steps ?? w.rounds;
      const warmup = o.warmup ?? w.warmup;
      const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'consistency-bench-channels-last-')));
      const pairs: StepPair[] = [];
      try {
        for (const [k, channelsLast] of [false, true].entries())
          pairs.push(await StepPair.start(engine, { preset: w.preset, batch: w.batch, threads, channelsLast, dir: dirs[k]! }));
        const [plain, nhwc] = pairs as [StepPair, StepPair];
        // Both layouts start from the same seeded weights and data: the same loss, or the layouts compute different things.
        const layoutDiff = Math.abs(nhwc.evalLossOurs - plain.evalLossOurs) / Math.abs(plain.evalLossOurs);
        if (!(layoutDiff <= LOSS_TOLERANCE))
          throw new Error(`bench channels-last: ${w.preset}: eval loss channels-last ${nhwc.evalLossOurs} vs contiguous ${plain.evalLossOurs}`);
        log(`[channels-last] ${w.preset} batch ${w.batch}, ${threads} thread(s), libtorch ${plain.oursTorch}, Python torch ${plain.pythonTorch}`);
        const times = await interleave(
          [
            { label: 'ours-nchw', peer: plain.ours },
            { label: 'ours-nhwc', peer: nhwc.ours },
            { label: 'torch-nchw', peer: plain.torch },
            { label: 'torch-nhwc', peer: nhwc.torch },
          ],
          'steps',
          rounds,
          warmup,
          log,
        );
        const ms = (label: string) => median(times.get(label)!);
        emit({
          bench: 'channels-last',
          preset: w.preset,
          batch: w.batch,
          threads,
          parameters: plain.parameters,
          libtorch: plain.oursTorch,
          python_torch: plain.pythonTorch,
          rounds,
          warmup,
          ours_ms: { contiguous: round(ms('ours-nchw'), 1), channels_last: round(ms('ours-nhwc'), 1) },
          torch_ms: { contiguous: round(ms('torch-nchw'), 1), channels_last: round(ms('torch-nhwc'), 1) },
          ours_channels_last_over_contiguous: round(ms('ours-nhwc') / ms('ours-nchw'), 4),
          torch_channels_last_over_contiguous: round(ms('torch-nhwc') / ms('torch-nchw'), 4),
          ours_over_torch: {
            contiguous: round(ms('ours-nchw') / ms('torch-nchw'), 4),
            channels_last: round(ms('ours-nhwc') / ms('torch-nhwc'), 4),
          },
          eval_loss_rel_diff: { contiguous: plain.evalLossRelDiff, channels_last: nhwc.evalLossRelDiff },
        });
      } finally {
        await Promise.allSettled(pairs.map((p) => p.close()));
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
      }
    }
  }
}

const bench: Benchmark = {
  summary: 'training step of mnist-quick and cifar10-cpu with contiguous vs channels-last weights, ours vs PyTorch doing the same, interleaved',
  run: (options, emit, log) => runChannelsLastBench(options, emit, log),
};
export default bench;
