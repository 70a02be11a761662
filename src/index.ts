/**
 * consistency-ts: consistency models (iCT, Song & Dhariwal 2023) trained and sampled from
 * TypeScript on libtorch. The package root re-exports each module's public names, from that
 * module's index where it has one.
 */
export { InputError } from './util/input-error.js';
export * from './tensor/index.js';
export {
  loadSafetensors,
  saveSafetensors,
  parseSafetensors,
  serializeSafetensors,
  readSafetensorsHeader,
  SafetensorsError,
  type LoadedSafetensors,
  type SafetensorsHeader,
  type TensorInfo,
} from './io/safetensors.js';
export { writeFileAtomic, FileWriteError } from './io/atomic.js';
export { type JsonValue, type JsonObject, isJsonObject } from './util/json.js';
export { formatDuration } from './util/format-duration.js';
export * from './nn/index.js';

// The consistency method: schedules and scalings (docs/method.md sections 1-3), presets.
export {
  karrasSigmas,
  ictDiscretizationSteps,
  ctDiscretizationSteps,
  ctTeacherEmaRate,
  lognormalLevelProbabilities,
  uniformLevelProbabilities,
  ictLevelWeights,
  constantLevelWeights,
  sampleLevelIndex,
  sampleLevelIndices,
  levelSchedule,
  type LevelSchedule,
  type KarrasOptions,
  type CurriculumOptions,
  type TeacherEmaOptions,
  type LognormalOptions,
} from './method/schedules.js';
export { consistencyScalings, pseudoHuberC, type NoiseEmbedding, type ScalingOptions, type ConsistencyScalings } from './method/scalings.js';
export { erf, erfc } from './method/erf.js';
export {
  methodPreset,
  METHOD_NAMES,
  type MethodConfig,
  type MethodOverrides,
  type MethodName,
  type TeacherKind,
  type CurriculumKind,
  type LevelsKind,
  type WeightingKind,
  type MetricKind,
  type CurriculumConfig,
  type LevelsConfig,
  type MetricConfig,
} from './method/presets.js';

// Data and images.
export {
  loadDataset,
  DATASET_NAMES,
  type DatasetName,
  type LoadDatasetOptions,
  DataError,
  type ImageDataset,
  type Split,
  BatchLoader,
  type Batch,
  type LoaderState,
  loadMnist,
  loadFashionMnist,
  loadCifar10,
  loadImagenet64,
  loadImageFolder,
} from './data/index.js';
export {
  encodePng,
  writePng,
  makeGrid,
  gridPng,
  writeGridPng,
  renderPlot,
  plotPng,
  writePlotPng,
  type GridOptions,
  type PlotSeries,
  type PlotOptions,
} from './image/index.js';

// Sample quality: FID network, Frechet distance, IS, precision/recall, KID, offline FD-mixed5.
export * from './metrics/index.js';
export { loadTorchCheckpoint, parseTorchCheckpoint, TorchCheckpointError, type TorchCheckpointOptions } from './io/torch-checkpoint.js';

// Networks: NCSN++ (SongUNet), ADM (DhariwalUNet), presets.
export * from './networks/index.js';

// The consistency method: consistency function, metrics, loss, EMA, training step, samplers, editing.
export { ConsistencyDenoiser, type ConsistencyNetwork, type DenoiserOptions, type SigmaInput } from './method/denoiser.js';
export {
  pseudoHuberDistance,
  squaredL2Distance,
  l1Distance,
  sampleDistance,
  METRIC_KINDS,
  type SampleDistance,
  type LearnedMetric,
  type SampleDistanceOptions,
} from './method/metrics.js';
export {
  ConsistencyLoss,
  type ConsistencyLossOptions,
  type ConsistencyLossInputs,
  type ConsistencyLossResult,
  type ScheduledLevels,
  type ExplicitLevels,
} from './method/loss.js';
export { ExponentialMovingAverage, emaUpdate, emaRate, powerEmaGamma, type EmaSchedule } from './method/ema.js';
export {
  sampleOneStep,
  sampleMultistep,
  multistepLoop,
  twoStepLevels,
  TWO_STEP_SECOND_LEVEL,
  checkLevels,
  type SamplerOptions,
  type MultistepLoopOptions,
} from './method/samplers.js';
export { inpaint, colorize, superResolve, slerp, interpolateNoises, colorTransform, LUMA_WEIGHTS } from './method/editing.js';

// Optimizers.
export { Adam, type AdamOptions } from './optim/adam.js';
export { RAdam, type RAdamOptions } from './optim/radam.js';
export { AdamFamily, type Optimizer, type MomentState } from './optim/optimizer.js';
export { clipGradNorm, gradNorm } from './optim/clip.js';
export { LossScaler, type LossScalerOptions } from './optim/loss-scaler.js';

// Training from code: the trainer loop, run configs, checkpoints, progress, metrics log, sampling
// from checkpoints.
export * from './train/index.js';

// ONNX export of a trained model's consistency function (the libtorch-free runtime is the 'consistency-ts/generate' subpath).
export { exportConsistencyOnnx, METADATA_KEYS, type OnnxExportOptions } from './export/export.js';
