/** Downloads a file to a .part file while hashing it, checks the digest, then renames it into place. */
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

/** Why a download failed; `digestMismatch` is set when the bytes arrived but their hash is wrong. */
export class DownloadError extends Error {
  override name = 'DownloadError';
  constructor(
    message: string,
    readonly digestMismatch = false,
  ) {
    super(message);
  }
}

export interface DownloadOptions {
  /** Hash algorithm of the check ('md5', 'sha256'). */
  algorithm: string;
  /** Returns null when the hex digest is acceptable, else the reason. */
  check(digest: string): string | null;
  /** Seconds to wait for the server's first answer. Default 60. */
  timeoutSeconds?: number;
}

/**
 * Fetches `url` into `dest`. Nothing appears under `dest` unless the whole file arrived and
 * passed `check`; a failure removes the partial file and throws a DownloadError with the cause.
 */
export async function downloadVerified(url: string, dest: string, o: DownloadOptions): Promise<void> {
  const part = `${dest}.part-${process.pid}`;
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(new Error(`no response within ${o.timeoutSeconds ?? 60} s`)), (o.timeoutSeconds ?? 60) * 1000);
  try {
    mkdirSync(dirname(dest), { recursive: true });
    let res: Response;
    try {
      res = await fetch(url, { signal: ctrl.signal });
    } finally {
      clearTimeout(timer);
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    const hash = createHash(o.algorithm);
    const out = createWriteStream(part);
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      }
    } finally {
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
    const problem = o.check(hash.digest('hex'));
    if (problem !== null) throw new DownloadError(problem, true);
    renameSync(part, dest);
  } catch (err) {
    rmSync(part, { force: true });
    if (err instanceof DownloadError) throw err;
    const cause = (err as { cause?: unknown }).cause;
    const why = [err, cause]
      .filter(Boolean)
      .map((e) => (e instanceof Error ? e.message : String(e)))
      .join(': ');
    throw new DownloadError(why);
  }
}
