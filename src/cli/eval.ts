/**
 * `consistency eval`: sample-quality metrics of a set of images (or of samples drawn from a
 * checkpoint) against a reference, printed as one JSON line on stdout; progress on stderr.
 *
 *   consistency eval --images DIR_OR_FILE --ref REF [--metrics fid,is,pr,kid] [--batch 50]
 *   consistency eval --ckpt FILE --n 50000 --steps 1 --ref cifar10-train [--precision bf16] [--channels-last]
 *
 * --precision and --channels-last apply to the generator network's passes (as in `sample`); the
 * feature networks (Inception, the offline network) always run in float32.
 *
 * REF is a reference file (.safetensors written with --save-ref, or numpy FID statistics .npz
 * with mu and sigma) or an image source (folder, .npz / .safetensors of uint8 images, or a dataset
 * split such as cifar10-train). --save-ref FILE stores the reference's features once for reuse.
 */
import type { Command } from './command.js';
import { parseFlags, helpText, UsageError, str, num, list, bool, type FlagSpecs } from './args.js';
import { PRECISION_FLAGS, applyThreadsFlag, precisionFlag } from './common.js';
import type { Precision } from '../tensor/autocast.js';
import { cudaAvailable } from '../tensor/device.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { loadFidInception } from '../metrics/feature-nets/inception-weights.js';
import { OfflineFeatureNet } from '../metrics/feature-nets/offline.js';
import { generatedToUint8, openImageSource, uint8ToUnitImages, type ImageBatchSource } from '../metrics/evaluation/images.js';
import { generateImagesFromCheckpoint, type ImageBatch } from '../train/generate.js';
import { loadReference, saveReference, type FeatureSet } from '../metrics/evaluation/reference.js';
import {
  METRIC_NAMES,
  isMetricName,
  featureNeeds,
  extractFeatures,
  scoreFeatures,
  disposeFeatures,
  type MetricName,
  type FeatureNetworks,
  type ExtractedFeatures,
} from '../metrics/evaluation/evaluate.js';

const NAME = 'consistency eval';
const USAGE = `${NAME} (--images DIR_OR_FILE | --ckpt FILE --n N [--steps 1|2]) --ref REF [--metrics fid,is,pr,kid] [flags]`;
const SUMMARY = 'sample quality (FID, Inception score, precision/recall, KID; offline FD-mixed5) as one JSON line';

const FLAGS: FlagSpecs = {
  images: {
    kind: 'string',
    help: 'images to evaluate: a folder of PNG/JPEG, an .npz or .safetensors of uint8 images, or a dataset split (cifar10-test)',
  },
  ckpt: { kind: 'string', help: 'sample the images from this checkpoint instead (with --n and --steps)' },
  n: { kind: 'int', help: 'number of images to sample from --ckpt', default: 50000 },
  steps: { kind: 'int', help: 'sampling steps for --ckpt (1 or 2)', default: 1 },
  ref: {
    kind: 'string',
    help: 'reference: a file saved with --save-ref, numpy FID statistics (.npz with mu, sigma), or an image source (folder, .npz, .safetensors, cifar10-train)',
  },
  metrics: { kind: 'list', help: `comma-separated: ${METRIC_NAMES.join(', ')}`, default: 'fid' },
  'inception-weights': {
    kind: 'string',
    help: 'the FID Inception weights file (pt_inception-2015-12-05-6726825d.pth or a .safetensors of it); default: cache, downloaded on first use',
  },
  'offline-model': {
    kind: 'string',
    help: 'the nsfwjs package, its tarball or its inception_v3 folder (for fd-mixed5, kid-mixed5); default: node_modules, cache, npm pack',
  },
  'offline-size': { kind: 'int', help: 'input side length of the offline network', default: 299 },
  batch: { kind: 'int', help: 'images per forward pass', default: 50 },
  device: { kind: 'string', help: 'where the networks run', choices: ['cpu', 'cuda'], default: 'cpu' },
  limit: { kind: 'int', help: 'use at most this many images of --images and of an image --ref' },
  data: { kind: 'string', help: 'where a dataset named in --images/--ref is (its archive or folder); default: the dataset cache' },
  'save-ref': {
    kind: 'string',
    help: "write the reference's statistics to this .safetensors file (with features when pr/kid need them) for reuse as --ref",
  },
  'ref-features': {
    kind: 'boolean',
    help: 'with --save-ref: also store the features (needed by pr, kid, kid-mixed5); default: when those metrics are asked for',
  },
  'kid-subsets': { kind: 'int', help: 'KID: number of random subsets', default: 100 },
  'kid-subset-size': { kind: 'int', help: 'KID: images per subset (capped at the smaller set)', default: 1000 },
  ...PRECISION_FLAGS,
  threads: { kind: 'int', help: 'intra-op CPU threads (default: libtorch default)' },
  quiet: { kind: 'boolean', help: 'no progress lines on stderr' },
};

