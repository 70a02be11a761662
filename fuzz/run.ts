/**
 * `npm run fuzz`: fuzzes every target of fuzz/targets.ts for a fixed time each, one child process
 * per target (fuzz/worker.ts), so an input that hangs is caught: the child is killed when it runs
 * past its budget by more than the per-input limit, and the input it was on is kept as the finding.
 * Findings go to fuzz-findings/ (or --out); copy them under test/fuzz-corpus/<target>/ once fixed,
 * where test/fuzz-regressions.test.ts replays them.
 *
 * usage: node dist/fuzz/run.js [--seconds N (default $FUZZ_SECONDS or 60)] [--runs N] [--seed N] [--out DIR] [TARGET...]
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FUZZ_TARGETS } from './targets.js';
import type { WorkerReport } from './worker.js';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'worker.js');
/** Start-up (loading libtorch, making seeds) plus one input's limit, beyond the budget, before a child counts as hung. */
const GRACE_MS = 45_000;

export interface FuzzOptions {
  seconds: number;
  /** At most this many inputs (the time budget may end the run first). */
  runs: number;
  seed: number;
  /** Where findings are written. */
  out: string;
}

/** Fuzzes one target in a child process; resolves with its report (a hang is reported as a failure). */
export function fuzzTarget(name: string, o: FuzzOptions): Promise<WorkerReport> {
  const work = mkdtempSync(join(tmpdir(), `fuzz-run-${name}-`));
  const current = join(work, 'current.bin');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, name, String(o.seconds), String(o.runs), String(o.seed), current, o.out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let hung = false;
    const timer = setTimeout(
      () => {
        hung = true;
        child.kill('SIGKILL');
      },
      o.seconds * 1000 + GRACE_MS,
    );
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        if (hung) {
          mkdirSync(o.out, { recursive: true });
          const file = join(o.out, `${name}-hang-${Date.now()}.bin`);
          if (existsSync(current)) copyFileSync(current, file);
          resolve({
            target: name,
            runs: -1,
            seconds: o.seconds,
            failure: { problem: `hung: still running ${GRACE_MS / 1000} s past its budget`, file, input: '(the input it was on)' },
          });
          return;
        }
        const last = stdout.trim().split('\n').pop() ?? '';
        let report: WorkerReport;
        try {
          report = JSON.parse(last) as WorkerReport;
        } catch {
          // A crash of the process itself (a native abort, an out-of-memory kill) is a finding too.
          mkdirSync(o.out, { recursive: true });
          const file = join(o.out, `${name}-crash-${Date.now()}.bin`);
          if (existsSync(current)) copyFileSync(current, file);
          const why = stderr.trim().split('\n').slice(-3).join(' | ');
          resolve({
            target: name,
            runs: -1,
            seconds: 0,
            failure: { problem: `the process died (exit ${String(code)}): ${why}`, file, input: '(the input it was on)' },
          });
          return;
        }
        resolve(report);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
  });
}

async function main(): Promise<void> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      options: { seconds: { type: 'string' }, runs: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } },
      allowPositionals: true,
    }));
  } catch (e) {
    process.stderr.write(`fuzz: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const num = (v: string | undefined, fallback: number, what: string): number => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isFinite(n) || n <= 0) {
      process.stderr.write(`fuzz: ${what} must be a positive number, got ${String(v)}\n`);
      process.exit(2);
    }
    return n;
  };
  const o: FuzzOptions = {
    seconds: num(values.seconds ?? process.env['FUZZ_SECONDS'], 60, '--seconds'),
    runs: num(values.runs, 1e9, '--runs'),
    seed: num(values.seed, Date.now() % 2 ** 31, '--seed'),
    out: values.out ?? 'fuzz-findings',
  };
  const names = positionals.length > 0 ? positionals : FUZZ_TARGETS.map((t) => t.name);
  for (const n of names) {
    if (!FUZZ_TARGETS.some((t) => t.name === n)) {
      process.stderr.write(`fuzz: no target '${n}' (targets: ${FUZZ_TARGETS.map((t) => t.name).join(', ')})\n`);
      process.exit(2);
    }
  }
  process.stdout.write(`fuzzing ${names.length} targets for ${o.seconds} s each (seed ${o.seed})\n`);
  let failed = 0;
  for (const n of names) {
    const r = await fuzzTarget(n, o);
    if (r.failure) {
      failed++;
      process.stdout.write(
        `${n}: FAILED after ${r.runs} inputs: ${r.failure.problem}\n  input: ${r.failure.file}\n  ${r.failure.input.slice(0, 500)}\n`,
      );
    } else process.stdout.write(`${n}: ${r.runs} inputs in ${r.seconds.toFixed(1)} s, no failure\n`);
  }
  process.exit(failed > 0 ? 1 : 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void main();
