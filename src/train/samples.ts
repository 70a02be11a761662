/**
 * Sample grids during training: images from FIXED noise (the same at every snapshot, so the
 * grids show how one set of samples evolves), drawn with the EMA weights in one step and in two
 * steps (docs/method.md section 6), and the loss curve as a PNG.
 */
import { writeFileAtomic } from '../io/atomic.js';
import { gridPng } from '../image/grid.js';
import { plotPng } from '../image/plot.js';
import { Generator } from '../tensor/random.js';
import { randn, tensor, cat } from '../tensor/creation.js';
import { keep, tidy } from '../tensor/scope.js';
import { sampleMultistep, sampleOneStep } from '../method/samplers.js';
import type { Tensor } from '../tensor/tensor.js';
import { ConsistencyDenoiser, type ConsistencyNetwork } from '../method/denoiser.js';
import type { MethodConfig } from '../method/presets.js';
import type { ExponentialMovingAverage } from '../method/ema.js';
import { noGrad } from '../tensor/autograd.js';
import { join } from 'node:path';
import { createNetwork } from '../networks/build.js';
import type { ImageNetwork } from '../networks/network.js';
import { imageShape, type RunConfig, type RuntimeConfig } from './config.js';
import { cycledClass } from '../method/class-labels.js';

/** The noise and labels every sample grid of a run starts from. */
export interface FixedNoise {
  /** z for the first step, [n, C, H, W]. */
  z1: Tensor;
  /** Seed of the generator of the second step's noise. */
  secondSeed: number;
  /** Class labels 0, 1, 2, ... (cycling), or null for unconditional networks. */
  labels: Tensor | null;
}

/** The offset added to the run's seed for the sample noise (independent of the training draws). */
const SAMPLE_SEED_OFFSET = 982_451_653;

/** The fixed labels cycle 0, 1, 2, ... (src/method/class-labels.ts): with a few classes, a grid has one column per class. */
function classColumns(classes: number): boolean {
  return classes > 0 && classes <= 16;
}

/** Images per sample grid by default: 64, or whole rows of one image per class (60 for 10 classes). */
export function defaultSampleCount(classes: number): number {
  return classColumns(classes) ? classes * Math.floor(64 / classes) : 64;
}

/** Draws the fixed sample noise of a run from its seed (on the CPU, so every device gets the same). */
export function fixedNoise(seed: number, count: number, shape: [number, number, number], numClasses: number, device: string): FixedNoise {
  return keep(
    tidy(() => {
      const g = new Generator(seed + SAMPLE_SEED_OFFSET, 'cpu');
      const z1 = randn([count, ...shape], { generator: g, device: 'cpu' }).to({ device });
      const labels =
        numClasses > 0
          ? tensor(
              BigInt64Array.from({ length: count }, (_, i) => BigInt(cycledClass(i, numClasses))),
              [count],
              { device },
            )
          : null;
      return { z1, secondSeed: seed + SAMPLE_SEED_OFFSET + 1, labels };
    }),
  );
}

/**
 * Draws the fixed noise in one step and in two steps (levels [sigma_max, secondSigma], the second
 * step's noise from a generator seeded the same way every time) and returns the images, one-step
 * first: [2n, C, H, W] floats in [-1, 1].
 */
export function oneAndTwoStepSamples(network: ConsistencyNetwork, method: MethodConfig, noise: FixedNoise, secondSigma: number): Float32Array {
  const model = ConsistencyDenoiser.forMethod(network, method);
  const options = noise.labels ? { classLabels: noise.labels } : {};
  return tidy(() => {
    const one = sampleOneStep(model, noise.z1, { ...options, sigmaMax: method.sigmaMax });
    const generator = new Generator(noise.secondSeed, noise.z1.device);
    const two = sampleMultistep(model, noise.z1, [method.sigmaMax, secondSigma], generator, options);
    return cat([one, two], 0).toFloat32Array();
  });
}

