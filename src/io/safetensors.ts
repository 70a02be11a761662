/**
 * safetensors files (https://github.com/huggingface/safetensors format): an 8-byte little-endian
 * header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__?}, then the raw
 * little-endian bytes. Files written here read in Python's `safetensors` and back (same names,
 * dtypes, shapes, bytes). Every field of a file read is checked before any byte is used.
 */
import { readFileSync, openSync, readSync, fstatSync, closeSync } from 'node:fs';
import { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/creation.js';
import { type DType, dtypeSize } from '../tensor/dtype.js';
import { getDefaultDevice } from '../tensor/device.js';
import { writeFileAtomic } from './atomic.js';
import { oneLine } from './one-line.js';
import { InputError } from '../util/input-error.js';

/** A malformed or unreadable safetensors file. */
export class SafetensorsError extends InputError {
  override name = 'SafetensorsError';
  /** The message is made one printable line (it may quote what the file holds). */
  constructor(message: string) {
    super(oneLine(message));
  }
}

const toST: Record<DType, string> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};
const fromST: Record<string, DType> = Object.fromEntries(Object.entries(toST).map(([k, v]) => [v, k as DType]));

/** The largest header accepted (the format's reference implementation uses 100 MB). */
const MAX_HEADER = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Byte range inside the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: TensorInfo[];
  metadata: Record<string, string>;
  /** Where the data section starts in the file. */
  dataStart: number;
}

/** Parses and checks a header; `fileSize` bounds every offset. */
function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${file}: not a valid safetensors file: ${msg}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch {
    return fail('the header is not UTF-8 JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('the header is not a JSON object');
  const dataStart = 8 + headerBytes.byteLength;
  const dataSize = fileSize - dataStart;
  const tensors: TensorInfo[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
      metadata = entry as Record<string, string>;
      continue;
    }
    if (typeof entry !== 'object' || entry === null) return fail(`entry '${name}' is not an object`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof e.dtype === 'string' ? fromST[e.dtype] : undefined;
    if (!dtype) return fail(`tensor '${name}' has unsupported dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((s) => Number.isSafeInteger(s) && (s as number) >= 0))
      return fail(`tensor '${name}' has an invalid shape ${JSON.stringify(e.shape)}`);
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && (o as number) >= 0))
      return fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    if (begin > end || end > dataSize) return fail(`tensor '${name}' has data_offsets [${begin}, ${end}] outside the ${dataSize}-byte data section`);
    const numel = shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(numel) || numel * dtypeSize[dtype] !== end - begin)
      return fail(
        `tensor '${name}' of shape [${shape.join(', ')}] ${dtype} needs ${numel * dtypeSize[dtype]} bytes, its offsets give ${end - begin}`,
      );
    tensors.push({ name, dtype, shape, begin, end });
  }
  // The data section must be covered exactly, without overlaps or holes (as the format requires).
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const t of sorted) {
    if (t.begin !== cursor) fail(`tensor '${t.name}' starts at ${t.begin}, expected ${cursor} (overlapping or missing bytes)`);
    cursor = t.end;
  }
  if (cursor !== dataSize) fail(`the data section has ${dataSize} bytes, the tensors cover ${cursor}`);
  return { tensors, metadata, dataStart };
}

function readHeaderFrom(buf: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  if (fileSize < 8) throw new SafetensorsError(`${file}: not a valid safetensors file: ${fileSize} bytes is shorter than the 8-byte header length`);
  const n = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER))
    throw new SafetensorsError(`${file}: not a valid safetensors file: header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
  if (Number(n) + 8 > fileSize)
    throw new SafetensorsError(
      `${file}: not a valid safetensors file: header length ${n} runs past the end of the ${fileSize}-byte file (truncated?)`,
    );
  return parseHeader(buf.subarray(8, 8 + Number(n)), fileSize, file);
}

/** Reads only the header of a file (names, dtypes, shapes, offsets, metadata). */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot open: ${(e as Error).message}`);
  }
  try {
    const size = fstatSync(fd).size;
    const lenBuf = new Uint8Array(8);
    readSync(fd, lenBuf, 0, Math.min(8, size), 0);
    if (size < 8) return readHeaderFrom(lenBuf, size, path);
    const n = Number(new DataView(lenBuf.buffer).getBigUint64(0, true));
    if (n > MAX_HEADER || n + 8 > size) return readHeaderFrom(lenBuf, size, path);
    const buf = new Uint8Array(8 + n);
    readSync(fd, buf, 0, 8 + n, 0);
    return readHeaderFrom(buf, size, path);
  } finally {
    closeSync(fd);
  }
}

export interface LoadedSafetensors {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Loads every tensor of a file (onto `device`, default: the default device). */
export function loadSafetensors(path: string, options: { device?: string } = {}): LoadedSafetensors {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot read: ${(e as Error).message}`);
  }
  return parseSafetensors(bytes, path, options);
}

/** Parses safetensors bytes already in memory. */
export function parseSafetensors(bytes: Uint8Array, label = '<buffer>', options: { device?: string } = {}): LoadedSafetensors {
  const header = readHeaderFrom(bytes, bytes.byteLength, label);
  const device = options.device ?? getDefaultDevice();
  const tensors = new Map<string, Tensor>();
  for (const t of header.tensors) {
    const view = bytes.subarray(header.dataStart + t.begin, header.dataStart + t.end);
    tensors.set(t.name, tensor(view, t.shape, { dtype: t.dtype, device }));
  }
  return { tensors, metadata: header.metadata };
}

/** Serializes tensors in the layout Python's safetensors writes (sorted by alignment, then name). */
export function serializeSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array[] {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name] of entries) if (name === '__metadata__') throw new SafetensorsError("a tensor cannot be named '__metadata__'");
  entries.sort(([na, a], [nb, b]) => dtypeSize[b.dtype] - dtypeSize[a.dtype] || (na < nb ? -1 : na > nb ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const datas: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const data = t.bytes();
    header[name] = { dtype: toST[t.dtype], shape: t.shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
    datas.push(data);
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data section starts 8-byte aligned, as the format advises.
  const enc = new TextEncoder();
  let headerBytes = enc.encode(json);
  const padded = Math.ceil(headerBytes.byteLength / 8) * 8;
  if (padded !== headerBytes.byteLength) {
    json += ' '.repeat(padded - headerBytes.byteLength);
    headerBytes = enc.encode(json);
  }
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  return [len, headerBytes, ...datas];
}

/** Writes tensors to `path` atomically (write, fsync, rename). */
export function saveSafetensors(path: string, tensors: Map<string, Tensor> | Record<string, Tensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
