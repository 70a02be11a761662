/**
 * The fuzz targets: every reader of outside data, each with valid seed files (made here with the
 * project's own writers and libraries, or committed under test/fuzz-corpus/seeds/ as Python's torch
 * and numpy wrote them: fuzz/make_seeds.py) and the call that parses one input the way the program
 * does. The contract each input is held to (checkOutcome): it parses, or it is refused with one of
 * the target's typed errors carrying one clear line. Anything else (a TypeError, a RangeError from
 * a typed array, a message of several lines) is a finding; fuzz/worker.ts adds the time and
 * allocation limits.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { create as createTar } from 'tar';
import { parseSafetensors, serializeSafetensors, SafetensorsError } from '../src/io/safetensors.js';
import { parseTorchCheckpoint, TorchCheckpointError } from '../src/io/torch-checkpoint.js';
import { CheckpointError, disposeCheckpoint, readCheckpoint, readCheckpointConfig, serializeCheckpoint } from '../src/train/checkpoint.js';
import { DataError } from '../src/data/types.js';
import { NpzFile, npyToInt32 } from '../src/data/npz.js';
import { loadImagenet64 } from '../src/data/imagenet64.js';
import { loadCifar10Archive, CIFAR10_RECORD } from '../src/data/cifar10.js';
import { parseIdx, readIdxImagesAndLabels } from '../src/data/idx.js';
import { gunzipOrThrow, isGzip } from '../src/data/fsutil.js';
import { loadImageFolder } from '../src/data/folder.js';
import { encodePng } from '../src/image/png.js';
import { tensor, zeros } from '../src/tensor/creation.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { runPreset } from '../src/train/presets.js';
import { runConfigToJson, type RunConfig } from '../src/train/config.js';
import { createNetwork } from '../src/networks/build.js';
import { loadModel, samplingLevels } from '../src/train/load-model.js';
import { isJsonObject } from '../src/train/json.js';
import { UsageError } from '../src/cli/args.js';

/** An error class a target may refuse input with. */
type ErrorClass = abstract new (...args: never[]) => Error;

export interface FuzzTarget {
  name: string;
  /** What it parses, for the report. */
  what: string;
  /** Valid inputs the mutations start from. */
  seeds(): Uint8Array[];
  /** Parses one input as the program does and frees what it made; `scratch` is an empty folder it may write to. */
  run(bytes: Uint8Array, scratch: string): void | Promise<void>;
  /** The typed errors that count as a clear refusal. */
  expected: readonly ErrorClass[];
  /** The seeds are JSON text: most inputs are JSON edits of them (fuzz/mutate.ts). */
  json?: boolean;
  /** The longest one input may take (default 2000 ms; commands that start libtorch threads need more). */
  inputLimitMs?: number;
  /** Repairs checksums after mutation, so inputs get past them to the fields behind (PNG chunk CRCs). */
  fixup?(bytes: Uint8Array): Uint8Array;
}

/** A PNG with every complete chunk's CRC-32 recomputed (other bytes are left as they are). */
function fixPngCrcs(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 8 || bytes[0] !== 0x89 || bytes[1] !== 0x50) return bytes;
  const out = Uint8Array.from(bytes);
  const v = new DataView(out.buffer);
  for (let p = 8; p + 12 <= out.length;) {
    const len = v.getUint32(p);
    if (p + 12 + len > out.length) break;
    v.setUint32(p + 8 + len, crc32(out.subarray(p + 4, p + 8 + len)));
    p += 12 + len;
  }
  return out;
}

/** Where the committed seeds are (the repository root from dist/fuzz/ or fuzz/). */
function seedFile(name: string): Uint8Array {
  const here = new URL('.', import.meta.url).pathname;
  const root = here.includes('/dist/') ? join(here, '..', '..') : join(here, '..');
  return new Uint8Array(readFileSync(join(root, 'test', 'fuzz-corpus', 'seeds', name)));
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks));
}

function disposeAll(tensors: Iterable<Tensor>): void {
  for (const t of tensors) t.dispose();
}

