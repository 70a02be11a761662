/**
 * A small builder of ONNX graphs: named values, nodes, constants and weight initializers, turned
 * into a ModelProto and encoded by onnx-proto (protobufjs code generated from onnx.proto), so no
 * protobuf bytes are written by hand. Values are tensor names; every node gets a unique name.
 */
import onnxProto from 'onnx-proto';
import type { onnx as P } from 'onnx-proto';

const { onnx } = onnxProto;
type AttributeValue = number | readonly number[] | string;

/** float32, or float16 weights cast to float32 at load (--fp16: half the file, same compute). */
export type WeightStorage = 'float32' | 'float16';

/** A graph input or output: its element type and shape, a string for a symbolic dimension ('N'). */
export interface ValueSpec {
  name: string;
  type: 'float32' | 'int64';
  shape: ReadonlyArray<number | string>;
}

/** Options of {@link OnnxGraph.encode}. */
export interface ModelOptions {
  opset: number;
  producerVersion: string;
  /** Key/value strings stored in the model's metadata_props. */
  metadata: Readonly<Record<string, string>>;
  docString?: string;
}

/** The opsets whose operator forms this builder emits (ReduceMean's axes moved to an input in 18). */
export const SUPPORTED_OPSETS: readonly number[] = [17, 18, 19, 20, 21];

/** IR version for an opset (ONNX's versioning table: opset 17-18 with IR 8, 19-20 with IR 9, 21 with IR 10). */
function irVersionFor(opset: number): number {
  return opset <= 18 ? 8 : opset <= 20 ? 9 : 10;
}

function elemType(t: ValueSpec['type']): number {
  return t === 'float32' ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64;
}

function attribute(name: string, v: AttributeValue): P.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  return { name, type: T.INTS, ints: [...v] };
}

/** Builds one graph; `op` appends nodes in execution order. */
export class OnnxGraph {
  readonly #nodes: P.INodeProto[] = [];
  readonly #initializers: P.ITensorProto[] = [];
  readonly #inputs: ValueSpec[] = [];
  readonly #outputs: ValueSpec[] = [];
  readonly #used = new Set<string>();
  readonly #constants = new Map<string, string>();
  #counter = 0;

  constructor(
    readonly opset: number,
    readonly weightStorage: WeightStorage = 'float32',
  ) {
    if (!SUPPORTED_OPSETS.includes(opset)) throw new RangeError(`onnx export: opset must be one of ${SUPPORTED_OPSETS.join(', ')}, got ${opset}`);
  }

