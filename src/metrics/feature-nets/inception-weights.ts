/**
 * Finding and loading the FID Inception weights: pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`,
 * downloaded on first use from pytorch-fid's GitHub release into the cache folder
 * (`$CONSISTENCY_CACHE` or `~/.cache/consistency-ts`), or given as a file. As torch.hub does
 * (check_hash), the 8 hex digits in the file name are the start of the file's SHA-256, and a
 * downloaded or cached file must match them.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Tensor } from '../../tensor/tensor.js';
import { loadSafetensors } from '../../io/safetensors.js';
import { loadTorchCheckpoint } from '../../io/torch-checkpoint.js';
import { FidInceptionV3 } from './inception.js';
import { downloadVerified, DownloadError } from '../../io/download.js';
import { InputError } from '../../util/input-error.js';

/** pool3 of TF inception-2015-12-05 (what FID uses). */
export const FID_FEATURE = 'inception-2015-12-05/pool3';

export const FID_WEIGHTS_URL = 'https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth';
export const FID_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth';
/** The SHA-256 prefix in the file name (torch.hub's hash convention). */
export const FID_WEIGHTS_SHA256_PREFIX = '6726825d';

/** The weights cannot be found, downloaded or verified. */
export class InceptionWeightsError extends InputError {
  override name = 'InceptionWeightsError';
}

/** `$CONSISTENCY_CACHE`, or `~/.cache/consistency-ts`. */
export function metricsCacheDir(): string {
  const env = process.env['CONSISTENCY_CACHE'];
  return env && env.length > 0 ? env : join(homedir(), '.cache', 'consistency-ts');
}

/** The first `hexDigits` hex digits of a file's SHA-256 (read in 8 MiB pieces). */
export function sha256Prefix(path: string, hexDigits = 64): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(8 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex').slice(0, hexDigits);
}

export interface ResolveWeightsOptions {
  /** A weights file given by the user (.pth or .safetensors); skips the cache and the download. */
  path?: string | undefined;
  /** Cache folder; default metricsCacheDir(). */
  cacheDir?: string | undefined;
  /** Download URL; default FID_WEIGHTS_URL. */
  url?: string | undefined;
  /** Download when the cache has no copy (default true). */
  download?: boolean | undefined;
  /** Progress notes (default: stderr). */
  log?: (message: string) => void;
  /** Warnings (default: stderr). */
  warn?: (message: string) => void;
}

const advice = `download ${FID_WEIGHTS_FILE} from ${FID_WEIGHTS_URL} on a machine with internet access and pass --inception-weights FILE (or put it in the cache folder)`;

/**
 * The path of the FID Inception weights: the given file, else the cached copy (hash-checked),
 * else a fresh download into the cache (hash-checked). A user's file with another hash is used
 * with a warning, since FID values from other weights are not comparable with published ones.
 */
export async function resolveFidWeights(o: ResolveWeightsOptions = {}): Promise<string> {
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const warn = o.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  if (o.path !== undefined) {
    if (!statSync(o.path, { throwIfNoEntry: false })?.isFile()) throw new InceptionWeightsError(`${o.path}: Inception weights file not found`);
    if (o.path.endsWith('.pth') || o.path.endsWith('.pt')) {
      const prefix = sha256Prefix(o.path, 8);
      if (prefix !== FID_WEIGHTS_SHA256_PREFIX) {
        warn(
          `${o.path}: SHA-256 starts ${prefix}, not ${FID_WEIGHTS_SHA256_PREFIX}: these are not pytorch-fid's weights, so the scores are not comparable with published FIDs`,
        );
      }
    }
    return o.path;
  }
  const dest = join(o.cacheDir ?? metricsCacheDir(), FID_WEIGHTS_FILE);
  if (statSync(dest, { throwIfNoEntry: false })?.isFile()) {
    const prefix = sha256Prefix(dest, 8);
    if (prefix !== FID_WEIGHTS_SHA256_PREFIX) {
      throw new InceptionWeightsError(
        `${dest}: SHA-256 starts ${prefix}, expected ${FID_WEIGHTS_SHA256_PREFIX} (corrupt or partial download?); delete it, or ${advice}`,
      );
    }
    return dest;
  }
  if (o.download === false) throw new InceptionWeightsError(`the FID Inception weights are not in ${dirname(dest)}; ${advice}`);
  await download(o.url ?? FID_WEIGHTS_URL, dest, log);
  return dest;
}

async function download(url: string, dest: string, log: (m: string) => void): Promise<void> {
  log(`downloading the FID Inception weights from ${url} to ${dest}`);
  try {
    await downloadVerified(url, dest, {
      algorithm: 'sha256',
      check: (digest) =>
        digest.startsWith(FID_WEIGHTS_SHA256_PREFIX)
          ? null
          : `${url}: the downloaded file's SHA-256 starts ${digest.slice(0, 8)}, expected ${FID_WEIGHTS_SHA256_PREFIX}; ${advice}`,
    });
  } catch (err) {
    if (err instanceof DownloadError && err.digestMismatch) throw new InceptionWeightsError(err.message);
    throw new InceptionWeightsError(`could not download the FID Inception weights (${(err as Error).message}); ${advice}`);
  }
}

/** Reads a weights file: .safetensors, else a torch.save file (read without running pickle code). */
export function loadInceptionWeights(path: string, options: { device?: string } = {}): Map<string, Tensor> {
  if (path.endsWith('.safetensors')) return loadSafetensors(path, options).tensors;
  return loadTorchCheckpoint(path, options);
}

export interface LoadFidInceptionOptions extends ResolveWeightsOptions {
  device?: string | undefined;
}

/** A loaded FID Inception and the name of its pool3 features. */
export interface LoadedFidInception {
  net: FidInceptionV3;
  /**
   * 'inception-2015-12-05/pool3' with pytorch-fid's weights; with any other weights file the name
   * also carries that file's SHA-256 prefix, so statistics of different weights never compare.
   */
  feature: string;
  weightsPath: string;
}

/** The FID Inception network with pytorch-fid's weights (resolved, downloaded if needed, loaded). */
export async function loadFidInception(o: LoadFidInceptionOptions = {}): Promise<LoadedFidInception> {
  const path = await resolveFidWeights(o);
  const hash = sha256Prefix(path, 8);
  const feature = hash === FID_WEIGHTS_SHA256_PREFIX ? FID_FEATURE : `${FID_FEATURE}@weights-sha256-${hash}`;
  const state = loadInceptionWeights(path, { device: 'cpu' });
  const net = new FidInceptionV3({ device: 'cpu' });
  try {
    net.loadFidStateDict(state);
  } catch (err) {
    net.dispose();
    throw new InceptionWeightsError(`${path}: ${(err as Error).message}`);
  } finally {
    for (const t of state.values()) t.dispose();
  }
  if (o.device && o.device !== 'cpu') net.to(o.device);
  return { net, feature, weightsPath: path };
}