/** Small tensors of several dtypes (the seeds of the safetensors and checkpoint targets). */
function sampleTensors(): Map<string, Tensor> {
  return new Map<string, Tensor>([
    ['w', tensor(Float32Array.from([0.5, -1, 2, 3, 4, 5]), [2, 3], { device: 'cpu' })],
    ['b', tensor(Float32Array.from([1, 2]), [2], { device: 'cpu' })],
    ['n', tensor(new Int32Array([7, -7, 9]), [3], { device: 'cpu' })],
    ['u', tensor(new Uint8Array([1, 2, 3, 4]), [2, 2], { dtype: 'uint8', device: 'cpu' })],
  ]);
}

const safetensors: FuzzTarget = {
  name: 'safetensors',
  what: 'safetensors files (src/io/safetensors.ts parseSafetensors)',
  seeds() {
    const t = sampleTensors();
    try {
      return [concat(serializeSafetensors(t, { note: 'seed' })), concat(serializeSafetensors(new Map([...t].slice(0, 1))))];
    } finally {
      disposeAll(t.values());
    }
  },
  run(bytes) {
    disposeAll(parseSafetensors(bytes, 'fuzz.safetensors', { device: 'cpu' }).tensors.values());
  },
  expected: [SafetensorsError],
};

const checkpoint: FuzzTarget = {
  name: 'checkpoint',
  what: 'training checkpoints (src/train/checkpoint.ts readCheckpoint, readCheckpointConfig)',
  seeds() {
    const t = sampleTensors();
    try {
      const ckpt = {
        step: 3,
        config: { preset: 'fuzz', network: { channels: 8 }, training: { steps: 10, batch: 2 } },
        groups: new Map([
          ['model', new Map([...t].slice(0, 2))],
          ['ema', new Map([...t].slice(2))],
        ]),
        generators: new Map([['cpu', new Uint8Array([9, 8, 7, 6, 5])]]),
        state: { loader: { epoch: 0, index: 4 }, counters: [1, 2] },
      };
      return [concat(serializeCheckpoint(ckpt))];
    } finally {
      disposeAll(t.values());
    }
  },
  run(bytes, scratch) {
    const file = join(scratch, 'checkpoint.safetensors');
    writeFileSync(file, bytes);
    readCheckpointConfig(scratch);
    disposeCheckpoint(readCheckpoint(file, { device: 'cpu' }));
  },
  expected: [CheckpointError],
};

function torchTarget(name: string, seed: string, what: string): FuzzTarget {
  return {
    name,
    what,
    seeds: () => [seedFile(seed)],
    run(bytes) {
      disposeAll(parseTorchCheckpoint(bytes, 'fuzz.pt', { device: 'cpu' }).values());
    },
    expected: [TorchCheckpointError],
  };
}

const npz: FuzzTarget = {
  name: 'npz',
  what: 'numpy .npz files (src/data/npz.ts NpzFile) and the ImageNet 64 loader on them',
  seeds: () => [seedFile('train_data_batch_1.npz'), seedFile('deflated.npz')],
  run(bytes, scratch) {
    const file = join(scratch, 'train_data_batch_1.npz');
    writeFileSync(file, bytes);
    const f = NpzFile.open(file);
    try {
      for (const name of f.names) {
        f.header(name);
        const arr = f.read(name);
        if (/^[<>|=][iub]\d+$/.test(arr.dtype)) npyToInt32(arr, name);
      }
    } finally {
      f.close();
    }
    loadImagenet64({ data: scratch, split: 'train' });
  },
  expected: [DataError],
};

