#!/usr/bin/env node
/**
 * Data-parallel throughput on this machine (issue 10): `node dist/bench/ddp.js [--steps S]
 * [--warmup W] [--rounds R] [--presets mnist-quick,cifar10-cpu]`. For each preset, in R
 * interleaved rounds: ours 1 process x 2 threads, ours 1 x 1, ours 2 processes x 1 thread
 * (DataParallelGradientSync over c10d Gloo), and Python's DistributedDataParallel 2 x 1 on
 * test/reference/networks_ref.py's same network, same step (bench/ddp_worker.ts, bench/ddp_ref.py),
 * same global batch (the preset's). Reports medians: images/s, scaling efficiency of 2 x 1 (its
 * images/s over twice 1 x 1's) and the share of the 2 x 1 step spent waiting for gradients after
 * the backward. One JSON line per preset on stdout; a table on stderr.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolvePreset } from '../src/train/presets.js';
import { freePort } from '../src/distributed/index.js';
import { median } from './stats.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const flag = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const steps = flag('steps', '6');
const warmup = flag('warmup', '2');
const rounds = Number(flag('rounds', '2'));
const presets = flag('presets', 'mnist-quick,cifar10-cpu').split(',');
const python = process.env['TORCH_PYTHON'] ?? '/usr/bin/python3';

interface RankResult {
  stepMs: number[];
  waitMs?: number[];
}

/** Starts `nproc` ranks of a command with the torchrun environment; rank 0's JSON line. */
async function runRanks(cmd: string, args: string[], nproc: number, threads: number): Promise<RankResult> {
  const port = await freePort();
  const outs = await Promise.all(
    Array.from(
      { length: nproc },
      (_, r) =>
        new Promise<string>((resolve, reject) => {
          const env = {
            ...process.env,
            RANK: String(r),
            WORLD_SIZE: String(nproc),
            LOCAL_RANK: String(r),
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: String(port),
            OMP_NUM_THREADS: String(threads),
            GLOG_minloglevel: '3',
          };
          const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          p.stdout.on('data', (d: Buffer) => (out += d.toString()));
          p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} rank ${r} exited with ${code}`))));
        }),
    ),
  );
  return JSON.parse(outs[0]!.trim().split('\n').pop()!) as RankResult;
}

async function main(): Promise<void> {
  for (const name of presets) {
    const p = resolvePreset(name);
    const B = String(p.config.training.batch);
    const worker = [join(root, 'dist', 'bench', 'ddp_worker.js'), name, B, steps, warmup];
    const ref = [join(root, 'bench', 'ddp_ref.py'), JSON.stringify(p.config.network), B, steps, warmup];
    const configs: Record<string, () => Promise<RankResult>> = {
      'ours 1x2': () => runRanks(process.execPath, worker, 1, 2),
      'ours 1x1': () => runRanks(process.execPath, worker, 1, 1),
      'ours 2x1': () => runRanks(process.execPath, worker, 2, 1),
      'python DDP 2x1': () => runRanks(python, ref, 2, 1),
    };
    const steps_: Record<string, number[]> = {};
    const waits: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const [label, go] of Object.entries(configs)) {
        const res = await go();
        (steps_[label] ??= []).push(...res.stepMs);
        if (label === 'ours 2x1' && res.waitMs) waits.push(...res.waitMs.map((w, i) => w / res.stepMs[i]!));
        process.stderr.write(`${name} round ${r + 1} ${label}: median ${median(res.stepMs).toFixed(0)} ms/step\n`);
      }
    }
    const ips = Object.fromEntries(Object.entries(steps_).map(([k, v]) => [k, Number(B) / (median(v) / 1000)]));
    const result = {
      preset: name,
      batch: Number(B),
      stepsPerRun: Number(steps),
      rounds,
      imagesPerSecond: ips,
      scalingEfficiency2x1: ips['ours 2x1']! / (2 * ips['ours 1x1']!),
      oursOverPythonDdp2x1: ips['ours 2x1']! / ips['python DDP 2x1']!,
      gradientWaitShare2x1: median(waits),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    for (const [k, v] of Object.entries(ips)) process.stderr.write(`  ${name} ${k.padEnd(15)} ${v.toFixed(1)} images/s\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
