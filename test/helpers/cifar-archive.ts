/**
 * A small CIFAR-10-format archive written by the tests themselves, so that the CIFAR-10 reader is
 * tested on a user's fresh clone (which has no real CIFAR-10). The layout is the official
 * binary one: `cifar-10-batches-bin/data_batch_1..5.bin`, `test_batch.bin` and
 * `batches.meta.txt`, each record 1 label byte + 3072 pixel bytes (R, G, B planes). The tar.gz
 * is made by the system's GNU tar (an independent writer, not our reader's mirror image); the
 * content is seeded and returned, so a test can compare what the reader gives back byte for byte.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xorshift32 } from './xorshift.js';

export const CIFAR_RECORD_BYTES = 1 + 3 * 32 * 32;
export const CIFAR_BATCH_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'] as const;

/** One split as the reader should give it back: labels and NCHW uint8 pixels, in file order. */
export interface CifarSplitContent {
  labels: number[];
  images: Uint8Array;
}

export interface CifarArchive {
  /** The .tar.gz. */
  path: string;
  /** The extracted folder that holds `cifar-10-batches-bin/`. */
  extracted: string;
  train: CifarSplitContent;
  test: CifarSplitContent;
  classNames: string[];
}

export interface CifarArchiveOptions {
  /** Records in each of the five training batches (default 20: 100 training images, 10 per class). */
  perBatch?: number;
  /** Records in test_batch.bin (default 20). */
  testCount?: number;
  /** Seed of the pixel bytes (default 1). */
  seed?: number;
  /** Class names written to batches.meta.txt (default CIFAR-10's). */
  classNames?: string[];
}

const CIFAR_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** `count` records with labels 0..9 cycling from `firstLabel`, pixels from the generator. */
function records(count: number, firstLabel: number, next: () => number): { bytes: Uint8Array; content: CifarSplitContent } {
  const bytes = new Uint8Array(count * CIFAR_RECORD_BYTES);
  const labels: number[] = [];
  const images = new Uint8Array(count * (CIFAR_RECORD_BYTES - 1));
  for (let r = 0; r < count; r++) {
    const label = (firstLabel + r) % 10;
    labels.push(label);
    bytes[r * CIFAR_RECORD_BYTES] = label;
    for (let i = 0; i < CIFAR_RECORD_BYTES - 1; i++) {
      const v = Math.floor(next() * 256);
      bytes[r * CIFAR_RECORD_BYTES + 1 + i] = v;
      images[r * (CIFAR_RECORD_BYTES - 1) + i] = v;
    }
  }
  return { bytes, content: { labels, images } };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Writes `cifar-10-binary.tar.gz` (and its extracted folder) under `dir` with seeded content;
 * returns the paths and what each split must read back as.
 */
export function writeCifarArchive(dir: string, opts: CifarArchiveOptions = {}): CifarArchive {
  const perBatch = opts.perBatch ?? 20;
  const testCount = opts.testCount ?? 20;
  const classNames = opts.classNames ?? CIFAR_CLASS_NAMES;
  const next = xorshift32(opts.seed ?? 1);
  const extracted = join(dir, 'extracted');
  const folder = join(extracted, 'cifar-10-batches-bin');
  mkdirSync(folder, { recursive: true });
  const train: CifarSplitContent[] = [];
  CIFAR_BATCH_FILES.forEach((name, b) => {
    const { bytes, content } = records(perBatch, b, next);
    writeFileSync(join(folder, name), bytes);
    train.push(content);
  });
  const testRecords = records(testCount, 3, next);
  writeFileSync(join(folder, 'test_batch.bin'), testRecords.bytes);
  // The official file ends with an empty line after the ten names.
  writeFileSync(join(folder, 'batches.meta.txt'), `${classNames.join('\n')}\n\n`);
  const path = join(dir, 'cifar-10-binary.tar.gz');
  execFileSync('tar', ['czf', path, '-C', extracted, 'cifar-10-batches-bin']);
  return {
    path,
    extracted,
    train: { labels: train.flatMap((t) => t.labels), images: concat(train.map((t) => t.images)) },
    test: testRecords.content,
    classNames,
  };
}

/** A fresh temporary folder with a CIFAR-format archive in it; `dispose()` removes it. */
export function tempCifarArchive(opts: CifarArchiveOptions = {}): CifarArchive & { dir: string; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'consistency-cifar-archive-'));
  try {
    return { ...writeCifarArchive(dir, opts), dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
