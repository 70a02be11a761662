/** Atomic file writes: write a temporary file, fsync it, rename it over the target, fsync the folder. */
import { openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

const WRITE_FAILURES: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EFBIG: 'file too large',
  EIO: 'input/output error',
};

/** A file that could not be written (disk full, read-only, no permission, ...): one line naming the file and the reason. */
export class FileWriteError extends Error {
  override name = 'FileWriteError';
  constructor(
    readonly path: string,
    /** The system error code (ENOSPC, EROFS, ...), when there is one. */
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }

  /** Wraps what a failed write threw; `what` says which file it was ('checkpoint', 'metrics log', ...). */
  static from(path: string, err: unknown, what = 'file'): FileWriteError {
    if (err instanceof FileWriteError) return err;
    const code = typeof (err as { code?: unknown } | null)?.code === 'string' ? (err as { code: string }).code : undefined;
    const reason =
      code !== undefined && WRITE_FAILURES[code] !== undefined
        ? `${WRITE_FAILURES[code]} (${code})`
        : err instanceof Error
          ? err.message
          : String(err);
    return new FileWriteError(path, code, `cannot write the ${what} ${path}: ${reason}`);
  }
}

/**
 * Creates `dir` and its missing parents; a failure is a FileWriteError with the real reason (Node's
 * recursive mkdir reports ENOENT under a read-only parent, so the deepest missing folder is made
 * with a plain mkdir to learn why).
 */
export function ensureDirectory(dir: string, what = 'folder'): void {
  const failure = mkdirFailure(dir);
  if (failure !== null) throw FileWriteError.from(dir, failure, what);
}

/** null when `dir` exists or was made; else the system error that explains why not. */
function mkdirFailure(dir: string): unknown {
  try {
    mkdirSync(dir, { recursive: true });
    return null;
  } catch (e) {
    if ((e as { code?: unknown } | null)?.code !== 'ENOENT') return e;
    let missing = dir;
    while (dirname(missing) !== missing && !existsSync(dirname(missing))) missing = dirname(missing);
    try {
      mkdirSync(missing);
    } catch (plain) {
      return plain;
    }
    return e;
  }
}

/**
 * Writes `chunks` to `path` so a crash leaves either the old file or the new one, never a torn one.
 * A failed write (disk full, read-only folder) removes its temporary file, leaves the old file under
 * `path` unchanged and throws a FileWriteError naming `path`.
 */
export function writeFileAtomic(path: string, chunks: Uint8Array | Uint8Array[], what = 'file'): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  const failure = mkdirFailure(dir);
  if (failure !== null) throw FileWriteError.from(path, failure, what);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'w');
    for (const c of Array.isArray(chunks) ? chunks : [chunks]) {
      let off = 0;
      while (off < c.byteLength) off += writeSync(fd, c, off, c.byteLength - off);
    }
    fsyncSync(fd);
    const open = fd;
    fd = null;
    closeSync(open);
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        /* the write error is the one to report */
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      /* never created, or the folder is read-only */
    }
    throw FileWriteError.from(path, e, what);
  }
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* some filesystems cannot fsync a directory; the rename is still atomic */
  }
}
