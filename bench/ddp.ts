#!/usr/bin/env node
/**
 * Data-parallel throughput on this machine (issue 10):
 *
 *   node dist/bench/ddp.js [--steps S] [--warmup W] [--rounds R] [--presets mnist-quick,cifar10-cpu]
 *                          [--combos 1x2,1x1,2x1] [--python-combos 2x1]
 *
 * A combo is PROCESSES x THREADS per process. For each preset, in R rounds that interleave every
 * run (the order rotates from round to round): ours for each of --combos (bench/ddp_worker.ts;
 * DataParallelGradientSync over c10d Gloo when PROCESSES > 1) and Python's
 * DistributedDataParallel for each of --python-combos (bench/ddp_ref.py, the reference torch of
 * the tests: the libtorch the addon is built against), on test/reference/networks_ref.py's same
 * network, the same step and the same global batch (the preset's). Reports medians over all
 * timed steps of all rounds: images/s per run; the scaling efficiency of each N x T against
 * N times 1 x T (when that ran); ours over Python DDP at each combo both ran; ours N x 1 over
 * ours 1 x N (processes or threads for the same cores: the question for `npm start`); and, per
 * multi-process combo of ours, the share of the step spent waiting for the gradient all-reduce
 * after the backward (the communication the backward did not hide). One JSON line per preset on
 * stdout; a table on stderr.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './stats.js';
import { torchPython, torchPythonEnv } from '../test/helpers/python.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

function positiveInt(name: string, raw: string, min: number): number {
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got '${raw}'`);
  return v;
}

interface Combo {
  nproc: number;
  threads: number;
}

function combos(name: string, raw: string): Combo[] {
  if (raw === '') return [];
  return raw.split(',').map((c) => {
    const m = /^(\d+)x(\d+)$/.exec(c.trim());
    const nproc = Number(m?.[1]);
    const threads = Number(m?.[2]);
    if (!m || nproc < 1 || threads < 1) throw new Error(`--${name}: '${c}' is no PROCESSESxTHREADS combo (e.g. 2x1)`);
    return { nproc, threads };
  });
}

interface RankResult {
  stepMs: number[];
  waitMs?: number[];
}

/** Starts `nproc` ranks of a command with the torchrun environment; rank 0's JSON line. */
async function runRanks(cmd: string, args: string[], baseEnv: NodeJS.ProcessEnv, { nproc, threads }: Combo): Promise<RankResult> {
  const { freePort } = await import('../src/distributed/index.js');
  const port = await freePort();
  const outs = await Promise.all(
    Array.from(
      { length: nproc },
      (_, r) =>
        new Promise<string>((resolve, reject) => {
          const env = {
            ...baseEnv,
            RANK: String(r),
            WORLD_SIZE: String(nproc),
            LOCAL_RANK: String(r),
            LOCAL_WORLD_SIZE: String(nproc),
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: String(port),
            OMP_NUM_THREADS: String(threads),
            GLOG_minloglevel: '3',
          };
          const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          p.stdout.on('data', (d: Buffer) => (out += d.toString()));
          p.on('error', reject);
          p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args[0] ?? ''} rank ${r} exited with ${code}`))));
        }),
    ),
  );
  return JSON.parse(outs[0]?.trim().split('\n').pop() ?? '') as RankResult;
}

const label = (who: 'ours' | 'python DDP', c: Combo): string => `${who} ${c.nproc}x${c.threads}`;

async function main(): Promise<void> {
  const steps = positiveInt('steps', flag('steps', '6'), 1);
  const warmup = positiveInt('warmup', flag('warmup', '2'), 0);
  const rounds = positiveInt('rounds', flag('rounds', '2'), 1);
  const presets = flag('presets', 'mnist-quick,cifar10-cpu').split(',');
  const ours = combos('combos', flag('combos', '1x2,1x1,2x1'));
  const theirs = combos('python-combos', flag('python-combos', '2x1'));
  // Loaded here, not at the top, so that an addon out of date ends this with its one line.
  const { resolvePreset } = await import('../src/train/presets.js');
  const python = torchPython();
  const pythonEnv = torchPythonEnv();
  for (const name of presets) {
    const p = resolvePreset(name);
    const B = p.config.training.batch;
    const worker = [join(root, 'dist', 'bench', 'ddp_worker.js'), name, String(B), String(steps), String(warmup)];
    const ref = [join(root, 'bench', 'ddp_ref.py'), JSON.stringify(p.config.network), String(B), String(steps), String(warmup)];
    const runs: [string, () => Promise<RankResult>][] = [
      ...ours.map((c): [string, () => Promise<RankResult>] => [label('ours', c), () => runRanks(process.execPath, worker, process.env, c)]),
      ...theirs.map((c): [string, () => Promise<RankResult>] => [label('python DDP', c), () => runRanks(python, ref, pythonEnv, c)]),
    ];
    const stepMs: Record<string, number[]> = {};
    const waitShare: Record<string, number[]> = {};
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < runs.length; k++) {
        const [what, go] = runs[(k + r) % runs.length]!;
        const res = await go();
        (stepMs[what] ??= []).push(...res.stepMs);
        if (what.startsWith('ours') && res.waitMs && !what.startsWith('ours 1x'))
          (waitShare[what] ??= []).push(...res.waitMs.map((w, i) => w / (res.stepMs[i] ?? Number.NaN)));
        process.stderr.write(`${name} round ${r + 1} ${what}: median ${median(res.stepMs).toFixed(0)} ms/step\n`);
      }
    }
    const ips: Record<string, number> = Object.fromEntries(Object.entries(stepMs).map(([k, v]) => [k, B / (median(v) / 1000)]));
    const scalingEfficiency: Record<string, number> = {};
    const oursOverPythonDdp: Record<string, number> = {};
    const processesOverThreads: Record<string, number> = {};
    for (const c of ours) {
      const mine = ips[label('ours', c)]!;
      const single = ips[label('ours', { nproc: 1, threads: c.threads })];
      if (c.nproc > 1 && single !== undefined) scalingEfficiency[label('ours', c)] = mine / (c.nproc * single);
      const py = ips[label('python DDP', c)];
      if (py !== undefined) oursOverPythonDdp[`${c.nproc}x${c.threads}`] = mine / py;
      const threaded = ips[label('ours', { nproc: 1, threads: c.nproc * c.threads })];
      if (c.nproc > 1 && threaded !== undefined) processesOverThreads[`${c.nproc}x${c.threads} / 1x${c.nproc * c.threads}`] = mine / threaded;
    }
    for (const c of theirs) {
      const single = ips[label('python DDP', { nproc: 1, threads: c.threads })];
      if (c.nproc > 1 && single !== undefined) scalingEfficiency[label('python DDP', c)] = ips[label('python DDP', c)]! / (c.nproc * single);
    }
    const result = {
      preset: name,
      batch: B,
      stepsPerRun: steps,
      warmup,
      rounds,
      imagesPerSecond: ips,
      scalingEfficiency,
      oursOverPythonDdp,
      processesOverThreads,
      gradientWaitShare: Object.fromEntries(Object.entries(waitShare).map(([k, v]) => [k, median(v)])),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    for (const [k, v] of Object.entries(ips)) process.stderr.write(`  ${name} ${k.padEnd(16)} ${v.toFixed(1)} images/s\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