/**
 * Generated batches in [-1, 1] as an image source in [0, 1], rounded to 8 bits first as the official
 * pipelines do (generatedToUint8), then read like uint8 images from a file. The first batch is drawn
 * at once, so a checkpoint that cannot be sampled fails before any reference features are computed.
 */
async function startCheckpointSource(
  ckpt: string,
  n: number,
  steps: number,
  batch: number,
  network: { precision: Precision; channelsLast: boolean },
): Promise<ImageBatchSource> {
  const it = generateImagesFromCheckpoint(ckpt, n, steps, batch, network)[Symbol.asyncIterator]();
  const first = await it.next();
  const toUnit = (b: ImageBatch) => uint8ToUnitImages(generatedToUint8(b.data), b.shape, false);
  const how = [network.precision === 'fp32' ? '' : network.precision, network.channelsLast ? 'channels-last' : ''].filter(Boolean);
  return {
    label: `${ckpt} (${n} samples, ${steps} step${steps === 1 ? '' : 's'}${how.length ? `, ${how.join(', ')}` : ''})`,
    count: n,
    async *batches() {
      if (first.done) return;
      yield toUnit(first.value);
      for (let r = await it.next(); !r.done; r = await it.next()) yield toUnit(r.value);
    },
  };
}

/** True when a .safetensors file is a reference file (has '<set>/mu' tensors), not images. */
function isReferenceFile(path: string): boolean {
  if (path.endsWith('.npz')) return false;
  if (!path.endsWith('.safetensors')) return false;
  return readSafetensorsHeader(path).tensors.some((t) => t.name.endsWith('/mu'));
}

/** True when an .npz holds FID statistics (mu, sigma) rather than images. */
async function isNpzStats(path: string): Promise<boolean> {
  if (!path.endsWith('.npz')) return false;
  const { NpzFile } = await import('../data/npz.js');
  const f = NpzFile.open(path);
  try {
    return f.has('mu') || f.has('mu.npy');
  } finally {
    f.close();
  }
}

