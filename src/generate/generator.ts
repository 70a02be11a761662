/**
 * Sampling and zero-shot editing from an exported consistency model (src/export) with onnxruntime
 * alone: no libtorch, so it runs in any Node program and in a browser. The samplers and editing
 * tasks are those of src/method (samplers.ts, editing.ts; docs/method.md section 6) on flat float32 NCHW
 * arrays, with the same levels (src/method/levels.ts), the same colorization axes
 * (src/method/color-axes.ts), the same order of noise draws and the same clipping of the output to
 * [-1, 1] (of every estimate and of the output). Noise comes from a seeded NoiseRng, or is given (one array per level) to replay noise
 * drawn elsewhere.
 */
import type { InferenceSession, InferenceSessionFactory, TensorConstructor } from 'onnxruntime-common';
import { checkLevels, levelsForSteps } from '../method/levels.js';
import { LUMA_WEIGHTS, colorTransform } from '../method/color-axes.js';
import { NoiseRng } from './noise.js';
import { readModelInfo, type ModelInfo } from './model-info.js';
import { cycledClass } from '../method/class-labels.js';

/** The parts of an onnxruntime package (onnxruntime-node or onnxruntime-web) the generator uses. */
export interface OrtRuntime {
  InferenceSession: InferenceSessionFactory;
  Tensor: TensorConstructor;
}

/** A batch of images: float32 NCHW values. */
export interface Images {
  data: Float32Array;
  shape: [number, number, number, number];
}

/** How the noise of a sampler is chosen. */
export interface NoiseOptions {
  /** Seed of the NoiseRng the noise is drawn from (default 0); ignored for the levels `noise` gives. */
  seed?: number;
  /**
   * Explicit noise, one float32 array of the batch's size per level: noise[0] is the starting
   * noise, noise[k] the fresh noise of level k. Levels without an entry are drawn from the seed.
   */
  noise?: ReadonlyArray<Float32Array>;
}

/** Which levels to use: `levels` as given, else the model's levels for `steps` (default 1). */
export interface LevelOptions {
  steps?: number;
  levels?: readonly number[];
  /** A class for every image (class-conditional models), or one per image; default: image i gets class i mod classes. */
  classLabel?: number | readonly number[];
  /** Clip every estimate f(x, t) to [-1, 1] before the next step or the projection, as src/method does (default true). */
  clipDenoised?: boolean;
}

export interface SampleRequest extends NoiseOptions, LevelOptions {
  /** Number of images. */
  n: number;
}

export interface InterpolateRequest extends LevelOptions {
  /** Interpolation weights, 0 = z0, 1 = z1. */
  alphas: readonly number[];
  /** Images per alpha (default 1). */
  n?: number;
  /** Seed of the noises drawn when z0, z1 or stepNoise are not given (default 0). */
  seed?: number;
  z0?: Float32Array;
  z1?: Float32Array;
  /** The fresh noise of levels 1, 2, ..., shared by every alpha (default: drawn once). */
  stepNoise?: ReadonlyArray<Float32Array>;
}

export interface InpaintRequest extends NoiseOptions, LevelOptions {
  /** [N, C, H, W] in [-1, 1]; only the known pixels are used. */
  images: Float32Array;
  /** 1 = known (kept), 0 = to generate: one value per element, per image element (C*H*W) or per pixel (H*W). */
  known: Uint8Array | readonly boolean[];
}

export interface ColorizeRequest extends NoiseOptions, LevelOptions {
  /** [N, 1, H, W] luma in [-1, 1] (0.2989 R + 0.587 G + 0.114 B). */
  gray: Float32Array;
}

/** Options of {@link ConsistencyGenerator.create}. */
export interface GeneratorOptions {
  /** Images per network pass (default 16). */
  batch?: number;
  sessionOptions?: InferenceSession.SessionOptions;
}

function fail(fn: string, message: string): never {
  throw new RangeError(`${fn}: ${message}`);
}

