/**
 * What an exported model says about itself (the metadata `consistency export` writes; see
 * src/export/export.ts): read from the ONNX bytes with protobufjs, decoding only ModelProto's
 * metadata_props and skipping the graph, so a 200 MB model costs no copy.
 */
import protobuf from 'protobufjs/minimal.js';
import onnxProto from 'onnx-proto';
import type { NoiseEmbedding } from '../method/scalings.js';
import { InputError } from '../util/input-error.js';

/** The model's image shape and method constants. */
export interface ModelInfo {
  preset: string;
  resolution: number;
  channels: number;
  /** Number of classes (0: unconditional). */
  classes: number;
  sigmaMin: number;
  sigmaMax: number;
  sigmaData: number;
  /** The second level of two-step sampling. */
  twoStepSigma: number;
  rho: number;
  noiseEmbedding: NoiseEmbedding;
  /** Every metadata entry as stored. */
  metadata: Readonly<Record<string, string>>;
}

/** A file that is not an exported consistency model. */
export class ModelFileError extends InputError {
  override name = 'ModelFileError';
}

const METADATA_PROPS_FIELD = 14; // ModelProto.metadata_props in onnx.proto

/** The metadata_props of an ONNX ModelProto. */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    const reader = protobuf.Reader.create(bytes);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === METADATA_PROPS_FIELD && (tag & 7) === 2) {
        const entry = onnxProto.onnx.StringStringEntryProto.decode(reader, reader.uint32());
        out[entry.key] = entry.value;
      } else reader.skipType(tag & 7);
    }
  } catch (e) {
    throw new ModelFileError(`not an ONNX model (${(e as Error).message})`);
  }
  return out;
}

/** The model information in an exported model's bytes; a missing or malformed entry is a ModelFileError naming it. */
export function readModelInfo(bytes: Uint8Array): ModelInfo {
  const md = readOnnxMetadata(bytes);
  const need = (key: string): string => {
    const v = md[key];
    if (v === undefined) throw new ModelFileError(`the model has no '${key}' metadata (was it written by 'consistency export'?)`);
    return v;
  };
  const number = (key: string, integer: boolean): number => {
    const v = Number(need(key));
    if (!Number.isFinite(v) || (integer && (!Number.isSafeInteger(v) || v < 0)))
      throw new ModelFileError(`the model's '${key}' metadata is not a valid number: '${md[key]}'`);
    return v;
  };
  const noiseEmbedding = need('noise_embedding');
  if (noiseEmbedding !== 'fourier' && noiseEmbedding !== 'positional')
    throw new ModelFileError(`the model's noise_embedding '${noiseEmbedding}' is unknown`);
  const info: ModelInfo = {
    preset: need('preset'),
    resolution: number('resolution', true),
    channels: number('channels', true),
    classes: number('classes', true),
    sigmaMin: number('sigma_min', false),
    sigmaMax: number('sigma_max', false),
    sigmaData: number('sigma_data', false),
    twoStepSigma: number('two_step_sigma', false),
    rho: number('rho', false),
    noiseEmbedding,
    metadata: md,
  };
  if (info.resolution < 1 || info.channels < 1)
    throw new ModelFileError(`the model's image shape ${info.channels}x${info.resolution}x${info.resolution} is not valid`);
  if (!(info.sigmaMin > 0 && info.sigmaMax > info.sigmaMin))
    throw new ModelFileError(`the model's sigma range [${info.sigmaMin}, ${info.sigmaMax}] is not valid`);
  return info;
}
