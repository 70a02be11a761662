/**
 * A minimal reader for numpy `.npz` files: a zip archive (read by src/io/zip.ts: entries stored or
 * deflated, zip64 sizes and offsets supported, CRC-32 checked) whose members are `.npy` arrays (magic
 * "\x93NUMPY", version, a little header that is a Python dict literal with 'descr',
 * 'fortran_order' and 'shape', then the raw array bytes). Files are read with random access, so
 * files larger than 2 GB can be read one member at a time.
 */
import { DataError, describeError } from './types.js';
import { ZipArchive, ZipError } from '../io/zip.js';

/** One .npy array: its dtype string (e.g. '|u1', '<i8'), shape, and raw little/big-endian bytes. */
export interface NpyArray {
  dtype: string;
  shape: number[];
  fortranOrder: boolean;
  /** The array's bytes exactly as stored (length = product(shape) * item size). */
  data: Uint8Array;
}

/** The header of a .npy array and where its data begin. */
export interface NpyHeader {
  dtype: string;
  shape: number[];
  fortranOrder: boolean;
  /** Bytes before the data (magic + version + length + header text). */
  dataOffset: number;
  /** Bytes per element. */
  itemSize: number;
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Enough bytes for any .npy header: magic, version, a 4-byte length and a header of at most 64 KiB. */
const NPY_HEAD_BYTES = 12 + 0x10000;

/** Parses the header of .npy bytes (which may be only the first few hundred bytes of the array). */
export function parseNpyHeader(bytes: Uint8Array, file: string): NpyHeader {
  if (bytes.length < 10 || NPY_MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new DataError(`${file}: not a .npy array (bad magic)`);
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let len: number;
  let start: number;
  if (major === 1) {
    len = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new DataError(`${file}: truncated .npy header`);
    len = view.getUint32(8, true);
    start = 12;
  } else {
    throw new DataError(`${file}: unsupported .npy format version ${major}`);
  }
  if (bytes.length < start + len) throw new DataError(`${file}: truncated .npy header`);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + start, len).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new DataError(`${file}: malformed .npy header ${JSON.stringify(text.trim())}`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => (/^\d+L?$/.test(s) ? parseInt(s, 10) : NaN));
  if (shape.some((d) => !Number.isSafeInteger(d))) throw new DataError(`${file}: malformed .npy shape (${shapeText})`);
  const m = /^([<>|=])([biufc])(\d+)$/.exec(descr);
  if (!m) throw new DataError(`${file}: unsupported .npy dtype '${descr}'`);
  return { dtype: descr, shape, fortranOrder: fortran === 'True', dataOffset: start + len, itemSize: parseInt(m[3]!, 10) };
}

/** Parses a whole .npy array from bytes; the data is a view into `bytes`. */
export function parseNpy(bytes: Uint8Array, file: string): NpyArray {
  const h = parseNpyHeader(bytes, file);
  const n = h.shape.reduce((a, b) => a * b, 1);
  const need = h.dataOffset + n * h.itemSize;
  if (bytes.length !== need) {
    throw new DataError(`${file}: .npy data size mismatch: shape (${h.shape.join(', ')}) of ${h.dtype} needs ${need} bytes, found ${bytes.length}`);
  }
  return { dtype: h.dtype, shape: h.shape, fortranOrder: h.fortranOrder, data: bytes.subarray(h.dataOffset, need) };
}

/** Converts an integer .npy array to Int32Array (values must fit in int32). */
export function npyToInt32(arr: NpyArray, file: string): Int32Array {
  const m = /^([<>|=])([iub])(\d+)$/.exec(arr.dtype);
  if (!m) throw new DataError(`${file}: expected an integer array, got dtype '${arr.dtype}'`);
  const little = m[1] !== '>';
  const signed = m[2] === 'i';
  const size = parseInt(m[3]!, 10);
  const n = arr.data.length / size;
  const out = new Int32Array(n);
  const v = new DataView(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  for (let i = 0; i < n; i++) {
    const o = i * size;
    let x: number;
    switch (size) {
      case 1:
        x = signed ? v.getInt8(o) : v.getUint8(o);
        break;
      case 2:
        x = signed ? v.getInt16(o, little) : v.getUint16(o, little);
        break;
      case 4:
        x = signed ? v.getInt32(o, little) : v.getUint32(o, little);
        break;
      case 8:
        x = Number(signed ? v.getBigInt64(o, little) : v.getBigUint64(o, little));
        break;
      default:
        throw new DataError(`${file}: unsupported integer size ${size} in dtype '${arr.dtype}'`);
    }
    if (x < -2147483648 || x > 2147483647) throw new DataError(`${file}: value ${x} at index ${i} does not fit in int32`);
    out[i] = x;
  }
  return out;
}

/** An open .npz file. Call close() when done (or use `using`). */
export class NpzFile {
  readonly #zip: ZipArchive;
  /** Array name (member name without '.npy') -> member name. */
  readonly #members = new Map<string, string>();

  private constructor(readonly path: string) {
    try {
      this.#zip = ZipArchive.openFile(path);
    } catch (err) {
      if (err instanceof ZipError) throw this.#wrap(err);
      const code = (err as NodeJS.ErrnoException).code;
      throw new DataError(code === 'ENOENT' ? `${path}: .npz file not found` : `${path}: cannot open (${describeError(err)})`);
    }
    for (const m of this.#zip.names) this.#members.set(m.replace(/\.npy$/, ''), m);
  }

  /** Opens an .npz file and reads its zip directory. */
  static open(path: string): NpzFile {
    return new NpzFile(path);
  }

  /** Array names (zip member names without '.npy'). */
  get names(): string[] {
    return [...this.#members.keys()];
  }

  has(name: string): boolean {
    return this.#members.has(name);
  }

  close(): void {
    this.#zip.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** The zip reader's error in this format's words: the directory's as 'not a valid .npz', a member's under its name. */
  #wrap(err: ZipError): DataError {
    return new DataError(
      err.member === null ? `${this.path}: not a valid .npz (zip) file: ${err.problem}` : `${this.path}:${err.member}: ${err.problem}`,
    );
  }

  #member(name: string): string {
    const m = this.#members.get(name);
    if (m === undefined) throw new DataError(`${this.path}: no array '${name}' in .npz (has: ${this.names.join(', ') || 'nothing'})`);
    return m;
  }

  /** Reads only the .npy header of an array (cheap, even for huge arrays). */
  header(name: string): NpyHeader {
    const member = this.#member(name);
    let head: Uint8Array;
    try {
      head = this.#zip.head(member, NPY_HEAD_BYTES);
    } catch (err) {
      throw err instanceof ZipError ? this.#wrap(err) : err;
    }
    const label = `${this.path}:${member}`;
    const h = parseNpyHeader(head, label);
    // Callers size buffers from the header's shape: it must describe exactly the member's bytes.
    const need = h.dataOffset + h.shape.reduce((a, b) => a * b, 1) * h.itemSize;
    const size = this.#zip.entry(member).uncompressedSize;
    if (need !== size) {
      throw new DataError(
        `${label}: .npy data size mismatch: shape (${h.shape.join(', ')}) of ${h.dtype} needs ${need} bytes, the member holds ${size}`,
      );
    }
    return h;
  }

  /** Reads, decompresses, CRC-checks and parses one array. */
  read(name: string): NpyArray {
    const member = this.#member(name);
    let bytes: Uint8Array;
    try {
      bytes = this.#zip.read(member);
    } catch (err) {
      throw err instanceof ZipError ? this.#wrap(err) : err;
    }
    return parseNpy(bytes, `${this.path}:${member}`);
  }
}

/** Reads every array of an .npz file. */
export function readNpz(path: string): Map<string, NpyArray> {
  const f = NpzFile.open(path);
  try {
    return new Map(f.names.map((n) => [n, f.read(n)]));
  } finally {
    f.close();
  }
}
