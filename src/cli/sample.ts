/**
 * `consistency sample --ckpt FILE_OR_RUN_DIR [--steps K | --sigmas 80,0.821] [--n 64] [--class C]
 * [--seed S] --out grid.png`: draws images from a trained checkpoint (EMA weights by default) in
 * one or more steps (spec section 6) and writes them as one PNG grid.
 */
import { resolve } from 'node:path';
import type { Command } from './command.js';
import { UsageError, helpText, list, num, parseFlags, str, type FlagSpecs } from './args.js';
import { checkDevice, setDefaultDevice, setNumThreads } from '../tensor/device.js';
import { writeFileAtomic } from '../io/atomic.js';
import { gridPng } from '../image/grid.js';
import { loadModel, samplingLevels, type WeightsKind } from '../train/load-model.js';
import { sampleImages } from '../train/generate.js';

const NAME = 'consistency sample';
const USAGE = `${NAME} --ckpt FILE_OR_RUN_DIR [--steps 1|2|...] [--sigmas 80,0.821] [--n 64] [--class C] [--seed S] --out grid.png`;
const SUMMARY = 'draw images from a trained checkpoint in one or more steps and write a PNG grid';

const FLAGS: FlagSpecs = {
  ckpt: { kind: 'string', help: 'a checkpoint file or a run directory', required: true },
  out: { kind: 'string', help: 'the PNG file to write', required: true },
  steps: { kind: 'int', help: "sampling steps: 1 = [sigma_max], 2 = [sigma_max, the run's second level], more = Karras levels", default: 1 },
  sigmas: { kind: 'list', help: 'explicit decreasing noise levels, comma-separated (overrides --steps), e.g. 80,0.821' },
  n: { kind: 'int', help: 'number of images', default: 64 },
  class: { kind: 'int', help: 'class label for class-conditional models (default: cycle through the classes)' },
  seed: { kind: 'int', help: 'seed of the noise', default: 0 },
  batch: { kind: 'int', help: 'images per network pass', default: 64 },
  columns: { kind: 'int', help: 'images per grid row (default: a square grid)' },
  weights: { kind: 'string', help: 'which weights to sample with', choices: ['ema', 'model'], default: 'ema' },
  device: { kind: 'string', help: 'cpu, cuda or cuda:N', default: 'cpu' },
  threads: { kind: 'int', help: 'libtorch threads (default: all cores)' },
};

function fail(message: string): never {
  throw new UsageError(`${NAME}: ${message}`);
}

/** Parses --sigmas: finite, strictly decreasing, >= sigma_min. */
export function parseSigmas(values: string[], sigmaMin: number, command: string): number[] {
  const sigmas = values.map((v) => Number(v));
  sigmas.forEach((s, i) => {
    if (!Number.isFinite(s) || s < sigmaMin) throw new UsageError(`${command}: --sigmas values must be numbers >= sigma_min=${sigmaMin}; got '${values[i]}'`);
    if (i > 0 && !(s < sigmas[i - 1]!)) throw new UsageError(`${command}: --sigmas must decrease strictly; got ${sigmas[i - 1]} then ${s}`);
  });
  if (sigmas.length === 0) throw new UsageError(`${command}: --sigmas needs at least one level`);
  return sigmas;
}

async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(helpText(USAGE, SUMMARY, FLAGS));
    return 0;
  }
  const f = parseFlags(NAME, argv, FLAGS);
  if (f._.length > 0) fail(`unexpected argument '${f._[0]}' (see '${NAME} --help')`);
  const out = resolve(str(f, 'out')!);
  if (!out.toLowerCase().endsWith('.png')) fail(`--out must name a .png file; got ${out}`);
  const n = num(f, 'n')!;
  const batch = num(f, 'batch')!;
  const steps = num(f, 'steps')!;
  if (n < 1) fail(`--n must be an integer >= 1; got ${n}`);
  if (batch < 1) fail(`--batch must be an integer >= 1; got ${batch}`);
  if (steps < 1) fail(`--steps must be an integer >= 1; got ${steps}`);
  if (num(f, 'seed')! < 0) fail(`--seed must be an integer >= 0; got ${num(f, 'seed')}`);
  const columns = num(f, 'columns');
  if (columns !== undefined && columns < 1) fail(`--columns must be an integer >= 1; got ${columns}`);
  const threads = num(f, 'threads');
  if (threads !== undefined) {
    if (threads < 1) fail(`--threads must be an integer >= 1; got ${threads}`);
    setNumThreads(threads);
  }
  const device = str(f, 'device')!;
  try {
    checkDevice(device);
  } catch (e) {
    fail(`--device: ${(e as Error).message}`);
  }
  setDefaultDevice(device);

  const model = loadModel(str(f, 'ckpt')!, { device, weights: str(f, 'weights') as WeightsKind });
  try {
    const { config } = model;
    const sigmaValues = list(f, 'sigmas');
    const levels = sigmaValues ? parseSigmas(sigmaValues, config.method.sigmaMin, NAME) : samplingLevels(config, steps);
    if (levels[0]! > config.method.sigmaMax) fail(`--sigmas: the first level ${levels[0]} is above the model's sigma_max ${config.method.sigmaMax}`);
    const classes = config.network.labelDim;
    const cls = num(f, 'class');
    if (cls !== undefined) {
      if (classes === 0) fail('--class: this model is unconditional (trained without class labels)');
      if (cls < 0 || cls >= classes) fail(`--class must be in [0, ${classes - 1}]; got ${cls}`);
    }
    const images = sampleImages(model, { count: n, levels, seed: num(f, 'seed')!, batch, ...(cls !== undefined && { classLabel: cls }) });
    const [C, H, W] = model.shape;
    writeFileAtomic(out, gridPng(images, { count: n, channels: C, height: H, width: W, ...(columns !== undefined && { columns }) }));
    process.stderr.write(`${n} samples from ${model.file} (step ${model.step}) with levels [${levels.join(', ')}]\n`);
    console.log(out);
    return 0;
  } finally {
    model.dispose();
  }
}

const command: Command = { summary: SUMMARY, run };
export default command;
