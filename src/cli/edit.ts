/**
 * `consistency edit --ckpt FILE --task inpaint|colorize|superres|interpolate [...] --out grid.png`:
 * zero-shot editing with a trained consistency model (Song et al. 2023, Algorithm 4; docs/method.md
 * section 6). Inputs come from image files (--input) or from the run's dataset (test split by
 * default). The output grid has one column per image and three rows: the input, what the model
 * is given (masked / gray / low-resolution), and the result. For 'interpolate' each row is one
 * pair of noises, interpolated from left to right.
 */
import type { Command } from './command.js';
import { UsageError, bool, list, num, parseCommandFlags, str, type FlagSpecs } from './args.js';
import { CLIP_DENOISED_FLAG, RUNTIME_FLAGS, levelsFromFlags, loadModelFromFlags, pngOutFlag, writePngOut } from './common.js';
import { Generator } from '../tensor/random.js';
import { randn, tensor, cat, ones, zerosLike, where } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import { avgPool2d, interpolate } from '../tensor/functional.js';
import type { Tensor } from '../tensor/tensor.js';
import { gridPng } from '../image/grid.js';
import { centerCropResize } from '../image/resize.js';
import { decodeImage, loadDataset, DataError } from '../data/index.js';
import { readFileOrThrow } from '../data/fsutil.js';
import { colorize, inpaint, interpolateNoises, superResolve, LUMA_WEIGHTS } from '../method/editing.js';
import type { LoadedModel } from '../train/load-model.js';
import { cycledClass } from '../method/class-labels.js';

const NAME = 'consistency edit';
const USAGE = `${NAME} --ckpt FILE_OR_RUN_DIR --task inpaint|colorize|superres|interpolate [--input IMG,...] [--n 8] [--mask center] [--factor 2] --out grid.png`;
const SUMMARY = 'zero-shot inpainting, colorization, super-resolution and noise interpolation with a trained model';

export const EDIT_TASKS = ['inpaint', 'colorize', 'superres', 'interpolate'] as const;
export type EditTask = (typeof EDIT_TASKS)[number];
export const MASKS = ['center', 'left', 'right', 'top', 'bottom'] as const;
export type MaskKind = (typeof MASKS)[number];

const FLAGS: FlagSpecs = {
  ckpt: { kind: 'string', help: 'a checkpoint file or a run directory', required: true },
  task: { kind: 'string', help: 'what to do', choices: EDIT_TASKS, required: true },
  out: { kind: 'string', help: 'the PNG grid to write (rows: input, model input, result)', required: true },
  input: { kind: 'list', help: 'PNG/JPEG files to edit, comma-separated (default: images of the run dataset)' },
  data: { kind: 'string', help: "the dataset's location (default: the run's --data)" },
  split: { kind: 'string', help: 'dataset split to take images from', choices: ['train', 'test'], default: 'test' },
  index: { kind: 'int', help: 'first dataset image', default: 0 },
  n: { kind: 'int', help: 'images to edit (interpolate: rows of noise pairs)', default: 8 },
  mask: { kind: 'string', help: 'inpaint: the region to generate', choices: MASKS, default: 'center' },
  factor: { kind: 'int', help: 'superres: the upscaling factor', default: 2 },
  alphas: { kind: 'int', help: 'interpolate: images per row from alpha 0 to 1', default: 8 },
  steps: { kind: 'int', help: 'sampling steps (top levels of a Karras discretization; 5 gives 80, 24.4, 5.84, 0.97, 0.085)', default: 5 },
  sigmas: { kind: 'list', help: 'explicit decreasing noise levels (overrides --steps)' },
  class: { kind: 'int', help: "class label for class-conditional models (default: the images' labels or cycling)" },
  seed: { kind: 'int', help: 'seed of the noise', default: 0 },
  weights: { kind: 'string', help: 'which weights to use', choices: ['ema', 'model'], default: 'ema' },
  ...CLIP_DENOISED_FLAG,
  ...RUNTIME_FLAGS,
};

