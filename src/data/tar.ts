/**
 * Tar archives (POSIX ustar, GNU long names, pax headers), optionally gzipped, read through
 * node-tar's parser in strict mode: it checks every header checksum and that each entry's data is
 * present. Any problem is a DataError naming the archive, never a crash or a silent partial result.
 */
import { Parser, type ReadEntry } from 'tar';
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
  /** The member's bytes (empty for non-files). */
  data: Uint8Array;
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

/** node-tar's first complaint about an archive, and the entry it was reading then. */
interface ParseFailure {
  code: string;
  message: string;
  entry: { name: string; size: number; got: number } | null;
}

/** Feeds `bytes` to a strict node-tar parser in pieces of `chunk` bytes; stops at the first error. */
function runParser(bytes: Uint8Array, chunk: number): { entries: TarEntry[]; failure: ParseFailure | null; failedAt: number } {
  const entries: TarEntry[] = [];
  // Set by the parser's callbacks; the assertion keeps TypeScript from narrowing it to null here.
  let failure = null as ParseFailure | null;
  let current: { name: string; size: number; got: number } | null = null;
  const parser = new Parser({
    strict: true,
    onReadEntry: (e: ReadEntry) => {
      const parts: Buffer[] = [];
      const cur = { name: e.path.replace(/^(\.\/)+/, ''), size: e.size, got: 0 };
      current = cur;
      e.on('data', (c: Buffer) => {
        parts.push(c);
        cur.got += c.length;
      });
      e.on('end', () => {
        const type = FILE_TYPES.has(e.type) ? 'file' : e.type === 'Directory' ? 'dir' : 'other';
        const data = type === 'file' ? new Uint8Array(Buffer.concat(parts)) : new Uint8Array(0);
        entries.push({ name: cur.name, type, size: data.length, data });
        current = null;
      });
    },
  });
  parser.on('error', (err: Error & { code?: string }) => {
    failure ??= { code: err.code ?? 'TAR_ERROR', message: err.message, entry: current };
  });
  let at = 0;
  for (; at < bytes.length && failure === null; at += chunk) {
    parser.write(Buffer.from(bytes.buffer, bytes.byteOffset + at, Math.min(chunk, bytes.length - at)));
  }
  if (failure === null) parser.end();
  return { entries, failure, failedAt: at - chunk };
}

/**
 * Whether a header block's stored checksum (octal, bytes 148..155) is the sum of its bytes with that
 * field read as spaces: only to word the error message, node-tar has already refused the header.
 */
function checksumMatches(h: Uint8Array): boolean {
  if (h.length < BLOCK) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  const field = Buffer.from(h.buffer, h.byteOffset + 148, 8)
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  return /^[0-7]+$/.test(field) && parseInt(field, 8) === sum;
}

/**
 * Parses an uncompressed tar archive. `file` names the archive in error messages.
 * Throws a DataError on a bad checksum, a malformed header or truncated data.
 */
export function parseTar(bytes: Uint8Array, file: string): TarEntry[] {
  const { entries, failure } = runParser(bytes, bytes.length || 1);
  if (failure === null) return entries;
  const e = failure.entry;
  if (failure.code === 'TAR_BAD_ARCHIVE' && /truncated/i.test(failure.message) && e !== null) {
    throw new DataError(`${file}: truncated tar archive: entry '${e.name}' needs ${e.size} bytes, only ${e.got} remain`);
  }
  if (failure.code === 'TAR_ENTRY_INVALID' || /checksum|base256/i.test(failure.message)) {
    // Fed one block at a time, the parser fails on the block that holds the bad header: say where.
    const at = runParser(bytes, BLOCK).failedAt;
    if (!checksumMatches(bytes.subarray(at, at + BLOCK)))
      throw new DataError(`${file}: bad tar header checksum at byte ${at}; the archive is corrupt`);
    throw new DataError(`${file}: bad tar header at byte ${at} (${failure.message.replace(/^TAR_[A-Z_]+: /, '')}); the archive is corrupt`);
  }
  throw new DataError(`${file}: corrupt tar archive (${failure.message.replace(/^TAR_[A-Z_]+: /, '')})`);
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
