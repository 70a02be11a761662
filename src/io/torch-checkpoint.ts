/**
 * Reads PyTorch checkpoints (`torch.save` of a state dict) without Python and without executing
 * pickle code. Two layouts:
 *
 * - the zip format (torch >= 1.6): `<prefix>/data.pkl` (the pickled object, whose tensors point
 *   at storages through persistent ids ('storage', StorageType, key, location, numel)) and one
 *   member `<prefix>/data/<key>` of raw little-endian bytes per storage;
 * - the legacy format (torch.save with `_use_new_zipfile_serialization=False`, and every file
 *   before torch 1.6): five pickles in a row (magic number, protocol version 1001, sys info, the
 *   object with persistent ids ('storage', StorageType, key, location, numel, view), the sorted
 *   storage keys) followed by each storage as an 8-byte element count and its raw bytes.
 *
 * The unpickler (src/io/pickle.ts) accepts only the globals a state dict uses:
 * collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and
 * the torch.*Storage types; anything else (os.system, builtins.eval, ...) is refused by name.
 */
import { readFileSync } from 'node:fs';
import { ZipArchive, ZipError, looksLikeZip } from './zip.js';
import {
  unpickle,
  PickleError,
  PickleDict,
  PickleTuple,
  PickleOpaque,
  isPickleGlobal,
  type PickleGlobal,
  type PickleResolver,
  type PickleValue,
} from './pickle.js';
import { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/creation.js';
import { dtypeSize, type DType } from '../tensor/dtype.js';
import { getDefaultDevice } from '../tensor/device.js';
import { oneLine } from './one-line.js';
import { InputError } from '../util/input-error.js';

/** A checkpoint that cannot be read: the message names the file and the problem. */
export class TorchCheckpointError extends InputError {
  override name = 'TorchCheckpointError';
  /** The message is made one printable line (it may quote what the file holds). */
  constructor(message: string) {
    super(oneLine(message));
  }
}

/** torch.<Name>Storage -> element type. */
const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

/** A storage named by a persistent id; its bytes are attached once they have been read. */
class StorageRef extends PickleOpaque {
  /** Element offset into the root storage (legacy storage views), and element count. */
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    readonly viewOffset = 0,
  ) {
    super();
  }
}

/** A tensor as _rebuild_tensor_v2 describes it: a strided view of a storage. */
class TensorRef extends PickleOpaque {
  constructor(
    readonly storage: StorageRef,
    readonly storageOffset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {
    super();
  }
  /** torch 2.x may BUILD an empty __dict__ onto a tensor: accept exactly that. */
  override setState(state: PickleValue): void {
    if (state instanceof PickleDict && state.entries.size === 0) return;
    if (state instanceof PickleTuple && state.items.every((s) => s === null || (s instanceof PickleDict && s.entries.size === 0))) return;
    super.setState(state);
  }
}

const ALLOWED_HINT =
  'a state dict only needs collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and torch.*Storage';

function intList(v: PickleValue, what: string): number[] {
  const items = v instanceof PickleTuple ? v.items : Array.isArray(v) ? v : null;
  if (!items) throw new PickleError(`${what} is not a tuple`);
  return items.map((x) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x)) throw new PickleError(`${what} holds a value that is not an integer`);
    return x;
  });
}

function makeResolver(legacy: boolean, seen: StorageRef[] = []): PickleResolver {
  const globals = new Map<string, PickleGlobal>();
  const add = (module: string, name: string, call?: (args: PickleValue[]) => PickleValue): void => {
    globals.set(`${module}.${name}`, call ? { kind: 'global', module, name, call } : { kind: 'global', module, name });
  };
  add('collections', 'OrderedDict', (args) => {
    if (args.length !== 0) throw new PickleError('collections.OrderedDict with arguments is not supported');
    return new PickleDict(true);
  });
  add('torch._utils', '_rebuild_tensor_v2', (args) => {
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    if (args.length < 6 || args.length > 7) throw new PickleError(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRef)) throw new PickleError('_rebuild_tensor_v2: the first argument is not a storage');
    if (typeof offset !== 'number') throw new PickleError('_rebuild_tensor_v2: the storage offset is not an integer');
    const sz = intList(size!, '_rebuild_tensor_v2 size');
    const st = intList(stride!, '_rebuild_tensor_v2 stride');
    if (sz.length !== st.length) throw new PickleError('_rebuild_tensor_v2: size and stride differ in length');
    return new TensorRef(storage, offset, sz, st);
  });
  add('torch._utils', '_rebuild_parameter', (args) => {
    // (data, requires_grad, backward_hooks): a parameter is its data here.
    const data = args[0];
    if (args.length !== 3 || !(data instanceof TensorRef)) throw new PickleError('_rebuild_parameter: expected (tensor, requires_grad, hooks)');
    return data;
  });
  for (const name of Object.keys(STORAGE_DTYPES)) add('torch', name);
  return {
    findGlobal: (module, name) => globals.get(`${module}.${name}`),
    refusalHint: ALLOWED_HINT,
    persistentLoad(pid) {
      if (!(pid instanceof PickleTuple) || pid.items[0] !== 'storage') throw new PickleError("persistent id is not a ('storage', ...) tuple");
      const [, type, key, , numel, view] = pid.items;
      if (!isPickleGlobal(type!) || type.module !== 'torch' || !(type.name in STORAGE_DTYPES))
        throw new PickleError('persistent id names no torch storage type');
      if (typeof key !== 'string') throw new PickleError('persistent id has no storage key');
      if (typeof numel !== 'number') throw new PickleError('persistent id has no element count');
      const dtype = STORAGE_DTYPES[type.name]!;
      if (legacy && view instanceof PickleTuple) {
        // (view_key, offset, view_size): a view of storage `key` (torch < 1.0 files).
        const [, viewOffset, viewSize] = view.items;
        if (typeof viewOffset !== 'number' || typeof viewSize !== 'number') throw new PickleError('malformed storage view in persistent id');
        const ref = new StorageRef(key, dtype, viewSize, viewOffset);
        seen.push(ref);
        return ref;
      }
      const ref = new StorageRef(key, dtype, numel);
      seen.push(ref);
      return ref;
    },
  };
}

