/**
 * A small module system (PyTorch's nn.Module in spirit): parameters, buffers and submodules with
 * dotted names, train/eval mode, a dropout generator shared down the tree, and named state dicts
 * that load with errors naming every missing, extra or mis-shaped tensor.
 */
import { Tensor } from '../tensor/tensor.js';
import { keep } from '../tensor/scope.js';
import { noGrad } from '../tensor/autograd.js';
import type { Generator } from '../tensor/random.js';
import { InputError } from '../util/input-error.js';

/** A state dict that does not fit a module. */
export class StateDictError extends InputError {
  override name = 'StateDictError';
}

/**
 * `m` as an instance of `type`, checked: a module container holds plain Modules, and the networks
 * know by name which kind each entry is; a wrong entry fails here, naming what was expected.
 */
export function expectModule<T extends Module>(m: Module, type: new (...args: never[]) => T, name: string): T {
  if (!(m instanceof type)) throw new TypeError(`${name}: expected a ${type.name}, got a ${m.constructor.name}`);
  return m;
}

export abstract class Module {
  /** True in training mode (dropout on). */
  training = true;
  /** The generator dropout draws its masks from (undefined: libtorch's default generator). */
  generator: Generator | undefined;
  readonly #parameters = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  /** Registers a trainable tensor; the module owns it (no scope disposes it). */
  protected registerParameter(name: string, value: Tensor): Tensor {
    this.#checkName(name);
    keep(value);
    if (!value.requiresGrad) value.requiresGrad_(true);
    this.#parameters.set(name, value);
    return value;
  }

  /** Registers a non-trainable tensor that belongs in the state dict. */
  protected registerBuffer(name: string, value: Tensor): Tensor {
    this.#checkName(name);
    keep(value);
    this.#buffers.set(name, value);
    return value;
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    this.#checkName(name);
    this.#children.set(name, module);
    return module;
  }

  #checkName(name: string): void {
    if (!name || name.includes('.')) throw new Error(`module: invalid name '${name}'`);
    if (this.#parameters.has(name) || this.#buffers.has(name) || this.#children.has(name)) throw new Error(`module: '${name}' is registered twice`);
  }

  /** Direct submodules in registration order. */
  children(): Map<string, Module> {
    return new Map(this.#children);
  }

  /** Every parameter with its dotted name ('blocks.0.conv.weight'), in registration order. */
  namedParameters(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, p] of this.#parameters) out.set(prefix + n, p);
    for (const [n, c] of this.#children) for (const [k, v] of c.namedParameters(`${prefix}${n}.`)) out.set(k, v);
    return out;
  }

  parameters(): Tensor[] {
    return [...this.namedParameters().values()];
  }

  namedBuffers(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, b] of this.#buffers) out.set(prefix + n, b);
    for (const [n, c] of this.#children) for (const [k, v] of c.namedBuffers(`${prefix}${n}.`)) out.set(k, v);
    return out;
  }

  /** Parameters and buffers by name (the module's own tensors, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Number of trainable values. */
  parameterCount(): number {
    let n = 0;
    for (const p of this.#parameters.values()) n += p.size;
    for (const c of this.#children.values()) n += c.parameterCount();
    return n;
  }

  /**
   * Copies values from `state` into this module's tensors. Missing, unexpected or mis-shaped
   * entries raise one StateDictError that names each of them. dtype and device are converted.
   */
  loadStateDict(state: Map<string, Tensor>, options: { strict?: boolean } = {}): void {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !state.has(k));
    const unexpected = [...state.keys()].filter((k) => !own.has(k));
    const misShaped: string[] = [];
    for (const [k, t] of own) {
      const s = state.get(k);
      if (s && s.shape.join(',') !== t.shape.join(',')) misShaped.push(`${k} (expected [${t.shape.join(', ')}], got [${s.shape.join(', ')}])`);
    }
    const problems: string[] = [];
    if (misShaped.length) problems.push(`mis-shaped: ${misShaped.join('; ')}`);
    if (strict && missing.length) problems.push(`missing: ${missing.join(', ')}`);
    if (strict && unexpected.length) problems.push(`unexpected: ${unexpected.join(', ')}`);
    if (problems.length) throw new StateDictError(`state dict does not fit ${this.constructor.name}: ${problems.join('; ')}`);
    noGrad(() => {
      for (const [k, t] of own) {
        const s = state.get(k);
        if (!s) continue;
        if (s.dtype === t.dtype && s.device === t.device) t.copy_(s);
        else {
          const c = s.to({ dtype: t.dtype, device: t.device });
          t.copy_(c);
          c.dispose();
        }
      }
    });
  }

  /** Sets training mode here and below. */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.#children.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Sets the dropout generator here and below. */
  setGenerator(generator: Generator | undefined): this {
    this.generator = generator;
    for (const c of this.#children.values()) c.setGenerator(generator);
    return this;
  }

  /** Clears every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.clearGrad();
  }

  /** Moves every parameter and buffer to `device` (parameters stay leaves that require grad). */
  to(device: string): this {
    const move = (map: Map<string, Tensor>, isParam: boolean) => {
      for (const [k, t] of map) {
        if (t.device === device) continue;
        const moved = noGrad(() => t.to({ device }));
        keep(moved);
        if (isParam) moved.requiresGrad_(true);
        t.dispose();
        map.set(k, moved);
      }
    };
    move(this.#parameters, true);
    move(this.#buffers, false);
    for (const c of this.#children.values()) c.to(device);
    return this;
  }

  /**
   * Re-lays every 4-D parameter and buffer (convolution weights) out channels-last, as PyTorch's
   * module.to(memory_format=torch.channels_last); with channels-last inputs the convolutions then
   * run in NHWC and their outputs stay channels-last. Values and names do not change.
   */
  channelsLast(): this {
    const relay = (map: Map<string, Tensor>, isParam: boolean) => {
      for (const [k, t] of map) {
        if (t.rank !== 4 || t.isChannelsLast) continue;
        const moved = noGrad(() => t.channelsLast());
        keep(moved);
        if (isParam) moved.requiresGrad_(true);
        t.dispose();
        map.set(k, moved);
      }
    };
    relay(this.#parameters, true);
    relay(this.#buffers, false);
    for (const c of this.#children.values()) c.channelsLast();
    return this;
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const p of this.#parameters.values()) p.dispose();
    for (const b of this.#buffers.values()) b.dispose();
    for (const c of this.#children.values()) c.dispose();
  }

  /** A parameter or buffer of this module by its local name (for layers' forward code). */
  protected tensor(name: string): Tensor {
    const t = this.#parameters.get(name) ?? this.#buffers.get(name);
    if (!t) throw new Error(`${this.constructor.name}: no tensor '${name}'`);
    return t;
  }
}
