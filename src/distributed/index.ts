/** Data-parallel training on libtorch's c10d (issue 10). */
export { ProcessGroup, DistributedError, distributedSupport, type ProcessGroupOptions } from './process-group.js';
export { DataParallelGradientSync, broadcastTensors, DEFAULT_BUCKET_CAP_BYTES } from './gradient-sync.js';
export { tensorChecksums, checkReplicasAgree } from './checksum.js';
export {
  distributedEnvFrom,
  takeLaunchFlags,
  DEFAULT_MASTER_PORT,
  DEFAULT_DIST_TIMEOUT_S,
  LAUNCH_FLAG_HELP,
  type DistributedEnv,
  type LaunchFlags,
} from './env.js';
export { DataParallelRun, DEFAULT_CHECK_EVERY, projectVersion, type TrainingReplicas } from './run.js';
export { launch, freePort, defaultThreadsPerWorker, type LaunchOptions, type LaunchResult } from './launch.js';