/** Copies the strided view `t` of its storage's bytes into a contiguous tensor. */
function materialize(t: TensorRef, storageBytes: Uint8Array, device: string, label: string, name: string): Tensor {
  const esize = dtypeSize[t.storage.dtype];
  const numel = t.size.reduce((a, b) => a * b, 1);
  const base = t.storage.viewOffset + t.storageOffset;
  const storageNumel = storageBytes.length / esize;
  // Bounds: the furthest element the view touches must lie inside the storage.
  let last = base;
  for (let d = 0; d < t.size.length; d++) if (t.size[d]! > 0) last += (t.size[d]! - 1) * t.stride[d]!;
  if (numel > 0 && (base < 0 || last >= storageNumel || t.stride.some((s) => s < 0))) {
    throw new TorchCheckpointError(`${label}: tensor '${name}' reaches outside its storage '${t.storage.key}'`);
  }
  let contiguous = true;
  for (let d = t.size.length - 1, expect = 1; d >= 0; d--) {
    if (t.size[d]! !== 1 && t.stride[d]! !== expect) contiguous = false;
    expect *= t.size[d]!;
  }
  let out: Uint8Array;
  if (contiguous) out = storageBytes.slice(base * esize, (base + numel) * esize);
  else {
    out = new Uint8Array(numel * esize);
    const rank = t.size.length;
    const idx = new Array<number>(rank).fill(0);
    let src = base;
    for (let i = 0; i < numel; i++) {
      out.set(storageBytes.subarray(src * esize, (src + 1) * esize), i * esize);
      // Advance the multi-index like an odometer, keeping the source offset in step.
      for (let d = rank - 1; d >= 0; d--) {
        idx[d]!++;
        src += t.stride[d]!;
        if (idx[d]! < t.size[d]!) break;
        src -= t.stride[d]! * t.size[d]!;
        idx[d] = 0;
      }
    }
  }
  return tensor(out, t.size, { dtype: t.storage.dtype, device });
}

