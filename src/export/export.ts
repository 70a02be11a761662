/**
 * The consistency function of a trained model as one ONNX graph (docs/method.md section 1):
 *
 *   denoised = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma) [, class one-hot])
 *
 * Inputs: 'x' float32 [N, C, R, R], 'sigma' float32 [N] (>= sigma_min) and, for class-conditional
 * models, 'class_labels' float32 [N, classes] (one-hot); output 'denoised' [N, C, R, R]. The batch
 * is dynamic. One graph serves one-step and multistep sampling and editing. The scalings are
 * computed in the graph in float32 (WebGPU has no float64); at sigma = sigma_min, c_out is exactly
 * 0 and the output is x itself, as in src/method/denoiser.ts.
 */
import type { ImageNetwork } from '../networks/network.js';
import type { RunConfig } from '../train/config.js';
import { OnnxGraph, type WeightStorage } from './onnx-graph.js';
import { emitNetwork } from './network-graph.js';

/** Options of {@link exportConsistencyOnnx}. */
export interface OnnxExportOptions {
  /** ONNX opset (default 17: onnxruntime-web's WebGPU and wasm backends run every op used). */
  opset?: number;
  /** Weight storage (default float32; float16 halves the file, compute stays float32). */
  weights?: WeightStorage;
  /** Extra metadata entries (e.g. the checkpoint's step and which weights were exported). */
  metadata?: Readonly<Record<string, string>>;
  producerVersion?: string;
}

/** The metadata keys every exported model has (src/generate reads them). */
export const METADATA_KEYS = [
  'preset',
  'resolution',
  'channels',
  'classes',
  'sigma_min',
  'sigma_max',
  'sigma_data',
  'two_step_sigma',
  'noise_embedding',
  'rho',
] as const;

/** The ONNX model bytes of f(x, sigma) for `network` (in eval mode) under `config`'s method. */
export function exportConsistencyOnnx(network: ImageNetwork, config: RunConfig, options: OnnxExportOptions = {}): Uint8Array {
  const g = new OnnxGraph(options.opset ?? 17, options.weights ?? 'float32');
  const c = network.config;
  const m = config.method;
  const image = [c.inChannels, c.imgResolution, c.imgResolution];
  const x = g.input({ name: 'x', type: 'float32', shape: ['N', ...image] });
  const sigma = g.input({ name: 'sigma', type: 'float32', shape: ['N'] });
  const labels = c.labelDim > 0 ? g.input({ name: 'class_labels', type: 'float32', shape: ['N', c.labelDim] }) : null;

  // Scalings (docs/method.md section 1), per sample as [N, 1, 1, 1].
  const s = g.op('Reshape', [sigma, g.constInt64([-1, 1, 1, 1])], {}, 'sigma_column');
  const sd2 = g.constFloat([m.sigmaData * m.sigmaData], []);
  const d = g.op('Sub', [s, g.constFloat([m.sigmaMin], [])], {}, 'sigma_minus_min');
  const cSkip = g.op('Div', [sd2, g.op('Add', [g.op('Mul', [d, d]), sd2])], {}, 'c_skip');
  const rootTotal = g.op('Sqrt', [g.op('Add', [g.op('Mul', [s, s]), sd2])]);
  const cOut = g.op('Div', [g.op('Mul', [d, g.constFloat([m.sigmaData], [])]), rootTotal], {}, 'c_out');
  const cIn = g.op('Reciprocal', [rootTotal], {}, 'c_in');
  // c_noise: 0.25 ln sigma (Fourier) or 1000 * 0.25 ln(sigma + 1e-44) (positional); sigma >= sigma_min > 0,
  // so the 1e-44 changes no float32 value and is left out.
  const cNoise = g.op('Mul', [g.op('Log', [sigma]), g.constFloat([config.method.noiseEmbedding === 'fourier' ? 0.25 : 250], [])], {}, 'c_noise');

  const F = emitNetwork(g, network, g.op('Mul', [x, cIn], {}, 'network_input'), cNoise, labels);
  const mixed = g.op('Add', [g.op('Mul', [x, cSkip]), g.op('Mul', [F, cOut])]);
  // f(x, sigma_min) = x even where F is not finite (0 * F would not vanish).
  const denoised = g.op('Where', [g.op('Equal', [cOut, g.constFloat([0], [])]), x, mixed]);
  g.output(denoised, { name: 'denoised', type: 'float32', shape: ['N', ...image] });

  const metadata: Record<string, string> = {
    preset: config.preset,
    resolution: String(c.imgResolution),
    channels: String(c.inChannels),
    classes: String(c.labelDim),
    sigma_min: String(m.sigmaMin),
    sigma_max: String(m.sigmaMax),
    sigma_data: String(m.sigmaData),
    two_step_sigma: String(config.sampling.secondSigma),
    noise_embedding: config.method.noiseEmbedding,
    rho: String(m.rho),
    ...options.metadata,
  };
  return g.encode({
    opset: g.opset,
    producerVersion: options.producerVersion ?? '0.1.0',
    metadata,
    docString: 'f(x, sigma) of a consistency model (c_skip x + c_out F(c_in x, c_noise)); inputs x, sigma [, class_labels one-hot]',
  });
}
