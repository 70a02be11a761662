/**
 * `consistency-ts/generate` in a browser: the same generator on onnxruntime-web, WebGPU where the
 * browser has it and wasm otherwise. A bundler (Vite, for `consistency web`) emits onnxruntime-web's
 * wasm file next to the page, which serves it itself: nothing comes from a CDN.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { ConsistencyGenerator, type GeneratorOptions } from './generator.js';

export * from './generator.js';
export { readModelInfo, ModelFileError, type ModelInfo } from './model-info.js';
export { NoiseRng } from './noise.js';
export { imageToRgba, floatToByte, gridCell } from './pixels.js';

/** The execution backend a generator runs on. */
export type WebBackend = 'webgpu' | 'wasm';

export interface WebGeneratorOptions extends GeneratorOptions {
  /** Where onnxruntime-web's .wasm files are served, when not where the bundler put them. */
  wasmPaths?: string;
  /** Force a backend (default: WebGPU when navigator.gpu gives an adapter, else wasm). */
  backend?: WebBackend;
  /** wasm threads (default: up to 4 when the page is cross-origin isolated, else 1). */
  threads?: number;
}

interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<unknown> };
  hardwareConcurrency?: number;
}

async function hasWebGpu(): Promise<boolean> {
  const nav = (globalThis as { navigator?: GpuNavigator }).navigator;
  if (!nav?.gpu) return false;
  try {
    return (await nav.gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/** Loads the model at `url` (or its bytes); returns the generator and the backend it runs on. */
export async function loadWebGenerator(
  model: string | Uint8Array,
  o: WebGeneratorOptions = {},
): Promise<{ generator: ConsistencyGenerator; backend: WebBackend }> {
  if (o.wasmPaths !== undefined) ort.env.wasm.wasmPaths = o.wasmPaths;
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const cores = (globalThis as { navigator?: GpuNavigator }).navigator?.hardwareConcurrency ?? 1;
  ort.env.wasm.numThreads = o.threads ?? (isolated ? Math.min(4, cores) : 1);
  let bytes: Uint8Array;
  if (typeof model === 'string') {
    const response = await fetch(model);
    if (!response.ok) throw new Error(`${model}: HTTP ${response.status}`);
    bytes = new Uint8Array(await response.arrayBuffer());
  } else bytes = model;
  const wanted: WebBackend = o.backend ?? ((await hasWebGpu()) ? 'webgpu' : 'wasm');
  const create = (backend: WebBackend): Promise<ConsistencyGenerator> =>
    ConsistencyGenerator.create(ort, bytes, { ...o, sessionOptions: { ...o.sessionOptions, executionProviders: [backend] } });
  if (wanted === 'webgpu') {
    try {
      return { generator: await create('webgpu'), backend: 'webgpu' };
    } catch {
      // A WebGPU adapter that cannot run the graph: fall back to wasm.
    }
  }
  return { generator: await create('wasm'), backend: 'wasm' };
}
