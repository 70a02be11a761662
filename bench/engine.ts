/**
 * The tensor engine benchmark (issue "Tensor engine"): how much the TypeScript layer costs on
 * top of libtorch, measured against Python torch running the same libtorch on the same machine.
 *
 * 1. One training step (forward, backward, Adam update) of a small U-Net at batch 32 on 3x32x32
 *    inputs, about 1.04M parameters. Target: TS step time at most 1.05x torch's.
 * 2. A chain of 10,000 small element-wise steps x = x.mul(1.0001).add(0.0001) on a [16] tensor:
 *    per-call overhead. Target: at most 1.5x torch's.
 *
 * Both run with 1 and then 2 intra-op threads. The Python side (bench/engine_ref.py) is a
 * long-lived peer; blocks of TS work and blocks of Python work alternate (the order flips every
 * round), and the results are medians, because the machine is shared and timings drift.
 * Both networks start from the same weights and data (written by this side as safetensors), so
 * their losses must agree step by step: that checks the two sides compute the same thing,
 * including the inline Adam against torch.optim.Adam.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module } from '../src/nn/module.js';
import { Conv2d, GroupNorm } from '../src/nn/layers.js';
import { Tensor } from '../src/tensor/tensor.js';
import { cat, randn, zerosLike } from '../src/tensor/creation.js';
import { tidy, keep } from '../src/tensor/scope.js';
import { noGrad } from '../src/tensor/autograd.js';
import { manualSeed, Generator } from '../src/tensor/random.js';
import { setNumThreads, getNumThreads, buildInfo } from '../src/tensor/device.js';
import * as nnf from '../src/tensor/functional.js';
import { saveSafetensors } from '../src/io/safetensors.js';
import type { Benchmark, BenchOptions, BenchRecord } from './registry.js';
import { TorchPeer, threadEnv } from './torch_peer.js';
import { median, round } from './stats.js';

/** Targets from the issue: TS time / torch time. */
export const STEP_TARGET_RATIO = 1.05;
export const CHAIN_TARGET_RATIO = 1.5;

// ---------------------------------------------------------------------------------------------
// The network (bench/engine_ref.py builds the same one with the same parameter names)