/**
 * PNG bytes of a grid: the one-step samples as a block on the left, the two-step samples of the
 * same noise in the same places on the right, with a blank column between the blocks. Each block
 * is square unless `side` gives its width (a class-conditional run: one class per column).
 */
export function samplesGridPng(images: Float32Array, count: number, shape: [number, number, number], side = Math.ceil(Math.sqrt(count))): Uint8Array {
  const [C, H, W] = shape;
  const per = C * H * W;
  if (images.length !== 2 * count * per)
    throw new RangeError(`samplesGridPng: expected ${2 * count} images of ${C}x${H}x${W}, got ${images.length / per}`);
  if (!Number.isInteger(side) || side < 1) throw new RangeError(`samplesGridPng: side must be an integer >= 1, got ${side}`);
  const rows = Math.ceil(count / side);
  const columns = 2 * side + 1;
  const tiles = new Float32Array(rows * columns * per).fill(1);
  for (let i = 0; i < count; i++) {
    const r = Math.floor(i / side);
    const c = i % side;
    tiles.set(images.subarray(i * per, (i + 1) * per), (r * columns + c) * per);
    tiles.set(images.subarray((count + i) * per, (count + i + 1) * per), (r * columns + side + 1 + c) * per);
  }
  return gridPng(tiles, { count: rows * columns, channels: C, height: H, width: W, columns });
}

/** Writes the loss curve (log-scale y) as a PNG, atomically. */
export function writeLossCurve(path: string, steps: number[], losses: number[], title: string): void {
  if (steps.length === 0) return;
  writeFileAtomic(path, plotPng({ x: steps, y: losses, label: 'loss' }, { logY: true, title, width: 640, height: 400 }), 'loss curve');
}

/**
 * The sample grids of a training run: an evaluation copy of the network that takes the EMA
 * weights (and the trained network's buffers), the run's fixed noise, and the files they go to.
 */
export class TrainingSamples {
  private evalNetwork: ImageNetwork | null = null;
  private noise: FixedNoise | null = null;

  constructor(
    private readonly config: RunConfig,
    private readonly runtime: RuntimeConfig,
  ) {}

  /** Writes the grid of `ema`'s weights after `step` to samplesDir/step-NNNNNNN.png and the loss curve; returns the grid's path. */
  write(o: {
    step: number;
    network: ImageNetwork;
    ema: ExponentialMovingAverage;
    samplesDir: string;
    lossCurve: string;
    losses: { x: number[]; y: number[] };
  }): string {
    const { config, runtime } = this;
    const shape = imageShape(config);
    if (!this.evalNetwork) {
      this.evalNetwork = createNetwork(config.network, { device: runtime.device, values: 'uninitialized' });
      this.evalNetwork.eval();
    }
    const evalNetwork = this.evalNetwork;
    this.noise ??= fixedNoise(config.training.seed, runtime.sampleCount, shape, config.network.labelDim, runtime.device);
    o.ema.copyTo(evalNetwork);
    noGrad(() => {
      const own = o.network.namedBuffers();
      for (const [n, b] of evalNetwork.namedBuffers()) {
        const src = own.get(n);
        if (src) b.copy_(src);
      }
    });
    const images = oneAndTwoStepSamples(evalNetwork, config.method, this.noise, config.sampling.secondSigma);
    const path = join(o.samplesDir, `step-${String(o.step).padStart(7, '0')}.png`);
    const classes = this.config.network.labelDim;
    const side = classColumns(classes) ? Math.min(classes, runtime.sampleCount) : undefined;
    writeFileAtomic(path, samplesGridPng(images, runtime.sampleCount, shape, side), 'sample grid');
    writeLossCurve(o.lossCurve, o.losses.x, o.losses.y, `${config.preset}: loss`);
    return path;
  }

  dispose(): void {
    this.evalNetwork?.dispose();
    this.noise?.z1.dispose();
    this.noise?.labels?.dispose();
  }
}
