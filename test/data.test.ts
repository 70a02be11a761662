/**
 * Tests of src/data: the dataset readers (MNIST, Fashion-MNIST, CIFAR-10, IDX, tar, npz,
 * downsampled ImageNet, image folders), their error messages on corrupt input, and the seeded
 * resumable batch loader. CIFAR-10 is read from small CIFAR-format archives the tests write
 * (test/helpers/cifar-archive.ts); the real archive's checks are opt-in (test/opt-in/cifar10-real.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import {
  BatchLoader,
  CIFAR10_RECORD,
  DataError,
  FASHION_MNIST_DEFAULT_DIR,
  NpzFile,
  Xoshiro128,
  epochPermutation,
  loadCifar10,
  loadDataset,
  loadImageFolder,
  loadImagenet64,
  loadMnist,
  parseIdx,
  parseTar,
  readIdx,
  splitmix64,
  type ImageDataset,
  type LoaderState,
} from '../src/data/index.js';
import { encodePng } from '../src/image/png.js';
import { tempCifarArchive } from './helpers/cifar-archive.js';
import { centerCropResize } from '../src/image/resize.js';

const PYTHON = '/usr/bin/python3';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'consistency-data-test-'));
}

/** Asserts that `fn` throws (or rejects with) a DataError whose message matches all patterns. */
async function assertDataError(fn: () => unknown, ...patterns: RegExp[]): Promise<DataError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof DataError, `expected a DataError, got ${String(caught)}`);
  assert.equal(caught.name, 'DataError');
  assert.equal(caught.exitCode, 2);
  assert.ok(!caught.message.includes('\n'), `message should be one line: ${caught.message}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

function classCounts(ds: ImageDataset): number[] {
  const c = new Array<number>(ds.numClasses).fill(0);
  for (const l of ds.labels!) c[l]!++;
  return c;
}

function meanStd(bytes: Uint8Array): [number, number] {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < bytes.length; i++) {
    const v = bytes[i]! / 255;
    s += v;
    s2 += v * v;
  }
  const m = s / bytes.length;
  return [m, Math.sqrt(s2 / bytes.length - m * m)];
}

// ---------------------------------------------------------------------------------------------
// A small tar writer for synthetic archives (ustar headers, optional type flag).

function tarHeader(name: string, size: number, type = '0'): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, off: number): void => {
    for (let i = 0; i < s.length; i++) h[off + i] = s.charCodeAt(i);
  };
  put(name.slice(0, 100), 0);
  put('0000644\0', 100);
  put('0000000\0', 108);
  put('0000000\0', 116);
  put(size.toString(8).padStart(11, '0') + '\0', 124);
  put('00000000000\0', 136);
  put(type, 156);
  put('ustar\0' + '00', 257);
  put('        ', 148);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

function makeTar(entries: { name: string; data: Uint8Array; type?: string }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e.name, e.data.length, e.type ?? '0'));
    const padded = new Uint8Array(Math.ceil(e.data.length / 512) * 512);
    padded.set(e.data);
    parts.push(padded);
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** CIFAR-style records with given labels and pixel bytes (label*7 + i) % 256. */
function cifarRecords(labels: number[]): Uint8Array {
  const out = new Uint8Array(labels.length * CIFAR10_RECORD);
  labels.forEach((l, r) => {
    out[r * CIFAR10_RECORD] = l;
    for (let i = 0; i < 3072; i++) out[r * CIFAR10_RECORD + 1 + i] = (l * 7 + r + i) % 256;
  });
  return out;
}

function syntheticCifar(override: Record<string, Uint8Array> = {}): Uint8Array {
  const files: Record<string, Uint8Array> = {
    'data_batch_1.bin': cifarRecords([0, 1]),
    'data_batch_2.bin': cifarRecords([2, 3]),
    'data_batch_3.bin': cifarRecords([4, 5]),
    'data_batch_4.bin': cifarRecords([6, 7]),
    'data_batch_5.bin': cifarRecords([8, 9]),
    'test_batch.bin': cifarRecords([9]),
    'batches.meta.txt': new TextEncoder().encode('a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n'),
    ...override,
  };
  return makeTar([
    { name: 'cifar-10-batches-bin/', data: new Uint8Array(0), type: '5' },
    ...Object.entries(files).map(([n, d]) => ({ name: `cifar-10-batches-bin/${n}`, data: d })),
  ]);
}

// ---------------------------------------------------------------------------------------------
// MNIST

test('MNIST train: 60,000 labelled 28x28 digits with the known class counts and pixel statistics', () => {
  const ds = loadMnist({ split: 'train' });
  assert.equal(ds.name, 'mnist');
  assert.equal(ds.count, 60000);
  assert.deepEqual([ds.channels, ds.height, ds.width, ds.numClasses], [1, 28, 28, 10]);
  assert.equal(ds.images.length, 60000 * 784);
  assert.equal(ds.labels!.length, 60000);
  assert.ok(ds.labels!.every((l) => l >= 0 && l <= 9));
  // Counts of the original MNIST training set (LeCun et al.).
  assert.deepEqual(classCounts(ds), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  // The widely quoted normalisation constants of MNIST: mean 0.1307, std 0.3081 of x/255.
  const [m, s] = meanStd(ds.images);
  assert.ok(Math.abs(m - 0.1307) < 1e-4, `mean ${m}`);
  assert.ok(Math.abs(s - 0.3081) < 1e-4, `std ${s}`);
});

test('MNIST test split and 32x32 padding', () => {
  const plain = loadMnist({ split: 'test' });
  assert.equal(plain.count, 10000);
  assert.deepEqual(classCounts(plain), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  const padded = loadMnist({ split: 'test', pad32: true });
  assert.deepEqual([padded.count, padded.height, padded.width], [10000, 32, 32]);
  assert.deepEqual(padded.labels, plain.labels);
  for (const n of [0, 1234, 9999]) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const v = padded.images[n * 1024 + y * 32 + x];
        const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        assert.equal(v, inside ? plain.images[n * 784 + (y - 2) * 28 + (x - 2)] : 0);
      }
    }
  }
});

test('loadDataset resolves mnist and rejects a missing IDX folder', async () => {
  const ds = await loadDataset('mnist', { split: 'test', pad32: true });
  assert.deepEqual([ds.count, ds.height], [10000, 32]);
  await assertDataError(
    () => loadDataset('mnist', { data: '/nonexistent/mnist' }),
    /\/nonexistent\/mnist\/t(rain|10k)-images-idx3-ubyte/,
    /not found/,
  );
});

// ---------------------------------------------------------------------------------------------
// IDX

function idxBytes(type: number, dims: number[], body: number[]): Uint8Array {
  const size = type === 0x08 ? 1 : 4;
  const out = new Uint8Array(4 + 4 * dims.length + body.length * size);
  const v = new DataView(out.buffer);
  out.set([0, 0, type, dims.length]);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d));
  body.forEach((x, i) => (size === 1 ? v.setUint8(4 + 4 * dims.length + i, x) : v.setInt32(4 + 4 * dims.length + 4 * i, x)));
  return out;
}

test('IDX reader: uint8 and big-endian int32, gzipped or not', () => {
  const u8 = parseIdx(idxBytes(0x08, [2, 3], [1, 2, 3, 4, 5, 255]), 'x.idx');
  assert.equal(u8.type, 'uint8');
  assert.deepEqual(u8.dims, [2, 3]);
  assert.deepEqual([...u8.data], [1, 2, 3, 4, 5, 255]);
  const i32 = parseIdx(idxBytes(0x0c, [3], [-5, 70000, 2147483647]), 'y.idx');
  assert.deepEqual([...i32.data], [-5, 70000, 2147483647]);
  const dir = tmp();
  try {
    const p = join(dir, 'labels-idx1-ubyte.gz');
    writeFileSync(p, gzipSync(idxBytes(0x08, [4], [9, 8, 7, 6])));
    assert.deepEqual([...readIdx(p).data], [9, 8, 7, 6]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('IDX reader: bad magic, truncated data, extra bytes and corrupt gzip are DataErrors naming the file', async () => {
  const good = idxBytes(0x08, [2, 2], [1, 2, 3, 4]);
  const badMagic = good.slice();
  badMagic[0] = 0x12;
  await assertDataError(() => parseIdx(badMagic, 'bad-magic.idx'), /^bad-magic\.idx: bad IDX magic number 0x12000802/);
  const badType = good.slice();
  badType[2] = 0x07;
  await assertDataError(() => parseIdx(badType, 'bad-type.idx'), /bad-type\.idx: bad IDX magic/);
  await assertDataError(
    () => parseIdx(good.subarray(0, good.length - 1), 'short.idx'),
    /short\.idx: truncated IDX data: dims \[2, 2\] need 16 bytes, file has 15/,
  );
  await assertDataError(() => parseIdx(Uint8Array.from([...good, 0]), 'long.idx'), /long\.idx: IDX size mismatch/);
  await assertDataError(() => parseIdx(new Uint8Array(2), 'tiny.idx'), /tiny\.idx: not an IDX file/);
  const dir = tmp();
  try {
    const p = join(dir, 'broken.gz');
    const gz = gzipSync(good);
    writeFileSync(p, gz.subarray(0, gz.length - 6));
    await assertDataError(() => readIdx(p), /broken\.gz: truncated or corrupt gzip data/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Fashion-MNIST

test('Fashion-MNIST: a clear DataError when the folder is absent', async () => {
  await assertDataError(
    () => loadDataset('fashion-mnist', { data: '/nonexistent/fashion' }),
    /\/nonexistent\/fashion: Fashion-MNIST folder not found/,
  );
});

test('Fashion-MNIST from the Debian dataset-fashion-mnist package', async () => {
  assert.ok(
    existsSync(FASHION_MNIST_DEFAULT_DIR),
    `${FASHION_MNIST_DEFAULT_DIR} absent: apt-get install dataset-fashion-mnist (scripts/setup.sh does)`,
  );
  const train = await loadDataset('fashion-mnist', { split: 'train' });
  assert.deepEqual([train.count, train.channels, train.height, train.width], [60000, 1, 28, 28]);
  assert.deepEqual(classCounts(train), new Array(10).fill(6000));
  const [m, s] = meanStd(train.images);
  // Commonly quoted Fashion-MNIST normalisation: mean 0.2860, std 0.3530.
  assert.ok(Math.abs(m - 0.286) < 1e-4, `mean ${m}`);
  assert.ok(Math.abs(s - 0.353) < 1e-4, `std ${s}`);
  const testSplit = await loadDataset('fashion-mnist', { split: 'test', pad32: true });
  assert.deepEqual([testSplit.count, testSplit.height], [10000, 32]);
  assert.deepEqual(classCounts(testSplit), new Array(10).fill(1000));
  assert.equal(testSplit.classNames?.[9], 'Ankle boot');
});

// ---------------------------------------------------------------------------------------------
// CIFAR-10 from a CIFAR-format archive the test writes (test/helpers/cifar-archive.ts): a user's
// clone has no real CIFAR-10; the checks that need it are in test/opt-in/cifar10-real.ts.

test('CIFAR-10 from a CIFAR-format tar.gz: the records, labels and class names it was written with, and the MD5 warning', async () => {
  const archive = tempCifarArchive({ perBatch: 20, testCount: 20, classNames: ['a0', 'b1', 'c2', 'd3', 'e4', 'f5', 'g6', 'h7', 'i8', 'j9'] });
  try {
    const warnings: string[] = [];
    const train = await loadCifar10({ data: archive.path, split: 'train', warn: (m) => warnings.push(m) });
    assert.deepEqual([train.count, train.channels, train.height, train.width, train.numClasses], [100, 3, 32, 32, 10]);
    assert.deepEqual([...train.labels!], archive.train.labels);
    assert.ok(Buffer.from(train.images).equals(Buffer.from(archive.train.images)), 'training pixels differ from the records written');
    assert.deepEqual(classCounts(train), new Array(10).fill(10));
    assert.deepEqual(train.classNames, archive.classNames);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /cifar-10-binary\.tar\.gz: MD5 [0-9a-f]{32} differs from the official CIFAR-10 archive's c32a1d4ab5d03f1284b67883e8d87530/,
    );

    const testWarn: string[] = [];
    const testSplit = await loadDataset('cifar10', { data: archive.path, split: 'test', warn: (m) => testWarn.push(m) });
    assert.equal(testSplit.count, 20);
    assert.deepEqual([...testSplit.labels!], archive.test.labels);
    assert.ok(Buffer.from(testSplit.images).equals(Buffer.from(archive.test.images)), 'test pixels differ from the records written');
    assert.equal(testWarn.length, 1);

    // The extracted folder (both the folder holding cifar-10-batches-bin and that folder itself) gives the same bytes.
    for (const data of [archive.extracted, join(archive.extracted, 'cifar-10-batches-bin')]) {
      const fromFolder = await loadDataset('cifar10', { data, split: 'train', warn: () => assert.fail('no MD5 warning for folders') });
      assert.ok(Buffer.from(fromFolder.images).equals(Buffer.from(archive.train.images)));
      assert.deepEqual(fromFolder.labels, train.labels);
      assert.deepEqual(fromFolder.classNames, archive.classNames);
    }
    const testOnly = join(archive.dir, 'test-only', 'cifar-10-batches-bin');
    mkdirSync(testOnly, { recursive: true });
    copyFileSync(join(archive.extracted, 'cifar-10-batches-bin', 'test_batch.bin'), join(testOnly, 'test_batch.bin'));
    assert.equal((await loadDataset('cifar10', { data: dirname(testOnly), split: 'test' })).count, 20);
    await assertDataError(
      () => loadDataset('cifar10', { data: dirname(testOnly), split: 'train' }),
      /data_batch_1\.bin: CIFAR-10 batch file not found/,
    );

    // No --data: the archive is taken from the cache folder when it is there.
    const cache = join(archive.dir, 'cache');
    mkdirSync(cache);
    symlinkSync(archive.path, join(cache, 'cifar-10-binary.tar.gz'));
    const cached = await loadCifar10({ cacheDir: cache, split: 'test', warn: () => {} });
    assert.deepEqual([...cached.labels!], archive.test.labels);
  } finally {
    archive.dispose();
  }
});

test('CIFAR-10: a truncated tar.gz is a DataError, not a crash', async () => {
  const archive = tempCifarArchive();
  try {
    const whole = readFileSync(archive.path);
    const p = join(archive.dir, 'truncated', 'cifar-10-binary.tar.gz');
    mkdirSync(dirname(p));
    writeFileSync(p, whole.subarray(0, Math.floor(whole.length / 2)));
    const warnings: string[] = [];
    await assertDataError(() => loadCifar10({ data: p, warn: (m) => warnings.push(m) }), /cifar-10-binary\.tar\.gz: truncated or corrupt gzip data/);
    assert.equal(warnings.length, 1, 'the MD5 mismatch is reported first');
  } finally {
    archive.dispose();
  }
});

test('CIFAR-10: synthetic archives: valid, bad checksum, truncated tar, wrong record size, bad label, missing batch', async () => {
  const dir = tmp();
  const quiet = (): void => {};
  try {
    const good = join(dir, 'good.tar.gz');
    writeFileSync(good, gzipSync(syntheticCifar()));
    const train = await loadCifar10({ data: good, warn: quiet });
    assert.equal(train.count, 10);
    assert.deepEqual([...train.labels!], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(train.classNames, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    // record r=1 of batch 1 has label 1: pixel i is (7 + 1 + i) % 256
    assert.deepEqual([...train.images.subarray(3072, 3072 + 4)], [8, 9, 10, 11]);
    const testSplit = await loadCifar10({ data: good, split: 'test', warn: quiet });
    assert.deepEqual([testSplit.count, testSplit.labels![0]], [1, 9]);

    // An uncompressed .tar is accepted too.
    const plainTar = join(dir, 'plain.tar');
    writeFileSync(plainTar, syntheticCifar());
    assert.equal((await loadCifar10({ data: plainTar, warn: quiet })).count, 10);

    const corrupt = syntheticCifar();
    corrupt[512 + 5] = corrupt[512 + 5]! ^ 0x20; // a name byte of the second header, checksum left as is
    const badSum = join(dir, 'badsum.tar.gz');
    writeFileSync(badSum, gzipSync(corrupt));
    await assertDataError(() => loadCifar10({ data: badSum, warn: quiet }), /badsum\.tar\.gz: bad tar header checksum at byte 512/);

    const full = syntheticCifar();
    const truncated = join(dir, 'truncated.tar.gz');
    writeFileSync(truncated, gzipSync(full.subarray(0, 512 + 512 + 3000)));
    await assertDataError(
      () => loadCifar10({ data: truncated, warn: quiet }),
      /truncated\.tar\.gz: truncated tar archive: entry 'cifar-10-batches-bin\/data_batch_1\.bin' needs 6146 bytes/,
    );

    const wrongSize = join(dir, 'wrongsize.tar.gz');
    writeFileSync(wrongSize, gzipSync(syntheticCifar({ 'data_batch_3.bin': cifarRecords([1, 2]).subarray(0, 2 * CIFAR10_RECORD - 5) })));
    await assertDataError(
      () => loadCifar10({ data: wrongSize, warn: quiet }),
      /wrongsize\.tar\.gz:cifar-10-batches-bin\/data_batch_3\.bin: size 6141 bytes is not a positive multiple of the 3073-byte CIFAR-10 record/,
    );

    const badLabel = join(dir, 'badlabel.tar.gz');
    writeFileSync(badLabel, gzipSync(syntheticCifar({ 'test_batch.bin': cifarRecords([3, 10]) })));
    await assertDataError(
      () => loadCifar10({ data: badLabel, split: 'test', warn: quiet }),
      /test_batch\.bin: label 10 in record 1 is out of range 0\.\.9/,
    );

    const missing = join(dir, 'missing.tar');
    writeFileSync(missing, makeTar([{ name: 'cifar-10-batches-bin/test_batch.bin', data: cifarRecords([1]) }]));
    await assertDataError(() => loadCifar10({ data: missing, warn: quiet }), /missing\.tar: archive has no cifar-10-batches-bin\/data_batch_1\.bin/);

    const notArchive = join(dir, 'random.bin');
    writeFileSync(
      notArchive,
      Uint8Array.from({ length: 2000 }, (_, i) => (i * 37) % 251),
    );
    await assertDataError(() => loadCifar10({ data: notArchive, warn: quiet }), /random\.bin: bad tar header checksum/);

    await assertDataError(() => loadCifar10({ data: join(dir, 'nothing-here') }), /nothing-here: CIFAR-10 data not found/);
    const empty = join(dir, 'emptydir');
    mkdirSync(empty);
    await assertDataError(() => loadCifar10({ data: empty }), /emptydir: no CIFAR-10 data in this folder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tar reader: GNU long names, pax paths, directories', () => {
  const long = 'x'.repeat(120) + '/file.bin';
  const enc = new TextEncoder();
  const pax = enc.encode('29 path=pax/renamed/file.txt\n');
  assert.equal(pax.length, 29);
  const tar = makeTar([
    { name: '././@LongLink', data: enc.encode(long + '\0'), type: 'L' },
    { name: 'short-placeholder', data: Uint8Array.of(1, 2, 3) },
    { name: 'PaxHeader', data: pax, type: 'x' },
    { name: 'placeholder2', data: Uint8Array.of(4) },
    { name: './dir/', data: new Uint8Array(0), type: '5' },
  ]);
  const entries = parseTar(tar, 't.tar');
  assert.deepEqual(
    entries.map((e) => [e.name, e.type, e.size]),
    [
      [long, 'file', 3],
      ['pax/renamed/file.txt', 'file', 1],
      ['dir/', 'dir', 0],
    ],
  );
  assert.deepEqual([...entries[0]!.data], [1, 2, 3]);
});

test('CIFAR-10 download: an unreachable URL is a DataError naming the URL and --data', async () => {
  const dir = tmp();
  try {
    // A port that was just free: the connection is refused at once.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const url = `http://127.0.0.1:${port}/cifar-10-binary.tar.gz`;
    await assertDataError(
      () => loadCifar10({ cacheDir: join(dir, 'cache'), url, log: () => {} }),
      new RegExp(`could not download ${url.replace(/[.]/g, '\\.')}`),
      /pass --data/,
    );
    assert.ok(!existsSync(join(dir, 'cache', 'cifar-10-binary.tar.gz')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CIFAR-10 download: a file with the wrong MD5 is rejected and not kept', async () => {
  const dir = tmp();
  const server: Server = createServer((_req, res) => res.end(Buffer.from('not the archive')));
  try {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const url = `http://127.0.0.1:${port}/cifar-10-binary.tar.gz`;
    const logs: string[] = [];
    await assertDataError(
      () => loadCifar10({ cacheDir: dir, url, log: (m) => logs.push(m) }),
      /downloaded file has MD5 [0-9a-f]{32}, expected c32a1d4ab5d03f1284b67883e8d87530/,
      /pass --data/,
    );
    assert.match(logs[0]!, /downloading http:\/\/127\.0\.0\.1/);
    assert.ok(!existsSync(join(dir, 'cifar-10-binary.tar.gz')));
    assert.ok(!existsSync(join(dir, 'cifar-10-binary.tar.gz.part')));
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Downsampled ImageNet (.npz)

const NPZ_SCRIPT = String.raw`
import sys, numpy as np
out = sys.argv[1]
def images(n, seed):
    return ((np.arange(n * 12288, dtype=np.int64) * 7 + seed) % 251).astype(np.uint8).reshape(n, 12288)
np.savez(out + '/train_data_batch_1.npz', data=images(5, 1), labels=np.array([1, 2, 3, 1000, 17]), mean=np.zeros(12288))
np.savez_compressed(out + '/train_data_batch_2.npz', data=images(3, 2), labels=np.array([5, 6, 7], dtype=np.int32))
np.savez(out + '/train_data_batch_10.npz', data=images(2, 10), labels=[1, 1])
np.savez_compressed(out + '/val_data.npz', data=images(4, 99), labels=np.array([10, 20, 30, 40], dtype=np.uint16))
np.savez(out + '/float_data.npz', data=np.zeros((2, 12288), np.float32), labels=[1, 2])
np.savez(out + '/bad_labels.npz', data=images(2, 3), labels=[0, 1])
`;

function expectedImages(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n * 12288 }, (_, i) => (i * 7 + seed) % 251);
}

test('ImageNet 64x64 from .npz batches (stored and deflated entries, int64/int32/uint16 labels)', async () => {
  const dir = tmp();
  try {
    execFileSync(PYTHON, ['-c', NPZ_SCRIPT, dir]);
    const train = await loadDataset('imagenet64', { data: dir });
    assert.deepEqual([train.name, train.count, train.channels, train.height, train.width, train.numClasses], ['imagenet64', 10, 3, 64, 64, 1000]);
    assert.deepEqual([...train.labels!], [0, 1, 2, 999, 16, 4, 5, 6, 0, 0]);
    const want = new Uint8Array(10 * 12288);
    want.set(expectedImages(5, 1), 0);
    want.set(expectedImages(3, 2), 5 * 12288);
    want.set(expectedImages(2, 10), 8 * 12288);
    assert.ok(Buffer.from(train.images).equals(Buffer.from(want)));

    const some = loadImagenet64({ data: dir, batches: [10, 2], limit: 4 });
    assert.deepEqual([...some.labels!], [0, 0, 4, 5]);
    const val = loadImagenet64({ data: dir, split: 'test' });
    assert.deepEqual([...val.labels!], [9, 19, 29, 39]);
    assert.ok(Buffer.from(val.images).equals(Buffer.from(expectedImages(4, 99))));

    const f = NpzFile.open(join(dir, 'train_data_batch_1.npz'));
    try {
      assert.deepEqual(f.names.sort(), ['data', 'labels', 'mean']);
      assert.deepEqual(f.header('data').shape, [5, 12288]);
      assert.equal(f.read('mean').dtype, '<f8');
    } finally {
      f.close();
    }
    await assertDataError(() => loadImagenet64({ data: dir, batches: [3] }), /train_data_batch_3\.npz not found \(have 1, 2, 10\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad .npz files are DataErrors with clear messages', async () => {
  const dir = tmp();
  try {
    execFileSync(PYTHON, ['-c', NPZ_SCRIPT, dir]);
    const src = readFileSync(join(dir, 'train_data_batch_1.npz'));
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    const batch = join(bad, 'train_data_batch_1.npz');

    writeFileSync(batch, src.subarray(0, Math.floor(src.length / 2)));
    await assertDataError(
      () => loadImagenet64({ data: bad }),
      /train_data_batch_1\.npz: not a valid \.npz \(zip\) file: no end-of-central-directory record/,
    );

    writeFileSync(batch, Buffer.from('definitely not a zip file, just some text that is long enough'));
    await assertDataError(() => loadImagenet64({ data: bad }), /not a valid \.npz/);

    const flipped = Buffer.from(src);
    flipped[2000]! ^= 0xff; // inside the stored 'data' array
    writeFileSync(batch, flipped);
    await assertDataError(() => loadImagenet64({ data: bad }), /train_data_batch_1\.npz:data\.npy: CRC-32 mismatch/);

    writeFileSync(batch, readFileSync(join(dir, 'float_data.npz')));
    await assertDataError(() => loadImagenet64({ data: bad }), /'data' must be a C-order uint8 array of shape \(N, 3\*S\*S\), got <f4 \(2, 12288\)/);

    writeFileSync(batch, readFileSync(join(dir, 'bad_labels.npz')));
    await assertDataError(() => loadImagenet64({ data: bad }), /label 0 at index 0 is outside 1\.\.1000/);

    execFileSync(PYTHON, ['-c', `import numpy as np; np.savez('${batch}', data=np.zeros((1, 12288), np.uint8))`]);
    await assertDataError(() => loadImagenet64({ data: bad }), /no array 'labels' in \.npz \(has: data\)/);

    await assertDataError(() => loadImagenet64({ data: join(dir, 'absent') }), /absent: downsampled ImageNet folder not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Image folders

function solid(w: number, h: number, rgb: [number, number, number]): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) out.set(rgb, i * 3);
  return out;
}

test('image folder: PNG (gray, RGB, RGBA) and JPEG, recursive, center crop, resize, folder labels', async () => {
  const dir = tmp();
  try {
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b', 'c'), { recursive: true });
    writeFileSync(join(dir, 'a', 'red.png'), encodePng(solid(10, 6, [200, 10, 30]), 10, 6, 3));
    writeFileSync(join(dir, 'b', 'gray.PNG'), encodePng(new Uint8Array(25).fill(77), 5, 5, 1));
    // 12x8: 2 red columns, 8 green, 2 blue: the centered 8x8 crop is all green.
    const stripes = new Uint8Array(12 * 8 * 4);
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 12; x++) stripes.set(x < 2 ? [255, 0, 0, 255] : x < 10 ? [0, 180, 0, 128] : [0, 0, 255, 255], (y * 12 + x) * 4);
    writeFileSync(join(dir, 'b', 'c', 'stripes.png'), encodePng(stripes, 12, 8, 4));
    const rgba = new Uint8Array(16 * 16 * 4);
    for (let i = 0; i < 256; i++) rgba.set([128, 64, 32, 255], i * 4);
    writeFileSync(join(dir, 'b', 'photo.jpg'), jpeg.encode({ data: rgba, width: 16, height: 16 }, 95).data);
    writeFileSync(join(dir, 'b', 'notes.txt'), 'ignored');

    for (const resize of ['area', 'bilinear'] as const) {
      const ds = loadImageFolder({ data: dir, size: 4, resize, labels: 'folders' });
      assert.deepEqual([ds.count, ds.channels, ds.height, ds.width], [4, 3, 4, 4]);
      // sorted paths: a/red.png, b/c/stripes.png, b/gray.PNG, b/photo.jpg
      assert.deepEqual(ds.classNames, ['a', 'b']);
      assert.deepEqual([...ds.labels!], [0, 1, 1, 1]);
      const pixel = (n: number, c: number, y: number, x: number): number => ds.images[n * 48 + c * 16 + y * 4 + x]!;
      for (let y = 0; y < 4; y++)
        for (let x = 0; x < 4; x++) {
          assert.deepEqual([pixel(0, 0, y, x), pixel(0, 1, y, x), pixel(0, 2, y, x)], [200, 10, 30]);
          assert.deepEqual([pixel(1, 0, y, x), pixel(1, 1, y, x), pixel(1, 2, y, x)], [0, 180, 0]);
          assert.deepEqual([pixel(2, 0, y, x), pixel(2, 1, y, x), pixel(2, 2, y, x)], [77, 77, 77]);
          for (const [c, v] of [
            [0, 128],
            [1, 64],
            [2, 32],
          ] as const)
            assert.ok(Math.abs(pixel(3, c, y, x) - v) <= 3);
        }
    }
    const unlabelled = await loadDataset('folder', { data: dir, size: 2, limit: 2 });
    assert.deepEqual([unlabelled.count, unlabelled.labels, unlabelled.numClasses, unlabelled.height], [2, null, 0, 2]);

    writeFileSync(
      join(dir, 'b', 'zz-broken.png'),
      Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('garbage')]),
    );
    await assertDataError(() => loadImageFolder({ data: dir, size: 4 }), /zz-broken\.png: cannot decode image/);
    await assertDataError(() => loadDataset('folder', {}), /folder: pass --data/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await assertDataError(() => loadImageFolder({ data: empty }), /empty: no PNG or JPEG images found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resize filters: area averages covered pixels, bilinear samples pixel centres', () => {
  // one row [0, 0, 90, 0, 0, 90] resized from 6 to 2 columns (1 row kept: crop region is the full row)
  const row = Uint8Array.of(0, 0, 90, 0, 0, 90);
  const src = new Uint8Array(6 * 6);
  for (let y = 0; y < 6; y++) src.set(row, y * 6);
  assert.deepEqual([...centerCropResize(src, 1, 6, 6, 2, 2, 'area')], [30, 30, 30, 30]);
  assert.deepEqual([...centerCropResize(src, 1, 6, 6, 2, 2, 'bilinear')], [0, 0, 0, 0]);
  // 2x upsampling of [0, 100]: bilinear gives 0, 25, 75, 100
  const two = Uint8Array.of(0, 100, 0, 100);
  assert.deepEqual([...centerCropResize(two, 1, 2, 2, 4, 4, 'bilinear')].slice(0, 4), [0, 25, 75, 100]);
});

// ---------------------------------------------------------------------------------------------
// Random numbers and the batch loader

test('splitmix64 and xoshiro128** match their reference implementations', () => {
  let s = 0n;
  const outs: string[] = [];
  for (let i = 0; i < 3; i++) {
    const [ns, z] = splitmix64(s);
    s = ns;
    outs.push(z.toString(16));
  }
  assert.deepEqual(outs, ['e220a8397b1dcdaf', '6e789e6aa1b965f4', '6c45d188009454f']);
  const x = new Xoshiro128([1, 2, 3, 4]);
  assert.deepEqual(
    Array.from({ length: 6 }, () => x.nextUint32()),
    [11520, 0, 5927040, 70819200, 2031721883, 1637235492],
  );
});

test('epoch permutations: permutations, deterministic, seed- and epoch-dependent, uniform', () => {
  const p = epochPermutation(1000, 7, 0);
  assert.deepEqual(
    [...p].sort((a, b) => a - b),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.deepEqual(epochPermutation(1000, 7, 0), p);
  assert.notDeepEqual(epochPermutation(1000, 8, 0), p);
  assert.notDeepEqual(epochPermutation(1000, 7, 1), p);
  assert.deepEqual([...epochPermutation(5, 7, 3, false)], [0, 1, 2, 3, 4]);
  const counts = new Map<string, number>();
  for (let e = 0; e < 6000; e++) {
    const k = epochPermutation(3, 1, e).join('');
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  assert.equal(counts.size, 6);
  for (const [k, c] of counts) assert.ok(c > 850 && c < 1150, `permutation ${k} drawn ${c} times of 6000`);
});

function toyDataset(count: number, labelled = true): ImageDataset {
  const C = 2,
    H = 3,
    W = 4;
  const images = Uint8Array.from({ length: count * C * H * W }, (_, i) => (i * 13 + (i >> 5)) % 256);
  return {
    name: 'toy',
    count,
    channels: C,
    height: H,
    width: W,
    numClasses: labelled ? 5 : 0,
    images,
    labels: labelled ? Int32Array.from({ length: count }, (_, i) => i % 5) : null,
  };
}

test('loader: each epoch is a permutation; images scaled to [-1, 1]; labels follow indices', () => {
  const ds = toyDataset(103);
  const loader = new BatchLoader(ds, { batchSize: 10, seed: 3, dropLast: false });
  assert.equal(loader.batchesPerEpoch, 11);
  const seen: number[] = [];
  for (let b = 0; b < 11; b++) {
    const batch = loader.next();
    assert.equal(batch.epoch, 0);
    assert.equal(batch.size, b < 10 ? 10 : 3);
    assert.deepEqual(batch.shape, [batch.size, 2, 3, 4]);
    assert.equal(batch.flipped, null);
    for (let k = 0; k < batch.size; k++) {
      const i = batch.indices[k]!;
      assert.equal(batch.labels![k], i % 5);
      for (let j = 0; j < 24; j++) assert.equal(batch.images[k * 24 + j], Math.fround(ds.images[i * 24 + j]! / 127.5 - 1));
    }
    seen.push(...batch.indices);
  }
  assert.deepEqual(
    seen.sort((a, b) => a - b),
    Array.from({ length: 103 }, (_, i) => i),
  );
  assert.equal(loader.next().epoch, 1);

  const ends: ImageDataset = { ...toyDataset(2, false), images: new Uint8Array(48).fill(0) };
  ends.images.fill(255, 24);
  const b = new BatchLoader(ends, { batchSize: 2, shuffle: false }).next();
  assert.deepEqual([b.images[0], b.images[47], b.labels], [-1, 1, null]);
});

test('loader: drop-last epochs, seeds, and horizontal flips', () => {
  const ds = toyDataset(50);
  const a = new BatchLoader(ds, { batchSize: 16, seed: 11, flip: true });
  const b = new BatchLoader(ds, { batchSize: 16, seed: 11, flip: true });
  const c = new BatchLoader(ds, { batchSize: 16, seed: 12, flip: true });
  assert.equal(a.batchesPerEpoch, 3);
  let flips = 0;
  let total = 0;
  let differs = false;
  for (let k = 0; k < 12; k++) {
    const x = a.next();
    const y = b.next();
    const z = c.next();
    assert.equal(x.epoch, Math.floor(k / 3));
    assert.equal(x.size, 16);
    assert.deepEqual(x.indices, y.indices);
    assert.deepEqual(x.images, y.images);
    assert.deepEqual(x.flipped, y.flipped);
    if (String(x.indices) !== String(z.indices)) differs = true;
    for (let n = 0; n < 16; n++) {
      const i = x.indices[n]!;
      const f = x.flipped![n] === 1;
      flips += f ? 1 : 0;
      total++;
      for (let row = 0; row < 6; row++)
        for (let col = 0; col < 4; col++) {
          const src = ds.images[i * 24 + row * 4 + (f ? 3 - col : col)]!;
          assert.equal(x.images[n * 24 + row * 4 + col], Math.fround(src / 127.5 - 1));
        }
    }
  }
  assert.ok(differs, 'another seed gives another order');
  assert.ok(flips > total * 0.3 && flips < total * 0.7, `${flips} of ${total} flipped`);
  assert.throws(() => new BatchLoader(ds, { batchSize: 51 }), DataError);
});

test('loader: state() / fromState() resume exactly, across epoch boundaries, through JSON', () => {
  const ds = toyDataset(37);
  const opts = { batchSize: 8, seed: 5, flip: true };
  for (const stopAfter of [0, 3, 4, 9]) {
    const a = new BatchLoader(ds, opts);
    for (let k = 0; k < stopAfter; k++) a.next();
    const saved = JSON.parse(JSON.stringify(a.state())) as LoaderState;
    assert.equal(saved.version, 1);
    const b = BatchLoader.fromState(ds, saved);
    assert.deepEqual(b.state(), a.state());
    for (let k = 0; k < 10; k++) {
      const x = a.next();
      const y = b.next();
      assert.equal(y.epoch, x.epoch);
      assert.deepEqual(y.indices, x.indices);
      assert.deepEqual(y.flipped, x.flipped);
      assert.deepEqual(y.images, x.images);
      assert.deepEqual(y.labels, x.labels);
    }
  }
  const s = new BatchLoader(ds, opts).state();
  assert.throws(
    () => BatchLoader.fromState(toyDataset(36), s),
    (e: unknown) => e instanceof DataError && /saved for 37 images/.test(e.message),
  );
  assert.throws(() => BatchLoader.fromState(ds, { ...s, flipRng: [0, 0, 0, 0] }), DataError);
  assert.throws(() => BatchLoader.fromState(ds, { ...s, version: 2 as 1 }), DataError);
});

test('loader on real data: MNIST batches in [-1, 1]', () => {
  const ds = loadMnist({ split: 'test', pad32: true });
  const loader = new BatchLoader(ds, { batchSize: 256, seed: 0 });
  const batch = loader.next();
  assert.equal(batch.images.length, 256 * 1024);
  let min = Infinity,
    max = -Infinity;
  for (const v of batch.images) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.deepEqual([min, max], [-1, 1]);
});
