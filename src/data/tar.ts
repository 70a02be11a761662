/**
 * A small reader for tar archives (POSIX ustar, with the GNU long-name and pax path extensions),
 * optionally gzipped. It checks every header checksum and that each entry's data is present;
 * any problem is a DataError naming the archive, never a crash or a silent partial result.
 * Entry data are views into the one decompressed buffer (no copies).
 */
import { DataError } from './types.js';
import { gunzipOrThrow, isGzip, readFileOrThrow } from './fsutil.js';

const BLOCK = 512;

/** One member of a tar archive. */
export interface TarEntry {
  /** Path inside the archive, without a leading './'. */
  name: string;
  /** 'file' for regular files, 'dir' for folders, 'other' for links, devices and the like. */
  type: 'file' | 'dir' | 'other';
  size: number;
  /** The member's bytes (a view into the archive buffer; empty for non-files). */
  data: Uint8Array;
}

function cString(b: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');
}

/** Parses an octal numeric field (NUL/space padded) or a GNU base-256 one; NaN if malformed. */
function numberField(b: Uint8Array, start: number, len: number): number {
  if (b[start]! & 0x80) {
    // base-256: big-endian two's complement with the top bit of the first byte as a flag
    let v = b[start]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[start + i]!;
    return v;
  }
  const s = cString(b, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return NaN;
  return parseInt(s, 8);
}

function isZeroBlock(b: Uint8Array, start: number): boolean {
  for (let i = start; i < start + BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** Parses the pax extended header records ("<len> <key>=<value>\n") into a map. */
function parsePax(data: Uint8Array, file: string): Map<string, string> {
  const out = new Map<string, string>();
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  while (pos < text.length) {
    const space = text.indexOf(0x20, pos);
    const len = space < 0 ? NaN : Number(text.toString('latin1', pos, space));
    if (!Number.isInteger(len) || len <= 0 || pos + len > text.length) {
      throw new DataError(`${file}: corrupt pax extended header in tar archive`);
    }
    const rec = text.toString('utf8', space + 1, pos + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    pos += len;
  }
  return out;
}

/**
 * Parses an uncompressed tar archive. `file` names the archive in error messages.
 * Throws a DataError on a bad checksum, a malformed header or truncated data.
 */
export function parseTar(bytes: Uint8Array, file: string): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  let longName: string | null = null;
  let paxPath: string | null = null;
  let sawEnd = false;
  while (offset + BLOCK <= bytes.length) {
    if (isZeroBlock(bytes, offset)) {
      sawEnd = true;
      break;
    }
    const h = bytes.subarray(offset, offset + BLOCK);
    const stored = numberField(h, 148, 8);
    let unsigned = 0;
    let signed = 0;
    for (let i = 0; i < BLOCK; i++) {
      const v = i >= 148 && i < 156 ? 0x20 : h[i]!;
      unsigned += v;
      signed += v > 127 ? v - 256 : v;
    }
    if (stored !== unsigned && stored !== signed) {
      throw new DataError(
        `${file}: bad tar header checksum at byte ${offset} (stored ${Number.isNaN(stored) ? 'unreadable' : stored}, computed ${unsigned}); the archive is corrupt`,
      );
    }
    const size = numberField(h, 124, 12);
    if (!Number.isFinite(size) || size < 0) throw new DataError(`${file}: bad size field in tar header at byte ${offset}`);
    const flag = String.fromCharCode(h[156]!);
    let name = cString(h, 0, 100);
    if (cString(h, 257, 5) === 'ustar') {
      const prefix = cString(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const dataStart = offset + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > bytes.length) {
      throw new DataError(
        `${file}: truncated tar archive: entry '${longName ?? paxPath ?? name}' needs ${size} bytes, only ${bytes.length - dataStart} remain`,
      );
    }
    const data = bytes.subarray(dataStart, dataEnd);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (flag === 'L') {
      longName = cString(data, 0, data.length);
      continue;
    }
    if (flag === 'x') {
      paxPath = parsePax(data, file).get('path') ?? null;
      continue;
    }
    if (flag === 'g') continue;
    if (longName !== null) name = longName;
    if (paxPath !== null) name = paxPath;
    longName = null;
    paxPath = null;
    name = name.replace(/^(\.\/)+/, '');
    const isFile = flag === '0' || flag === '\0' || flag === '7';
    const type = isFile ? 'file' : flag === '5' ? 'dir' : 'other';
    entries.push({ name, type, size: isFile ? size : 0, data: isFile ? data : data.subarray(0, 0) });
  }
  if (!sawEnd && offset < bytes.length) {
    throw new DataError(`${file}: truncated tar archive: ${bytes.length - offset} stray bytes after the last entry`);
  }
  return entries;
}

/** Reads a tar or tar.gz file from disk (gzip is detected from the content). */
export function readTarFile(path: string): TarEntry[] {
  const raw = readFileOrThrow(path, 'archive');
  return parseTarBytes(raw, path);
}

/** Parses tar or tar.gz bytes (gzip is detected from the content). */
export function parseTarBytes(raw: Uint8Array, file: string): TarEntry[] {
  const bytes = isGzip(raw) ? gunzipOrThrow(raw, file) : raw;
  if (bytes.length === 0) throw new DataError(`${file}: empty archive`);
  return parseTar(bytes, file);
}
