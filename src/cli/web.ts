/**
 * `consistency web --ckpt FILE_OR_RUN_DIR --out site/ [--weights ema|model] [--fp16]`: builds the
 * static page of web/ with Vite (onnxruntime-web and its wasm file bundled next to it; no CDN) and
 * the checkpoint's exported model (site/model.onnx). The site is built in a temporary folder and
 * renamed into place, so a failed build leaves no half site; an existing --out is replaced only
 * when it holds a site this command built.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from './command.js';
import { UsageError, num, parseCommandFlags, str, type FlagSpecs } from './args.js';
import { applyThreadsFlag } from './common.js';
import { loadModel, type WeightsKind } from '../train/load-model.js';
import { exportConsistencyOnnx } from '../export/export.js';

const NAME = 'consistency web';
const USAGE = `${NAME} --ckpt FILE_OR_RUN_DIR --out site/ [--weights ema|model] [--fp16]`;
const SUMMARY = 'build a static web page that generates with the exported model in the browser (onnxruntime-web)';
/** Marks a folder as a site this command built (so --out may replace it). */
const MARKER = '.consistency-web';

const FLAGS: FlagSpecs = {
  ckpt: { kind: 'string', help: 'a checkpoint file or a run directory', required: true },
  out: { kind: 'string', help: 'the folder to write the site into', required: true },
  weights: { kind: 'string', help: 'which weights to export', choices: ['ema', 'model'], default: 'ema' },
  fp16: { kind: 'boolean', help: 'store the weights as float16 (half the download)' },
  threads: { kind: 'int', help: 'libtorch threads (default: all cores)' },
};

/** The web/ folder of this package (dist/src/cli -> the package root). */
function webRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('consistency web: cannot find the package root');
    dir = up;
  }
  return join(dir, 'web');
}

async function run(argv: string[]): Promise<number> {
  const f = parseCommandFlags(NAME, USAGE, SUMMARY, argv, FLAGS);
  if (!f) return 0;
  const out = resolve(str(f, 'out')!);
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new UsageError(`${NAME}: --out ${out} exists and is not a folder`);
    if (readdirSync(out).length > 0 && !existsSync(join(out, MARKER)))
      throw new UsageError(`${NAME}: --out ${out} is a non-empty folder that 'consistency web' did not build; choose a new or empty one`);
  }
  applyThreadsFlag(NAME, num(f, 'threads'));
  const weights = str(f, 'weights') as WeightsKind;
  const model = loadModel(str(f, 'ckpt')!, { device: 'cpu', weights });
  let bytes: Uint8Array;
  try {
    bytes = exportConsistencyOnnx(model.network, model.config, {
      weights: f.fp16 === true ? 'float16' : 'float32',
      metadata: { step: String(model.step), weights },
    });
  } finally {
    model.dispose();
  }
  const staging = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  try {
    // Vite is loaded only here: the other commands do not need it.
    const { build } = await import('vite');
    await build({
      root: webRoot(),
      base: './',
      configFile: false,
      logLevel: 'warn',
      build: { outDir: staging, emptyOutDir: true, chunkSizeWarningLimit: 1024 },
    });
    writeFileSync(join(staging, 'model.onnx'), bytes);
    writeFileSync(join(staging, MARKER), `${model.config.preset}, step ${model.step}\n`);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(dirname(out), { recursive: true });
    renameSync(staging, out);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  process.stderr.write(`${model.config.preset} (step ${model.step}) -> ${out} (serve it with 'consistency serve ${out}')\n`);
  console.log(out);
  return 0;
}

const command: Command = { summary: SUMMARY, run };
export default command;
