/**
 * What the benchmarks that time one network's training step (or one-step sampling) on several
 * set-ups share (bench/torch-versions.ts, bench/channels-last.ts): an engine (one build of the
 * addon and the Python torch it was built against, read from that build's libtorch.json), a
 * pair of peers on an engine (ours: bench/networks_worker.ts; Python torch: bench/networks_ref.py;
 * the same step, weights and data, checked by their eval-mode losses agreeing), and the
 * interleaving of one-step blocks across peers so that every set-up is timed under the same
 * (noisy, shared) machine load.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../test/helpers/python.js';
import { LinePeer } from './torch_peer.js';
import { BenchSetupError } from './registry.js';
import { round } from './stats.js';

/** One build of the addon and its reference Python torch. */
export interface Engine {
  /** The build folder (holding Release/consistency_native.node and libtorch.json). */
  dir: string;
  addon: string;
  /** The libtorch version the addon was built against (libtorch.json). */
  version: string;
  python: string;
  /** The folder to put on PYTHONPATH for that Python's torch (pip's), or null (the system's). */
  pythonPath: string | null;
}

/** The engine of a build folder; a missing build or one without a matching Python is an Error saying how to make it. */
export function engineFromBuild(dir: string, howToBuild: string): Engine {
  const addon = join(dir, 'Release', 'consistency_native.node');
  const recordFile = join(dir, 'libtorch.json');
  if (!existsSync(addon) || !existsSync(recordFile)) throw new BenchSetupError(`${addon} (with ${recordFile}) is not built: ${howToBuild}`);
  const record = JSON.parse(readFileSync(recordFile, 'utf8')) as { version?: string; python?: string | null; pythonPath?: string | null };
  if (typeof record.version !== 'string') throw new BenchSetupError(`${recordFile} names no libtorch version: rebuild (${howToBuild})`);
  if (typeof record.python !== 'string')
    throw new BenchSetupError(
      `${recordFile}: no Python imports the torch ${record.version} this build uses, so there is no reference to time against`,
    );
  return { dir, addon, version: record.version, python: record.python, pythonPath: record.pythonPath ?? null };
}

/** The major.minor of a version string ('2.15.0+cu132' -> '2.15'). */
export function minorVersion(version: string): string {
  return version.split('.').slice(0, 2).join('.');
}

interface StepsReply {
  ms: number[];
}

/** What a pair runs: a preset's network at a batch size, with some threads. */
export interface PairOptions {
  preset: string;
  batch: number;
  threads: number;
  /** Weights laid out channels-last on both sides (Module.channelsLast; net.to(memory_format=torch.channels_last)). */
  channelsLast?: boolean;
  /** Folder for the weights and data the TS side writes for the Python side. */
  dir: string;
  /** Where both sides run (default cpu). */
  device?: 'cpu' | 'cuda';
  /** The training step's forward passes under autocast at this precision on both sides (default fp32). */
  precision?: 'fp32' | 'bf16' | 'fp16';
}

/** Relative difference of the eval-mode losses above which the two sides do not compute the same step. */
export const LOSS_TOLERANCE = 1e-4;

/** Our worker and the Python peer on one engine, initialized with the same network, weights and data. */
export class StepPair {
  private constructor(
    readonly ours: LinePeer,
    readonly torch: LinePeer,
    /** The versions each side reports running on. */
    readonly oursTorch: string,
    readonly pythonTorch: string,
    readonly parameters: number,
    readonly evalLossOurs: number,
    readonly evalLossTorch: number,
  ) {}

  /** Relative difference of the two sides' eval-mode losses. */
  get evalLossRelDiff(): number {
    return Math.abs(this.evalLossOurs - this.evalLossTorch) / Math.max(Math.abs(this.evalLossTorch), 1e-30);
  }