function fail(message: string): never {
  throw new UsageError(`${NAME}: ${message}`);
}

/** Images as float32 NCHW in [-1, 1] in the model's shape, with labels when known. */
interface Inputs {
  images: Float32Array;
  count: number;
  labels: Int32Array | null;
}

/** Reads image files, converted to the model's channels and resized (center crop) to its size. */
function imagesFromFiles(files: string[], shape: [number, number, number]): Inputs {
  const [C, H, W] = shape;
  const per = C * H * W;
  const images = new Float32Array(files.length * per);
  files.forEach((file, n) => {
    const img = decodeImage(readFileOrThrow(file, 'image'), file);
    const rgb = centerCropResize(img.rgb, 3, img.height, img.width, H, W, 'area');
    const plane = H * W;
    for (let i = 0; i < plane; i++) {
      const r = rgb[i]!;
      const g = rgb[plane + i]!;
      const b = rgb[2 * plane + i]!;
      if (C === 1) images[n * per + i] = (LUMA_WEIGHTS[0] * r + LUMA_WEIGHTS[1] * g + LUMA_WEIGHTS[2] * b) / 127.5 - 1;
      else for (let c = 0; c < 3; c++) images[n * per + c * plane + i] = [r, g, b][c]! / 127.5 - 1;
    }
  });
  return { images, count: files.length, labels: null };
}

/** Takes `n` images from the run's dataset. */
async function imagesFromDataset(model: LoadedModel, data: string | undefined, split: 'train' | 'test', index: number, n: number): Promise<Inputs> {
  const d = model.config.data;
  const path = data ?? d.path ?? undefined;
  const ds = await loadDataset(d.dataset, {
    split,
    ...(path !== undefined && { data: path }),
    pad32: d.pad32,
    ...(d.size !== null && { size: d.size }),
    limit: index + n,
  });
  const [C, H, W] = model.shape;
  if (ds.channels !== C || ds.height !== H || ds.width !== W)
    throw new DataError(`${d.dataset} images are ${ds.channels}x${ds.height}x${ds.width}, the model takes ${C}x${H}x${W}`);
  if (index + n > ds.count) fail(`--index ${index} + --n ${n} runs past the ${ds.count} images of the ${split} split`);
  const per = C * H * W;
  const images = Float32Array.from(ds.images.subarray(index * per, (index + n) * per), (v) => v / 127.5 - 1);
  return { images, count: n, labels: ds.labels ? ds.labels.slice(index, index + n) : null };
}

/** 1 where a pixel is known, 0 where it is to be generated: [1, 1, H, W]. */
export function inpaintMask(kind: MaskKind, H: number, W: number): Float32Array {
  const known = new Float32Array(H * W).fill(1);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const hidden =
        kind === 'center'
          ? y >= H / 4 && y < (3 * H) / 4 && x >= W / 4 && x < (3 * W) / 4
          : kind === 'left'
            ? x < W / 2
            : kind === 'right'
              ? x >= W / 2
              : kind === 'top'
                ? y < H / 2
                : y >= H / 2;
      if (hidden) known[y * W + x] = 0;
    }
  }
  return known;
}

