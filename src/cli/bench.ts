/**
 * `consistency bench`: runs the benchmarks in bench/ (the same ones as `npm run bench`) and
 * prints one JSON line per result. Until training exists, the default is the engine benchmark,
 * whose workload is a training step (forward, backward, Adam) of a small U-Net.
 */
import type { Command } from './command.js';
import { UsageError, list, num, parseCommandFlags, type FlagSpecs } from './args.js';

const NAME = 'consistency bench';
const USAGE = `${NAME} [--which engine|networks|inception|train|onnx|all] [--steps N] [--warmup N] [--threads 1,2]`;
const SUMMARY = 'time the engine against Python torch (training step, per-op overhead); JSON lines on stdout';

const FLAGS: FlagSpecs = {
  which: { kind: 'list', help: 'benchmarks to run, comma-separated: engine, networks, inception, train or all', default: 'engine' },
  steps: { kind: 'int', help: 'timed steps per side after warm-up; medians are over these (default 10)' },
  warmup: { kind: 'int', help: 'untimed warm-up steps per side (default 2)' },
  threads: { kind: 'list', help: 'intra-op thread counts to run in turn, comma-separated (default 1,2)' },
};

async function run(argv: string[]): Promise<number> {
  const flags = parseCommandFlags(NAME, USAGE, SUMMARY, argv, FLAGS);
  if (!flags) return 0;
  const which = list(flags, 'which') ?? (typeof flags.which === 'string' ? [flags.which] : ['engine']);
  const steps = num(flags, 'steps');
  const warmup = num(flags, 'warmup');
  if (steps !== undefined && steps < 1) throw new UsageError(`${NAME}: --steps must be at least 1; got ${steps}`);
  if (warmup !== undefined && warmup < 0) throw new UsageError(`${NAME}: --warmup must be 0 or more; got ${warmup}`);
  const threadList = list(flags, 'threads');
  let threads: number[] | undefined;
  if (threadList) {
    threads = threadList.map(Number);
    const bad = threadList.find((t, i) => !/^\d+$/.test(t) || threads![i]! < 1);
    if (bad !== undefined || threads.length === 0) throw new UsageError(`${NAME}: --threads must be positive integers separated by commas; got '${threadList.join(',')}'`);
  }

  // The benchmarks live in bench/ of a source checkout (they need bench/*_ref.py and Python torch).
  let registry: typeof import('../../bench/registry.js');
  try {
    registry = await import('../../bench/registry.js');
  } catch (e) {
    throw new Error(`${NAME}: the benchmarks are not built here (they live in bench/ of a source checkout; run 'npm run build'): ${(e as Error).message}`);
  }
  try {
    registry.resolveBenchmarkNames(which);
  } catch (e) {
    throw new UsageError(`${NAME}: --which: ${(e as Error).message}`);
  }
  await registry.runBenchmarks(which, { steps, warmup, threads });
  return 0;
}

const command: Command = { summary: SUMMARY, run };
export default command;
