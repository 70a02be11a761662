/**
 * The evaluation pipeline behind `consistency eval`: features of an image stream through the
 * feature networks (batched, on any device), their statistics and, when a metric needs them, the
 * features themselves; then the scores against a reference.
 *
 * Metrics and the features they use (docs/method.md section 8):
 *   fid         Frechet distance of FID Inception pool3 features (set 'fid')
 *   is          Inception score from the same network's 1008 logits (samples only)
 *   pr          k-NN precision and recall (k = 3) of pool3 features
 *   kid         kernel Inception distance of pool3 features
 *   fd-mixed5   Frechet distance of the offline network's pooled mixed5 features (set 'offline');
 *               a quality signal without the FID weights, not FID
 *   kid-mixed5  KID of those features
 */
import { Tensor } from '../../tensor/tensor.js';
import { cat } from '../../tensor/creation.js';
import { tidy, keep } from '../../tensor/scope.js';
import * as F from '../../tensor/functional.js';
import { FeatureStatsAccumulator, frechetDistance, FeatureStatsError } from '../scores/frechet.js';
import { inceptionScore } from '../scores/inception-score.js';
import { precisionRecall } from '../scores/precision-recall.js';
import { kernelInceptionDistance, type KidOptions } from '../scores/kid.js';
import type { FidInceptionV3 } from '../feature-nets/inception.js';
import type { OfflineFeatureNet } from '../feature-nets/offline.js';
import type { FeatureSet } from './reference.js';
import type { ImageBatchSource } from './images.js';
import { createProgress } from './progress.js';

