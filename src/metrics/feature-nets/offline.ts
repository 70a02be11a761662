/**
 * An offline sample-quality signal for machines that cannot get the FID Inception weights: the
 * Keras Inception-v3 that the npm package `nsfwjs` (MIT license) ships, read from the package's
 * files (never run through TensorFlow.js) and evaluated on our engine up to the `mixed5` block
 * (768 channels at 17x17), globally average-pooled to 768 features.
 *
 * The scores it gives, "FD-mixed5" (Frechet distance of these features) and KID on them, rank
 * sample sets like FID does but are NOT FID: different weights (fine-tuned for another task), a
 * different layer, different numbers. Never report them as FID.
 *
 * Where the model comes from, in order: an explicit path (the package folder, its
 * dist/models/inception_v3 folder, a folder with model.json + binary shards, or the npm tarball
 * nsfwjs-<version>.tgz); `node_modules/nsfwjs`; the tarball in the cache folder; else
 * `npm pack nsfwjs@<version>` into the cache folder (npm's own client; the tarball's sha512 must
 * match the registry's integrity string).
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../tensor/tensor.js';
import { noGrad } from '../../tensor/autograd.js';
import { tidy } from '../../tensor/scope.js';
import * as F from '../../tensor/functional.js';
import { readTarFile } from '../../data/tar.js';
import { parseJsLiteral } from './js-literal.js';
import type { JsonValue } from '../../util/json.js';
import { KerasGraph, decodeWeights, type WeightsGroup } from './keras-graph.js';
import { metricsCacheDir } from './inception-weights.js';
import { InputError } from '../../util/input-error.js';

export const NSFWJS_VERSION = '4.4.0';
/** npm's dist.integrity of nsfwjs@4.4.0. */
export const NSFWJS_INTEGRITY = 'sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0R8Aa7dc+MA==';
export const NSFWJS_TARBALL = `nsfwjs-${NSFWJS_VERSION}.tgz`;
/** The feature name stored with statistics of these features. */
export const OFFLINE_FEATURE = `nsfwjs-${NSFWJS_VERSION}-inception_v3/mixed5/global-avg-pool`;
/** The layer whose pooled activations are the features. */
export const OFFLINE_LAYER = 'mixed5';
const MODEL_DIR = 'dist/models/inception_v3';

export class OfflineModelError extends InputError {
  override name = 'OfflineModelError';
}

