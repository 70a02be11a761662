/**
 * `consistency-ts/generate` for Node: sampling and editing from an exported model (consistency
 * export) with onnxruntime-node only; this entry never loads the libtorch addon.
 *
 * @example
 *   const gen = await loadGenerator('model.onnx');
 *   const { data, shape } = await gen.sample({ n: 16, steps: 1, seed: 0 }); // float32 NCHW in [-1, 1]
 */
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { ConsistencyGenerator, type GeneratorOptions } from './generator.js';
import { ModelFileError } from './model-info.js';

export * from './generator.js';
export { readModelInfo, readOnnxMetadata, ModelFileError, type ModelInfo } from './model-info.js';
export { NoiseRng } from './noise.js';

/** Loads an exported model (a file path or its bytes) into an onnxruntime-node session on the CPU. */
export async function loadGenerator(model: string | Uint8Array, options: GeneratorOptions = {}): Promise<ConsistencyGenerator> {
  let bytes: Uint8Array;
  if (typeof model === 'string') {
    try {
      bytes = await readFile(model);
    } catch (e) {
      throw new ModelFileError(`${model}: cannot read the model (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  } else bytes = model;
  return ConsistencyGenerator.create(ort, bytes, options);
}
