/**
 * The one file that loads the native addon and declares its interface. Nothing else in the
 * project touches the `.node` file.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TensorHandle, GeneratorHandle } from './handles.js';
import { type GeneratedOps, generatedOpNames } from './ops.generated.js';

/** Facts about the libtorch the addon was built against. */
export interface BuildInfo {
  torchVersion: string;
  /** True when a GPU is usable: a CUDA libtorch and at least one visible device. */
  cuda: boolean;
  /** True when the addon runs on a libtorch built with CUDA, whether or not a GPU is visible. */
  cudaBuilt: boolean;
  /** That libtorch's CUDA runtime version (major * 1000 + minor * 10, e.g. 13020), 0 without CUDA. */
  cudaRuntimeVersion: number;
  cudaDeviceCount: number;
  scaledDotProductAttention: boolean;
  cxx11Abi: boolean;
  parallelInfo: string;
  /** True when the addon fixed glibc's malloc thresholds at load (see native/binding.cc, "Heap tuning"). */
  mallocTuned: boolean;
}

/** The hand-written entry points of native/binding.cc. */
export interface CoreOps {
  dispose(t: TensorHandle): boolean;
  liveTensors(): number;
  shape(t: TensorHandle): number[];
  dtype(t: TensorHandle): number;
  device(t: TensorHandle): string;
  fromBuffer(data: ArrayBufferView, dtype: number, shape: number[], device: string): TensorHandle;
  toBuffer(t: TensorHandle): ArrayBuffer;
  scalarTensor(value: number, dtype: number, device: string): TensorHandle;
  generatorNew(device: string, seed: number): GeneratorHandle;
  defaultGenerator(device: string): GeneratorHandle;
  generatorManualSeed(g: GeneratorHandle, seed: number): void;
  generatorGetState(g: GeneratorHandle): TensorHandle;
  generatorSetState(g: GeneratorHandle, state: TensorHandle): void;
  manualSeed(seed: number): void;
  setGradEnabled(enabled: boolean): boolean;
  isGradEnabled(): boolean;
  /** Autocast state per device type (src/tensor/autocast.ts); each setter returns the previous value. */
  autocastSetEnabled(deviceType: 'cpu' | 'cuda', enabled: boolean): boolean;
  autocastIsEnabled(deviceType: 'cpu' | 'cuda'): boolean;
  autocastSetDtype(deviceType: 'cpu' | 'cuda', dtype: number): number;
  autocastGetDtype(deviceType: 'cpu' | 'cuda'): number;
  autocastEnterRegion(): number;
  autocastExitRegion(): number;
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  cudaSynchronize(): void;
  /** torch.backends.cudnn.allow_tf32 (default true); returns the previous value. */
  setAllowTF32CuDNN(allow: boolean): boolean;
  buildInfo(): BuildInfo;
}

declare const distGroupBrand: unique symbol;
declare const distReducerBrand: unique symbol;
/** A c10d process group owned by JS (native/distributed.cc). */
export type DistGroupHandle = { readonly [distGroupBrand]: true };
/** The bucketed gradient all-reduce over a parameter list (native/distributed.cc). */
export type DistReducerHandle = { readonly [distReducerBrand]: true };

/** The entry points of native/distributed.cc (libtorch's c10d). Without c10d they all throw one message. */
export interface DistributedOps {
  distInfo(): { c10d: boolean; gloo: boolean; nccl: boolean };
  /** `agentStoreAttempt`: -1, or torchrun's restart count when its agent hosts the store. */
  distInit(
    masterAddr: string,
    masterPort: number,
    rank: number,
    worldSize: number,
    timeoutMs: number,
    backend: 'gloo' | 'nccl',
    agentStoreAttempt: number,
  ): DistGroupHandle;
  distClose(group: DistGroupHandle): void;
  distStoreSet(group: DistGroupHandle, key: string, value: string): void;
  distStoreGet(group: DistGroupHandle, key: string): string;
  distBroadcast(group: DistGroupHandle, tensors: TensorHandle[], root: number): void;
  distAllReduceSum(group: DistGroupHandle, tensors: TensorHandle[]): void;
  distBarrier(group: DistGroupHandle): void;
  distReducerNew(group: DistGroupHandle, params: TensorHandle[], bucketCapBytes: number): DistReducerHandle;
  distReducerArm(reducer: DistReducerHandle): void;
  distReducerFinish(reducer: DistReducerHandle): void;
  distReducerBuckets(reducer: DistReducerHandle): number[][];
  distReducerClose(reducer: DistReducerHandle): void;
}

