/**
 * The GPU benchmark (issue 12, run by scripts/gpu-check.sh): one consistency-training step of
 * the paper's `cifar10` network (NCSN++, 56M parameters) at batch 128 on CUDA, in float32 and in
 * bf16 autocast, ours against PyTorch eager doing the same step (bench/step_peers.ts: the same
 * weights and data, eval-mode losses checked equal; torch.autocast('cuda', torch.bfloat16) around
 * the forward passes and loss, backward and Adam outside it, on both sides). Each side's step
 * ends with reading the loss back, which waits for the GPU. Four processes (ours and PyTorch, fp32
 * and bf16), one-step blocks rotating across them; medians. One JSON line per precision.
 * Without a GPU it stops with one line (exit code 1).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../test/helpers/python.js';
import { BenchSetupError, type Benchmark, type BenchOptions, type BenchRecord } from './registry.js';
import { StepPair, engineFromBuild, interleave, oursVsTorch } from './step_peers.js';
import { median } from './stats.js';

const PRESET = 'cifar10';
const BATCH = 128;
const PRECISIONS = ['fp32', 'bf16'] as const;

export async function runCudaStepBench(o: BenchOptions, emit: (r: BenchRecord) => void, log: (l: string) => void): Promise<void> {
  const { cudaAvailable } = await import('../src/tensor/device.js');
  if (!cudaAvailable())
    throw new BenchSetupError('cuda-step: this build of the addon sees no CUDA GPU (build it against a CUDA torch on a GPU machine)');
  const engine = engineFromBuild(process.env['CUDA_STEP_BUILD'] ?? join(repoRoot, 'build'), 'npm run build:native against a CUDA torch');
  const rounds = o.steps ?? 10;
  const warmup = o.warmup ?? 3;
  const threads = o.threads?.[0] ?? 1;
  const dirs = PRECISIONS.map(() => mkdtempSync(join(tmpdir(), 'consistency-bench-cuda-step-')));
  const pairs: StepPair[] = [];
  try {
    for (const [k, precision] of PRECISIONS.entries())
      pairs.push(await StepPair.start(engine, { preset: PRESET, batch: BATCH, threads, device: 'cuda', precision, dir: dirs[k]! }));
    log(`[cuda-step] ${PRESET} batch ${BATCH} on CUDA: libtorch ${pairs[0]!.oursTorch}, Python torch ${pairs[0]!.pythonTorch}`);
    const peers = pairs.flatMap((p, k) => [
      { label: `ours-${PRECISIONS[k]!}`, peer: p.ours },
      { label: `torch-${PRECISIONS[k]!}`, peer: p.torch },
    ]);
    const times = await interleave(peers, 'steps', rounds, warmup, log);
    for (const [k, precision] of PRECISIONS.entries()) {
      const ours = median(times.get(`ours-${precision}`)!);
      const torch = median(times.get(`torch-${precision}`)!);
      emit({
        bench: 'cuda-step',
        preset: PRESET,
        batch: BATCH,
        precision,
        parameters: pairs[k]!.parameters,
        libtorch: pairs[k]!.oursTorch,
        python_torch: pairs[k]!.pythonTorch,
        rounds,
        warmup,
        ...oursVsTorch(ours, torch, BATCH, 2),
        eval_loss_rel_diff: pairs[k]!.evalLossRelDiff,
      });
    }
  } finally {
    await Promise.allSettled(pairs.map((p) => p.close()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

const bench: Benchmark = {
  summary: 'GPU: training step of the 56M cifar10 network at batch 128 in fp32 and bf16 autocast, ours vs PyTorch eager, interleaved',
  run: (options, emit, log) => runCudaStepBench(options, emit, log),
};
export default bench;