export const METRIC_NAMES = ['fid', 'is', 'pr', 'kid', 'fd-mixed5', 'kid-mixed5'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export function isMetricName(s: string): s is MetricName {
  return (METRIC_NAMES as readonly string[]).includes(s);
}

/** Which feature sets and extras a list of metrics needs. */
export interface FeatureNeeds {
  fid: boolean;
  fidFeatures: boolean;
  logits: boolean;
  offline: boolean;
  offlineFeatures: boolean;
}

export function featureNeeds(metrics: readonly MetricName[]): FeatureNeeds {
  const has = (m: MetricName) => metrics.includes(m);
  return {
    fid: has('fid') || has('is') || has('pr') || has('kid'),
    fidFeatures: has('pr') || has('kid'),
    logits: has('is'),
    offline: has('fd-mixed5') || has('kid-mixed5'),
    offlineFeatures: has('kid-mixed5'),
  };
}

/** The feature networks an evaluation runs. */
export interface FeatureNetworks {
  fid?: { net: FidInceptionV3; feature: string } | undefined;
  offline?: OfflineFeatureNet | undefined;
}

export interface ExtractOptions {
  batch: number;
  /** Where the networks run; batches are moved there. */
  device: string;
  /** Keep the features ([N, D] float32 on the CPU) of these sets. */
  keep: { fid: boolean; offline: boolean };
  /** Also collect the FID network's logits (for the Inception score). */
  logits: boolean;
  /** Label of the progress line; null: no progress line. */
  progressLabel?: string | null | undefined;
}

export interface ExtractedFeatures {
  sets: Map<string, FeatureSet>;
  /** [N, 1008] logits without the fc bias (as the original Inception-score code), or null. */
  logits: Tensor | null;
  count: number;
}

/** Runs every batch of `source` through the networks; statistics are accumulated in float64. */
export async function extractFeatures(source: ImageBatchSource, nets: FeatureNetworks, o: ExtractOptions): Promise<ExtractedFeatures> {
  const accFid = nets.fid ? new FeatureStatsAccumulator(nets.fid.feature) : null;
  const accOff = nets.offline ? new FeatureStatsAccumulator(nets.offline.feature) : null;
  const keptFid: Tensor[] = [];
  const keptOff: Tensor[] = [];
  const keptLogits: Tensor[] = [];
  const progress = o.progressLabel === null ? null : createProgress(o.progressLabel ?? source.label, source.count);
  let count = 0;
  try {
    for await (const batch of source.batches(o.batch)) {
      // The kept feature tensors outlive this scope (keep); everything else made here is freed.
      tidy(() => {
        const x = batch.device === o.device ? batch : batch.to({ device: o.device });
        if (nets.fid && accFid) {
          const { pool } = nets.fid.net.forward(x);
          accFid.add(pool);
          if (o.keep.fid) keptFid.push(keep(pool.to({ device: 'cpu' })));
          // The original IS code multiplies pool3 by the logits weight without the bias.
          if (o.logits) keptLogits.push(keep(F.linear(pool, nets.fid.net.fcWeight).to({ device: 'cpu' })));
        }
        if (nets.offline && accOff) {
          const f = nets.offline.forward(x);
          accOff.add(f);
          if (o.keep.offline) keptOff.push(keep(f.to({ device: 'cpu' })));
        }
      });
      count += batch.shape[0]!;
      batch.dispose();
      progress?.advance(batch.shape[0]!);
    }
    progress?.done();
    const sets = new Map<string, FeatureSet>();
    const join = (list: Tensor[]): Tensor | null => (list.length ? cat(list, 0) : null);
    if (accFid) sets.set('fid', { stats: accFid.finish(), features: join(keptFid) });
    if (accOff) sets.set('offline', { stats: accOff.finish(), features: join(keptOff) });
    return { sets, logits: join(keptLogits), count };
  } finally {
    accFid?.dispose();
    accOff?.dispose();
    for (const t of [...keptFid, ...keptOff, ...keptLogits]) t.dispose();
  }
}

export interface ScoreOptions {
  kid?: KidOptions | undefined;
  /** Inception-score splits (default 10, fewer when there are fewer than 10 images per split). */
  isSplits?: number | undefined;
  /** Neighbourhood size of precision/recall (default 3). */
  prK?: number | undefined;
}

/** The scores, by JSON key. */
export type Scores = Record<string, number>;

function needSet(sets: Map<string, FeatureSet>, name: string, what: string, features: boolean): FeatureSet {
  const s = sets.get(name);
  if (!s) throw new FeatureStatsError(`${what}: the ${name === 'fid' ? 'FID Inception' : 'offline (mixed5)'} features are missing`);
  if (features && !s.features)
    throw new FeatureStatsError(`${what}: needs the ${name} features themselves, not only their statistics (save the reference with its features)`);
  return s;
}

/** Computes the requested metrics of `samples` against `reference`. */
export function scoreFeatures(
  metrics: readonly MetricName[],
  samples: ExtractedFeatures,
  reference: Map<string, FeatureSet> | null,
  o: ScoreOptions = {},
): Scores {
  const out: Scores = {};
  const ref = (m: string, set: string, features: boolean): FeatureSet => {
    if (!reference) throw new FeatureStatsError(`${m}: needs a reference`);
    return needSet(reference, set, `${m} (reference)`, features);
  };
  for (const m of metrics) {
    switch (m) {
      case 'fid':
        out.fid = frechetDistance(needSet(samples.sets, 'fid', m, false).stats, ref(m, 'fid', false).stats);
        break;
      case 'is': {
        if (!samples.logits) throw new FeatureStatsError('is: logits were not collected');
        const n = samples.logits.shape[0]!;
        const is = inceptionScore(samples.logits, Math.min(o.isSplits ?? 10, Math.max(1, Math.floor(n / 2))));
        out.is_mean = is.mean;
        out.is_std = is.std;
        break;
      }
      case 'pr': {
        const pr = precisionRecall(ref(m, 'fid', true).features!, needSet(samples.sets, 'fid', m, true).features!, { k: o.prK ?? 3 });
        out.precision = pr.precision;
        out.recall = pr.recall;
        break;
      }
      case 'kid': {
        const kid = kernelInceptionDistance(ref(m, 'fid', true).features!, needSet(samples.sets, 'fid', m, true).features!, o.kid);
        out.kid_mean = kid.mean;
        out.kid_std = kid.std;
        out.kid_subset_size = kid.subsetSize;
        break;
      }
      case 'fd-mixed5':
        out.fd_mixed5 = frechetDistance(needSet(samples.sets, 'offline', m, false).stats, ref(m, 'offline', false).stats);
        break;
      case 'kid-mixed5': {
        const kid = kernelInceptionDistance(ref(m, 'offline', true).features!, needSet(samples.sets, 'offline', m, true).features!, o.kid);
        out.kid_mixed5_mean = kid.mean;
        out.kid_mixed5_std = kid.std;
        out.kid_mixed5_subset_size = kid.subsetSize;
        break;
      }
    }
  }
  return out;
}

/** Frees the tensors of extracted features or a loaded reference. */
export function disposeFeatures(x: ExtractedFeatures | Map<string, FeatureSet> | null): void {
  if (!x) return;
  const sets = x instanceof Map ? x : x.sets;
  for (const s of sets.values()) s.features?.dispose();
  if (!(x instanceof Map)) x.logits?.dispose();
}