/** A CIFAR-10-layout archive with a 2-record test batch, as tar (gzip = false) or tar.gz. */
function cifarArchive(dir: string, gzip: boolean): Uint8Array {
  const inner = join(dir, 'cifar-10-batches-bin');
  mkdirSync(inner, { recursive: true });
  const records = new Uint8Array(2 * CIFAR10_RECORD).map((_, i) => (i % CIFAR10_RECORD === 0 ? (i / CIFAR10_RECORD) * 3 : (i * 7) % 256));
  writeFileSync(join(inner, 'test_batch.bin'), records);
  writeFileSync(join(inner, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
  const file = join(dir, gzip ? 'a.tar.gz' : 'a.tar');
  createTar({ sync: true, gzip, cwd: dir, file, portable: true }, ['cifar-10-batches-bin']);
  return new Uint8Array(readFileSync(file));
}

const cifar10: FuzzTarget = {
  name: 'cifar10',
  what: 'CIFAR-10 tar and tar.gz archives (src/data/tar.ts through src/data/cifar10.ts loadCifar10Archive)',
  seeds() {
    const dir = join(process.env['FUZZ_SCRATCH'] ?? '/tmp', `cifar-seed-${process.pid}`);
    try {
      return [cifarArchive(dir, true), cifarArchive(dir, false)];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  run(bytes, scratch) {
    const file = join(scratch, 'cifar-10-binary.tar.gz');
    writeFileSync(file, bytes);
    loadCifar10Archive(file, 'test', () => undefined);
  },
  expected: [DataError],
};

function idxBytes(type: number, dims: number[], body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + body.length);
  const v = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d));
  out.set(body, 4 + 4 * dims.length);
  return out;
}

const idx: FuzzTarget = {
  name: 'idx',
  what: 'IDX files, plain or gzipped (src/data/idx.ts parseIdx, readIdxImagesAndLabels)',
  seeds() {
    const images = idxBytes(
      0x08,
      [2, 3, 3],
      new Uint8Array(18).map((_, i) => i * 13),
    );
    return [images, gzipSync(images), idxBytes(0x0c, [2, 2], new Uint8Array(16).fill(1)), idxBytes(0x0e, [1], new Uint8Array(8).fill(0x3f))];
  },
  run(bytes, scratch) {
    const arr = parseIdx(isGzip(bytes) ? gunzipOrThrow(bytes, 'fuzz.idx') : bytes, 'fuzz.idx');
    // What the MNIST loaders do with an image file: only for files that are images.
    if (arr.type !== 'uint8' || arr.dims.length !== 3) return;
    const images = join(scratch, 'images.idx');
    const labels = join(scratch, 'labels.idx');
    writeFileSync(images, bytes);
    writeFileSync(labels, idxBytes(0x08, [2], Uint8Array.of(1, 9)));
    readIdxImagesAndLabels(images, labels, 10);
  },
  expected: [DataError],
};

function rgbaPixels(w: number, h: number): Uint8Array {
  return new Uint8Array(w * h * 4).map((_, i) => (i * 37 + (i >> 5)) & 255);
}

const images: FuzzTarget = {
  name: 'images',
  what: 'image folders of PNG and JPEG files (src/data/folder.ts loadImageFolder: pngjs, jpeg-js)',
  seeds() {
    const gray = encodePng(
      new Uint8Array(20).map((_, i) => i * 12),
      5,
      4,
      1,
    );
    const rgb = encodePng(
      new Uint8Array(6 * 5 * 3).map((_, i) => (i * 29) & 255),
      6,
      5,
      3,
    );
    const rgba = encodePng(rgbaPixels(4, 4), 4, 4, 4);
    const jpg = new Uint8Array(jpeg.encode({ data: Buffer.from(rgbaPixels(16, 8)), width: 16, height: 8 }, 90).data);
    return [gray, rgb, rgba, jpg];
  },
  run(bytes, scratch) {
    writeFileSync(join(scratch, 'x.png'), bytes);
    loadImageFolder({ data: scratch, size: 8 });
  },
  expected: [DataError],
  fixup: fixPngCrcs,
};

/** The weights of the run-config seed (a tiny network), made once per process. */
let tinyWeights: { config: RunConfig; tensors: Map<string, Tensor> } | null = null;

function tinyRunConfig(): { config: RunConfig; tensors: Map<string, Tensor> } {
  if (tinyWeights) return tinyWeights;
  const preset = runPreset('mnist-tiny');
  if (!preset) throw new Error('the mnist-tiny preset is missing');
  const config: RunConfig = { ...preset, network: { ...preset.network, modelChannels: 4, channelMult: [1, 1], numBlocks: 1, attnResolutions: [] } };
  const net = createNetwork(config.network, { device: 'cpu', values: 'uninitialized' });
  try {
    // Zeros: uninitialized memory may hold NaN, which serializeCheckpoint refuses to write.
    tinyWeights = { config, tensors: new Map([...net.stateDict()].map(([k, t]) => [k, zeros(t.shape, { device: 'cpu' })])) };
  } finally {
    net.dispose();
  }
  return tinyWeights;
}

const runConfig: FuzzTarget = {
  name: 'run-config',
  what: 'run configs as checkpoints carry them (JSON in the header; src/train/load-model.ts loadModel and samplingLevels)',
  json: true,
  seeds: () => [new TextEncoder().encode(JSON.stringify(runConfigToJson(tinyRunConfig().config)))],
  run(bytes, scratch) {
    let config: unknown;
    try {
      config = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return; // not JSON: the checkpoint target covers how a header with broken JSON is refused
    }
    if (!isJsonObject(config)) return;
    const { tensors } = tinyRunConfig();
    const file = join(scratch, 'checkpoint.safetensors');
    writeFileSync(
      file,
      concat(
        serializeCheckpoint({
          step: 1,
          config,
          groups: new Map([
            ['model', tensors],
            ['ema', tensors],
          ]),
          generators: new Map(),
          state: {},
        }),
      ),
    );
    const model = loadModel(file, { device: 'cpu' });
    try {
      for (const steps of [1, 2, 3]) samplingLevels(model.config, steps);
    } finally {
      model.dispose();
    }
  },
  expected: [CheckpointError],
};

/** Command lines that reach each command's checks: every flag with a plausible value (JSON arrays of strings). */
const CLI_SEEDS: readonly string[][] = [
  [
    'schedule',
    '--total-steps',
    '100',
    '--step',
    '5',
    '--method',
    'ict',
    '--json',
    '--s0',
    '10',
    '--s1',
    '1280',
    '--p-mean',
    '-1.1',
    '--p-std',
    '2',
    '--sigma-min',
    '0.002',
    '--sigma-max',
    '80',
    '--rho',
    '7',
  ],
  ['describe', '--preset', 'mnist-tiny', '--json'],
  ['inspect', '--json'],
  [
    'sample',
    '--out',
    'x.png',
    '--steps',
    '2',
    '--sigmas',
    '80,0.8',
    '--n',
    '4',
    '--class',
    '1',
    '--seed',
    '3',
    '--batch',
    '2',
    '--columns',
    '2',
    '--weights',
    'ema',
    '--clip-denoised',
    '--device',
    'cpu',
    '--threads',
    '1',
  ],
  [
    'train',
    '--preset',
    'mnist-tiny',
    '--dataset',
    'mnist',
    '--method',
    'ict',
    '--teacher',
    'stopgrad',
    '--metric',
    'pseudo-huber',
    '--curriculum',
    'ict-exp',
    '--p-mean',
    '-1.1',
    '--s0',
    '10',
    '--s1',
    '40',
    '--steps',
    '10',
    '--batch',
    '4',
    '--micro-batch',
    '2',
    '--lr',
    '1e-3',
    '--optimizer',
    'adam',
    '--warmup',
    '0',
    '--ema',
    '0.999',
    '--dropout',
    '0',
    '--flip',
    '--seed',
    '1',
    '--second-sigma',
    '0.8',
    '--limit',
    '8',
    '--threads',
    '1',
    '--device',
    'cpu',
    '--checkpoint-every',
    '5',
    '--sample-every',
    '5',
    '--log-every',
    '1',
    '--samples',
    '4',
  ],
];

/** Flags the CLI target sets itself, so that no fuzzed command line reads real data or a real checkpoint, or trains. */
function confinedArgv(argv: string[], scratch: string): string[] {
  const forced: Record<string, [string, string][]> = {
    train: [
      ['--data', join(scratch, 'no-data')],
      ['--out', join(scratch, 'run')],
    ],
    sample: [['--ckpt', join(scratch, 'no-checkpoint.safetensors')]],
    edit: [['--ckpt', join(scratch, 'no-checkpoint.safetensors')]],
    eval: [['--images', join(scratch, 'no-images')]],
  };
  const own = forced[argv[0] ?? ''] ?? [];
  const names = new Set(own.map(([f]) => f));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const flag = a.split('=')[0]!;
    if (names.has(flag) || flag === '--resume') {
      if (!a.includes('=')) i++; // drop its value too
      continue;
    }
    out.push(a);
  }
  for (const [f, v] of own) out.push(f, v);
  return out;
}