async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(helpText(USAGE, SUMMARY, FLAGS));
    return 0;
  }
  const f = parseFlags(NAME, argv, FLAGS);
  if (f._.length > 0) throw new UsageError(`${NAME}: unexpected argument '${f._[0]}' (usage: ${USAGE})`);
  const images = str(f, 'images');
  const ckpt = str(f, 'ckpt');
  const refSpec = str(f, 'ref');
  if ((images === undefined) === (ckpt === undefined)) throw new UsageError(`${NAME}: give exactly one of --images and --ckpt (usage: ${USAGE})`);
  if (refSpec === undefined) throw new UsageError(`${NAME}: --ref is required (usage: ${USAGE})`);
  const metricList = list(f, 'metrics') ?? ['fid'];
  const bad = metricList.find((m) => !isMetricName(m));
  if (bad !== undefined) throw new UsageError(`${NAME}: unknown metric '${bad}' (one of ${METRIC_NAMES.join(', ')})`);
  const metrics = [...new Set(metricList)] as MetricName[];
  if (metrics.length === 0) throw new UsageError(`${NAME}: --metrics is empty`);
  const batch = num(f, 'batch')!;
  const steps = num(f, 'steps')!;
  const n = num(f, 'n')!;
  if (batch < 1) throw new UsageError(`${NAME}: --batch must be at least 1; got ${batch}`);
  if (steps !== 1 && steps !== 2) throw new UsageError(`${NAME}: --steps must be 1 or 2; got ${steps}`);
  if (n < 2) throw new UsageError(`${NAME}: --n must be at least 2; got ${n}`);
  const limit = num(f, 'limit');
  if (limit !== undefined && limit < 2) throw new UsageError(`${NAME}: --limit must be at least 2; got ${limit}`);
  const device = str(f, 'device')!;
  if (device === 'cuda' && !cudaAvailable()) throw new UsageError(`${NAME}: --device cuda, but this build of libtorch sees no CUDA device`);
  const precision = precisionFlag(NAME, f, device);
  const channelsLast = bool(f, 'channelsLast');
  if (images !== undefined && (precision !== 'fp32' || channelsLast))
    throw new UsageError(`${NAME}: --precision and --channels-last set how --ckpt's generator runs; with --images there is no generator`);
  applyThreadsFlag(NAME, num(f, 'threads'), 'at least 1');
  const quiet = bool(f, 'quiet');
  const log = (m: string) => {
    if (!quiet) process.stderr.write(`${m}\n`);
  };
  const warn = (m: string) => process.stderr.write(`warning: ${m}\n`);
  const needs = featureNeeds(metrics);
  const started = performance.now();

  // The samples first: a checkpoint that cannot be sampled fails before any slow work.
  const samples =
    images !== undefined
      ? await openImageSource(images, { limit, data: str(f, 'data'), warn })
      : await startCheckpointSource(ckpt!, n, steps, batch, { precision, channelsLast });

  // ---- the reference: a saved file, or images to run through the networks ----
  let reference: Map<string, FeatureSet> | null = null;
  let refImages: ImageBatchSource | null = null;
  if (isReferenceFile(refSpec) || (await isNpzStats(refSpec))) {
    if (str(f, 'saveRef') !== undefined)
      throw new UsageError(`${NAME}: --save-ref needs an image source as --ref, and ${refSpec} is already a reference file`);
    reference = loadReference(refSpec);
    // Check what the metrics need before any slow work.
    const has = (set: string, features: boolean) => reference!.has(set) && (!features || reference!.get(set)!.features !== null);
    const missing = [
      needs.fid && !has('fid', needs.fidFeatures) ? `the FID Inception ${needs.fidFeatures ? 'features (for pr/kid)' : 'statistics'}` : '',
      needs.offline && !has('offline', needs.offlineFeatures)
        ? `the offline mixed5 ${needs.offlineFeatures ? 'features (for kid-mixed5)' : 'statistics'}`
        : '',
    ].filter(Boolean);
    if (missing.length) {
      disposeFeatures(reference);
      throw new UsageError(
        `${NAME}: ${refSpec} lacks ${missing.join(' and ')} that --metrics ${metrics.join(',')} need; make it with --save-ref (and --ref-features), or pass the reference images as --ref`,
      );
    }
  } else {
    refImages = await openImageSource(refSpec, { limit, data: str(f, 'data'), warn });
  }

  // ---- the networks ----
  const nets: FeatureNetworks = {};
  let extractedRef: ExtractedFeatures | null = null;
  let extracted: ExtractedFeatures | null = null;
  try {
    if (needs.fid) {
      const loaded = await loadFidInception({ path: str(f, 'inceptionWeights'), device, log, warn });
      nets.fid = { net: loaded.net, feature: loaded.feature };
      log(`FID Inception: ${loaded.weightsPath}`);
    }
    if (needs.offline) {
      nets.offline = OfflineFeatureNet.load({ model: str(f, 'offlineModel'), device, inputSize: num(f, 'offlineSize'), log, warn });
      log(`offline network: ${nets.offline.source} (${nets.offline.feature})`);
    }
    if (refImages) {
      const saveRef = str(f, 'saveRef');
      const keepFeatures = saveRef !== undefined && f['refFeatures'] === true;
      extractedRef = await extractFeatures(refImages, nets, {
        batch,
        device,
        logits: false,
        progressLabel: quiet ? null : `reference ${refImages.label}`,
        keep: { fid: needs.fidFeatures || (keepFeatures && needs.fid), offline: needs.offlineFeatures || (keepFeatures && needs.offline) },
      });
      reference = extractedRef.sets;
      if (saveRef !== undefined) {
        saveReference(saveRef, reference, { source: refImages.label });
        log(`saved the reference statistics of ${refImages.label} to ${saveRef}`);
      }
    }
    extracted = await extractFeatures(samples, nets, {
      batch,
      device,
      logits: needs.logits,
      progressLabel: quiet ? null : `samples ${samples.label}`,
      keep: { fid: needs.fidFeatures, offline: needs.offlineFeatures },
    });
    const scores = scoreFeatures(metrics, extracted, reference, {
      kid: { subsets: num(f, 'kidSubsets'), subsetSize: num(f, 'kidSubsetSize') },
    });
    const refCount = reference?.get('fid')?.stats.count ?? reference?.get('offline')?.stats.count ?? null;
    const result = {
      images: samples.label,
      count: extracted.count,
      ref: refSpec,
      ref_count: refCount,
      ...scores,
      features: Object.fromEntries([...extracted.sets].map(([k, v]) => [k, v.stats.feature])),
      device,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    };
    console.log(JSON.stringify(result));
    return 0;
  } finally {
    disposeFeatures(extracted);
    disposeFeatures(extractedRef ?? reference);
    nets.fid?.net.dispose();
    nets.offline?.dispose();
  }
}

const command: Command = { summary: SUMMARY, run };
export default command;