export type NativeAddon = CoreOps & GeneratedOps & DistributedOps & { readonly sourceHash: string };

/**
 * Every hand-written entry point this file declares (a Record, so the compiler keeps it complete):
 * the loader checks the addon has each, so that an addon older than the TypeScript stops at load
 * with one line, not later with "native.X is not a function".
 */
const handWritten: Record<keyof CoreOps | keyof DistributedOps, true> = {
  dispose: true,
  setAllowTF32CuDNN: true,
  liveTensors: true,
  shape: true,
  dtype: true,
  device: true,
  fromBuffer: true,
  toBuffer: true,
  scalarTensor: true,
  generatorNew: true,
  defaultGenerator: true,
  generatorManualSeed: true,
  generatorGetState: true,
  generatorSetState: true,
  manualSeed: true,
  setGradEnabled: true,
  isGradEnabled: true,
  autocastSetEnabled: true,
  autocastIsEnabled: true,
  autocastSetDtype: true,
  autocastGetDtype: true,
  autocastEnterRegion: true,
  autocastExitRegion: true,
  setNumThreads: true,
  getNumThreads: true,
  cudaSynchronize: true,
  buildInfo: true,
  distInfo: true,
  distInit: true,
  distClose: true,
  distStoreSet: true,
  distStoreGet: true,
  distBroadcast: true,
  distAllReduceSum: true,
  distBarrier: true,
  distReducerNew: true,
  distReducerArm: true,
  distReducerFinish: true,
  distReducerBuckets: true,
  distReducerClose: true,
};

function packageRoot(): string {
  // dist/src/tensor/native.js -> package root three levels up; src/tensor/native.ts -> two.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('consistency-ts: cannot find the package root');
}

/** The fingerprint of `sources` by the function the build script compiles into the addon (scripts/native-source-hash.cjs). */
function nativeSourceHash(root: string, sources: string): string {
  const hasher = createRequire(import.meta.url)(join(root, 'scripts', 'native-source-hash.cjs')) as { nativeSourceHash: (dir: string) => string };
  return hasher.nativeSourceHash(sources);
}

function load(): NativeAddon {
  const root = packageRoot();
  const file = process.env.CONSISTENCY_NATIVE_ADDON ?? join(root, 'build', 'Release', 'consistency_native.node');
  if (!existsSync(file)) {
    throw new Error(
      `consistency-ts: the native addon ${file} is not built. Run 'npm install' (or 'npm run build:native'); ` +
        "it needs libtorch: set LIBTORCH, install torch for python3, or install Debian's libtorch-dev (scripts/setup.sh).",
    );
  }
  const rebuild = "run 'npm run build:native'";
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(file);
  } catch (e) {
    // e.g. an undefined symbol: built against another libtorch than the one it now finds.
    const first = (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
    throw new Error(`consistency-ts: cannot load the native addon ${file} (${first}); ${rebuild}`, { cause: e });
  }
  const exported = (typeof loaded === 'object' && loaded !== null ? loaded : {}) as Record<string, unknown>;
  const missing = [...Object.keys(handWritten), ...generatedOpNames].filter((n) => typeof exported[n] !== 'function');
  if (missing.length > 0) {
    const more = missing.length > 5 ? ` and ${missing.length - 5} more` : '';
    throw new Error(`consistency-ts: the native addon ${file} is out of date (it lacks ${missing.slice(0, 5).join(', ')}${more}); ${rebuild}`);
  }
  // The sources the package ships beside dist/ (package.json "files"); an addon built from others
  // may have every entry point and still disagree with this TypeScript on what they do.
  const sources = join(root, 'native');
  if (existsSync(sources) && exported['sourceHash'] !== nativeSourceHash(root, sources)) {
    throw new Error(`consistency-ts: the native addon ${file} is out of date (built from other sources than ${sources}); ${rebuild}`);
  }
  return exported as unknown as NativeAddon;
}

/** The loaded addon. */
export const native: NativeAddon = load();