const COMMANDS: Record<string, () => Promise<{ default: { run(argv: string[]): Promise<number> } }>> = {
  schedule: () => import('../src/cli/schedule.js'),
  describe: () => import('../src/cli/describe.js'),
  inspect: () => import('../src/cli/inspect.js'),
  train: () => import('../src/cli/train.js'),
  sample: () => import('../src/cli/sample.js'),
  edit: () => import('../src/cli/edit.js'),
  eval: () => import('../src/cli/eval.js'),
};

/** Runs `fn` with stdout, stderr and the console silenced (a fuzzed --help or schedule would print thousands of lines). */
async function silenced<T>(fn: () => Promise<T>): Promise<T> {
  const saved = {
    out: process.stdout.write.bind(process.stdout),
    err: process.stderr.write.bind(process.stderr),
    log: console.log,
    error: console.error,
    warn: console.warn,
  };
  const quiet = (): boolean => true;
  process.stdout.write = quiet;
  process.stderr.write = quiet;
  console.log = console.error = console.warn = (): void => undefined;
  try {
    return await fn();
  } finally {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    Object.assign(console, { log: saved.log, error: saved.error, warn: saved.warn });
  }
}

const cli: FuzzTarget = {
  name: 'cli',
  what: "the CLI's command lines (src/cli/*.ts run(argv) of each command, in-process: flag parsing and the checks behind it)",
  json: true,
  seeds: () => CLI_SEEDS.map((argv) => new TextEncoder().encode(JSON.stringify(argv))),
  async run(bytes, scratch) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return; // not a command line
    }
    if (!Array.isArray(parsed) || parsed.length === 0) return;
    // A shell hands every word over as a string.
    const argv = confinedArgv(
      parsed.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))),
      scratch,
    );
    const load = COMMANDS[argv[0]!];
    if (!load) return; // main.ts refuses unknown commands before any of this
    const cmd = (await load()).default;
    const code = await silenced(() => cmd.run(argv.slice(1)));
    if (code !== 0 && code !== 2) throw new Error(`exit code ${code}`);
  },
  expected: [UsageError, DataError, CheckpointError, TorchCheckpointError, SafetensorsError],
  inputLimitMs: 15_000,
};

