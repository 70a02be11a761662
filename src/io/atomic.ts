/** Atomic file writes: write a temporary file, fsync it, rename it over the target, fsync the folder. */
import { openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync, mkdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/** Writes `chunks` to `path` so a crash leaves either the old file or the new one, never a torn one. */
export function writeFileAtomic(path: string, chunks: Uint8Array | Uint8Array[]): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  const fd = openSync(tmp, 'w');
  try {
    for (const c of Array.isArray(chunks) ? chunks : [chunks]) {
      let off = 0;
      while (off < c.byteLength) off += writeSync(fd, c, off, c.byteLength - off);
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  try {
    const dfd = openSync(dir, 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch {
    /* some filesystems cannot fsync a directory; the rename is still atomic */
  }
}
