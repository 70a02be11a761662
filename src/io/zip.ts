/**
 * A small reader for zip archives held in memory (PKWARE APPNOTE 6.3): the end-of-central-
 * directory record (and its zip64 form), the central directory, and each member's local header.
 * Members may be stored (method 0, what torch.save writes) or deflated (method 8); their CRC-32
 * is checked when they are read. Nothing is extracted to disk.
 */
import { inflateRawSync } from 'node:zlib';
import { crc32 } from '../image/crc32.js';

/** A malformed or unsupported zip archive; the message names the archive and the problem. */
export class ZipError extends Error {
  override name = 'ZipError';
  readonly exitCode = 2;
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

/** True when the bytes start like a zip archive (a local header or an empty archive's EOCD). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const sig = (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}

export class ZipArchive {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #entries = new Map<string, ZipEntry>();

  /** Parses the directory of a zip archive in memory; `label` names it in errors. */
  constructor(bytes: Uint8Array, readonly label = '<zip>') {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#readDirectory();
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
    if (!e) throw new ZipError(`${this.label}: no member '${name}' in the archive`);
    return e;
  }

  /** The uncompressed bytes of a member (a view into the archive when it is stored). */
  read(name: string): Uint8Array {
    const e = this.entry(name);
    const v = this.#view;
    const lh = e.localHeaderOffset;
    if (lh + 30 > this.#bytes.length || v.getUint32(lh, true) !== SIG_LOCAL) throw this.#bad(`member '${name}' has no local header at offset ${lh}`);
    const start = lh + 30 + v.getUint16(lh + 26, true) + v.getUint16(lh + 28, true);
    const end = start + e.compressedSize;
    if (end > this.#bytes.length) throw this.#bad(`member '${name}' runs past the end of the archive (truncated file?)`);
    const raw = this.#bytes.subarray(start, end);
    let data: Uint8Array;
    if (e.method === 0) data = raw;
    else if (e.method === 8) {
      try {
        const out = inflateRawSync(raw);
        data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      } catch (err) {
        throw this.#bad(`member '${name}' does not inflate (${(err as Error).message})`);
      }
    } else throw this.#bad(`member '${name}' uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
    if (data.length !== e.uncompressedSize) throw this.#bad(`member '${name}' has ${data.length} bytes, its directory entry says ${e.uncompressedSize}`);
    const crc = crc32(data);
    if (crc !== e.crc32) throw this.#bad(`member '${name}' fails its CRC-32 check (corrupt file?)`);
    return data;
  }

  #bad(what: string): ZipError {
    return new ZipError(`${this.label}: ${what}`);
  }

  #readDirectory(): void {
    const b = this.#bytes;
    const v = this.#view;
    // The EOCD record is the last 22 bytes plus a comment of at most 65535 bytes.
    let eocd = -1;
    for (let p = b.length - 22; p >= Math.max(0, b.length - 22 - 0xffff); p--) {
      if (v.getUint32(p, true) === SIG_EOCD) {
        eocd = p;
        break;
      }
    }
    if (eocd < 0) throw this.#bad('not a zip archive (no end-of-central-directory record; truncated file?)');
    let count = v.getUint16(eocd + 10, true);
    let dirSize = v.getUint32(eocd + 12, true);
    let dirOffset = v.getUint32(eocd + 16, true);
    if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || v.getUint32(loc, true) !== SIG_ZIP64_LOCATOR) throw this.#bad('zip64 archive without a zip64 locator');
      const z = Number(v.getBigUint64(loc + 8, true));
      if (z + 56 > b.length || v.getUint32(z, true) !== SIG_ZIP64_EOCD) throw this.#bad('bad zip64 end-of-central-directory record');
      count = Number(v.getBigUint64(z + 32, true));
      dirSize = Number(v.getBigUint64(z + 40, true));
      dirOffset = Number(v.getBigUint64(z + 48, true));
    }
    if (dirOffset + dirSize > b.length) throw this.#bad('central directory runs past the end of the archive (truncated file?)');
    let p = dirOffset;
    const decoder = new TextDecoder();
    for (let i = 0; i < count; i++) {
      if (p + 46 > b.length || v.getUint32(p, true) !== SIG_CENTRAL) throw this.#bad(`central directory entry ${i} is malformed`);
      const method = v.getUint16(p + 10, true);
      const crc = v.getUint32(p + 16, true);
      let compressedSize = v.getUint32(p + 20, true);
      let uncompressedSize = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true);
      const extraLen = v.getUint16(p + 30, true);
      const commentLen = v.getUint16(p + 32, true);
      let localHeaderOffset = v.getUint32(p + 42, true);
      const name = decoder.decode(b.subarray(p + 46, p + 46 + nameLen));
      // Zip64 extended information (header id 1) holds, in order, each field that is 0xffffffff.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = v.getUint16(e, true);
        const size = v.getUint16(e + 2, true);
        if (id === 1) {
          let q = e + 4;
          if (uncompressedSize === 0xffffffff) { uncompressedSize = Number(v.getBigUint64(q, true)); q += 8; }
          if (compressedSize === 0xffffffff) { compressedSize = Number(v.getBigUint64(q, true)); q += 8; }
          if (localHeaderOffset === 0xffffffff) { localHeaderOffset = Number(v.getBigUint64(q, true)); q += 8; }
        }
        e += 4 + size;
      }
      this.#entries.set(name, { name, method, crc32: crc, compressedSize, uncompressedSize, localHeaderOffset });
      p = extraEnd + commentLen;
    }
  }
}
