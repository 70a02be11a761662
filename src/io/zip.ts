/**
 * The one zip reader of the project (PKWARE APPNOTE 6.3), used by torch .pth checkpoints
 * (src/io/torch-checkpoint.ts) and numpy .npz files (src/data/npz.ts): the end-of-central-directory
 * record (and its zip64 form), the central directory, each member's local header. Members may be
 * stored (method 0, what torch.save and np.savez write) or deflated (method 8, np.savez_compressed);
 * inflating is node:zlib's, and every member read whole is checked against its CRC-32.
 *
 * The archive is read with random access, from memory or from an open file, so an .npz larger than
 * 2 GB can be read one member at a time. Every size and offset is checked against the real length
 * of the archive before anything is allocated or read: a size field can never make the reader
 * allocate more than the file holds (deflate output is bounded by the format's 1032:1 limit).
 *
 * Why ours and not an npm library (README, "Libraries"): the callers are synchronous and yauzl
 * reads through callbacks and streams only; fflate's unzipSync needs the whole file in memory,
 * allocates each member's declared uncompressed size up front and accepts a member whose CRC-32
 * is wrong; yauzl does not check member data against its CRC-32 either.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { constants as zc, inflateRawSync } from 'node:zlib';
import { crc32 } from '../image/crc32.js';
import { oneLine } from './one-line.js';
import { InputError } from '../util/input-error.js';

/**
 * A malformed or unsupported zip archive. `problem` says what is wrong, `member` names the member
 * it concerns (null for the archive's directory), so readers of zip-based formats can word the
 * message for their format; the message itself names the archive, the member and the problem.
 */
export class ZipError extends InputError {
  override name = 'ZipError';
  constructor(
    readonly archive: string,
    readonly member: string | null,
    readonly problem: string,
  ) {
    super(oneLine(member === null ? `${archive}: ${problem}` : `${archive}: member '${member}': ${problem}`));
  }
}

/** One member of the archive, as its central-directory entry describes it. */
export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflated. */
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Offset of the member's local header in the archive. */
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
/** Deflate cannot expand data by more than 1032:1 (zlib's technical notes): larger claims are false. */
const MAX_DEFLATE_RATIO = 1032;
/** Bytes of a member's start that head() inflates at most (an .npy header is far smaller). */
const HEAD_INPUT = 1 << 16;

/** True when the bytes start like a zip archive (a local header or an empty archive's EOCD). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const sig = (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}

/** Random access to the archive's bytes. */
interface ByteSource {
  readonly size: number;
  /** `length` bytes from `position`; the caller has checked the range against `size`. */
  read(position: number, length: number): Uint8Array;
  close(): void;
}

function memorySource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (pos, len) => bytes.subarray(pos, pos + len), close: () => undefined };
}