/** The model's parts as read from the package. */
export interface NsfwjsModelFiles {
  topology: JsonValue;
  groups: WeightsGroup[];
  /** Shard bytes by manifest path. */
  shards: Map<string, Uint8Array>;
  /** Where they came from (for messages). */
  source: string;
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** The object literal assigned to `exports` in a browserified bundle (model.min.js). */
function bundleObject(js: string, label: string): JsonValue {
  const m = /\.exports\s*=\s*\{/.exec(js);
  if (!m) throw new OfflineModelError(`${label}: no exported model object found`);
  return parseJsLiteral(js, m.index + m[0].length - 1, label).value;
}

/** The base64 string assigned to `exports` in a shard bundle (group1-shardNofM.min.js). */
function bundleShard(js: string, label: string): Uint8Array {
  const m = /\.exports\s*=\s*"([A-Za-z0-9+/=]*)"/.exec(js);
  if (!m) throw new OfflineModelError(`${label}: no exported weight data found`);
  const b = Buffer.from(m[1]!, 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function modelParts(model: JsonValue, label: string): { topology: JsonValue; groups: WeightsGroup[] } {
  if (typeof model !== 'object' || model === null || Array.isArray(model) || !model.modelTopology || !Array.isArray(model.weightsManifest)) {
    throw new OfflineModelError(`${label}: not a TensorFlow.js layers model (needs modelTopology and weightsManifest)`);
  }
  return { topology: model.modelTopology, groups: model.weightsManifest as unknown as WeightsGroup[] };
}

/** Reads the model from files by name: `get(name)` returns a file's bytes or undefined. */
function readModel(get: (name: string) => Uint8Array | undefined, source: string): NsfwjsModelFiles {
  const json = get('model.json');
  const bundle = get('model.min.js');
  if (!json && !bundle) throw new OfflineModelError(`${source}: no model.json or model.min.js (not the nsfwjs Inception-v3 model folder)`);
  const model = json ? (JSON.parse(text(json)) as JsonValue) : bundleObject(text(bundle!), `${source}/model.min.js`);
  const { topology, groups } = modelParts(model, source);
  const shards = new Map<string, Uint8Array>();
  for (const g of groups) {
    for (const p of g.paths) {
      const raw = get(p);
      const js = raw ? undefined : get(`${p}.min.js`);
      if (!raw && !js) throw new OfflineModelError(`${source}: weight shard '${p}' is missing`);
      shards.set(p, raw ?? bundleShard(text(js!), `${source}/${p}.min.js`));
    }
  }
  return { topology, groups, shards, source };
}

/** The sha512 integrity string (npm's dist.integrity format) of a file. */
export function integrityOf(path: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(path)).digest('base64')}`;
}

/** Reads the model from a tarball, a package folder or a model folder. */
export function readNsfwjsModel(path: string, warn: (m: string) => void = (m) => process.stderr.write(`warning: ${m}\n`)): NsfwjsModelFiles {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new OfflineModelError(`${path}: not found`);
  if (st.isFile()) {
    const integrity = integrityOf(path);
    if (integrity !== NSFWJS_INTEGRITY)
      warn(`${path}: not the nsfwjs@${NSFWJS_VERSION} tarball (integrity ${integrity.slice(0, 20)}...): offline scores may not compare with others'`);
    const entries = readTarFile(path);
    const byName = new Map(entries.filter((e) => e.type === 'file').map((e) => [e.name, e.data]));
    return readModel((name) => byName.get(`package/${MODEL_DIR}/${name}`), path);
  }
  const dir = statSync(join(path, MODEL_DIR), { throwIfNoEntry: false })?.isDirectory() ? join(path, MODEL_DIR) : path;
  const files = new Set(readdirSync(dir));
  return readModel((name) => (files.has(name) ? new Uint8Array(readFileSync(join(dir, name))) : undefined), dir);
}

/** node_modules/nsfwjs above this file, if installed. */
function installedPackage(): string | undefined {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(d, 'node_modules', 'nsfwjs');
    if (statSync(join(candidate, MODEL_DIR), { throwIfNoEntry: false })?.isDirectory()) return candidate;
    const up = dirname(d);
    if (up === d) return undefined;
    d = up;
  }
}

export interface OfflineModelOptions {
  /** Tarball, package folder or model folder; skips the search. */
  model?: string | undefined;
  cacheDir?: string | undefined;
  /** Run `npm pack` when nothing is found (default true). */
  fetch?: boolean | undefined;
  device?: string | undefined;
  /** The layer to stop at (default 'mixed5'). */
  layer?: string | undefined;
  /**
   * Side length images are resized to (default 299, the model's training size). Smaller sizes
   * (at least 75) are faster and give different, not comparable, features.
   */
  inputSize?: number | undefined;
  log?: (message: string) => void;
  warn?: (message: string) => void;
}

