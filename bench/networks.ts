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
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, torchPython } from '../test/helpers/python.js';
import type { Benchmark, BenchOptions, BenchRecord } from './registry.js';
import { threadEnv } from './torch_peer.js';
import { median, round } from './stats.js';

/** A child process answering one JSON line per JSON-line command. */
class LinePeer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #pending: { command: string; resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  #stderrTail = '';
  #exited: Error | null = null;

  constructor(readonly label: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.#child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (chunk: string) => {
      this.#stderrTail = (this.#stderrTail + chunk).slice(-4000);
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const p = this.#pending.shift();
      if (!p) return;
      try {
        const reply = JSON.parse(line) as Record<string, unknown>;
        if (typeof reply.error === 'string') p.reject(new Error(`${label}: ${p.command} failed: ${reply.error}`));
        else p.resolve(reply);
      } catch {
        p.reject(new Error(`${label}: answered ${p.command} with a line that is not JSON: ${line.slice(0, 200)}`));
      }
    });
    const fail = (why: string) => {
      this.#exited = new Error(`${label}: ${why}${this.#stderrTail ? `\n${this.#stderrTail.trim()}` : ''}`);
      for (const p of this.#pending.splice(0)) p.reject(new Error(`${this.#exited.message}\n(while running ${p.command})`));
    };
    this.#child.on('error', (e) => fail(`could not start ${command}: ${e.message}`));
    this.#child.on('exit', (code, signal) => fail(`exited (${signal ?? `code ${code}`})`));
  }

  request<T = Record<string, unknown>>(command: Record<string, unknown> & { op: string }): Promise<T> {
    if (this.#exited) return Promise.reject(this.#exited);
    const text = JSON.stringify(command);
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ command: text, resolve: resolve as (v: Record<string, unknown>) => void, reject });
      this.#child.stdin.write(text + '\n');
    });
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    const ended = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdin.end(JSON.stringify({ op: 'quit' }) + '\n');
    await ended;
  }
}

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

async function runWorkload(preset: string, batch: number, steps: number, warmup: number, threads: number, log: (l: string) => void): Promise<BenchRecord> {
  const dir = mkdtempSync(join(tmpdir(), 'consistency-bench-networks-'));
  const pyEnv = { ...process.env, PYTHONPATH: [join(repoRoot, '.cache', 'pydeps'), process.env.PYTHONPATH].filter(Boolean).join(':') };
  const ts = new LinePeer('bench/networks_worker', process.execPath, [join(repoRoot, 'dist', 'bench', 'networks_worker.js')]);
  const py = new LinePeer('bench/networks_ref.py', torchPython(), ['-u', join(repoRoot, 'bench', 'networks_ref.py')], pyEnv);
  try {
    const hello = await py.request<{ torch: string; env: Record<string, string> }>({ op: 'hello' });
    const init = await ts.request<{ params: number; threads: number; weights: string; data: string; config: unknown; lr: number }>({
      op: 'init', preset, batch, seed: 0, dir, threads,
    });
    const pinit = await py.request<{ params: number; threads: number }>({ op: 'init', config: init.config, weights: init.weights, data: init.data, lr: init.lr, threads });
    log(`[networks] ${preset} batch ${batch}, threads ${threads}: parameters ts ${init.params}, torch ${pinit.params}; torch ${hello.torch}; thread env ${JSON.stringify(threadEnv())}`);
    if (init.params !== pinit.params) throw new Error(`networks bench: parameter counts differ: ts ${init.params}, torch ${pinit.params}`);
    if (init.threads !== threads || pinit.threads !== threads) throw new Error(`networks bench: asked for ${threads} threads, got ts ${init.threads}, torch ${pinit.threads}`);

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
      log(`[networks] ${preset} round ${r}: ts ${a.ms[0]!.toFixed(0)} ms (loss ${a.losses[0]!.toPrecision(5)}), torch ${b.ms[0]!.toFixed(0)} ms (loss ${b.losses[0]!.toPrecision(5)})`);
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
  summary: 'consistency training step of cifar10 (NCSN++, batch 8) and cifar10-cpu (batch 32), TS vs Python torch in separate processes, 2 threads: medians and peak RSS',
  run: (options, emit, log) => runNetworksBench(options, emit, log),
};
export default networks;