  /** Starts both processes on `engine`, initializes them and checks that they compute the same loss. */
  static async start(engine: Engine, o: PairOptions): Promise<StepPair> {
    // Only the engine's own torch on PYTHONPATH (an inherited one could be the other version's), and the project's pydeps.
    const pythonPath = [engine.pythonPath, join(repoRoot, '.cache', 'pydeps')].filter((p): p is string => p !== null).join(':');
    const ours = new LinePeer(`bench/networks_worker (${engine.addon})`, process.execPath, [join(repoRoot, 'dist', 'bench', 'networks_worker.js')], {
      ...process.env,
      CONSISTENCY_NATIVE_ADDON: engine.addon,
    });
    const torch = new LinePeer(
      `bench/networks_ref.py (${engine.python}, torch ${engine.version})`,
      engine.python,
      ['-u', join(repoRoot, 'bench', 'networks_ref.py')],
      {
        ...process.env,
        PYTHONPATH: pythonPath,
      },
    );
    try {
      const hello = await torch.request<{ torch: string }>({ op: 'hello' });
      if (minorVersion(hello.torch) !== minorVersion(engine.version))
        throw new Error(
          `${engine.python} with PYTHONPATH=${pythonPath} imports torch ${hello.torch}, but ${engine.addon} was built against ${engine.version}`,
        );
      const init = await ours.request<{ params: number; threads: number; weights: string; data: string; config: unknown; lr: number; torch: string }>(
        {
          op: 'init',
          preset: o.preset,
          batch: o.batch,
          seed: 0,
          dir: o.dir,
          threads: o.threads,
          channelsLast: o.channelsLast === true,
          device: o.device ?? 'cpu',
          precision: o.precision ?? 'fp32',
        },
      );
      if (minorVersion(init.torch) !== minorVersion(engine.version))
        throw new Error(`${engine.addon} runs on libtorch ${init.torch}, but its libtorch.json says ${engine.version}`);
      const pinit = await torch.request<{ params: number; threads: number }>({
        op: 'init',
        config: init.config,
        weights: init.weights,
        data: init.data,
        lr: init.lr,
        threads: o.threads,
        channels_last: o.channelsLast === true,
        device: o.device ?? 'cpu',
        precision: o.precision ?? 'fp32',
      });
      if (init.params !== pinit.params) throw new Error(`parameter counts differ: ours ${init.params}, torch ${pinit.params}`);
      if (init.threads !== o.threads || pinit.threads !== o.threads)
        throw new Error(`asked for ${o.threads} threads, got ours ${init.threads}, torch ${pinit.threads}`);
      const l0 = (await ours.request<{ loss: number }>({ op: 'loss0' })).loss;
      const p0 = (await torch.request<{ loss: number }>({ op: 'loss0' })).loss;
      const pair = new StepPair(ours, torch, init.torch, hello.torch, init.params, l0, p0);
      if (!(pair.evalLossRelDiff <= LOSS_TOLERANCE))
        throw new Error(
          `${o.preset} on torch ${engine.version}: eval-mode losses differ: ours ${l0}, torch ${p0} (relative ${pair.evalLossRelDiff})`,
        );
      return pair;
    } catch (e) {
      await Promise.allSettled([ours.close(), torch.close()]);
      throw e;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.ours.close(), this.torch.close()]);
  }
}

/** The kinds of timed work a peer does: a training step, or one-step sampling of the batch. */
export type Work = 'steps' | 'sample';

/** Runs `n` blocks of `work` on a peer and returns their wall times (ms). */
export async function timed(peer: LinePeer, work: Work, n: number): Promise<number[]> {
  return (await peer.request<StepsReply>({ op: work, n })).ms;
}

/**
 * `rounds` rounds of one block of `work` per peer, the order rotating by one peer every round (so
 * each peer takes every position equally often), after `warmup` untimed blocks each. The times per label.
 */
export async function interleave(
  peers: readonly { label: string; peer: LinePeer }[],
  work: Work,
  rounds: number,
  warmup: number,
  log: (line: string) => void,
): Promise<Map<string, number[]>> {
  if (warmup > 0) for (const p of peers) await timed(p.peer, work, warmup);
  const times = new Map<string, number[]>(peers.map((p) => [p.label, []]));
  for (let r = 0; r < rounds; r++) {
    const line: string[] = [];
    for (let k = 0; k < peers.length; k++) {
      const p = peers[(r + k) % peers.length]!;
      const [ms] = await timed(p.peer, work, 1);
      times.get(p.label)!.push(ms!);
      line.push(`${p.label} ${ms!.toFixed(0)}`);
    }
    log(`  round ${r + 1}/${rounds} (${work}, ms): ${line.join(', ')}`);
  }
  return times;
}

/** The figures of one ours-vs-PyTorch pair of median step times (ms) on batches of `batch` images. */
export function oursVsTorch(oursMs: number, torchMs: number, batch: number, msDigits: number) {
  return {
    ours_ms: round(oursMs, msDigits),
    torch_ms: round(torchMs, msDigits),
    ours_images_per_s: round((batch * 1000) / oursMs, 1),
    torch_images_per_s: round((batch * 1000) / torchMs, 1),
    ratio_ours_over_torch: round(oursMs / torchMs, 4),
  };
}
