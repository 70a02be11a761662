/**
 * Fashion-MNIST (Zalando; 60,000 training and 10,000 test 28x28 gray images of clothes) from a
 * folder of the four IDX files, gzipped or not. The default folder is where Debian's
 * `dataset-fashion-mnist` package installs them.
 */
import { existsSync, statSync } from 'node:fs';
import { DataError, type ImageDataset, type Split } from './types.js';
import { idxPairPaths, loadIdxDataset } from './mnist.js';

/** Where `apt-get install dataset-fashion-mnist` puts the files. */
export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

/** Class names in label order. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export interface FashionMnistOptions {
  split?: Split;
  /** Pad 28x28 to 32x32 with 2 zero pixels on each side. Default false. */
  pad32?: boolean;
  /** Folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; default FASHION_MNIST_DEFAULT_DIR. */
  dir?: string;
}

/** Loads Fashion-MNIST. */
export function loadFashionMnist(opts: FashionMnistOptions = {}): ImageDataset {
  const dir = opts.dir ?? FASHION_MNIST_DEFAULT_DIR;
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    /* reported below */
  }
  if (!isDir) {
    const hint = opts.dir === undefined ? " (install it with 'apt-get install dataset-fashion-mnist' or pass --data FOLDER)" : '';
    throw new DataError(`${dir}: Fashion-MNIST folder not found${hint}`);
  }
  const [images, labels] = idxPairPaths(dir, opts.split ?? 'train', existsSync);
  const ds = loadIdxDataset('fashion-mnist', images, labels, opts.pad32 ?? false);
  ds.classNames = FASHION_MNIST_CLASSES.slice();
  return ds;
}