/** Every tensor of a (possibly nested) dict, with dotted names; other values are left out. */
function collectTensors(v: PickleValue, label: string): Map<string, TensorRef> {
  const out = new Map<string, TensorRef>();
  const walk = (d: PickleDict, prefix: string): void => {
    for (const [k, x] of d.entries) {
      const name = `${prefix}${String(k)}`;
      if (x instanceof TensorRef) out.set(name, x);
      else if (x instanceof PickleDict) walk(x, `${name}.`);
    }
  };
  if (!(v instanceof PickleDict))
    throw new TorchCheckpointError(
      `${label}: the checkpoint holds no dict of tensors (a whole pickled module is not supported: save model.state_dict())`,
    );
  walk(v, '');
  return out;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function readZipCheckpoint(bytes: Uint8Array, label: string): { refs: Map<string, TensorRef>; storage: (ref: StorageRef) => Uint8Array } {
  const zip = ZipArchive.fromBytes(bytes, label);
  const pkl = zip.names.find((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (pkl === undefined) throw new TorchCheckpointError(`${label}: zip archive has no data.pkl (not a torch.save file)`);
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  if (zip.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim();
    if (order !== 'little') throw new TorchCheckpointError(`${label}: storages are ${order}-endian; only little-endian checkpoints are supported`);
  }
  const { value } = unpickle(zip.read(pkl), makeResolver(false), `${label}:${pkl}`);
  const refs = collectTensors(value, label);
  return {
    refs,
    storage: (ref) => {
      const member = `${prefix}data/${ref.key}`;
      if (!zip.has(member)) throw new TorchCheckpointError(`${label}: storage '${ref.key}' is missing (no member ${member})`);
      return zip.read(member);
    },
  };
}

function readLegacyCheckpoint(bytes: Uint8Array, label: string): { refs: Map<string, TensorRef>; storage: (ref: StorageRef) => Uint8Array } {
  const plain: PickleResolver = { findGlobal: () => undefined, refusalHint: 'the legacy header pickles hold plain values only' };
  const magic = unpickle(bytes, plain, label, 0);
  if (magic.value !== LEGACY_MAGIC) throw new TorchCheckpointError(`${label}: not a PyTorch checkpoint (wrong magic number)`);
  const version = unpickle(bytes, plain, label, magic.end);
  const v = version.value;
  // A number, string or other scalar is shown as is; a container ('[object Object]' to String) is not.
  if (v !== 1001)
    throw new TorchCheckpointError(
      `${label}: unsupported legacy checkpoint protocol version ${typeof v === 'object' && v !== null ? '(not a number)' : String(v)}`,
    );
  const sysInfo = unpickle(bytes, plain, label, version.end);
  if (sysInfo.value instanceof PickleDict && sysInfo.value.entries.get('little_endian') === false) {
    throw new TorchCheckpointError(`${label}: saved on a big-endian machine; only little-endian checkpoints are supported`);
  }
  const storages: StorageRef[] = [];
  const main = unpickle(bytes, makeResolver(true, storages), label, sysInfo.end);
  const keys = unpickle(bytes, plain, label, main.end);
  if (!Array.isArray(keys.value) || keys.value.some((k) => typeof k !== 'string'))
    throw new TorchCheckpointError(`${label}: malformed storage key list`);
  const refs = collectTensors(main.value, label);
  const esizeOf = new Map<string, number>();
  for (const s of storages) esizeOf.set(s.key, dtypeSize[s.dtype]);
  // Storages follow in key order, each as int64 element count + raw bytes.
  const data = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = keys.end;
  for (const key of keys.value as string[]) {
    if (p + 8 > bytes.length) throw new TorchCheckpointError(`${label}: truncated before storage '${key}'`);
    const count = Number(view.getBigInt64(p, true));
    p += 8;
    const esize = esizeOf.get(key);
    if (esize === undefined) throw new TorchCheckpointError(`${label}: storage '${key}' is named by no persistent id; its element size is unknown`);
    const end = p + count * esize;
    if (count < 0 || end > bytes.length) throw new TorchCheckpointError(`${label}: storage '${key}' runs past the end of the file (truncated?)`);
    data.set(key, bytes.subarray(p, end));
    p = end;
  }
  return {
    refs,
    storage: (ref) => {
      const d = data.get(ref.key);
      if (!d) throw new TorchCheckpointError(`${label}: storage '${ref.key}' is missing`);
      return d;
    },
  };
}

export interface TorchCheckpointOptions {
  /** Where the tensors go; default: the default device. */
  device?: string;
}

/**
 * The tensors of a torch.save'd state dict held in memory, by name (nested dicts give dotted
 * names; values that are not tensors are left out). Strided views come back contiguous.
 */
export function parseTorchCheckpoint(bytes: Uint8Array, label = '<buffer>', options: TorchCheckpointOptions = {}): Map<string, Tensor> {
  const device = options.device ?? getDefaultDevice();
  let parsed: ReturnType<typeof readZipCheckpoint>;
  try {
    if (looksLikeZip(bytes)) parsed = readZipCheckpoint(bytes, label);
    else if (bytes[0] === 0x80) parsed = readLegacyCheckpoint(bytes, label);
    else throw new TorchCheckpointError(`${label}: not a PyTorch checkpoint (neither a zip archive nor a legacy pickle stream)`);
  } catch (err) {
    if (err instanceof PickleError) throw new TorchCheckpointError(err.message.startsWith(label) ? err.message : `${label}: ${err.message}`);
    if (err instanceof ZipError) throw new TorchCheckpointError(err.message);
    throw err;
  }
  const out = new Map<string, Tensor>();
  const cache = new Map<string, Uint8Array>();
  try {
    for (const [name, ref] of parsed.refs) {
      let bytesOf = cache.get(ref.storage.key);
      if (!bytesOf) {
        bytesOf = parsed.storage(ref.storage);
        cache.set(ref.storage.key, bytesOf);
      }
      out.set(name, materialize(ref, bytesOf, device, label, name));
    }
  } catch (err) {
    for (const t of out.values()) t.dispose();
    throw err instanceof ZipError ? new TorchCheckpointError(err.message) : err;
  }
  return out;
}

/** Loads a torch.save'd state dict from a file (see parseTorchCheckpoint). */
export function loadTorchCheckpoint(path: string, options: TorchCheckpointOptions = {}): Map<string, Tensor> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new TorchCheckpointError(`${path}: cannot read (${(err as Error).message})`);
  }
  return parseTorchCheckpoint(bytes, path, options);
}
