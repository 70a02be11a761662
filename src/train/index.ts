/** Training from the command line and from code: the one training step, the trainer loop, checkpoints, progress, metrics log, sampling from checkpoints. */
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  CHECKPOINT_FILE,
  CheckpointError,
  resolveCheckpointPath,
  nonFiniteTensors,
  serializeCheckpoint,
  writeCheckpoint,
  readCheckpoint,
  readCheckpointConfig,
  disposeCheckpoint,
  checkpointGroup,
  trainingCheckpoint,
  restoreTrainingState,
  type Checkpoint,
  type TrainingState,
} from './checkpoint.js';
export { isJsonObject, type JsonValue, type JsonObject } from './json.js';
export { ProgressBar, formatDuration, formatLoss, type ProgressStream, type ProgressInfo, type ProgressOptions } from './progress.js';
export { MetricsLog, METRICS_FILE, parseMetrics, readMetrics, type MetricsRecord } from './metrics-log.js';
export {
  diffRunConfigs,
  runConfigToJson,
  imageShape,
  type RunConfig,
  type RuntimeConfig,
  type DataConfig,
  type OptimizerConfig,
  type TrainingConfig,
  type SamplingConfig,
} from './config.js';
export { defaultOptimizerFactory, type TrainOptimizer, type OptimizerFactory } from './optimizer.js';
export { Trainer, TrainSetupError, RUN_FILES, checkDataFitsConfig, dropoutSeed, type TrainerOptions, type TrainOutcome } from './trainer.js';
export {
  trainingStep,
  warmupLearningRate,
  type TrainingStepContext,
  type StepBatch,
  type TrainingStepResult,
  type TrainableNetwork,
  type StepOptimizer,
  type PhaseTimes,
} from './step.js';
export { type GradientSync, rankSlice } from './gradient-sync.js';
export { noiseSeed, levelUniform, levelIndicesFor, noiseFor } from './draws.js';
export { fixedNoise, oneAndTwoStepSamples, samplesGridPng, writeLossCurve, TrainingSamples, type FixedNoise } from './samples.js';
export { loadModel, samplingLevels, type LoadedModel, type WeightsKind } from './load-model.js';
export { sampleBatches, sampleImages, generateImagesFromCheckpoint, type SampleOptions, type ImageBatch } from './generate.js';
export { PRESET_NAMES, isPresetName, resolvePreset, runPreset, runPresetNames, buildNetwork, type PresetName, type RunPreset } from './presets.js';
