#!/usr/bin/env node
/**
 * `npm run bench` = `node dist/bench/run.js [engine|networks|inception|train|all ...] [flags]`: runs the
 * named benchmarks (default: engine) with the flags of `consistency bench` (--steps, --warmup,
 * --threads); one JSON line per result on stdout, progress on stderr.
 */
import bench from '../src/cli/bench.js';
import { UsageError } from '../src/cli/args.js';

/** Positional names become --which; every flag of `consistency bench` takes a value. */
function toCommandArgs(argv: string[]): string[] {
  const names: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) names.push(a);
    else {
      rest.push(a);
      if (a.startsWith('--') && !a.includes('=') && a !== '--help' && i + 1 < argv.length) rest.push(argv[++i]!);
    }
  }
  return names.length ? ['--which', names.join(','), ...rest] : rest;
}

bench.run(toCommandArgs(process.argv.slice(2))).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof UsageError ? err.message : err instanceof Error ? `error: ${err.stack ?? err.message}` : String(err));
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
