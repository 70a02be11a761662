/**
 * CIFAR-10 (Krizhevsky 2009; 50,000 training and 10,000 test 32x32 RGB images, 10 classes) in
 * the layout of the official binary archive `cifar-10-binary.tar.gz`:
 * `cifar-10-batches-bin/data_batch_{1..5}.bin`, `test_batch.bin`, `batches.meta.txt`; each
 * record is 1 label byte followed by 3072 pixel bytes (1024 R, 1024 G, 1024 B, rows top-down),
 * which is already NCHW.
 *
 * `data` may be the archive, the extracted `cifar-10-batches-bin` folder, the folder containing
 * it (or containing the archive), or omitted: then the archive is looked up in the cache folder
 * (`$CONSISTENCY_CACHE` or `~/.cache/consistency-ts`) and downloaded there if absent.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DataError, describeError, warnToStderr, type ImageDataset, type Split, type WarnFn } from './types.js';
import { readFileOrThrow, statOrNull } from './fsutil.js';
import { parseTarBytes } from './tar.js';
import { downloadVerified, DownloadError } from '../io/download.js';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
export const CIFAR10_ARCHIVE = 'cifar-10-binary.tar.gz';
export const CIFAR10_FOLDER = 'cifar-10-batches-bin';
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
/** Bytes per record: 1 label + 3*32*32 pixels. */
export const CIFAR10_RECORD = 1 + 3 * 32 * 32;

const SPLIT_FILES: Record<Split, string[]> = {
  train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
  test: ['test_batch.bin'],
};

export interface Cifar10Options {
  /** 'train' (50,000) or 'test' (10,000). Default 'train'. */
  split?: Split;
  /** Archive, extracted folder, or folder containing either; omitted: cache + download. */
  data?: string;
  /** Cache folder for the download; default `defaultCacheDir()`. */
  cacheDir?: string;
  /** Download URL (tests point it elsewhere). Default CIFAR10_URL. */
  url?: string;
  /** Receives warnings (MD5 mismatch); default one line on stderr. */
  warn?: WarnFn;
  /** Receives progress notes (download start); default one line on stderr. */
  log?: (message: string) => void;
}

/** `$CONSISTENCY_CACHE`, or `~/.cache/consistency-ts`. */
export function defaultCacheDir(): string {
  const env = process.env['CONSISTENCY_CACHE'];
  return env && env.length > 0 ? env : join(homedir(), '.cache', 'consistency-ts');
}

/** Hex MD5 of bytes. */
export function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

/** Where the CIFAR-10 data come from, after resolving the `data` option. */
export type Cifar10Source = { kind: 'archive'; path: string } | { kind: 'folder'; path: string };

/** Resolves an explicit `data` path to an archive or a batches folder. */
export function resolveCifar10Path(data: string): Cifar10Source {
  const st = statOrNull(data);
  if (!st) throw new DataError(`${data}: CIFAR-10 data not found (pass the ${CIFAR10_ARCHIVE} archive or its extracted folder)`);
  if (st.isFile()) return { kind: 'archive', path: data };
  if (!st.isDirectory()) throw new DataError(`${data}: not a file or folder`);
  const inner = join(data, CIFAR10_FOLDER);
  if (statOrNull(inner)?.isDirectory()) return { kind: 'folder', path: inner };
  const names = new Set(readdirSync(data));
  if (names.has('data_batch_1.bin') || names.has('test_batch.bin')) return { kind: 'folder', path: data };
  if (names.has(CIFAR10_ARCHIVE)) return { kind: 'archive', path: join(data, CIFAR10_ARCHIVE) };
  throw new DataError(
    `${data}: no CIFAR-10 data in this folder (expected ${CIFAR10_FOLDER}/, data_batch_1.bin/test_batch.bin, or ${CIFAR10_ARCHIVE})`,
  );
}

/** Downloads `url` to `dest` (via a .part file) and checks its MD5; failures are DataErrors. */
export async function downloadCifar10(url: string, dest: string, log: (m: string) => void): Promise<void> {
  const advice = `pass --data with the path to ${CIFAR10_ARCHIVE} or its extracted folder`;
  log(`downloading ${url} to ${dest}`);
  try {
    await downloadVerified(url, dest, {
      algorithm: 'md5',
      check: (md5) => (md5 === CIFAR10_MD5 ? null : `${url}: downloaded file has MD5 ${md5}, expected ${CIFAR10_MD5}; ${advice}`),
    });
  } catch (err) {
    if (err instanceof DownloadError && err.digestMismatch) throw new DataError(err.message);
    throw new DataError(`could not download ${url} (${describeError(err)}); ${advice}`);
  }
}