/** Finds the nsfwjs model (see the file comment for the order), fetching the tarball if allowed. */
export function locateNsfwjsModel(o: OfflineModelOptions = {}): string {
  if (o.model !== undefined) return o.model;
  const installed = installedPackage();
  if (installed) return installed;
  const cache = o.cacheDir ?? metricsCacheDir();
  const tarball = join(cache, NSFWJS_TARBALL);
  const advice = `run 'npm pack nsfwjs@${NSFWJS_VERSION} --pack-destination ${cache}' on a machine with registry access, or pass --offline-model PATH`;
  if (!statSync(tarball, { throwIfNoEntry: false })?.isFile()) {
    if (o.fetch === false) throw new OfflineModelError(`the nsfwjs model is not in ${cache}; ${advice}`);
    (o.log ?? ((m: string) => process.stderr.write(`${m}\n`)))(
      `fetching nsfwjs@${NSFWJS_VERSION} (its Inception-v3 files only are used) with npm pack into ${cache}`,
    );
    mkdirSync(cache, { recursive: true });
    try {
      execFileSync('npm', ['pack', `nsfwjs@${NSFWJS_VERSION}`, '--pack-destination', cache, '--silent'], {
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: 300_000,
      });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim().split('\n').pop();
      throw new OfflineModelError(`npm pack nsfwjs@${NSFWJS_VERSION} failed (${stderr || (err as Error).message}); ${advice}`);
    }
  }
  const integrity = integrityOf(tarball);
  if (integrity !== NSFWJS_INTEGRITY)
    throw new OfflineModelError(`${tarball}: integrity ${integrity} differs from the registry's ${NSFWJS_INTEGRITY}; delete it, or ${advice}`);
  return tarball;
}

/** The nsfwjs Inception-v3 as a feature extractor (768-d pooled mixed5 activations by default). */
export class OfflineFeatureNet {
  /** Name stored with statistics of these features. */
  readonly feature: string;
  private constructor(
    private readonly graph: KerasGraph,
    readonly source: string,
    readonly layer: string,
    readonly inputSize: number,
  ) {
    const base = layer === OFFLINE_LAYER ? OFFLINE_FEATURE : `nsfwjs-${NSFWJS_VERSION}-inception_v3/${layer}`;
    this.feature = inputSize === 299 ? base : `${base}@${inputSize}px`;
  }

  /** Builds the network from model files already read. */
  static fromFiles(
    files: NsfwjsModelFiles,
    o: { device?: string | undefined; layer?: string | undefined; inputSize?: number | undefined } = {},
  ): OfflineFeatureNet {
    const size = o.inputSize ?? 299;
    if (!Number.isInteger(size) || size < 75) throw new RangeError(`OfflineFeatureNet: inputSize must be an integer >= 75, got ${size}`);
    const weights = new Map<string, { shape: number[]; values: Float32Array }>();
    for (const g of files.groups) {
      const parts = g.paths.map((p) => files.shards.get(p)!);
      const data = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
      let off = 0;
      for (const p of parts) {
        data.set(p, off);
        off += p.length;
      }
      for (const [k, v] of decodeWeights(g, data, files.source)) weights.set(k, v);
    }
    const layer = o.layer ?? OFFLINE_LAYER;
    return new OfflineFeatureNet(new KerasGraph(files.topology, layer, weights, o.device ?? 'cpu', files.source), files.source, layer, size);
  }

  /** Locates, reads and builds the network. */
  static load(o: OfflineModelOptions = {}): OfflineFeatureNet {
    const path = locateNsfwjsModel(o);
    return OfflineFeatureNet.fromFiles(readNsfwjsModel(path, o.warn), { device: o.device, layer: o.layer, inputSize: o.inputSize });
  }

  /**
   * Features of images [N, 3, H, W] in [0, 1]: resized to inputSize (bilinear), fed in [0, 1] as
   * nsfwjs does, the layer's activations averaged over space ([N, C]; outputs that are already
   * flat come back as they are).
   */
  forward(images: Tensor): Tensor {
    if (images.rank !== 4 || images.shape[1] !== 3)
      throw new RangeError(`OfflineFeatureNet: images must be [N, 3, H, W], got [${images.shape.join(', ')}]`);
    return noGrad(() =>
      tidy(() => {
        const s = this.inputSize;
        const x = F.interpolate(images.toDtype('float32'), { size: [s, s], mode: 'bilinear', alignCorners: false });
        const y = this.graph.forward(x);
        return y.rank === 4 ? y.mean([2, 3]) : y;
      }),
    );
  }

  dispose(): void {
    this.graph.dispose();
  }
}
