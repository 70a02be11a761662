/**
 * Reference files: the feature statistics (and optionally the features themselves) of a dataset,
 * computed once and reused by every later evaluation. A reference file is a safetensors file
 * holding one or more named feature sets:
 *
 *     <set>/mu        float64 [D]
 *     <set>/sigma     float64 [D, D]
 *     <set>/features  float32 [N, D]   (optional: needed for precision/recall and KID)
 *     metadata  <set>/feature = which network and layer, <set>/count = N
 *
 * Set names used by `consistency eval`: 'fid' (pool3 of the FID Inception) and 'offline'
 * (pooled mixed5 of the nsfwjs Inception). numpy .npz statistics with arrays `mu` and `sigma`
 * (pytorch-fid's and TTUR's precomputed FID statistics) load as the 'fid' set.
 */
import { Tensor } from '../../tensor/tensor.js';
import { tensor } from '../../tensor/creation.js';
import { loadSafetensors, saveSafetensors, SafetensorsError } from '../../io/safetensors.js';
import { NpzFile, type NpyArray } from '../../data/npz.js';
import { FeatureStatsError, type FeatureStats } from '../scores/frechet.js';
import { FID_FEATURE } from '../feature-nets/inception-weights.js';

/** One feature set: its Gaussian fit and, when kept, the features. */
export interface FeatureSet {
  stats: FeatureStats;
  /** [N, D] float32 on the CPU, or null when only statistics were saved. */
  features: Tensor | null;
}

const FORMAT = 'consistency-ts reference features';

/** Writes feature sets (by set name) to a safetensors file, atomically. */
export function saveReference(path: string, sets: Map<string, FeatureSet>, extraMetadata: Record<string, string> = {}): void {
  const tensors = new Map<string, Tensor>();
  const metadata: Record<string, string> = { ...extraMetadata, format: FORMAT };
  try {
    for (const [name, set] of sets) {
      if (name.includes('/')) throw new RangeError(`saveReference: set name '${name}' must not contain '/'`);
      const { stats } = set;
      tensors.set(`${name}/mu`, tensor(stats.mu, [stats.dim], { device: 'cpu' }));
      tensors.set(`${name}/sigma`, tensor(stats.sigma, [stats.dim, stats.dim], { device: 'cpu' }));
      if (set.features) tensors.set(`${name}/features`, set.features.to({ dtype: 'float32', device: 'cpu' }));
      metadata[`${name}/feature`] = stats.feature;
      metadata[`${name}/count`] = String(stats.count);
    }
    saveSafetensors(path, tensors, metadata);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

function float64Of(arr: NpyArray, label: string): Float64Array {
  const m = /^([<>|=])f(4|8)$/.exec(arr.dtype);
  if (!m) throw new FeatureStatsError(`${label}: expected a float array, got dtype '${arr.dtype}'`);
  const little = m[1] !== '>';
  const size = Number(m[2]);
  const n = arr.data.length / size;
  const v = new DataView(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = size === 8 ? v.getFloat64(8 * i, little) : v.getFloat32(4 * i, little);
  return out;
}

/** Reads `mu` and `sigma` from an .npz of FID statistics; null when the file has no `mu`. */
export function loadNpzStats(path: string): FeatureSet | null {
  const f = NpzFile.open(path);
  try {
    const name = (n: string) => (f.has(n) ? n : f.has(`${n}.npy`) ? `${n}.npy` : null);
    const muName = name('mu');
    const sigmaName = name('sigma');
    if (!muName || !sigmaName) return null;
    const mu = float64Of(f.read(muName), `${path}:mu`);
    const sigma = float64Of(f.read(sigmaName), `${path}:sigma`);
    if (sigma.length !== mu.length * mu.length) throw new FeatureStatsError(`${path}: mu has ${mu.length} values but sigma ${sigma.length}`);
    return { stats: { feature: FID_FEATURE, count: 0, dim: mu.length, mu, sigma }, features: null };
  } finally {
    f.close();
  }
}

/** Reads a reference file (safetensors written by saveReference, or an .npz with mu/sigma). */
export function loadReference(path: string): Map<string, FeatureSet> {
  if (path.endsWith('.npz')) {
    const set = loadNpzStats(path);
    if (!set) throw new FeatureStatsError(`${path}: no 'mu' and 'sigma' arrays (not FID statistics)`);
    return new Map([['fid', set]]);
  }
  let loaded;
  try {
    loaded = loadSafetensors(path, { device: 'cpu' });
  } catch (err) {
    if (err instanceof SafetensorsError) throw new FeatureStatsError(err.message);
    throw err;
  }
  const { tensors, metadata } = loaded;
  const out = new Map<string, FeatureSet>();
  try {
    const names = [...new Set([...tensors.keys()].filter((k) => k.endsWith('/mu')).map((k) => k.slice(0, -3)))];
    if (names.length === 0) throw new FeatureStatsError(`${path}: not a reference file (no '<set>/mu' tensors)`);
    for (const name of names) {
      const mu = tensors.get(`${name}/mu`)!;
      const sigma = tensors.get(`${name}/sigma`);
      const feature = metadata[`${name}/feature`];
      if (!sigma) throw new FeatureStatsError(`${path}: set '${name}' has mu but no sigma`);
      if (!feature) throw new FeatureStatsError(`${path}: metadata does not say which features set '${name}' describes`);
      const d = mu.shape[0]!;
      if (mu.rank !== 1 || sigma.shape.join(',') !== `${d},${d}`)
        throw new FeatureStatsError(`${path}: ${name}/mu [${mu.shape.join(', ')}] and ${name}/sigma [${sigma.shape.join(', ')}] do not fit together`);
      const features = tensors.get(`${name}/features`) ?? null;
      if (features && (features.rank !== 2 || features.shape[1] !== d))
        throw new FeatureStatsError(`${path}: ${name}/features [${features.shape.join(', ')}] does not fit mu [${d}]`);
      tensors.delete(`${name}/features`);
      out.set(name, {
        stats: {
          feature,
          count: Number(metadata[`${name}/count`] ?? features?.shape[0] ?? 0),
          dim: d,
          mu: mu.toFloat64Array(),
          sigma: sigma.toFloat64Array(),
        },
        features,
      });
    }
    return out;
  } catch (err) {
    for (const s of out.values()) s.features?.dispose();
    throw err;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