/** An exported model loaded into an onnxruntime session. */
export class ConsistencyGenerator {
  readonly #runtime: OrtRuntime;
  readonly #session: InferenceSession;
  readonly batch: number;
  /** Values per image: channels * resolution^2. */
  readonly imageSize: number;

  private constructor(
    runtime: OrtRuntime,
    session: InferenceSession,
    readonly info: ModelInfo,
    batch: number,
  ) {
    this.#runtime = runtime;
    this.#session = session;
    this.batch = batch;
    this.imageSize = info.channels * info.resolution * info.resolution;
  }

  /** Loads the bytes of an exported model. */
  static async create(runtime: OrtRuntime, bytes: Uint8Array, options: GeneratorOptions = {}): Promise<ConsistencyGenerator> {
    const info = readModelInfo(bytes);
    const batch = options.batch ?? 16;
    if (!Number.isSafeInteger(batch) || batch < 1) fail('loadGenerator', `batch must be an integer >= 1, got ${batch}`);
    const session = await runtime.InferenceSession.create(bytes, options.sessionOptions ?? {});
    const want = info.classes > 0 ? ['x', 'sigma', 'class_labels'] : ['x', 'sigma'];
    if (session.inputNames.join(',') !== want.join(',') || !session.outputNames.includes('denoised')) {
      await session.release();
      fail(
        'loadGenerator',
        `the model's inputs are [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]; expected [${want.join(', ')}] and [denoised]`,
      );
    }
    return new ConsistencyGenerator(runtime, session, info, batch);
  }

  /** Frees the session. */
  async release(): Promise<void> {
    await this.#session.release();
  }

  get shape(): [number, number, number] {
    return [this.info.channels, this.info.resolution, this.info.resolution];
  }

  /** The sampling levels for `steps` steps (1: [sigma_max]; 2: [sigma_max, the two-step level]; more: Karras levels). */
  levels(steps: number): number[] {
    return levelsForSteps(steps, {
      sigmaMin: this.info.sigmaMin,
      sigmaMax: this.info.sigmaMax,
      rho: this.info.rho,
      secondSigma: this.info.twoStepSigma,
    });
  }

