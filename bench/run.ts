#!/usr/bin/env node
/**
 * `npm run bench` = `node dist/bench/run.js [engine|networks|inception|train|onnx|channels-last|torch-versions|cuda-step|all ...] [flags]`: runs the
 * named benchmarks (default: engine); one JSON line per result on stdout, progress on stderr. The
 * benchmarks need a source checkout (bench/*_ref.py, Python torch), so they are not part of the
 * installed `consistency` program. Bad flags end with one line and exit code 2.
 */
import { parseArgs } from 'node:util';
import { BenchSetupError, resolveBenchmarkNames, runBenchmarks, type BenchOptions } from './registry.js';

const NAME = 'npm run bench';
const USAGE = `${NAME} -- [engine|networks|inception|train|onnx|channels-last|torch-versions|cuda-step|all ...] [--steps N] [--warmup N] [--threads 1,2]`;
const HELP = `usage: ${USAGE}

Times the engine against Python torch (training step, per-op overhead); JSON lines on stdout.
  --steps N      timed steps per side after warm-up; medians are over these (default 10)
  --warmup N     untimed warm-up steps per side (default 2)
  --threads L    intra-op thread counts to run in turn, comma-separated (default 1,2)
  --which L      benchmarks to run, comma-separated (the same as naming them)`;

class BenchUsageError extends Error {}

const OPTIONS = {
  steps: { type: 'string' },
  warmup: { type: 'string' },
  threads: { type: 'string' },
  which: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function count(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new BenchUsageError(`${NAME}: --${flag} must be an integer; got '${value}'`);
  const n = Number(value);
  if (n < min) throw new BenchUsageError(`${NAME}: --${flag} must be at least ${min}; got ${n}`);
  return n;
}

/** The benchmark names and options of a command line, or null for --help. */
function parseBenchArgs(argv: string[]): { names: string[]; options: BenchOptions } | null {
  // strict: false, so that an unknown flag is reported in our own words below (tokens name it).
  const { values, positionals, tokens } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    if (!(t.name in OPTIONS)) throw new BenchUsageError(`${NAME}: unknown flag ${t.rawName} (see '${NAME} -- --help')`);
    if (OPTIONS[t.name as keyof typeof OPTIONS].type === 'string' && t.value === undefined)
      throw new BenchUsageError(`${NAME}: ${t.rawName} needs a value`);
  }
  if (values.help === true) return null;
  const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
  const names = [...positionals, ...(str(values.which)?.split(',') ?? [])];
  try {
    resolveBenchmarkNames(names);
  } catch (e) {
    throw new BenchUsageError(`${NAME}: --which: ${(e as Error).message}`);
  }
  const options: BenchOptions = {};
  const steps = count('steps', str(values.steps), 1);
  const warmup = count('warmup', str(values.warmup), 0);
  if (steps !== undefined) options.steps = steps;
  if (warmup !== undefined) options.warmup = warmup;
  const threadList = str(values.threads);
  if (threadList !== undefined) {
    const parts = threadList.split(',');
    if (parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1))
      throw new BenchUsageError(`${NAME}: --threads must be positive integers separated by commas; got '${threadList}'`);
    options.threads = parts.map(Number);
  }
  return { names, options };
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseBenchArgs(argv);
  if (!parsed) {
    console.log(HELP);
    return 0;
  }
  await runBenchmarks(parsed.names, parsed.options);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const setup = err instanceof Error && (err instanceof BenchSetupError || err.cause instanceof BenchSetupError);
    console.error(
      err instanceof BenchUsageError
        ? err.message
        : setup
          ? `${NAME}: ${err.message}`
          : err instanceof Error
            ? `error: ${err.stack ?? err.message}`
            : String(err),
    );
    process.exitCode = err instanceof BenchUsageError ? 2 : 1;
  },
);
