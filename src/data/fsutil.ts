/** Small file helpers that turn file-system failures into one-line DataErrors. */
import { readFileSync, statSync, type Stats } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DataError, describeError } from './types.js';

/** A plain Uint8Array view of a Node Buffer (same memory, no copy). */
export function asBytes(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer as ArrayBuffer, buf.byteOffset, buf.byteLength);
}

/** Reads a whole file; a missing or unreadable file becomes a DataError naming it. */
export function readFileOrThrow(path: string, what = 'file'): Uint8Array {
  try {
    return asBytes(readFileSync(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(`${path}: ${what} not found`);
    if (code === 'EISDIR') throw new DataError(`${path}: expected a ${what}, found a folder`);
    throw new DataError(`${path}: cannot read ${what} (${describeError(err)})`);
  }
}

/** stat() that returns null for a missing path instead of throwing. */
export function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** True if the bytes start with the gzip magic number 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzips bytes; a truncated or corrupt stream becomes a DataError naming `file`. */
export function gunzipOrThrow(bytes: Uint8Array, file: string): Uint8Array {
  try {
    return asBytes(gunzipSync(bytes));
  } catch (err) {
    throw new DataError(`${file}: truncated or corrupt gzip data (${describeError(err)})`);
  }
}