  /** A fresh value name with `hint` in it. */
  fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./-]/g, '_');
    let name = base;
    while (this.#used.has(name)) name = `${base}_${++this.#counter}`;
    this.#used.add(name);
    return name;
  }

  input(spec: ValueSpec): string {
    if (this.#used.has(spec.name)) throw new Error(`onnx export: the name '${spec.name}' is taken`);
    this.#used.add(spec.name);
    this.#inputs.push(spec);
    return spec.name;
  }

  /** Marks `value` as a graph output named spec.name (through an Identity node). */
  output(value: string, spec: ValueSpec): void {
    const name = this.fresh(spec.name);
    if (name !== spec.name) throw new Error(`onnx export: the output name '${spec.name}' is taken`);
    this.#nodes.push({ opType: 'Identity', input: [value], output: [name], name: `node_${this.#nodes.length}_Identity` });
    this.#outputs.push(spec);
  }

  /** Appends a node; returns its first output (see opMulti for several). */
  op(type: string, inputs: readonly string[], attrs: Readonly<Record<string, AttributeValue>> = {}, hint = type): string {
    return this.opMulti(type, inputs, 1, attrs, hint)[0]!;
  }

  opMulti(type: string, inputs: readonly string[], outputs: number, attrs: Readonly<Record<string, AttributeValue>> = {}, hint = type): string[] {
    const outs = Array.from({ length: outputs }, (_, i) => this.fresh(outputs > 1 ? `${hint}_${i}` : hint));
    this.#nodes.push({
      opType: type,
      input: [...inputs],
      output: outs,
      name: `node_${this.#nodes.length}_${type}`,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /**
   * A float32 weight from the module tree as an initializer (named after its parameter, e.g.
   * 'enc.28x28_conv.weight'). With float16 storage the initializer is float16 and a Cast node
   * gives back float32, whose value is returned.
   */
  weight(name: string, values: Float32Array, dims: readonly number[], float16Bytes?: Uint8Array): string {
    if (values.length !== dims.reduce((a, b) => a * b, 1))
      throw new Error(`onnx export: ${name} has ${values.length} values for dims [${dims.join(', ')}]`);
    if (this.weightStorage === 'float16') {
      if (!float16Bytes) throw new Error(`onnx export: ${name} has no float16 values`);
      const stored = this.fresh(`${name}.fp16`);
      this.#initializers.push({ name: stored, dataType: onnx.TensorProto.DataType.FLOAT16, dims: [...dims], rawData: float16Bytes });
      return this.op('Cast', [stored], { to: onnx.TensorProto.DataType.FLOAT }, name);
    }
    const stored = this.fresh(name);
    this.#initializers.push({ name: stored, dataType: onnx.TensorProto.DataType.FLOAT, dims: [...dims], rawData: littleEndianBytes(values) });
    return stored;
  }

  /** A float32 constant (an initializer; small ones are shared by value). */
  constFloat(values: readonly number[] | Float32Array, dims: readonly number[]): string {
    const data = Float32Array.from(values);
    const key = `f:${dims.join(',')}:${Array.from(data).join(',')}`;
    if (data.length <= 16 && this.#constants.has(key)) return this.#constants.get(key)!;
    const name = this.fresh('const');
    this.#initializers.push({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims: [...dims], rawData: littleEndianBytes(data) });
    if (data.length <= 16) this.#constants.set(key, name);
    return name;
  }

  /** An int64 constant (shapes, axes, indices). */
  constInt64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `i:${dims.join(',')}:${values.join(',')}`;
    const known = this.#constants.get(key);
    if (known) return known;
    const name = this.fresh('const_i64');
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.#initializers.push({ name, dataType: onnx.TensorProto.DataType.INT64, dims: [...dims], rawData: new Uint8Array(data.buffer) });
    this.#constants.set(key, name);
    return name;
  }

  /** ReduceMean over `axes`, keeping them: axes are an attribute before opset 18 and an input from 18 on. */
  reduceMean(x: string, axes: readonly number[]): string {
    if (this.opset < 18) return this.op('ReduceMean', [x], { axes, keepdims: 1 });
    return this.op('ReduceMean', [x, this.constInt64(axes)], { keepdims: 1 });
  }

  /** The encoded ModelProto. */
  encode(o: ModelOptions): Uint8Array {
    const valueInfo = (v: ValueSpec): P.IValueInfoProto => ({
      name: v.name,
      type: {
        tensorType: { elemType: elemType(v.type), shape: { dim: v.shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } },
      },
    });
    const model: P.IModelProto = {
      irVersion: irVersionFor(this.opset),
      opsetImport: [{ domain: '', version: this.opset }],
      producerName: 'consistency-ts',
      producerVersion: o.producerVersion,
      docString: o.docString ?? '',
      metadataProps: Object.entries(o.metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: 'consistency_function',
        node: this.#nodes,
        initializer: this.#initializers,
        input: this.#inputs.map(valueInfo),
        output: this.#outputs.map(valueInfo),
      },
    };
    const err = onnx.ModelProto.verify(model);
    if (err) throw new Error(`onnx export: invalid model message: ${err}`);
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}

/** The bytes of a float32 array in little-endian order (ONNX raw_data). */
function littleEndianBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}
