/**
 * `consistency export --ckpt FILE_OR_RUN_DIR --out model.onnx [--weights ema|model] [--opset N] [--fp16]`:
 * writes a trained model's consistency function f(x, sigma) as one ONNX graph (src/export/export.ts)
 * for onnxruntime (Node or web). A missing, corrupt or truncated checkpoint is one line and exit 2,
 * and no file is written; the model file is written atomically.
 */
import { resolve } from 'node:path';
import { statSync } from 'node:fs';
import type { Command } from './command.js';
import { UsageError, num, parseCommandFlags, str, type FlagSpecs } from './args.js';
import { applyThreadsFlag } from './common.js';
import { writeFileAtomic } from '../io/atomic.js';
import { loadModel, type WeightsKind } from '../train/load-model.js';
import { exportConsistencyOnnx } from '../export/export.js';
import { SUPPORTED_OPSETS } from '../export/onnx-graph.js';

const NAME = 'consistency export';
const USAGE = `${NAME} --ckpt FILE_OR_RUN_DIR --out model.onnx [--weights ema|model] [--opset 17] [--fp16]`;
const SUMMARY = "write a checkpoint's consistency function f(x, sigma) as an ONNX model for onnxruntime";

const FLAGS: FlagSpecs = {
  ckpt: { kind: 'string', help: 'a checkpoint file or a run directory', required: true },
  out: { kind: 'string', help: 'the .onnx file to write', required: true },
  weights: { kind: 'string', help: 'which weights to export', choices: ['ema', 'model'], default: 'ema' },
  opset: { kind: 'int', help: `ONNX opset (${SUPPORTED_OPSETS.join(', ')})`, default: 17 },
  fp16: { kind: 'boolean', help: 'store the weights as float16 (half the file; computation stays float32)' },
  threads: { kind: 'int', help: 'libtorch threads (default: all cores)' },
};

function fail(message: string): never {
  throw new UsageError(`${NAME}: ${message}`);
}

async function run(argv: string[]): Promise<number> {
  const f = parseCommandFlags(NAME, USAGE, SUMMARY, argv, FLAGS);
  if (!f) return 0;
  const out = resolve(str(f, 'out')!);
  if (!out.toLowerCase().endsWith('.onnx')) fail(`--out must name a .onnx file; got ${out}`);
  try {
    if (statSync(out).isDirectory()) fail(`--out is a directory: ${out}`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
  const opset = num(f, 'opset')!;
  if (!SUPPORTED_OPSETS.includes(opset)) fail(`--opset must be one of ${SUPPORTED_OPSETS.join(', ')}; got ${opset}`);
  applyThreadsFlag(NAME, num(f, 'threads'));
  const weights = str(f, 'weights') as WeightsKind;
  const model = loadModel(str(f, 'ckpt')!, { device: 'cpu', weights });
  try {
    const bytes = exportConsistencyOnnx(model.network, model.config, {
      opset,
      weights: f.fp16 === true ? 'float16' : 'float32',
      metadata: { step: String(model.step), weights },
    });
    writeFileAtomic(out, bytes);
    process.stderr.write(
      `${model.config.preset} (step ${model.step}, ${weights} weights) -> ${out}: ${(bytes.byteLength / 1e6).toFixed(1)} MB, opset ${opset}\n`,
    );
    console.log(out);
    return 0;
  } finally {
    model.dispose();
  }
}

const command: Command = { summary: SUMMARY, run };
export default command;