/** Parses CIFAR-10 batch files (in the given order) into one dataset. */
export function parseCifar10Batches(files: { name: string; bytes: Uint8Array }[], classNames?: string[]): ImageDataset {
  let count = 0;
  for (const f of files) {
    if (f.bytes.length === 0 || f.bytes.length % CIFAR10_RECORD !== 0) {
      throw new DataError(
        `${f.name}: size ${f.bytes.length} bytes is not a positive multiple of the ${CIFAR10_RECORD}-byte CIFAR-10 record (1 label + 3072 pixel bytes)`,
      );
    }
    count += f.bytes.length / CIFAR10_RECORD;
  }
  const px = CIFAR10_RECORD - 1;
  const images = new Uint8Array(count * px);
  const labels = new Int32Array(count);
  let n = 0;
  for (const f of files) {
    const records = f.bytes.length / CIFAR10_RECORD;
    for (let r = 0; r < records; r++, n++) {
      const o = r * CIFAR10_RECORD;
      const label = f.bytes[o]!;
      if (label >= 10) throw new DataError(`${f.name}: label ${label} in record ${r} is out of range 0..9`);
      labels[n] = label;
      images.set(f.bytes.subarray(o + 1, o + CIFAR10_RECORD), n * px);
    }
  }
  return {
    name: 'cifar10',
    count,
    channels: 3,
    height: 32,
    width: 32,
    numClasses: 10,
    images,
    labels,
    classNames: classNames && classNames.length === 10 ? classNames : CIFAR10_CLASSES.slice(),
  };
}

function parseMeta(bytes: Uint8Array | undefined): string[] | undefined {
  if (!bytes) return undefined;
  const names = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString('utf8')
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return names.length === 10 ? names : undefined;
}

/** Loads one split from a CIFAR-10 archive (tar.gz or tar); warns if its MD5 is not the official one. */
export function loadCifar10Archive(path: string, split: Split, warn: WarnFn = warnToStderr): ImageDataset {
  const raw = readFileOrThrow(path, 'CIFAR-10 archive');
  const md5 = md5Hex(raw);
  if (md5 !== CIFAR10_MD5) {
    warn(`${path}: MD5 ${md5} differs from the official CIFAR-10 archive's ${CIFAR10_MD5}; using it anyway`);
  }
  const entries = parseTarBytes(raw, path);
  const find = (base: string): Uint8Array | undefined => {
    const e = entries.find((x) => x.type === 'file' && (x.name === base || x.name.endsWith(`/${base}`)));
    return e?.data;
  };
  const files = SPLIT_FILES[split].map((base) => {
    const bytes = find(base);
    if (!bytes) throw new DataError(`${path}: archive has no ${CIFAR10_FOLDER}/${base}`);
    return { name: `${path}:${CIFAR10_FOLDER}/${base}`, bytes };
  });
  return parseCifar10Batches(files, parseMeta(find('batches.meta.txt')));
}

/** Loads one split from an extracted `cifar-10-batches-bin` folder. */
export function loadCifar10Folder(dir: string, split: Split): ImageDataset {
  const files = SPLIT_FILES[split].map((base) => {
    const p = join(dir, base);
    return { name: p, bytes: readFileOrThrow(p, 'CIFAR-10 batch file') };
  });
  const metaPath = join(dir, 'batches.meta.txt');
  const meta = statOrNull(metaPath)?.isFile() ? readFileOrThrow(metaPath) : undefined;
  return parseCifar10Batches(files, parseMeta(meta));
}

/** Loads CIFAR-10 from `opts.data`, or from the cache (downloading it there first if needed). */
export async function loadCifar10(opts: Cifar10Options = {}): Promise<ImageDataset> {
  const split = opts.split ?? 'train';
  const warn = opts.warn ?? warnToStderr;
  let source: Cifar10Source;
  if (opts.data !== undefined) {
    source = resolveCifar10Path(opts.data);
  } else {
    const dest = join(opts.cacheDir ?? defaultCacheDir(), CIFAR10_ARCHIVE);
    if (!statOrNull(dest)?.isFile()) {
      await downloadCifar10(opts.url ?? CIFAR10_URL, dest, opts.log ?? ((m) => process.stderr.write(`${m}\n`)));
    }
    source = { kind: 'archive', path: dest };
  }
  return source.kind === 'archive' ? loadCifar10Archive(source.path, split, warn) : loadCifar10Folder(source.path, split);
}