  #levels(fn: string, o: LevelOptions): number[] {
    const levels = o.levels ? [...o.levels] : this.levels(o.steps ?? 1);
    checkLevels(fn, levels, this.info.sigmaMin);
    if (levels[0]! > this.info.sigmaMax) fail(fn, `the first level ${levels[0]} is above the model's sigma_max ${this.info.sigmaMax}`);
    return levels;
  }

  /** One-hot labels [n, classes] for a conditional model (null for an unconditional one). */
  #labels(fn: string, n: number, classLabel: number | readonly number[] | undefined): Float32Array | null {
    const classes = this.info.classes;
    if (classes === 0) {
      if (classLabel !== undefined) fail(fn, 'classLabel given for an unconditional model');
      return null;
    }
    const ids = Array.from({ length: n }, (_, i) =>
      classLabel === undefined ? cycledClass(i, classes) : typeof classLabel === 'number' ? classLabel : classLabel[i],
    );
    const out = new Float32Array(n * classes);
    ids.forEach((c, i) => {
      if (c === undefined || !Number.isSafeInteger(c) || c < 0 || c >= classes)
        fail(fn, `class labels must be integers in [0, ${classes - 1}], got ${String(c)} for image ${i}`);
      out[i * classes + c] = 1;
    });
    return out;
  }

  #count(fn: string, data: Float32Array, perImage: number, name: string): number {
    if (!(data instanceof Float32Array) || data.length === 0 || data.length % perImage !== 0)
      fail(fn, `${name} must be a non-empty Float32Array of whole images (${perImage} values each), got ${data.length} values`);
    for (const v of data) if (!Number.isFinite(v)) fail(fn, `${name} holds a value that is not finite`);
    return data.length / perImage;
  }

  /**
   * f(x, sigma) for a batch: x [N, C, H, W], sigma one level or one per image (each >= sigma_min),
   * labels one-hot [N, classes] for a conditional model. Runs `batch` images per session call.
   */
  async denoise(x: Float32Array, sigma: number | ArrayLike<number>, labels: Float32Array | null = null): Promise<Float32Array> {
    const fn = 'denoise';
    const n = this.#count(fn, x, this.imageSize, 'x');
    const sigmas = typeof sigma === 'number' ? new Array<number>(n).fill(sigma) : Array.from(sigma);
    if (sigmas.length !== n) fail(fn, `sigma must give one level per image (${n}), got ${sigmas.length}`);
    for (const s of sigmas)
      if (!Number.isFinite(s) || Math.fround(s) < Math.fround(this.info.sigmaMin))
        fail(fn, `sigma must be >= sigma_min=${this.info.sigmaMin}, got ${s}`);
    const classes = this.info.classes;
    if (classes > 0 !== (labels !== null) || (labels && labels.length !== n * classes))
      fail(fn, classes > 0 ? `labels must be one-hot [${n}, ${classes}]` : 'labels given for an unconditional model');
    const out = new Float32Array(x.length);
    const [C, H, W] = this.shape;
    for (let start = 0; start < n; start += this.batch) {
      const b = Math.min(this.batch, n - start);
      const T = this.#runtime.Tensor;
      const feeds: Record<string, InstanceType<TensorConstructor>> = {
        x: new T('float32', x.slice(start * this.imageSize, (start + b) * this.imageSize), [b, C, H, W]),
        sigma: new T('float32', Float32Array.from(sigmas.slice(start, start + b)), [b]),
      };
      if (labels) feeds.class_labels = new T('float32', labels.slice(start * classes, (start + b) * classes), [b, classes]);
      const result = await this.#session.run(feeds);
      const d = result.denoised;
      if (!d || !(d.data instanceof Float32Array) || d.data.length !== b * this.imageSize)
        fail(fn, 'the session returned no float32 denoised batch of the input size');
      out.set(d.data, start * this.imageSize);
      for (const t of Object.values(result)) t.dispose();
    }
    return out;
  }

  /**
   * The multistep loop (src/method/samplers.ts multistepLoop): x = project(f(xStart, t_1)); then for
   * each later level t: x = project(f(x + sqrt(t^2 - sigma_min^2) z_k, t)), z_k = stepNoise(k).
   */
  async #loop(
    xStart: Float32Array,
    levels: readonly number[],
    stepNoise: (k: number) => Float32Array,
    labels: Float32Array | null,
    project: (x: Float32Array) => Float32Array,
    clipDenoised: boolean,
  ): Promise<Float32Array> {
    // As src/method's multistepLoop: the estimate is clipped first, then (editing) the known part is put back.
    const estimate = async (x: Float32Array, t: number): Promise<Float32Array> => {
      const d = await this.denoise(x, t, labels);
      return project(clipDenoised ? clip(d) : d);
    };
    let x = await estimate(xStart, levels[0]!);
    const sigmaMin = this.info.sigmaMin;
    for (let k = 1; k < levels.length; k++) {
      const t = levels[k]!;
      const z = stepNoise(k);
      const scale = Math.fround(Math.sqrt(t * t - sigmaMin * sigmaMin));
      const noisy = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) noisy[i] = x[i]! + Math.fround(z[i]! * scale);
      x = await estimate(noisy, t);
    }
    return x;
  }

  /** Noise for level k: the given array (checked), else drawn from `rng`. */
  static #noiseSource(fn: string, size: number, given: ReadonlyArray<Float32Array> | undefined, rng: NoiseRng): (k: number) => Float32Array {
    return (k) => {
      const z = given?.[k];
      if (z === undefined) return rng.normal(size);
      if (!(z instanceof Float32Array) || z.length !== size)
        fail(fn, `noise[${k}] must be a Float32Array of ${size} values, got ${z instanceof Float32Array ? z.length : typeof z}`);
      return z;
    };
  }

  /**
   * Multistep consistency sampling (Song et al. 2023, Algorithm 1; src/method sampleMultistep):
   * x = f(t_1 z, t_1), then noise back up to each later level and denoise; clipped to [-1, 1].
   */
  async sample(r: SampleRequest): Promise<Images> {
    const fn = 'sample';
    if (!Number.isSafeInteger(r.n) || r.n < 1) fail(fn, `n must be an integer >= 1, got ${r.n}`);
    const levels = this.#levels(fn, r);
    const labels = this.#labels(fn, r.n, r.classLabel);
    const noise = ConsistencyGenerator.#noiseSource(fn, r.n * this.imageSize, r.noise, new NoiseRng(r.seed ?? 0));
    const t1 = Math.fround(levels[0]!);
    const xStart = noise(0).map((v) => v * t1);
    return this.#images(clip(await this.#loop(xStart, levels, noise, labels, (x) => x, r.clipDenoised ?? true)), r.n);
  }

  /**
   * Interpolation between two starting noises (src/method interpolateNoises): for each alpha the
   * sample from slerp(z0, z1; alpha), the later levels' noise shared by every alpha.
   */
  async interpolate(r: InterpolateRequest): Promise<Images[]> {
    const fn = 'interpolate';
    const n = r.n ?? 1;
    if (!Number.isSafeInteger(n) || n < 1) fail(fn, `n must be an integer >= 1, got ${n}`);
    if (!Array.isArray(r.alphas) || r.alphas.length === 0 || !r.alphas.every((a) => Number.isFinite(a)))
      fail(fn, 'alphas must be a non-empty array of finite numbers');
    const levels = this.#levels(fn, r);
    const size = n * this.imageSize;
    const rng = new NoiseRng(r.seed ?? 0);
    const z0 = r.z0 ?? rng.normal(size);
    const z1 = r.z1 ?? rng.normal(size);
    if (z0.length !== size || z1.length !== size) fail(fn, `z0 and z1 must have ${size} values each`);
    const steps = levels.slice(1).map((_, k) => r.stepNoise?.[k] ?? rng.normal(size));
    const out: Images[] = [];
    const alphas: readonly number[] = r.alphas;
    for (const alpha of alphas) {
      const z = slerp(z0, z1, alpha, n);
      out.push(
        await this.sample({
          n,
          levels,
          noise: [z, ...steps],
          ...(r.classLabel !== undefined && { classLabel: r.classLabel }),
          ...(r.clipDenoised !== undefined && { clipDenoised: r.clipDenoised }),
        }),
      );
    }
    return out;
  }

  /**
   * Zero-shot inpainting (Algorithm 4 with A = identity; src/method inpaint): the known pixels are
   * put back after every step; the start is y0 + t_1 z with y0 the known pixels (0 elsewhere).
   */
  async inpaint(r: InpaintRequest): Promise<Images> {
    const fn = 'inpaint';
    const n = this.#count(fn, r.images, this.imageSize, 'images');
    const levels = this.#levels(fn, r);
    const labels = this.#labels(fn, n, r.classLabel);
    const [C, H, W] = this.shape;
    const known = r.known;
    const per = known.length;
    if (per !== r.images.length && per !== C * H * W && per !== H * W)
      fail(fn, `known must have ${r.images.length}, ${C * H * W} or ${H * W} values, got ${per}`);
    const mask = new Uint8Array(r.images.length);
    for (let i = 0; i < mask.length; i++) {
      const j = per === mask.length ? i : per === C * H * W ? i % (C * H * W) : i % (H * W);
      mask[i] = known[j] ? 1 : 0;
    }
    const images = r.images;
    const y0 = images.map((v, i) => (mask[i] ? v : 0));
    const project = (x: Float32Array): Float32Array => x.map((v, i) => (mask[i] ? images[i]! : v));
    return this.#images(clip(await this.#edit(fn, y0, levels, labels, project, r)), n);
  }

  /**
   * Zero-shot colorization (Algorithm 4 with an orthogonal map on the channels; src/method colorize):
   * the luma axis is fixed to `gray`, the two chroma axes are generated.
   */
  async colorize(r: ColorizeRequest): Promise<Images> {
    const fn = 'colorize';
    const [C, H, W] = this.shape;
    if (C !== 3) fail(fn, `colorization needs a 3-channel model, this one has ${C}`);
    const plane = H * W;
    const n = this.#count(fn, r.gray, plane, 'gray');
    const levels = this.#levels(fn, r);
    const labels = this.#labels(fn, n, r.classLabel);
    const Q = colorTransform();
    const q = (c: number, d: number): number => Q[c]![d]!;
    const norm = Math.hypot(...LUMA_WEIGHTS);
    const luma = r.gray.map((v) => v / norm);
    // x = sum_d a_d Q[:, d] with a_0 the luma axis; a_d = sum_c x_c Q[c][d].
    const y0 = new Float32Array(n * 3 * plane);
    for (let i = 0; i < n; i++)
      for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) y0[(i * 3 + c) * plane + p] = luma[i * plane + p]! * q(c, 0);
    const project = (x: Float32Array): Float32Array => {
      const out = new Float32Array(x.length);
      for (let i = 0; i < n; i++)
        for (let p = 0; p < plane; p++) {
          const at = (c: number): number => (i * 3 + c) * plane + p;
          const a1 = x[at(0)]! * q(0, 1) + x[at(1)]! * q(1, 1) + x[at(2)]! * q(2, 1);
          const a2 = x[at(0)]! * q(0, 2) + x[at(1)]! * q(1, 2) + x[at(2)]! * q(2, 2);
          const a0 = luma[i * plane + p]!;
          for (let c = 0; c < 3; c++) out[at(c)] = a0 * q(c, 0) + a1 * q(c, 1) + a2 * q(c, 2);
        }
      return out;
    };
    return this.#images(clip(await this.#edit(fn, y0, levels, labels, project, r)), n);
  }

  /** Algorithm 4's loop from y0 + t_1 z (src/method editLoop), unclipped. */
  async #edit(
    fn: string,
    y0: Float32Array,
    levels: readonly number[],
    labels: Float32Array | null,
    project: (x: Float32Array) => Float32Array,
    o: NoiseOptions & LevelOptions,
  ): Promise<Float32Array> {
    const noise = ConsistencyGenerator.#noiseSource(fn, y0.length, o.noise, new NoiseRng(o.seed ?? 0));
    const t1 = Math.fround(levels[0]!);
    const z = noise(0);
    const xStart = y0.map((v, i) => v + Math.fround(z[i]! * t1));
    return this.#loop(xStart, levels, noise, labels, project, o.clipDenoised ?? true);
  }

  #images(data: Float32Array, n: number): Images {
    const [C, H, W] = this.shape;
    return { data, shape: [n, C, H, W] };
  }
}

