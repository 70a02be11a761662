/** Sample-quality metrics: every public name of src/metrics (src/index.ts re-exports them): scores/, feature-nets/, evaluation/. */
export { FeatureStatsAccumulator, featureStats, frechetDistance, frechetDistanceParts, FeatureStatsError } from './scores/frechet.js';
export type { FeatureStats, FrechetParts } from './scores/frechet.js';
export { inceptionScore } from './scores/inception-score.js';
export type { InceptionScore } from './scores/inception-score.js';
export { precisionRecall, manifoldRadii, insideManifold } from './scores/precision-recall.js';
export type { PrecisionRecall, PrecisionRecallOptions } from './scores/precision-recall.js';
export { kernelInceptionDistance, polynomialMmd2 } from './scores/kid.js';
export type { KernelInceptionDistance, KidOptions } from './scores/kid.js';
export { FidInceptionV3, avgPool2dExcludePad, isUnusedInceptionKey } from './feature-nets/inception.js';
export type { InceptionOutputs, InceptionInitOptions } from './feature-nets/inception.js';
export {
  FID_WEIGHTS_URL,
  FID_WEIGHTS_FILE,
  FID_WEIGHTS_SHA256_PREFIX,
  FID_FEATURE,
  InceptionWeightsError,
  metricsCacheDir,
  sha256Prefix,
  resolveFidWeights,
  loadInceptionWeights,
  loadFidInception,
} from './feature-nets/inception-weights.js';
export type { ResolveWeightsOptions, LoadFidInceptionOptions, LoadedFidInception } from './feature-nets/inception-weights.js';
export { saveReference, loadReference, loadNpzStats } from './evaluation/reference.js';
export type { FeatureSet } from './evaluation/reference.js';
export { openImageSource, arraySource, datasetSource, uint8ToUnitImages, generatedToUint8, isNhwc, parseDatasetSplit } from './evaluation/images.js';
export type { ImageBatchSource, OpenImagesOptions } from './evaluation/images.js';
export { METRIC_NAMES, isMetricName, featureNeeds, extractFeatures, scoreFeatures, disposeFeatures } from './evaluation/evaluate.js';
export type { MetricName, FeatureNeeds, FeatureNetworks, ExtractOptions, ExtractedFeatures, ScoreOptions, Scores } from './evaluation/evaluate.js';
export {
  OfflineFeatureNet,
  OfflineModelError,
  locateNsfwjsModel,
  readNsfwjsModel,
  integrityOf,
  NSFWJS_VERSION,
  NSFWJS_INTEGRITY,
  NSFWJS_TARBALL,
  OFFLINE_FEATURE,
  OFFLINE_LAYER,
} from './feature-nets/offline.js';
export type { OfflineModelOptions, NsfwjsModelFiles } from './feature-nets/offline.js';
export { KerasGraph, KerasModelError, decodeWeights } from './feature-nets/keras-graph.js';
export type { WeightSpec, WeightsGroup } from './feature-nets/keras-graph.js';
export { parseJsLiteral, JsLiteralError } from './feature-nets/js-literal.js';
export { createProgress } from './evaluation/progress.js';
export type { Progress } from './evaluation/progress.js';
