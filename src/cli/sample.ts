/**
 * `consistency sample --ckpt FILE_OR_RUN_DIR [--steps K | --sigmas 80,0.821] [--n 64] [--class C]
 * [--seed S] --out grid.png`: draws images from a trained checkpoint (EMA weights by default) in
 * one or more steps (docs/method.md section 6) and writes them as one PNG grid.
 */
import type { Command } from './command.js';
import { UsageError, bool, num, parseCommandFlags, str, type FlagSpecs } from './args.js';
import {
  CLIP_DENOISED_FLAG,
  PRECISION_FLAGS,
  RUNTIME_FLAGS,
  levelsFromFlags,
  loadModelFromFlags,
  pngOutFlag,
  precisionFlag,
  writePngOut,
} from './common.js';
import { gridPng } from '../image/grid.js';
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
  ...CLIP_DENOISED_FLAG,
  ...PRECISION_FLAGS,
  ...RUNTIME_FLAGS,
};

function fail(message: string): never {
  throw new UsageError(`${NAME}: ${message}`);
}

async function run(argv: string[]): Promise<number> {
  const f = parseCommandFlags(NAME, USAGE, SUMMARY, argv, FLAGS);
  if (!f) return 0;
  const out = pngOutFlag(NAME, f);
  const n = num(f, 'n')!;
  const batch = num(f, 'batch')!;
  const steps = num(f, 'steps')!;
  if (n < 1) fail(`--n must be an integer >= 1; got ${n}`);
  if (batch < 1) fail(`--batch must be an integer >= 1; got ${batch}`);
  if (steps < 1) fail(`--steps must be an integer >= 1; got ${steps}`);
  if (num(f, 'seed')! < 0) fail(`--seed must be an integer >= 0; got ${num(f, 'seed')}`);
  const columns = num(f, 'columns');
  if (columns !== undefined && columns < 1) fail(`--columns must be an integer >= 1; got ${columns}`);

  const precision = precisionFlag(NAME, f, str(f, 'device')!);
  const { model } = loadModelFromFlags(NAME, f);
  try {
    const { config } = model;
    const levels = levelsFromFlags(NAME, f, config, steps);
    if (levels[0]! > config.method.sigmaMax) fail(`--sigmas: the first level ${levels[0]} is above the model's sigma_max ${config.method.sigmaMax}`);
    const classes = config.network.labelDim;
    const cls = num(f, 'class');
    if (cls !== undefined) {
      if (classes === 0) fail('--class: this model is unconditional (trained without class labels)');
      if (cls < 0 || cls >= classes) fail(`--class must be in [0, ${classes - 1}]; got ${cls}`);
    }
    const images = sampleImages(model, {
      count: n,
      levels,
      seed: num(f, 'seed')!,
      batch,
      precision,
      clipDenoised: bool(f, 'clipDenoised'),
      ...(cls !== undefined && { classLabel: cls }),
    });
    const [C, H, W] = model.shape;
    const png = gridPng(images, { count: n, channels: C, height: H, width: W, ...(columns !== undefined && { columns }) });
    writePngOut(out, png, `${n} samples from ${model.file} (step ${model.step}) with levels [${levels.join(', ')}]`);
    return 0;
  } finally {
    model.dispose();
  }
}

const command: Command = { summary: SUMMARY, run };
export default command;
