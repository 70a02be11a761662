/** Sample-quality metrics: every public name of src/metrics (the lead re-exports them from src/index.ts). */
export { FeatureStatsAccumulator, featureStats, frechetDistance, frechetDistanceParts, FeatureStatsError } from './frechet.js';
export type { FeatureStats, FrechetParts } from './frechet.js';
export { inceptionScore } from './inception-score.js';
export type { InceptionScore } from './inception-score.js';
export { precisionRecall, manifoldRadii, insideManifold } from './precision-recall.js';
export type { PrecisionRecall, PrecisionRecallOptions } from './precision-recall.js';
export { kernelInceptionDistance, polynomialMmd2 } from './kid.js';
export type { KernelInceptionDistance, KidOptions } from './kid.js';
export { FidInceptionV3, avgPool2dExcludePad, isUnusedInceptionKey } from './inception.js';
export type { InceptionOutputs, InceptionInitOptions } from './inception.js';
export {
  FID_WEIGHTS_URL, FID_WEIGHTS_FILE, FID_WEIGHTS_SHA256_PREFIX, FID_FEATURE, InceptionWeightsError,
  metricsCacheDir, sha256Prefix, resolveFidWeights, loadInceptionWeights, loadFidInception,
} from './inception-weights.js';
export type { ResolveWeightsOptions, LoadFidInceptionOptions, LoadedFidInception } from './inception-weights.js';
export { saveReference, loadReference, loadNpzStats } from './reference.js';
export type { FeatureSet } from './reference.js';
export { openImageSource, arraySource, datasetSource, uint8ToUnitImages, generatedToUint8, isNhwc, parseDatasetSplit } from './images.js';
export type { ImageBatchSource, OpenImagesOptions } from './images.js';
export { METRIC_NAMES, isMetricName, featureNeeds, extractFeatures, scoreFeatures, disposeFeatures } from './evaluate.js';
export type { MetricName, FeatureNeeds, FeatureNetworks, ExtractOptions, ExtractedFeatures, ScoreOptions, Scores } from './evaluate.js';
export {
  OfflineFeatureNet, OfflineModelError, locateNsfwjsModel, readNsfwjsModel, integrityOf,
  NSFWJS_VERSION, NSFWJS_INTEGRITY, NSFWJS_TARBALL, OFFLINE_FEATURE, OFFLINE_LAYER,
} from './offline.js';
export type { OfflineModelOptions, NsfwjsModelFiles } from './offline.js';
export { KerasGraph, KerasModelError, decodeWeights } from './keras-graph.js';
export type { WeightSpec, WeightsGroup } from './keras-graph.js';
export { parseJsLiteral, JsLiteralError } from './js-literal.js';
export type { JsonValue } from './js-literal.js';
export { generateImages, GenerationUnavailableError } from './generate.js';
export type { GeneratedBatch } from './generate.js';
export { createProgress } from './progress.js';
export type { Progress } from './progress.js';
