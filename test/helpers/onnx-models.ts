/**
 * Networks for the ONNX tests: a preset's network (or a small class-conditional ADM) with every
 * parameter redrawn at full scale, so that no layer is near zero (the presets start the last conv
 * of each residual branch at 1e-5 or 0, which would let an export bug in those branches hide), and
 * the libtorch reference f(x, sigma) on the same inputs.
 */
import { Generator, noGrad, randn, tensor, tidy } from '../../src/tensor/index.js';
import { createNetwork } from '../../src/networks/build.js';
import type { ImageNetwork } from '../../src/networks/network.js';
import { ConsistencyDenoiser } from '../../src/method/denoiser.js';
import { runPreset } from '../../src/train/presets.js';
import { runConfigToJson, type RunConfig } from '../../src/train/config.js';
import { writeCheckpoint } from '../../src/train/checkpoint.js';

/** A preset's run config; 'adm-small' is imagenet64's with a 16x16, 10-class, 2-level ADM with attention at 8x8. */
export function testRunConfig(name: 'mnist-quick' | 'cifar10-cpu' | 'cifar10' | 'adm-small'): RunConfig {
  const config = runPreset(name === 'adm-small' ? 'imagenet64' : name);
  if (!config) throw new Error(`no preset ${name}`);
  if (name === 'adm-small') {
    config.preset = 'adm-small';
    config.network = {
      ...config.network,
      imgResolution: 16,
      labelDim: 10,
      modelChannels: 32,
      channelMult: [1, 2],
      numBlocks: 1,
      attnResolutions: [8],
      channelsPerHead: 16,
      dropout: 0,
    } as RunConfig['network'];
  }
  return config;
}

/** Redraws every parameter: weights N(0, 1/fan_in), biases N(0, 0.01), norm gains 1 + N(0, 0.01). */
export function randomizeWeights(net: ImageNetwork, seed: number): void {
  const g = new Generator(seed);
  noGrad(() => {
    for (const [name, p] of net.namedParameters()) {
      const fanIn = p.shape.slice(1).reduce((a, b) => a * b, 1);
      tidy(() => {
        const r = randn(p.shape, { generator: g });
        if (p.rank > 1) p.copy_(r.mul(1 / Math.sqrt(fanIn)));
        else if (/norm\d*\.weight$|_norm\.weight$/.test(name)) p.copy_(r.mul(0.1).add(1));
        else p.copy_(r.mul(0.1));
      });
    }
  });
}

/** A network of `config` with randomized weights, in eval mode. */
export function randomNetwork(config: RunConfig, seed: number): ImageNetwork {
  const net = createNetwork(config.network, { generator: new Generator(seed) });
  randomizeWeights(net, seed + 1);
  return net.eval();
}

/** Test inputs: images in [-1, 1] plus sigma z, one level per sample, and one-hot labels for conditional networks. */
export function testInputs(
  config: RunConfig,
  sigmas: readonly number[],
  seed: number,
): { x: Float32Array; sigma: Float32Array; labels: Float32Array | null; shape: number[] } {
  const c = config.network;
  const n = sigmas.length;
  const shape = [n, c.inChannels, c.imgResolution, c.imgResolution];
  const g = new Generator(seed);
  const x = tidy(() => {
    const images = randn(shape, { generator: g }).clamp(-1, 1);
    const noise = randn(shape, { generator: g }).mul(tensor(Float32Array.from(sigmas), [n, 1, 1, 1]));
    return images.add(noise).toFloat32Array();
  });
  let labels: Float32Array | null = null;
  if (c.labelDim > 0) {
    labels = new Float32Array(n * c.labelDim);
    for (let i = 0; i < n; i++) labels[i * c.labelDim + ((i * 7 + 3) % c.labelDim)] = 1;
  }
  return { x, sigma: Float32Array.from(sigmas), labels, shape };
}

/** libtorch's f(x, sigma [, labels]) (src/method/denoiser.ts) on the given inputs. */
export function libtorchDenoised(net: ImageNetwork, config: RunConfig, inputs: ReturnType<typeof testInputs>): Float32Array {
  const den = new ConsistencyDenoiser(net, {
    sigmaMin: config.method.sigmaMin,
    sigmaData: config.method.sigmaData,
    noiseEmbedding: config.method.noiseEmbedding,
  });
  const n = inputs.sigma.length;
  return tidy(() =>
    noGrad(() => {
      const x = tensor(inputs.x, inputs.shape);
      const labels = inputs.labels ? tensor(inputs.labels, [n, config.network.labelDim]) : undefined;
      return den.forward(x, tensor(inputs.sigma, [n]), labels).toFloat32Array();
    }),
  );
}

/** max |a - b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths ${a.length} and ${b.length} differ`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A checkpoint whose 'model' and 'ema' groups hold two different random weight sets. */
export function writeRandomCheckpoint(file: string, config: RunConfig, seed: number): { model: ImageNetwork; ema: ImageNetwork } {
  const model = randomNetwork(config, seed);
  const ema = randomNetwork(config, seed + 10);
  // A checkpoint keeps buffers (the Fourier frequencies) once, in 'model': the EMA network shares them.
  noGrad(() => {
    const own = model.namedBuffers();
    for (const [k, b] of ema.namedBuffers()) b.copy_(own.get(k)!);
  });
  writeCheckpoint(file, {
    step: 7,
    config: runConfigToJson(config),
    groups: new Map([
      ['model', model.stateDict()],
      ['ema', ema.namedParameters()],
    ]),
    generators: new Map(),
    state: {},
  });
  return { model, ema };
}
