/**
 * The FID Inception benchmark (issue "Sample quality"): feature extraction speed, images/s, of
 * our FidInceptionV3 against the same network in Python torch (bench/inception_ref.py, built by
 * test/reference/inception_ref.py) on the same machine, same libtorch, same weights and images.
 *
 * Workload: a batch of 32x32 RGB images (CIFAR-10 sized) resized to 299x299 inside, pool3
 * features out, no gradients. Timed forward passes of TS and Python alternate (the order flips
 * every round) and the results are medians, because the machine is shared and timings drift.
 * The feature sums of both sides must agree (float32 tolerance): they compute the same thing.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor } from '../src/tensor/creation.js';
import { setNumThreads, getNumThreads } from '../src/tensor/device.js';
import { FidInceptionV3 } from '../src/metrics/feature-nets/inception.js';
import { loadInceptionWeights } from '../src/metrics/feature-nets/inception-weights.js';
import { runPythonScript } from '../test/helpers/python.js';
import type { Benchmark, BenchOptions, BenchRecord } from './registry.js';
import { TorchPeer, threadEnv } from './torch_peer.js';
import { median, round } from './stats.js';

export interface InceptionBenchOptions extends BenchOptions {
  /** Images per forward pass (default 16). */
  batch?: number;
  /** Input side length before the resize to 299 (default 32). */
  size?: number;
}

const SUM_TOLERANCE = 1e-4;

export async function runInceptionBench(o: InceptionBenchOptions, emit: (r: BenchRecord) => void, log: (l: string) => void): Promise<void> {
  const steps = o.steps ?? 5;
  const warmup = o.warmup ?? 1;
  const threadCounts = o.threads ?? [2];
  const batch = o.batch ?? 16;
  const size = o.size ?? 32;
  const dir = mkdtempSync(join(tmpdir(), 'consistency-bench-inception-'));
  const peer = new TorchPeer('bench/inception_ref.py');
  let net: FidInceptionV3 | null = null;
  try {
    // Seeded random weights and images from the reference script; both sides load the same files.
    runPythonScript('test/reference/inception_ref.py', [
      dir,
      '--seed',
      '5',
      '--batch',
      String(batch),
      '--height',
      String(size),
      '--width',
      String(size),
    ]);
    const hello = await peer.request<{ torch: string; env: Record<string, string>; pid: number }>({ op: 'hello' });
    if (JSON.stringify(threadEnv()) !== JSON.stringify(hello.env))
      throw new Error(`inception bench: thread environment differs: node ${JSON.stringify(threadEnv())} vs python ${JSON.stringify(hello.env)}`);
    const shape = [batch, 3, size, size];
    await peer.request({ op: 'init', weights: join(dir, 'weights.pth'), images: join(dir, 'images.f32'), shape });
    net = new FidInceptionV3({ device: 'cpu' });
    const state = loadInceptionWeights(join(dir, 'weights.pth'), { device: 'cpu' });
    net.loadFidStateDict(state);
    for (const t of state.values()) t.dispose();
    const raw = readFileSync(join(dir, 'images.f32'));
    const images = tensor(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)), shape, { device: 'cpu' });
    log(`[inception] torch ${hello.torch} (pid ${hello.pid}); batch ${batch} of ${size}x${size} -> 299x299; ${steps} timed passes per side`);

    const tsRun = (): { ms: number; sum: number } => {
      const t0 = performance.now();
      const { pool } = net!.forward(images);
      const sum = pool.toFloat64Array().reduce((a, b) => a + b, 0);
      const ms = performance.now() - t0;
      pool.dispose();
      return { ms, sum };
    };
    const torchRun = async (): Promise<{ ms: number; sum: number }> => {
      const r = await peer.request<{ ms: number[]; sum: number }>({ op: 'run', n: 1 });
      return { ms: r.ms[0]!, sum: r.sum };
    };

    for (const threads of threadCounts) {
      setNumThreads(threads);
      const torchThreads = (await peer.request<{ threads: number }>({ op: 'threads', n: threads })).threads;
      if (getNumThreads() !== threads || torchThreads !== threads)
        throw new Error(`inception bench: asked for ${threads} threads, got ts ${getNumThreads()}, torch ${torchThreads}`);
      for (let i = 0; i < warmup; i++) {
        tsRun();
        await torchRun();
      }
      const ts: number[] = [];
      const torch: number[] = [];
      let tsSum = 0;
      let torchSum = 0;
      for (let r = 0; r < steps; r++) {
        let a: { ms: number; sum: number };
        let b: { ms: number; sum: number };
        if (r % 2 === 0) {
          a = tsRun();
          b = await torchRun();
        } else {
          b = await torchRun();
          a = tsRun();
        }
        ts.push(a.ms);
        torch.push(b.ms);
        tsSum = a.sum;
        torchSum = b.sum;
        log(`[inception] threads ${threads} round ${r}: ts ${a.ms.toFixed(0)} ms, torch ${b.ms.toFixed(0)} ms`);
      }
      const sumDiff = Math.abs(tsSum - torchSum) / Math.max(Math.abs(torchSum), 1e-12);
      const tsMs = median(ts);
      const torchMs = median(torch);
      emit({
        bench: 'fid-inception-features',
        threads,
        batch,
        input: `${size}x${size}->299x299`,
        ts_ms_per_batch: round(tsMs, 1),
        torch_ms_per_batch: round(torchMs, 1),
        ts_images_per_s: round((1000 * batch) / tsMs, 2),
        torch_images_per_s: round((1000 * batch) / torchMs, 2),
        ratio: round(tsMs / torchMs, 4),
        steps,
        feature_sum_rel_diff: sumDiff,
      });
      if (!(sumDiff <= SUM_TOLERANCE))
        throw new Error(`inception bench: feature sums differ (ts ${tsSum}, torch ${torchSum}): the two sides do not compute the same features`);
    }
    images.dispose();
  } finally {
    net?.dispose();
    await peer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const inception: Benchmark = {
  summary: 'FID Inception-v3 feature extraction (images/s), TS against Python torch, interleaved medians',
  run: (options, emit, log) => runInceptionBench(options, emit, log),
};
export default inception;