/** Every target, in the order `npm run fuzz` runs them. */
export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  safetensors,
  checkpoint,
  torchTarget('pth-zip', 'state_zip.pt', 'torch .pth checkpoints in the zip format (src/io/torch-checkpoint.ts, src/io/zip.ts, src/io/pickle.ts)'),
  torchTarget('pth-legacy', 'state_legacy.pt', 'torch .pth checkpoints in the legacy pickle format (src/io/torch-checkpoint.ts, src/io/pickle.ts)'),
  npz,
  cifar10,
  idx,
  images,
  runConfig,
  cli,
];

export function findTarget(name: string): FuzzTarget | undefined {
  return FUZZ_TARGETS.find((t) => t.name === name);
}

/**
 * Runs one input and says what was wrong with the outcome, or null when it parsed or was refused
 * with one of the target's typed errors in one clear line.
 */
export async function checkOutcome(target: FuzzTarget, bytes: Uint8Array, scratch: string): Promise<string | null> {
  try {
    await target.run(bytes, scratch);
    return null;
  } catch (err) {
    if (!(err instanceof Error)) return `threw a non-Error value: ${String(err)}`;
    const first = `${err.name}: ${err.message.split('\n')[0] ?? ''}`;
    if (!target.expected.some((c) => err instanceof c)) return `threw ${first} (expected ${target.expected.map((c) => c.name).join(' or ')})`;
    if (err.message.length === 0 || err.message.includes('\n')) return `the message is not one line: ${JSON.stringify(err.message.slice(0, 300))}`;
    return null;
  }
}