/** GroupNorm(32) -> SiLU -> conv3x3, twice, plus the identity skip. */
class ResBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  constructor(channels: number) {
    super();
    this.norm1 = this.registerModule('norm1', new GroupNorm(32, channels));
    this.conv1 = this.registerModule('conv1', new Conv2d(channels, channels, 3, { padding: 1 }));
    this.norm2 = this.registerModule('norm2', new GroupNorm(32, channels));
    this.conv2 = this.registerModule('conv2', new Conv2d(channels, channels, 3, { padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    const h = this.conv1.forward(nnf.silu(this.norm1.forward(x)));
    const h2 = this.conv2.forward(nnf.silu(this.norm2.forward(h)));
    return x.add(h2);
  }
}

/** The benchmark U-Net: 64 channels at 32x32, 128 at 16x16, one skip concatenation. */
export class BenchUNet extends Module {
  readonly convIn = this.registerModule('conv_in', new Conv2d(3, 64, 3, { padding: 1 }));
  readonly res32: ResBlock[] = [this.registerModule('res32_0', new ResBlock(64)), this.registerModule('res32_1', new ResBlock(64))];
  readonly down = this.registerModule('down', new Conv2d(64, 128, 3, { stride: 2, padding: 1 }));
  readonly res16: ResBlock[] = [this.registerModule('res16_0', new ResBlock(128)), this.registerModule('res16_1', new ResBlock(128))];
  readonly upConv = this.registerModule('up_conv', new Conv2d(128, 64, 3, { padding: 1 }));
  readonly merge = this.registerModule('merge', new Conv2d(128, 64, 3, { padding: 1 }));
  readonly resOut = this.registerModule('res_out', new ResBlock(64));
  readonly convOut = this.registerModule('conv_out', new Conv2d(64, 3, 3, { padding: 1 }));

  forward(x: Tensor): Tensor {
    let skip = this.convIn.forward(x);
    for (const block of this.res32) skip = block.forward(skip);
    let h = this.down.forward(skip);
    for (const block of this.res16) h = block.forward(h);
    h = this.upConv.forward(nnf.interpolate(h, { scaleFactor: 2, mode: 'nearest' }));
    h = this.merge.forward(cat([h, skip], 1));
    return this.convOut.forward(this.resOut.forward(h));
  }
}

// ---------------------------------------------------------------------------------------------
// Adam, written inline with in-place ops as torch.optim.Adam's single-tensor loop (PyTorch 1.13,
// amsgrad off, no weight decay): the same ops in the same order, so the values match.

export class InlineAdam {
  readonly #params: Tensor[];
  readonly #expAvg: Tensor[];
  readonly #expAvgSq: Tensor[];
  #step = 0;
  constructor(
    params: Tensor[],
    readonly lr = 1e-3,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly eps = 1e-8,
  ) {
    this.#params = params;
    this.#expAvg = params.map((p) => keep(zerosLike(p)));
    this.#expAvgSq = params.map((p) => keep(zerosLike(p)));
  }

  /** Drops every gradient (zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.#params) p.clearGrad();
  }

  step(): void {
    this.#step += 1;
    const { lr, beta1, beta2, eps } = this;
    const biasCorrection1 = 1 - beta1 ** this.#step;
    const biasCorrection2 = 1 - beta2 ** this.#step;
    const stepSize = lr / biasCorrection1;
    const biasCorrection2Sqrt = Math.sqrt(biasCorrection2);
    noGrad(() => {
      for (let i = 0; i < this.#params.length; i++) {
        const grad = this.#params[i]!.grad;
        if (grad === null) continue;
        this.#expAvg[i]!.mul_(beta1).add_(grad, 1 - beta1);
        this.#expAvgSq[i]!.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
        // (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps): the division in place on the
        // fresh sqrt result gives the same values with one allocation fewer.
        const denom = this.#expAvgSq[i]!.sqrt().div_(biasCorrection2Sqrt).add_(eps);
        this.#params[i]!.addcdiv_(this.#expAvg[i]!, denom, -stepSize);
        denom.dispose();
        grad.dispose();
      }
    });
  }

  dispose(): void {
    for (const t of [...this.#expAvg, ...this.#expAvgSq]) t.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// The two workloads on the TS side

/** A network, its data and its optimizer, ready to step. */
export class TrainStepWorkload {
  readonly net: BenchUNet;
  readonly x: Tensor;
  readonly target: Tensor;
  readonly adam: InlineAdam;

  constructor(
    readonly batch = 32,
    seed = 0,
    lr = 1e-4,
  ) {
    manualSeed(seed);
    this.net = new BenchUNet();
    const g = new Generator(seed + 1);
    this.x = keep(randn([batch, 3, 32, 32], { generator: g }));
    this.target = keep(randn([batch, 3, 32, 32], { generator: g }));
    this.adam = new InlineAdam(this.net.parameters(), lr);
  }

  /** One training step; returns its wall and process CPU times (ms) and the loss before the update. */
  step(): { ms: number; cpuMs: number; loss: number } {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    this.adam.zeroGrad();
    // The forward's intermediates are released before backward (the autograd graph keeps what it
    // needs), as Python drops them when forward returns; holding them through backward raised
    // the peak memory by ~300 MB and cost fresh page faults every step.
    const loss = tidy(() => nnf.mseLoss(this.net.forward(this.x), this.target));
    loss.backward();
    const value = loss.item();
    loss.dispose();
    this.adam.step();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, loss: value };
  }

  /** The weights, input and target, for the Python side to start from the same place. */
  save(path: string): void {
    const tensors = new Map(this.net.namedParameters());
    tensors.set('x', this.x);
    tensors.set('target', this.target);
    saveSafetensors(path, tensors);
  }

  dispose(): void {
    this.net.dispose();
    this.adam.dispose();
    this.x.dispose();
    this.target.dispose();
  }
}

/** `length` steps of x = x.mul(1.0001).add(0.0001) on a [16] tensor, disposing as it goes; ms. */
export function smallOpChain(length: number): number {
  return tidy(() => {
    let x = randn([16]);
    const t0 = performance.now();
    for (let i = 0; i < length; i++) {
      const scaled = x.mul(1.0001);
      x.dispose();
      x = scaled.add(0.0001);
      scaled.dispose();
    }
    return performance.now() - t0;
  });
}

// ---------------------------------------------------------------------------------------------
// The interleaved comparison

/** Times of a block of steps (wall and process CPU, ms). */
interface StepTimes {
  ms: number[];
  cpuMs: number[];
}

interface StepsReply {
  ms: number[];
  cpu_ms: number[];
  losses: number[];
}

/** Engine benchmark options (defaults: 10 timed steps per side, 2 warm-up, threads 1 then 2). */
export interface EngineBenchOptions extends BenchOptions {
  /** Steps per block (default 1); blocks of TS and Python alternate, the order flipping every round. */
  block?: number;
  /** Small-op chain length (default 10,000) and how many timed chains per side (default = steps). */
  chainLength?: number;
  chainRepeats?: number;
  batch?: number;
}

/** The relative loss difference above which the two sides are not computing the same thing. */
const LOSS_TOLERANCE = 1e-4;

export async function runEngineBench(o: EngineBenchOptions, emit: (r: BenchRecord) => void, log: (l: string) => void): Promise<void> {
  const steps = o.steps ?? 10;
  const warmup = o.warmup ?? 2;
  const threadCounts = o.threads ?? [1, 2];
  const block = Math.max(1, Math.min(o.block ?? 1, steps));
  const chainLength = o.chainLength ?? 10_000;
  const chainRepeats = o.chainRepeats ?? Math.max(steps, 10);
  const batch = o.batch ?? 32;
  if (!(steps >= 1 && warmup >= 0 && threadCounts.length > 0))
    throw new RangeError('engine bench: steps must be >= 1, warmup >= 0, threads non-empty');

  const peer = new TorchPeer('bench/engine_ref.py');
  const dir = mkdtempSync(join(tmpdir(), 'consistency-bench-'));
  const work = new TrainStepWorkload(batch);
  try {
    const hello = await peer.request<{ torch: string; env: Record<string, string>; pid: number }>({ op: 'hello' });
    // Both processes must see the same OMP_*/MKL_* settings, or thread counts are not comparable.
    const ours = threadEnv();
    if (JSON.stringify(sortKeys(ours)) !== JSON.stringify(sortKeys(hello.env)))
      throw new Error(`engine bench: thread environment differs: node ${JSON.stringify(ours)} vs python ${JSON.stringify(hello.env)}`);
    const weights = join(dir, 'start.safetensors');
    work.save(weights);
    const init = await peer.request<{ params: number; tensors: number }>({ op: 'init', weights, lr: work.adam.lr });
    const paramsTs = work.net.parameterCount();
    log(`[engine] torch ${hello.torch} (pid ${hello.pid}); parameters: ts ${paramsTs}, torch ${init.params}; thread env ${JSON.stringify(ours)}`);
    if (paramsTs !== init.params) throw new Error(`engine bench: parameter counts differ: ts ${paramsTs}, torch ${init.params}`);

    const tsLosses: number[] = [];
    const torchLosses: number[] = [];
    const tsSteps = (n: number): StepTimes => {
      const out: StepTimes = { ms: [], cpuMs: [] };
      for (let i = 0; i < n; i++) {
        const r = work.step();
        out.ms.push(r.ms);
        out.cpuMs.push(r.cpuMs);
        tsLosses.push(r.loss);
      }
      return out;
    };
    const torchSteps = async (n: number): Promise<StepTimes> => {
      const r = await peer.request<StepsReply>({ op: 'steps', n });
      torchLosses.push(...r.losses);
      return { ms: r.ms, cpuMs: r.cpu_ms };
    };

    for (const threads of threadCounts) {
      setNumThreads(threads);
      const torchThreads = (await peer.request<{ threads: number }>({ op: 'threads', n: threads })).threads;
      if (getNumThreads() !== threads || torchThreads !== threads)
        throw new Error(`engine bench: asked for ${threads} threads, got ts ${getNumThreads()}, torch ${torchThreads}`);

      // ---- training step: blocks alternate TS/torch, then torch/TS, ... ----
      tsSteps(warmup);
      await torchSteps(warmup);
      const ts: StepTimes = { ms: [], cpuMs: [] };
      const torch: StepTimes = { ms: [], cpuMs: [] };
      const roundRatios: number[] = [];
      for (let round = 0; ts.ms.length < steps; round++) {
        const n = Math.min(block, steps - ts.ms.length);
        let a: StepTimes;
        let b: StepTimes;
        if (round % 2 === 0) {
          a = tsSteps(n);
          b = await torchSteps(n);
        } else {
          b = await torchSteps(n);
          a = tsSteps(n);
        }
        ts.ms.push(...a.ms);
        ts.cpuMs.push(...a.cpuMs);
        torch.ms.push(...b.ms);
        torch.cpuMs.push(...b.cpuMs);
        roundRatios.push(sum(a.ms) / sum(b.ms));
        log(`[engine] threads ${threads} step round ${round}: ts ${fmt(a.ms)} ms (cpu ${fmt(a.cpuMs)}), torch ${fmt(b.ms)} ms (cpu ${fmt(b.cpuMs)})`);
      }
      const lossDiff = maxRelativeDifference(tsLosses, torchLosses);
      const tsStep = median(ts.ms);
      const torchStep = median(torch.ms);
      emit({
        bench: 'unet-train-step',
        threads,
        ts_step_ms: round(tsStep),
        torch_step_ms: round(torchStep),
        ratio: round(tsStep / torchStep, 4),
        target: STEP_TARGET_RATIO,
        meets_target: tsStep / torchStep <= STEP_TARGET_RATIO,
        // Less sensitive to other load: the median of per-round ratios (neighbouring blocks), and
        // process CPU time (user + system, all threads) instead of wall time.
        round_ratio_median: round(median(roundRatios), 4),
        ts_step_cpu_ms: round(median(ts.cpuMs)),
        torch_step_cpu_ms: round(median(torch.cpuMs)),
        cpu_ratio: round(median(ts.cpuMs) / median(torch.cpuMs), 4),
        steps,
        batch,
        malloc_tuned: buildInfo().mallocTuned,
        params_ts: paramsTs,
        params_torch: init.params,
        loss_max_rel_diff: lossDiff,
      });
      if (!(lossDiff <= LOSS_TOLERANCE))
        throw new Error(
          `engine bench: the TS and torch losses differ by ${lossDiff} (relative): the two sides do not compute the same step\n  ts ${tsLosses.join(', ')}\n  torch ${torchLosses.join(', ')}`,
        );

      // ---- small-op chain ----
      smallOpChain(chainLength);
      await peer.request({ op: 'chain', length: chainLength, repeats: 1 });
      const tsChain: number[] = [];
      const torchChain: number[] = [];
      for (let r = 0; r < chainRepeats; r++) {
        if (r % 2 === 0) {
          tsChain.push(smallOpChain(chainLength));
          torchChain.push(...(await peer.request<{ ms: number[] }>({ op: 'chain', length: chainLength, repeats: 1 })).ms);
        } else {
          torchChain.push(...(await peer.request<{ ms: number[] }>({ op: 'chain', length: chainLength, repeats: 1 })).ms);
          tsChain.push(smallOpChain(chainLength));
        }
      }
      log(`[engine] threads ${threads} chain: ts ${fmt(tsChain)} ms, torch ${fmt(torchChain)} ms`);
      const tsC = median(tsChain);
      const torchC = median(torchChain);
      emit({
        bench: 'small-op-chain',
        threads,
        ts_ms: round(tsC),
        torch_ms: round(torchC),
        ratio: round(tsC / torchC, 4),
        target: CHAIN_TARGET_RATIO,
        meets_target: tsC / torchC <= CHAIN_TARGET_RATIO,
        length: chainLength,
        repeats: chainRepeats,
      });
    }
  } finally {
    work.dispose();
    await peer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function maxRelativeDifference(a: number[], b: number[]): number {
  if (a.length !== b.length) throw new Error(`engine bench: ${a.length} TS losses but ${b.length} torch losses`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), 1e-30));
  return worst;
}

function sortKeys(o: Record<string, string>): [string, string][] {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function fmt(ms: number[]): string {
  return ms.map((v) => v.toFixed(1)).join(' ');
}

const engine: Benchmark = {
  summary: 'U-Net training step (batch 32, 3x32x32) and a 10,000-op small-op chain, TS vs Python torch, 1 and 2 threads',
  run: (options, emit, log) => runEngineBench(options, emit, log),
};
export default engine;
