/**
 * What the commands that run a trained network share: the --threads and --device flags and their
 * checks, loading --ckpt with --weights, the sampling levels from --sigmas or --steps, and the
 * PNG named by --out. (Kept apart from args.ts because it loads the native addon.)
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { UsageError, bool, list, num, str, type FlagSpecs, type ParsedFlags } from './args.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkDevice, setDefaultDevice, setNumThreads } from '../tensor/device.js';
import { checkPrecision, parsePrecision, precisions, type Precision } from '../tensor/autocast.js';
import { loadModel, samplingLevels, type LoadedModel, type WeightsKind } from '../train/load-model.js';
import type { RunConfig } from '../train/config.js';

/** --device and --threads as `sample` and `edit` declare them (the last flags of their help). */
export const RUNTIME_FLAGS: FlagSpecs = {
  device: { kind: 'string', help: 'cpu, cuda or cuda:N', default: 'cpu' },
  threads: { kind: 'int', help: 'libtorch threads (default: all cores)' },
};

/** --precision and --channels-last, for the commands that run a network (sample, eval). */
export const PRECISION_FLAGS: FlagSpecs = {
  precision: {
    kind: 'string',
    help: 'network arithmetic: fp32, or mixed precision through autocast (bf16 on CPU/CUDA, fp16 on CUDA)',
    choices: [...precisions],
    default: 'fp32',
  },
  'channels-last': { kind: 'boolean', help: 'lay weights and activations out channels-last (NHWC)' },
};

/** The --precision flag, checked against the device (fp16 needs CUDA): a UsageError naming the flag. */
export function precisionFlag(command: string, f: ParsedFlags, device: string): Precision {
  try {
    const p = parsePrecision(str(f, 'precision') ?? 'fp32');
    checkPrecision(p, device);
    return p;
  } catch (e) {
    throw new UsageError(`${command}: --precision: ${(e as Error).message}`);
  }
}

/**
 * --clip-denoised as `sample` and `edit` declare it: on by default, as in the official code (every
 * intermediate estimate clipped to [-1, 1], docs/method.md section 6); --no-clip-denoised clips only the output.
 */
export const CLIP_DENOISED_FLAG: FlagSpecs = {
  'clip-denoised': {
    kind: 'boolean',
    help: 'clip every intermediate estimate to [-1, 1] as the official code does (--no-clip-denoised: only the output)',
    default: true,
  },
};

/** Sets libtorch's threads to --threads when it is given; below 1 is `<command>: --threads must be <want>; got N`. */
export function applyThreadsFlag(command: string, threads: number | undefined, want = 'an integer >= 1'): void {
  if (threads === undefined) return;
  if (threads < 1) throw new UsageError(`${command}: --threads must be ${want}; got ${threads}`);
  // Each libtorch thread costs start-up time (--threads 528 took 48 s on 2 cores before any work): far past the cores is a typo.
  const most = Math.max(64, 4 * availableParallelism());
  if (threads > most) throw new UsageError(`${command}: --threads must be at most ${most} (${availableParallelism()} cores here); got ${threads}`);
  setNumThreads(threads);
}

/** Checks a --device value; one this libtorch cannot use is a UsageError naming the flag. */
export function checkDeviceFlag(command: string, device: string): void {
  try {
    checkDevice(device);
  } catch (e) {
    throw new UsageError(`${command}: --device: ${(e as Error).message}`);
  }
}

/**
 * Applies --threads, checks --device and makes it the default device, then loads --ckpt (with
 * --weights) on it: how `sample` and `edit` start.
 */
export function loadModelFromFlags(command: string, f: ParsedFlags): { model: LoadedModel; device: string } {
  applyThreadsFlag(command, num(f, 'threads'));
  const device = str(f, 'device')!;
  checkDeviceFlag(command, device);
  setDefaultDevice(device);
  const model = loadModel(str(f, 'ckpt')!, { device, weights: str(f, 'weights') as WeightsKind });
  // --channels-last where the command has it: convolutions then run NHWC (their outputs follow the weights).
  if (f['channelsLast'] !== undefined && bool(f, 'channelsLast')) model.network.channelsLast();
  return { model, device };
}

/** Parses --sigmas: finite, strictly decreasing, >= sigma_min. */
export function parseSigmas(values: string[], sigmaMin: number, command: string): number[] {
  const sigmas = values.map((v) => Number(v));
  sigmas.forEach((s, i) => {
    if (!Number.isFinite(s) || s < sigmaMin)
      throw new UsageError(`${command}: --sigmas values must be numbers >= sigma_min=${sigmaMin}; got '${values[i]}'`);
    if (i > 0 && !(s < sigmas[i - 1]!)) throw new UsageError(`${command}: --sigmas must decrease strictly; got ${sigmas[i - 1]} then ${s}`);
  });
  if (sigmas.length === 0) throw new UsageError(`${command}: --sigmas needs at least one level`);
  return sigmas;
}

/** The levels to sample with: --sigmas when given, else the top `steps` levels of the run's schedule. */
export function levelsFromFlags(command: string, f: ParsedFlags, config: RunConfig, steps: number): number[] {
  const sigmaValues = list(f, 'sigmas');
  return sigmaValues ? parseSigmas(sigmaValues, config.method.sigmaMin, command) : samplingLevels(config, steps);
}

/** --out as an absolute path; one that does not end in .png is a UsageError. */
export function pngOutFlag(command: string, f: ParsedFlags): string {
  const out = resolve(str(f, 'out')!);
  if (!out.toLowerCase().endsWith('.png')) throw new UsageError(`${command}: --out must name a .png file; got ${out}`);
  return out;
}

/** Writes the PNG to `out` (atomically), `note` as a line on stderr, and the path on stdout. */
export function writePngOut(out: string, png: Uint8Array, note: string): void {
  writeFileAtomic(out, png);
  process.stderr.write(`${note}\n`);
  console.log(out);
}
