/**
 * The torch-versions benchmark (issue 12): the consistency-training step of mnist-quick and
 * cifar10-cpu at their preset batch, and one-step sampling of the same batch, on two builds of
 * the addon, Debian's libtorch 1.13 (build/) and PyPI's torch 2.15 (build/pip/), each against
 * its OWN Python torch (the one its build/.../libtorch.json names: /usr/bin/python3 with Debian's
 * python3-torch; /usr/bin/python3 with PYTHONPATH=.cache/torch-pip). Per preset and thread count
 * four processes run, ours and PyTorch on each engine (bench/step_peers.ts), and one-step blocks
 * rotate across all four, so the versions and the sides are timed under the same load.
 * Medians of ms per step and images/s per engine and side, the ratio ours/PyTorch per engine,
 * and 2.15 over 1.13 for each side. One JSON line per preset, workload and thread count.
 *
 * The builds: `npm run build:native` (the default, Debian's 1.13) and
 * `CONSISTENCY_TORCH=pip node scripts/build-native.mjs --force --out build/pip` (2.15);
 * $TORCH_VERSIONS_BUILDS=DIR_A,DIR_B names other build folders.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { repoRoot } from '../test/helpers/python.js';
import { BenchSetupError, type Benchmark, type BenchOptions, type BenchRecord } from './registry.js';
import { StepPair, engineFromBuild, interleave, oursVsTorch, type Engine, type Work } from './step_peers.js';
import { median, round } from './stats.js';

const HOW_TO_BUILD: Record<string, string> = {
  build: 'npm run build:native (CONSISTENCY_TORCH=debian for Debian libtorch 1.13)',
  'build/pip': 'CONSISTENCY_TORCH=pip node scripts/build-native.mjs --force --out build/pip (pip torch 2.15 in .cache/torch-pip)',
};

/** The build folders compared, in order (the first is the baseline of the ratios). */
export function engineDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const list = env['TORCH_VERSIONS_BUILDS'];
  if (list !== undefined) {
    const dirs = list.split(',').filter(Boolean);
    if (dirs.length !== 2) throw new BenchSetupError(`TORCH_VERSIONS_BUILDS must name two build folders separated by a comma; got '${list}'`);
    return dirs.map((d) => resolve(d));
  }
  return ['build', 'build/pip'].map((d) => join(repoRoot, d));
}

/** Default rounds (timed one-step blocks per peer) and warm-up blocks per preset. */
const WORKLOADS = [
  { preset: 'mnist-quick', batch: 32, rounds: 12, warmup: 2 },
  { preset: 'cifar10-cpu', batch: 32, rounds: 8, warmup: 1 },
] as const;

export async function runTorchVersionsBench(o: BenchOptions, emit: (r: BenchRecord) => void, log: (l: string) => void): Promise<void> {
  const dirs = engineDirs();
  const engines = dirs.map((d) => engineFromBuild(d, HOW_TO_BUILD[d.slice(repoRoot.length + 1)] ?? 'build it with scripts/build-native.mjs --out'));
  if (engines[0]!.version === engines[1]!.version)
    throw new BenchSetupError(`torch-versions: both builds are libtorch ${engines[0]!.version} (${engines[0]!.dir}, ${engines[1]!.dir})`);
  for (const w of WORKLOADS) {
    for (const threads of o.threads ?? [1, 2]) {
      const rounds = o.steps ?? w.rounds;
      const warmup = o.warmup ?? w.warmup;
      for (const r of await runPreset(engines, w.preset, w.batch, threads, rounds, warmup, log)) emit(r);
    }
  }
}

async function runPreset(
  engines: Engine[],
  preset: string,
  batch: number,
  threads: number,
  rounds: number,
  warmup: number,
  log: (l: string) => void,
): Promise<BenchRecord[]> {
  const dirs = engines.map(() => mkdtempSync(join(tmpdir(), 'consistency-bench-torch-versions-')));
  const pairs: StepPair[] = [];
  try {
    for (const [k, e] of engines.entries()) pairs.push(await StepPair.start(e, { preset, batch, threads, dir: dirs[k]! }));
    log(
      `[torch-versions] ${preset} batch ${batch}, ${threads} thread(s): ` +
        pairs.map((p, k) => `libtorch ${p.oursTorch} / Python torch ${p.pythonTorch} (${engines[k]!.python})`).join(' vs '),
    );
    const peers = pairs.flatMap((p, k) => [
      { label: `ours@${engines[k]!.version}`, peer: p.ours },
      { label: `torch@${engines[k]!.version}`, peer: p.torch },
    ]);
    const records: BenchRecord[] = [];
    for (const work of ['steps', 'sample'] as const satisfies readonly Work[]) {
      const times = await interleave(peers, work, rounds, warmup, log);
      const per = engines.map((e, k) => {
        const ours = median(times.get(`ours@${e.version}`)!);
        const torch = median(times.get(`torch@${e.version}`)!);
        return {
          libtorch: e.version,
          python_torch: pairs[k]!.pythonTorch,
          ...oursVsTorch(ours, torch, batch, 1),
          eval_loss_rel_diff: pairs[k]!.evalLossRelDiff,
        };
      });
      records.push({
        bench: 'torch-versions',
        workload: work === 'steps' ? 'train-step' : 'one-step-sample',
        preset,
        batch,
        threads,
        parameters: pairs[0]!.parameters,
        rounds,
        warmup,
        engines: per,
        ours_second_over_first: round(per[1]!.ours_ms / per[0]!.ours_ms, 4),
        torch_second_over_first: round(per[1]!.torch_ms / per[0]!.torch_ms, 4),
      });
    }
    return records;
  } finally {
    await Promise.allSettled(pairs.map((p) => p.close()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

const bench: Benchmark = {
  summary:
    'training step (mnist-quick, cifar10-cpu) and one-step sampling on libtorch 1.13 (build/) vs 2.15 (build/pip/), each against its own Python torch, interleaved',
  run: (options, emit, log) => runTorchVersionsBench(options, emit, log),
};
export default bench;
