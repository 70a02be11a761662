/**
 * Runs a Keras functional model saved for TensorFlow.js (a `modelTopology` in Keras 2 JSON and a
 * `weightsManifest`; weights possibly quantized to uint8/uint16 with per-tensor min and scale) on
 * our engine, in NCHW, up to any named layer. Only the layer kinds of convolutional classifiers
 * such as Keras' InceptionV3 are implemented: InputLayer, Conv2D, BatchNormalization, Activation,
 * MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Concatenate, Flatten, Dense, Dropout.
 *
 * TensorFlow's SAME padding puts the odd pixel after the image, and its average pooling leaves
 * padding out of the mean; both are reproduced. Intermediate activations are freed as soon as
 * their last consumer has run.
 */
import { Tensor } from '../../tensor/tensor.js';
import { tensor, cat } from '../../tensor/creation.js';
import { tidy, keep } from '../../tensor/scope.js';
import { noGrad } from '../../tensor/autograd.js';
import * as F from '../../tensor/functional.js';
import type { JsonValue } from '../../util/json.js';
import { InputError } from '../../util/input-error.js';

export class KerasModelError extends InputError {
  override name = 'KerasModelError';
}

/** One entry of a TFJS weights manifest group. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { min?: number; scale?: number; dtype: string };
}

export interface WeightsGroup {
  paths: string[];
  weights: WeightSpec[];
}

interface LayerSpec {
  name: string;
  className: string;
  config: Record<string, JsonValue>;
  inputs: string[];
}

type Obj = { [key: string]: JsonValue };
const isObj = (v: JsonValue | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function numbers(v: JsonValue | undefined, what: string): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) throw new KerasModelError(`${what} is not a list of numbers`);
  return v as number[];
}

/** Decodes the weights of one manifest group from its concatenated shard bytes into float32 values. */
export function decodeWeights(group: WeightsGroup, data: Uint8Array, label = '<weights>'): Map<string, { shape: number[]; values: Float32Array }> {
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let p = 0;
  for (const w of group.weights) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const q = w.quantization;
    const storage = q?.dtype ?? w.dtype;
    const bytes = storage === 'uint8' ? 1 : storage === 'uint16' || storage === 'float16' ? 2 : storage === 'float32' || storage === 'int32' ? 4 : 0;
    if (bytes === 0) throw new KerasModelError(`${label}: weight '${w.name}' is stored as ${storage}, which is not supported`);
    if (p + n * bytes > data.length) throw new KerasModelError(`${label}: weight data end before '${w.name}' (truncated shard?)`);
    const values = new Float32Array(n);
    if (q && (storage === 'uint8' || storage === 'uint16')) {
      // tfjs dequantization: value = min + scale * q
      const min = q.min ?? 0;
      const scale = q.scale ?? 1;
      for (let i = 0; i < n; i++) values[i] = min + scale * (storage === 'uint8' ? data[p + i]! : view.getUint16(p + 2 * i, true));
    } else if (storage === 'float16') {
      const h = tensor(new Uint16Array(data.slice(p, p + 2 * n).buffer), [n], { dtype: 'float16', device: 'cpu' });
      values.set(h.toFloat32Array());
      h.dispose();
    } else if (storage === 'float32') {
      values.set(new Float32Array(data.slice(p, p + 4 * n).buffer));
    } else {
      for (let i = 0; i < n; i++) values[i] = view.getInt32(p + 4 * i, true);
    }
    out.set(w.name, { shape: w.shape, values });
    p += n * bytes;
  }
  return out;
}

