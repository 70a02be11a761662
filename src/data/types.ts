/**
 * Shared types of the data layer. Everything here is plain typed arrays: the training code turns
 * them into tensors later, so nothing in src/data or src/image depends on the tensor engine.
 */
import { oneLine } from '../io/one-line.js';
import { InputError } from '../util/input-error.js';

/** Which half of a dataset to load. */
export type Split = 'train' | 'test';

/** A whole image dataset in memory. */
export interface ImageDataset {
  /** Short name, e.g. 'mnist', 'cifar10', 'folder'. */
  name: string;
  /** Number of images (N). */
  count: number;
  /** Channels per image (C): 1 for gray, 3 for RGB. */
  channels: number;
  /** Image height in pixels (H). */
  height: number;
  /** Image width in pixels (W). */
  width: number;
  /** Number of classes; 0 when the dataset has no labels. */
  numClasses: number;
  /** N*C*H*W bytes, NCHW order (planar channels), values 0..255. */
  images: Uint8Array;
  /** N labels in 0..numClasses-1, or null for unlabelled data. */
  labels: Int32Array | null;
  /** Class names in label order, when the dataset provides them. */
  classNames?: string[];
}

/**
 * A problem with input data: a missing, truncated or corrupt file. The message is one line that
 * names the file and says what is wrong. The CLI prints it and exits with code 2.
 */
export class DataError extends InputError {
  override name = 'DataError';
  /** The message is made one printable line (it may quote what the file holds). */
  constructor(message: string) {
    super(oneLine(message));
  }
}

/** Where warnings go (default: one line on stderr). Injectable so tests can capture them. */
export type WarnFn = (message: string) => void;

/** The default warning sink: one line on stderr. */
export const warnToStderr: WarnFn = (message) => {
  process.stderr.write(`warning: ${message}\n`);
};

/** Bytes of one image: C*H*W. */
export function imageSize(ds: Pick<ImageDataset, 'channels' | 'height' | 'width'>): number {
  return ds.channels * ds.height * ds.width;
}

/** Explains an unknown thrown value in a few words (for wrapping into a DataError). */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? String(err);
  return String(err);
}