async function run(argv: string[]): Promise<number> {
  const f = parseCommandFlags(NAME, USAGE, SUMMARY, argv, FLAGS);
  if (!f) return 0;
  const task = str(f, 'task') as EditTask;
  const out = pngOutFlag(NAME, f);
  const n = num(f, 'n')!;
  const factor = num(f, 'factor')!;
  const alphas = num(f, 'alphas')!;
  const index = num(f, 'index')!;
  if (n < 1) fail(`--n must be an integer >= 1; got ${n}`);
  if (index < 0) fail(`--index must be an integer >= 0; got ${index}`);
  if (factor < 2) fail(`--factor must be an integer >= 2; got ${factor}`);
  if (alphas < 2) fail(`--alphas must be an integer >= 2; got ${alphas}`);
  if (num(f, 'steps')! < 1) fail(`--steps must be an integer >= 1; got ${num(f, 'steps')}`);
  if (num(f, 'seed')! < 0) fail(`--seed must be an integer >= 0; got ${num(f, 'seed')}`);

  const { model, device } = loadModelFromFlags(NAME, f);
  try {
    const { config } = model;
    const [C, H, W] = model.shape;
    const levels = levelsFromFlags(NAME, f, config, num(f, 'steps')!);
    if (task === 'colorize' && C !== 3) fail(`--task colorize needs a model of RGB images; this one makes ${C}-channel images`);
    if (task === 'superres' && (H % factor !== 0 || W % factor !== 0)) fail(`--factor ${factor} must divide the image size ${H}x${W}`);
    const classes = config.network.labelDim;
    const cls = num(f, 'class');
    if (cls !== undefined && (classes === 0 || cls < 0 || cls >= classes))
      fail(classes === 0 ? '--class: this model is unconditional' : `--class must be in [0, ${classes - 1}]; got ${cls}`);
    const generator = new Generator(num(f, 'seed')!, device);
    const clipDenoised = bool(f, 'clipDenoised');
    const labelsFor = (count: number, known: Int32Array | null): Tensor | undefined =>
      classes > 0
        ? tensor(
            BigInt64Array.from({ length: count }, (_, i) => BigInt(cls ?? known?.[i] ?? cycledClass(i, classes))),
            [count],
            { device },
          )
        : undefined;

    let png: Uint8Array;
    if (task === 'interpolate') {
      const columns = alphas;
      const images = tidy(() => {
        const z0 = randn([n, C, H, W], { generator, device });
        const z1 = randn([n, C, H, W], { generator, device });
        const a = Array.from({ length: columns }, (_, i) => i / (columns - 1));
        const labels = labelsFor(n, null);
        const rows = interpolateNoises(model.denoiser, z0, z1, a, levels, generator, { clipDenoised, classLabels: labels });
        // rows[alpha] is [n, C, H, W]; the grid wants row = pair, column = alpha.
        return cat(
          rows.map((r) => r.unsqueeze(1)),
          1,
        )
          .reshape([n * columns, C, H, W])
          .toFloat32Array();
      });
      png = gridPng(images, { count: n * columns, channels: C, height: H, width: W, columns });
    } else {
      const files = list(f, 'input');
      const inputs = files
        ? imagesFromFiles(files, model.shape)
        : await imagesFromDataset(model, str(f, 'data'), str(f, 'split') as 'train' | 'test', index, n);
      const count = inputs.count;
      const images = tidy(() => {
        const x = tensor(inputs.images, [count, C, H, W], { device });
        const labels = labelsFor(count, inputs.labels);
        const options = { clipDenoised, classLabels: labels };
        let given: Tensor;
        let result: Tensor;
        if (task === 'inpaint') {
          const known = tensor(inpaintMask(str(f, 'mask') as MaskKind, H, W), [1, 1, H, W], { device });
          given = where(known.ne(0), x, zerosLike(x));
          result = inpaint(model.denoiser, x, known, levels, generator, options);
        } else if (task === 'colorize') {
          const w = tensor(Float32Array.from(LUMA_WEIGHTS), [1, 3, 1, 1], { device });
          const gray = x.mul(w).sum(1, true);
          given = gray.mul(ones([1, 3, 1, 1], { device }));
          result = colorize(model.denoiser, gray, levels, generator, options);
        } else {
          const low = avgPool2d(x, factor);
          given = interpolate(low, { size: [H, W], mode: 'nearest' });
          result = superResolve(model.denoiser, low, factor, levels, generator, options);
        }
        return cat([x, given, result], 0).toFloat32Array();
      });
      png = gridPng(images, { count: 3 * count, channels: C, height: H, width: W, columns: count });
    }
    writePngOut(out, png, `${task} with ${model.file} (step ${model.step}), levels [${levels.join(', ')}]`);
    return 0;
  } finally {
    model.dispose();
  }
}

const command: Command = { summary: SUMMARY, run };
export default command;