/** TF SAME padding of one dimension: [before, after], the odd pixel after. */
function samePadding(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** A Keras model runnable up to one output layer. */
export class KerasGraph {
  readonly #layers = new Map<string, LayerSpec>();
  readonly #order: string[] = [];
  readonly #weights = new Map<string, Tensor>();
  readonly #output: string;

  /**
   * `topology`: the `modelTopology` object; `output`: the layer whose activations forward()
   * returns; `weights`: decoded float32 weights by name ('conv2d_1/kernel'); only the layers
   * the output depends on are kept.
   */
  constructor(
    topology: JsonValue,
    output: string,
    weights: Map<string, { shape: number[]; values: Float32Array }>,
    readonly device = 'cpu',
    readonly label = '<model>',
  ) {
    const config = isObj(topology) && isObj(topology.model_config) ? topology.model_config.config : undefined;
    if (!isObj(config) || !Array.isArray(config.layers)) throw new KerasModelError(`${label}: not a Keras functional model topology`);
    const all = new Map<string, LayerSpec>();
    for (const l of config.layers) {
      if (!isObj(l) || typeof l.name !== 'string' || typeof l.class_name !== 'string' || !isObj(l.config))
        throw new KerasModelError(`${label}: malformed layer entry`);
      const nodes = Array.isArray(l.inbound_nodes) ? l.inbound_nodes : [];
      if (nodes.length > 1) throw new KerasModelError(`${label}: layer '${l.name}' is shared between several calls, which is not supported`);
      const first = nodes[0];
      const inputs = Array.isArray(first) ? first.map((n) => (Array.isArray(n) && typeof n[0] === 'string' ? n[0] : '')) : [];
      all.set(l.name, { name: l.name, className: l.class_name, config: l.config, inputs });
    }
    if (!all.has(output)) throw new KerasModelError(`${label}: no layer named '${output}'`);
    // The layers the output needs, in dependency order.
    const seen = new Set<string>();
    const visit = (name: string): void => {
      if (seen.has(name)) return;
      seen.add(name);
      const l = all.get(name);
      if (!l) throw new KerasModelError(`${label}: layer '${name}' is referenced but not defined`);
      for (const i of l.inputs) visit(i);
      this.#order.push(name);
      this.#layers.set(name, l);
    };
    visit(output);
    const inputs = this.#order.filter((n) => this.#layers.get(n)!.className === 'InputLayer');
    if (inputs.length !== 1) throw new KerasModelError(`${label}: expected one input layer, found ${inputs.length}`);
    this.#output = output;
    for (const name of this.#order) this.#loadLayerWeights(this.#layers.get(name)!, weights);
  }

  #loadLayerWeights(l: LayerSpec, weights: Map<string, { shape: number[]; values: Float32Array }>): void {
    const take = (suffix: string, permute?: number[]): void => {
      const w = weights.get(`${l.name}/${suffix}`);
      if (!w) throw new KerasModelError(`${this.label}: weight '${l.name}/${suffix}' is missing`);
      const t = tidy(() => {
        const raw = tensor(w.values, w.shape, { device: 'cpu' });
        return (permute ? raw.permute(permute).contiguous() : raw).to({ device: this.device });
      });
      this.#weights.set(`${l.name}/${suffix}`, keep(t));
    };
    if (l.className === 'Conv2D') {
      take('kernel', [3, 2, 0, 1]); // [kh, kw, in, out] -> [out, in, kh, kw]
      if (l.config.use_bias === true) take('bias');
    } else if (l.className === 'Dense') {
      take('kernel', [1, 0]); // [in, out] -> [out, in]
      if (l.config.use_bias === true) take('bias');
    } else if (l.className === 'BatchNormalization') {
      take('moving_mean');
      take('moving_variance');
      if (l.config.center !== false) take('beta');
      if (l.config.scale !== false) take('gamma');
    }
  }

  /** The output layer's name. */
  get output(): string {
    return this.#output;
  }

  #w(name: string): Tensor | null {
    return this.#weights.get(name) ?? null;
  }

  #activation(x: Tensor, name: JsonValue | undefined, layer: string): Tensor {
    switch (name ?? 'linear') {
      case 'linear':
        return x;
      case 'relu':
        return x.relu();
      case 'sigmoid':
        return x.sigmoid();
      case 'tanh':
        return x.tanh();
      case 'softmax':
        return F.softmax(x, 1);
      default:
        throw new KerasModelError(`${this.label}: activation ${JSON.stringify(name)} of layer '${layer}' is not supported`);
    }
  }

  #pool(x: Tensor, l: LayerSpec, kind: 'max' | 'avg'): Tensor {
    const [kh, kw] = numbers(l.config.pool_size, `${l.name}.pool_size`) as [number, number];
    const [sh, sw] =
      l.config.strides === null || l.config.strides === undefined ? [kh, kw] : (numbers(l.config.strides, `${l.name}.strides`) as [number, number]);
    if (l.config.padding === 'same') {
      const [pt, pb] = samePadding(x.shape[2]!, kh, sh);
      const [pl, pr] = samePadding(x.shape[3]!, kw, sw);
      if (pt !== pb || pl !== pr) throw new KerasModelError(`${this.label}: asymmetric SAME pooling in '${l.name}' is not supported`);
      // TF ignores the padding: max pooling pads with -inf, average pooling leaves it out of the mean.
      return kind === 'max' ? F.maxPool2d(x, [kh, kw], [sh, sw], [pt, pl]) : F.avgPool2d(x, [kh, kw], [sh, sw], [pt, pl], { countIncludePad: false });
    }
    return kind === 'max' ? F.maxPool2d(x, [kh, kw], [sh, sw]) : F.avgPool2d(x, [kh, kw], [sh, sw]);
  }

  #run(l: LayerSpec, xs: Tensor[]): Tensor {
    const x = xs[0]!;
    const c = l.config;
    switch (l.className) {
      case 'Conv2D': {
        const [kh, kw] = numbers(c.kernel_size, `${l.name}.kernel_size`) as [number, number];
        const [sh, sw] = numbers(c.strides, `${l.name}.strides`) as [number, number];
        const dil = numbers(c.dilation_rate ?? [1, 1], `${l.name}.dilation_rate`);
        if (dil.some((d) => d !== 1)) throw new KerasModelError(`${this.label}: dilated convolution '${l.name}' is not supported`);
        let input = x;
        if (c.padding === 'same') {
          const [pt, pb] = samePadding(x.shape[2]!, kh, sh);
          const [pl, pr] = samePadding(x.shape[3]!, kw, sw);
          if (pt !== pb || pl !== pr) input = F.pad(x, [pl, pr, pt, pb]);
          else
            return this.#activation(
              F.conv2d(x, this.#w(`${l.name}/kernel`)!, this.#w(`${l.name}/bias`), { stride: [sh, sw], padding: [pt, pl] }),
              c.activation,
              l.name,
            );
        }
        return this.#activation(F.conv2d(input, this.#w(`${l.name}/kernel`)!, this.#w(`${l.name}/bias`), { stride: [sh, sw] }), c.activation, l.name);
      }
      case 'BatchNormalization': {
        const axis = c.axis;
        if (axis !== 3 && axis !== -1 && !(Array.isArray(axis) && (axis[0] === 3 || axis[0] === -1)))
          throw new KerasModelError(`${this.label}: BatchNormalization '${l.name}' over axis ${JSON.stringify(axis)} is not supported`);
        const gamma = this.#w(`${l.name}/gamma`);
        const beta = this.#w(`${l.name}/beta`);
        return F.batchNorm(
          x,
          this.#w(`${l.name}/moving_mean`),
          this.#w(`${l.name}/moving_variance`),
          gamma,
          beta,
          false,
          0,
          typeof c.epsilon === 'number' ? c.epsilon : 0.001,
        );
      }
      case 'Activation':
        return this.#activation(x, c.activation, l.name);
      case 'MaxPooling2D':
        return this.#pool(x, l, 'max');
      case 'AveragePooling2D':
        return this.#pool(x, l, 'avg');
      case 'GlobalAveragePooling2D':
        return x.mean([2, 3]);
      case 'Concatenate': {
        const axis = c.axis;
        if (axis !== 3 && axis !== -1)
          throw new KerasModelError(`${this.label}: Concatenate '${l.name}' over axis ${JSON.stringify(axis)} is not supported`);
        return cat(xs, 1);
      }
      case 'Flatten':
        return x.permute(0, 2, 3, 1).flatten(1); // Keras flattens NHWC order
      case 'Dense':
        return this.#activation(F.linear(x, this.#w(`${l.name}/kernel`)!, this.#w(`${l.name}/bias`)), c.activation, l.name);
      case 'Dropout':
        return x.clone();
      default:
        throw new KerasModelError(`${this.label}: layer '${l.name}' of class ${l.className} is not supported`);
    }
  }

  /**
   * Runs the model on `input` [N, C, H, W] (already preprocessed as the model expects) and returns
   * the output layer's activations (NCHW for images, [N, F] after Flatten/Dense). No gradients.
   */
  forward(input: Tensor): Tensor {
    return noGrad(() => {
      const remaining = new Map<string, number>();
      for (const name of this.#order) for (const i of this.#layers.get(name)!.inputs) remaining.set(i, (remaining.get(i) ?? 0) + 1);
      const values = new Map<string, Tensor>();
      try {
        for (const name of this.#order) {
          const l = this.#layers.get(name)!;
          if (l.className === 'InputLayer') {
            values.set(name, input.clone());
            continue;
          }
          const xs = l.inputs.map((i) => values.get(i)!);
          values.set(
            name,
            tidy(() => this.#run(l, xs)),
          );
          // Free each input once its last consumer has run.
          for (const i of l.inputs) {
            const left = remaining.get(i)! - 1;
            remaining.set(i, left);
            if (left === 0) {
              values.get(i)!.dispose();
              values.delete(i);
            }
          }
        }
        const out = values.get(this.#output)!;
        values.delete(this.#output);
        return out;
      } finally {
        for (const t of values.values()) t.dispose();
      }
    });
  }

  dispose(): void {
    for (const t of this.#weights.values()) t.dispose();
    this.#weights.clear();
  }
}
