/**
 * Fuzzes one target in this process (started by fuzz/run.ts, which kills it when an input hangs):
 * fast-check draws inputs (fuzz/mutate.ts) until the time or run budget is spent; an input fails
 * when checkOutcome rejects its outcome, when it takes longer than the per-input limit, or when
 * parsing it left more than ALLOC_LIMIT bytes of new ArrayBuffers behind (an allocation that a
 * size field drove past what the file holds). A failure is shrunk, written to the findings folder
 * and printed; before each input its bytes are written to the `current` file, so the parent can
 * keep the input that hung.
 *
 * usage: node dist/fuzz/worker.js TARGET SECONDS RUNS SEED CURRENT_FILE FINDINGS_DIR
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { checkOutcome, findTarget } from './targets.js';
import { fuzzInput, inputBytes, type FuzzInput } from './mutate.js';

/** One input may take this long unless its target says otherwise (inputs are a few KB: anything slower is a defect). */
export const PER_INPUT_MS = 2000;
/** New ArrayBuffer bytes one input of n bytes may leave: deflate's 1032:1 bound plus slack for the decoded result. */
function allocLimit(n: number): number {
  return 64 * 1024 * 1024 + 1100 * n;
}

/** What the worker prints as its last stdout line (JSON). */
export interface WorkerReport {
  target: string;
  runs: number;
  seconds: number;
  /** Null when no input failed. */
  failure: { problem: string; file: string; input: string } | null;
}

async function main(): Promise<void> {
  const [name, secondsArg, runsArg, seedArg, current, findings] = process.argv.slice(2);
  const target = name === undefined ? undefined : findTarget(name);
  if (!target || secondsArg === undefined || runsArg === undefined || seedArg === undefined || current === undefined || findings === undefined) {
    process.stderr.write('usage: worker.js TARGET SECONDS RUNS SEED CURRENT_FILE FINDINGS_DIR\n');
    process.exit(2);
  }
  const scratch = mkdtempSync(join(tmpdir(), `fuzz-${target.name}-`));
  process.env['FUZZ_SCRATCH'] = scratch;
  const seeds = target.seeds();
  const fixup = (b: Uint8Array): Uint8Array => (target.fixup ? target.fixup(b) : b);
  const problemOf = async (input: FuzzInput): Promise<string | null> => {
    const bytes = fixup(inputBytes(seeds, input));
    writeFileSync(current, bytes);
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    const problem = await checkOutcome(target, bytes, join(scratch, 'run'));
    const ms = performance.now() - t0;
    const grown = process.memoryUsage().arrayBuffers - before;
    if (problem !== null) return problem;
    const limit = target.inputLimitMs ?? PER_INPUT_MS;
    if (ms > limit) return `took ${ms.toFixed(0)} ms (limit ${limit} ms) on a ${bytes.length}-byte input`;
    if (grown > allocLimit(bytes.length)) return `left ${(grown / 2 ** 20).toFixed(0)} MiB of new buffers behind for a ${bytes.length}-byte input`;
    return null;
  };
  mkdirSync(join(scratch, 'run'), { recursive: true });
  const start = performance.now();
  let runs = 0;
  let lastProblem = '';
  // The type argument: the plugin, generic itself, would leave the counterexample's type to any.
  const result = await fc.check<[FuzzInput]>(
    fc.asyncProperty(fuzzInput(seeds.length, target.json === true), async (input) => {
      runs++;
      rmSync(join(scratch, 'run'), { recursive: true, force: true });
      mkdirSync(join(scratch, 'run'));
      const problem = await problemOf(input);
      if (problem !== null) lastProblem = problem;
      return problem === null;
    }),
    // An interrupt (the time limit) ends the check without failing it (failOnInterrupt is false).
    { numRuns: Number(runsArg), plugins: [fc.interruptAfterTimeLimit(Number(secondsArg) * 1000)], seed: Number(seedArg), endOnFailure: false },
  );
  let failure: WorkerReport['failure'] = null;
  if (result.failed && result.counterexample) {
    const [input] = result.counterexample;
    const bytes = fixup(inputBytes(seeds, input));
    // The shrunk input's own problem (the last one seen may be from a larger input).
    const problem = (await problemOf(input)) ?? lastProblem;
    mkdirSync(findings, { recursive: true });
    const file = join(findings, `${target.name}-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}.bin`);
    writeFileSync(file, bytes);
    failure = {
      problem,
      file,
      input: JSON.stringify(input, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v)),
    };
  }
  rmSync(scratch, { recursive: true, force: true });
  const report: WorkerReport = { target: target.name, runs, seconds: (performance.now() - start) / 1000, failure };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(failure ? 1 : 0);
}

void main();