function fileSource(fd: number, size: number): ByteSource {
  let open = true;
  return {
    size,
    read: (pos, len) => {
      const out = new Uint8Array(len);
      for (let done = 0; done < len;) {
        const n = readSync(fd, out, done, Math.min(len - done, 1 << 30), pos + done);
        if (n <= 0) throw new RangeError('the file ended early (changed while being read?)');
        done += n;
      }
      return out;
    },
    close: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

export class ZipArchive {
  readonly #src: ByteSource;
  readonly #entries = new Map<string, ZipEntry>();

  private constructor(
    src: ByteSource,
    readonly label: string,
  ) {
    this.#src = src;
    try {
      this.#readDirectory();
    } catch (err) {
      src.close();
      throw err;
    }
  }

  /** Parses the directory of a zip archive in memory; `label` names it in errors. */
  static fromBytes(bytes: Uint8Array, label = '<zip>'): ZipArchive {
    return new ZipArchive(memorySource(bytes), label);
  }

  /**
   * Opens a zip file for random access and parses its directory; close() it when done (or use
   * `using`). File-system failures are thrown as they come (the caller words them).
   */
  static openFile(path: string, label = path): ZipArchive {
    const fd = openSync(path, 'r');
    let size: number;
    try {
      size = fstatSync(fd).size;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return new ZipArchive(fileSource(fd, size), label);
  }

  close(): void {
    this.#src.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Member names in directory order. */
  get names(): string[] {
    return [...this.#entries.keys()];
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  entry(name: string): ZipEntry {
    const e = this.#entries.get(name);
    if (!e) throw new ZipError(this.label, null, `has no member '${name}'`);
    return e;
  }

  /** The uncompressed bytes of a member, checked against its size and CRC-32. */
  read(name: string): Uint8Array {
    const e = this.entry(name);
    const raw = this.#readRange(this.#dataStart(e), e.compressedSize, e.name);
    let data: Uint8Array;
    if (e.method === 0) data = raw;
    else {
      try {
        // The bound turns a stream that inflates past its declared size into an error, not an allocation.
        const out = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.uncompressedSize) });
        data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      } catch (err) {
        throw new ZipError(this.label, e.name, `does not inflate (${firstLine(err)})`);
      }
    }
    if (data.length !== e.uncompressedSize)
      throw new ZipError(this.label, e.name, `has ${data.length} bytes, its directory entry says ${e.uncompressedSize}`);
    const crc = crc32(data);
    if (crc !== e.crc32) {
      throw new ZipError(this.label, e.name, `CRC-32 mismatch (0x${crc.toString(16)} != 0x${e.crc32.toString(16)}); the file is corrupt`);
    }
    return data;
  }

  /**
   * Up to `maxBytes` of the start of a member (e.g. an .npy header), without reading or inflating
   * the rest; not CRC-checked (read() checks the whole member).
   */
  head(name: string, maxBytes: number): Uint8Array {
    const e = this.entry(name);
    const start = this.#dataStart(e);
    if (e.method === 0) return this.#readRange(start, Math.min(e.compressedSize, maxBytes), e.name);
    const chunk = this.#readRange(start, Math.min(e.compressedSize, HEAD_INPUT), e.name);
    try {
      // Z_SYNC_FLUSH: a cut-off deflate stream yields what it holds instead of an error.
      const out = inflateRawSync(chunk, { finishFlush: zc.Z_SYNC_FLUSH, maxOutputLength: chunk.length * MAX_DEFLATE_RATIO + 64 });
      return new Uint8Array(out.buffer, out.byteOffset, Math.min(out.byteLength, maxBytes));
    } catch (err) {
      throw new ZipError(this.label, e.name, `does not inflate (${firstLine(err)})`);
    }
  }

  /** Bytes [pos, pos + len) of the archive, or a ZipError when they are not all there. */
  #readRange(pos: number, len: number, member: string | null): Uint8Array {
    if (!Number.isSafeInteger(pos) || !Number.isSafeInteger(len) || pos < 0 || len < 0 || pos + len > this.#src.size) {
      const what = `needs bytes ${pos}..${pos + len}, the archive has ${this.#src.size}`;
      throw new ZipError(
        this.label,
        member,
        member === null ? `is truncated or corrupt (${what})` : `runs past the end of the archive (${what}; truncated file?)`,
      );
    }
    try {
      return this.#src.read(pos, len);
    } catch (err) {
      throw new ZipError(this.label, member, `cannot be read (${firstLine(err)})`);
    }
  }

  /** Where a member's data begin, after its local header. */
  #dataStart(e: ZipEntry): number {
    const h = this.#readRange(e.localHeaderOffset, 30, e.name);
    const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
    if (v.getUint32(0, true) !== SIG_LOCAL) throw new ZipError(this.label, e.name, `has no local header at offset ${e.localHeaderOffset}`);
    return e.localHeaderOffset + 30 + v.getUint16(26, true) + v.getUint16(28, true);
  }

  #readDirectory(): void {
    const size = this.#src.size;
    if (size < 22) throw new ZipError(this.label, null, `no end-of-central-directory record (truncated or not a zip; only ${size} bytes)`);
    // The EOCD record is the last 22 bytes plus a comment of at most 65535 bytes.
    const tailStart = Math.max(0, size - 22 - 0xffff);
    const tail = this.#readRange(tailStart, size - tailStart, null);
    const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let eocd = -1;
    for (let p = tail.length - 22; p >= 0; p--) {
      if (tv.getUint32(p, true) === SIG_EOCD) {
        eocd = p;
        break;
      }
    }
    if (eocd < 0) throw new ZipError(this.label, null, 'no end-of-central-directory record (truncated or not a zip)');
    let count = tv.getUint16(eocd + 10, true);
    let dirSize = tv.getUint32(eocd + 12, true);
    let dirOffset = tv.getUint32(eocd + 16, true);
    if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
      const locAt = tailStart + eocd - 20;
      if (locAt < 0) throw new ZipError(this.label, null, 'zip64 archive without a zip64 end-of-central-directory locator');
      const loc = this.#view(locAt, 20);
      if (loc.getUint32(0, true) !== SIG_ZIP64_LOCATOR)
        throw new ZipError(this.label, null, 'zip64 archive without a zip64 end-of-central-directory locator');
      const z = this.#view(safeNumber(loc.getBigUint64(8, true)), 56);
      if (z.getUint32(0, true) !== SIG_ZIP64_EOCD) throw new ZipError(this.label, null, 'bad zip64 end-of-central-directory record');
      count = safeNumber(z.getBigUint64(32, true));
      dirSize = safeNumber(z.getBigUint64(40, true));
      dirOffset = safeNumber(z.getBigUint64(48, true));
    }
    // Each entry takes at least 46 bytes: a count the directory cannot hold is a lie (and a long loop).
    if (count * 46 > dirSize) throw new ZipError(this.label, null, `central directory of ${dirSize} bytes cannot hold ${count} entries`);
    const cd = this.#readRange(dirOffset, dirSize, null);
    const v = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const decoder = new TextDecoder();
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || v.getUint32(p, true) !== SIG_CENTRAL)
        throw new ZipError(this.label, null, `central directory entry ${i} is malformed`);
      const flags = v.getUint16(p + 8, true);
      const method = v.getUint16(p + 10, true);
      const crc = v.getUint32(p + 16, true);
      let compressedSize = v.getUint32(p + 20, true);
      let uncompressedSize = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true);
      const extraLen = v.getUint16(p + 30, true);
      const commentLen = v.getUint16(p + 32, true);
      let localHeaderOffset = v.getUint32(p + 42, true);
      const next = p + 46 + nameLen + extraLen + commentLen;
      if (next > cd.length) throw new ZipError(this.label, null, `central directory entry ${i} is truncated`);
      const name = decoder.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // Zip64 extended information (header id 1) holds, in order, each field that is 0xffffffff.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = v.getUint16(e, true);
        const fieldEnd = e + 4 + v.getUint16(e + 2, true);
        if (fieldEnd > extraEnd) throw new ZipError(this.label, name, 'has an extra field that runs past its entry');
        if (id === 1) {
          let q = e + 4;
          const u64 = (): number => {
            if (q + 8 > fieldEnd) throw new ZipError(this.label, name, 'has a zip64 extra field that is too short');
            const x = safeNumber(v.getBigUint64(q, true));
            q += 8;
            return x;
          };
          if (uncompressedSize === 0xffffffff) uncompressedSize = u64();
          if (compressedSize === 0xffffffff) compressedSize = u64();
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64();
        }
        e = fieldEnd;
      }
      if (flags & 1) throw new ZipError(this.label, name, 'is encrypted');
      if (method !== 0 && method !== 8)
        throw new ZipError(this.label, name, `uses compression method ${method}; only stored (0) and deflate (8) are supported`);
      if (method === 0 && compressedSize !== uncompressedSize)
        throw new ZipError(this.label, name, `is stored but its sizes differ (${compressedSize} and ${uncompressedSize})`);
      if (localHeaderOffset + 30 + compressedSize > size)
        throw new ZipError(
          this.label,
          name,
          `runs past the end of the archive (its ${compressedSize} bytes at offset ${localHeaderOffset}; truncated file?)`,
        );
      if (uncompressedSize > compressedSize * MAX_DEFLATE_RATIO + 64) {
        throw new ZipError(this.label, name, `claims ${uncompressedSize} bytes from ${compressedSize} compressed ones, more than deflate can give`);
      }
      if (this.#entries.has(name)) throw new ZipError(this.label, name, 'appears twice in the central directory');
      this.#entries.set(name, { name, method, crc32: crc, compressedSize, uncompressedSize, localHeaderOffset });
      p = next;
    }
  }

  #view(pos: number, len: number): DataView {
    const b = this.#readRange(pos, len, null);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
}

/** A zip64 field as a number; values past 2^53 cannot be offsets or sizes of a real file. */
function safeNumber(v: bigint): number {
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