function clip(x: Float32Array): Float32Array {
  return x.map((v) => Math.min(1, Math.max(-1, v)));
}

/**
 * Spherical interpolation per image (src/method slerp, Shoemake 1985): coefficients in float64,
 * linear where z0 and z1 are (nearly) parallel; alpha 0 gives z0 and 1 gives z1.
 */
export function slerp(z0: Float32Array, z1: Float32Array, alpha: number, n: number): Float32Array {
  const size = z0.length / n;
  const out = new Float32Array(z0.length);
  for (let k = 0; k < n; k++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let i = k * size; i < (k + 1) * size; i++) {
      dot += z0[i]! * z1[i]!;
      na += z0[i]! * z0[i]!;
      nb += z1[i]! * z1[i]!;
    }
    const theta = Math.acos(Math.min(1, Math.max(-1, dot / (Math.sqrt(na) * Math.sqrt(nb)))));
    const s = Math.sin(theta);
    const c0 = Math.fround(s > 1e-6 ? Math.sin((1 - alpha) * theta) / s : 1 - alpha);
    const c1 = Math.fround(s > 1e-6 ? Math.sin(alpha * theta) / s : alpha);
    for (let i = k * size; i < (k + 1) * size; i++) out[i] = Math.fround(z0[i]! * c0) + Math.fround(z1[i]! * c1);
  }
  return out;
}
