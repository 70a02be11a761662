/**
 * The networks benchmark (issue "Networks"): one consistency-training step (the student pass
 * with gradients, the teacher pass without, the same dropout masks, pseudo-Huber loss, backward,
 * Adam) of the `cifar10` network (NCSN++, 56M parameters) at batch 8 and of `cifar10-cpu` at
 * batch 32, TypeScript against Python torch (test/reference/networks_ref.py's implementation)
 * on the same machine.
 *
 * Each side runs in a process of its own (bench/networks_worker.ts and bench/networks_ref.py,
 * fresh for every workload) so that each peak resident set (getrusage maxrss) is that side's
 * alone. Blocks of one step alternate between the sides, the order flipping every round, and
 * the results are medians, because the machine is shared and timings drift. Both sides start
 * from the same weights and data (written by the TS side), and their losses in eval mode before
 * training must agree: the check that both compute the same step. (In training mode the dropout
 * masks come from different generators, so later losses differ.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../test/helpers/python.js';
import type { Benchmark, BenchOptions, BenchRecord } from './registry.js';
import { LinePeer, TorchPeer, threadEnv } from './torch_peer.js';
import { median, round } from './stats.js';

interface StepsReply {
  ms: number[];
  cpu_ms: number[];
  losses: number[];
}

/** What each workload runs (defaults; --steps and --warmup override both). */
const WORKLOADS = [
  { preset: 'cifar10', batch: 8, steps: 5, warmup: 1 },
  { preset: 'cifar10-cpu', batch: 32, steps: 10, warmup: 2 },
] as const;

/** Relative difference of the eval-mode losses above which the sides do not compute the same thing. */
const LOSS_TOLERANCE = 1e-4;

export async function runNetworksBench(o: BenchOptions, emit: (r: BenchRecord) => void, log: (l: string) => void): Promise<void> {
  const threadCounts = o.threads ?? [2];
  for (const w of WORKLOADS) {
    for (const threads of threadCounts) {
      const steps = o.steps ?? w.steps;
      const warmup = o.warmup ?? w.warmup;
      emit(await runWorkload(w.preset, w.batch, steps, warmup, threads, log));
    }
  }
}

async function runWorkload(
  preset: string,
  batch: number,
  steps: number,
  warmup: number,
  threads: number,
  log: (l: string) => void,
): Promise<BenchRecord> {
  const dir = mkdtempSync(join(tmpdir(), 'consistency-bench-networks-'));
  const ts = new LinePeer('bench/networks_worker', process.execPath, [join(repoRoot, 'dist', 'bench', 'networks_worker.js')]);
  const py = new TorchPeer('bench/networks_ref.py');
  try {
    const hello = await py.request<{ torch: string; env: Record<string, string> }>({ op: 'hello' });
    const init = await ts.request<{ params: number; threads: number; weights: string; data: string; config: unknown; lr: number }>({
      op: 'init',
      preset,
      batch,
      seed: 0,
      dir,
      threads,
    });
    const pinit = await py.request<{ params: number; threads: number }>({
      op: 'init',
      config: init.config,
      weights: init.weights,
      data: init.data,
      lr: init.lr,
      threads,
    });
    log(
      `[networks] ${preset} batch ${batch}, threads ${threads}: parameters ts ${init.params}, torch ${pinit.params}; torch ${hello.torch}; thread env ${JSON.stringify(threadEnv())}`,
    );
    if (init.params !== pinit.params) throw new Error(`networks bench: parameter counts differ: ts ${init.params}, torch ${pinit.params}`);
    if (init.threads !== threads || pinit.threads !== threads)
      throw new Error(`networks bench: asked for ${threads} threads, got ts ${init.threads}, torch ${pinit.threads}`);

    const l0ts = (await ts.request<{ loss: number }>({ op: 'loss0' })).loss;
    const l0py = (await py.request<{ loss: number }>({ op: 'loss0' })).loss;
    const lossDiff = Math.abs(l0ts - l0py) / Math.max(Math.abs(l0py), 1e-30);
    if (!(lossDiff <= LOSS_TOLERANCE)) throw new Error(`networks bench: eval-mode losses differ: ts ${l0ts}, torch ${l0py} (relative ${lossDiff})`);

    if (warmup > 0) {
      await ts.request<StepsReply>({ op: 'steps', n: warmup });
      await py.request<StepsReply>({ op: 'steps', n: warmup });
    }
    const tsMs: number[] = [];
    const pyMs: number[] = [];
    const tsCpu: number[] = [];
    const pyCpu: number[] = [];
    const roundRatios: number[] = [];
    for (let r = 0; r < steps; r++) {
      let a: StepsReply;
      let b: StepsReply;
      if (r % 2 === 0) {
        a = await ts.request<StepsReply>({ op: 'steps', n: 1 });
        b = await py.request<StepsReply>({ op: 'steps', n: 1 });
      } else {
        b = await py.request<StepsReply>({ op: 'steps', n: 1 });
        a = await ts.request<StepsReply>({ op: 'steps', n: 1 });
      }
      tsMs.push(...a.ms);
      pyMs.push(...b.ms);
      tsCpu.push(...a.cpu_ms);
      pyCpu.push(...b.cpu_ms);
      roundRatios.push(a.ms[0]! / b.ms[0]!);
      log(
        `[networks] ${preset} round ${r}: ts ${a.ms[0]!.toFixed(0)} ms (loss ${a.losses[0]!.toPrecision(5)}), torch ${b.ms[0]!.toFixed(0)} ms (loss ${b.losses[0]!.toPrecision(5)})`,
      );
    }
    const tsRss = (await ts.request<{ maxrss_kb: number }>({ op: 'rss' })).maxrss_kb;
    const pyRss = (await py.request<{ maxrss_kb: number }>({ op: 'rss' })).maxrss_kb;
    const tsStep = median(tsMs);
    const pyStep = median(pyMs);
    return {
      bench: 'network-train-step',
      preset,
      batch,
      threads,
      parameters: init.params,
      ts_step_ms: round(tsStep, 1),
      torch_step_ms: round(pyStep, 1),
      ratio: round(tsStep / pyStep, 4),
      round_ratio_median: round(median(roundRatios), 4),
      ts_step_cpu_ms: round(median(tsCpu), 1),
      torch_step_cpu_ms: round(median(pyCpu), 1),
      cpu_ratio: round(median(tsCpu) / median(pyCpu), 4),
      ts_peak_rss_mb: round(tsRss / 1024, 1),
      torch_peak_rss_mb: round(pyRss / 1024, 1),
      rss_ratio: round(tsRss / pyRss, 4),
      eval_loss_ts: l0ts,
      eval_loss_torch: l0py,
      eval_loss_rel_diff: lossDiff,
      steps,
      warmup,
      torch: hello.torch,
    };
  } finally {
    await Promise.allSettled([ts.close(), py.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const networks: Benchmark = {
  summary:
    'consistency training step of cifar10 (NCSN++, batch 8) and cifar10-cpu (batch 32), TS vs Python torch in separate processes, 2 threads: medians and peak RSS',
  run: (options, emit, log) => runNetworksBench(options, emit, log),
};
export default networks;
