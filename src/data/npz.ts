/**
 * A minimal reader for numpy `.npz` files: a zip archive (entries stored or deflated, zip64
 * sizes and offsets supported, CRC-32 checked) whose members are `.npy` arrays (magic
 * "\x93NUMPY", version, a little header that is a Python dict literal with 'descr',
 * 'fortran_order' and 'shape', then the raw array bytes). Files are read with random access, so
 * files larger than 2 GB can be read one member at a time.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { constants as zc, inflateRawSync } from 'node:zlib';
import { DataError, describeError } from './types.js';
import { asBytes } from './fsutil.js';
import { crc32 } from '../image/crc32.js';

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
    throw new DataError(
      `${file}: .npy data size mismatch: shape (${h.shape.join(', ')}) of ${h.dtype} needs ${need} bytes, found ${bytes.length}`,
    );
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

interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** An open .npz file. Call close() when done (or use `using`). */
export class NpzFile {
  private fd: number;
  private readonly fileSize: number;
  private readonly entries = new Map<string, ZipEntry>();

  private constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new DataError(code === 'ENOENT' ? `${path}: .npz file not found` : `${path}: cannot open (${describeError(err)})`);
    }
    try {
      this.fileSize = fstatSync(this.fd).size;
      this.readDirectory();
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Opens an .npz file and reads its zip directory. */
  static open(path: string): NpzFile {
    return new NpzFile(path);
  }

  /** Array names (zip member names without '.npy'). */
  get names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private bad(what: string): DataError {
    return new DataError(`${this.path}: not a valid .npz (zip) file: ${what}`);
  }

  private readAt(pos: number, len: number): Uint8Array {
    if (pos < 0 || pos + len > this.fileSize) throw this.bad(`truncated (needs bytes ${pos}..${pos + len}, file has ${this.fileSize})`);
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const n = readSync(this.fd, out, done, Math.min(len - done, 1 << 30), pos + done);
      if (n <= 0) throw this.bad('unexpected end of file');
      done += n;
    }
    return out;
  }

  private readDirectory(): void {
    const tailLen = Math.min(this.fileSize, 22 + 65535);
    if (this.fileSize < 22) throw this.bad(`only ${this.fileSize} bytes`);
    const tailStart = this.fileSize - tailLen;
    const tail = this.readAt(tailStart, tailLen);
    const tv = new DataView(tail.buffer);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw this.bad('no end-of-central-directory record (truncated or not a zip)');
    let total: number = tv.getUint16(eocd + 10, true);
    let cdSize: number = tv.getUint32(eocd + 12, true);
    let cdOffset: number = tv.getUint32(eocd + 16, true);
    if (total === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const locPos = tailStart + eocd - 20;
      const loc = new DataView(this.readAt(locPos, 20).buffer);
      if (loc.getUint32(0, true) !== 0x07064b50) throw this.bad('missing zip64 end-of-central-directory locator');
      const z = new DataView(this.readAt(Number(loc.getBigUint64(8, true)), 56).buffer);
      if (z.getUint32(0, true) !== 0x06064b50) throw this.bad('bad zip64 end-of-central-directory record');
      total = Number(z.getBigUint64(32, true));
      cdSize = Number(z.getBigUint64(40, true));
      cdOffset = Number(z.getBigUint64(48, true));
    }
    const cd = this.readAt(cdOffset, cdSize);
    const v = new DataView(cd.buffer);
    let p = 0;
    for (let k = 0; k < total; k++) {
      if (p + 46 > cd.length || v.getUint32(p, true) !== 0x02014b50) throw this.bad(`bad central directory entry ${k}`);
      const flags = v.getUint16(p + 8, true);
      const method = v.getUint16(p + 10, true);
      const crc = v.getUint32(p + 16, true);
      let compressedSize = v.getUint32(p + 20, true);
      let size = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true);
      const extraLen = v.getUint16(p + 30, true);
      const commentLen = v.getUint16(p + 32, true);
      let localOffset = v.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw this.bad(`truncated central directory entry ${k}`);
      const name = Buffer.from(cd.buffer, p + 46, nameLen).toString('utf8');
      // zip64 extended information: only the fields whose 32-bit value is 0xFFFFFFFF, in this order
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = v.getUint16(e, true);
        const len = v.getUint16(e + 2, true);
        if (id === 0x0001) {
          let q = e + 4;
          const next = (): number => {
            if (q + 8 > e + 4 + len) throw this.bad(`short zip64 field in entry '${name}'`);
            const x = Number(v.getBigUint64(q, true));
            q += 8;
            return x;
          };
          if (size === 0xffffffff) size = next();
          if (compressedSize === 0xffffffff) compressedSize = next();
          if (localOffset === 0xffffffff) localOffset = next();
        }
        e += 4 + len;
      }
      if (flags & 1) throw this.bad(`entry '${name}' is encrypted`);
      this.entries.set(name.replace(/\.npy$/, ''), { name, method, crc, compressedSize, size, localOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  private entry(name: string): ZipEntry {
    const e = this.entries.get(name);
    if (!e) throw new DataError(`${this.path}: no array '${name}' in .npz (has: ${this.names.join(', ') || 'nothing'})`);
    return e;
  }

  private dataStart(e: ZipEntry): number {
    const h = new DataView(this.readAt(e.localOffset, 30).buffer);
    if (h.getUint32(0, true) !== 0x04034b50) throw this.bad(`bad local header for '${e.name}'`);
    return e.localOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true);
  }

  /** Reads only the .npy header of an array (cheap, even for huge arrays). */
  header(name: string): NpyHeader {
    const e = this.entry(name);
    const start = this.dataStart(e);
    const label = `${this.path}:${e.name}`;
    const chunkLen = Math.min(e.compressedSize, 1 << 16);
    const chunk = this.readAt(start, chunkLen);
    let head: Uint8Array;
    if (e.method === 0) head = chunk;
    else if (e.method === 8) {
      try {
        head = asBytes(inflateRawSync(chunk, { finishFlush: zc.Z_SYNC_FLUSH }));
      } catch (err) {
        throw new DataError(`${label}: corrupt deflate data (${describeError(err)})`);
      }
    } else throw new DataError(`${label}: unsupported zip compression method ${e.method}`);
    return parseNpyHeader(head, label);
  }

  /** Reads, decompresses, CRC-checks and parses one array. */
  read(name: string): NpyArray {
    const e = this.entry(name);
    const label = `${this.path}:${e.name}`;
    const raw = this.readAt(this.dataStart(e), e.compressedSize);
    let bytes: Uint8Array;
    if (e.method === 0) bytes = raw;
    else if (e.method === 8) {
      try {
        bytes = asBytes(inflateRawSync(raw));
      } catch (err) {
        throw new DataError(`${label}: corrupt deflate data (${describeError(err)})`);
      }
    } else throw new DataError(`${label}: unsupported zip compression method ${e.method}`);
    if (bytes.length !== e.size) throw new DataError(`${label}: size ${bytes.length} differs from the zip directory's ${e.size}`);
    const crc = crc32(bytes);
    if (crc !== e.crc) {
      throw new DataError(`${label}: CRC-32 mismatch (0x${crc.toString(16)} != 0x${e.crc.toString(16)}); the file is corrupt`);
    }
    return parseNpy(bytes, label);
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
