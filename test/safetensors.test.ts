/**
 * safetensors files (src/io/safetensors.ts): corrupt files each fail with a SafetensorsError that
 * says what is wrong; files written here read identically in Python's `safetensors` package and
 * the other way round (names, dtypes, shapes, bytes; bfloat16 and float16 included); and
 * `consistency inspect FILE --json` prints the sums Python computes (test/reference/safetensors_ref.py).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

import {
  loadSafetensors,
  saveSafetensors,
  readSafetensorsHeader,
  parseSafetensors,
  serializeSafetensors,
  SafetensorsError,
} from '../src/io/safetensors.js';
import { Tensor, tidy, setNumThreads, liveTensorCount, type DType } from '../src/tensor/index.js';
import { runPythonScript } from './helpers/python.js';
import { Rng, tensorOf } from './helpers/tensor-data.js';
import { CLI } from './helpers/cli.js';

setNumThreads(1);

const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ST_NAME: Record<DType, string> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

interface PythonView {
  metadata: Record<string, string>;
  tensors: Record<string, { dtype: string; shape: number[]; b64: string; sum: number }>;
}

// ---------------------------------------------------------------------------------------------
// Corrupt files

/** A file: 8-byte little-endian header length, the header, then `data`. */
function fileBytes(header: string | Uint8Array, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Buffer {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : Buffer.from(header);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLength ?? BigInt(h.byteLength));
  return Buffer.concat([len, h, Buffer.from(data)]);
}

const good = (): Buffer =>
  fileBytes(
    JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'I64', shape: [1], data_offsets: [8, 16] } }),
    new Uint8Array(16),
  );

const corrupt: Array<{ name: string; bytes: () => Buffer; message: RegExp }> = [
  { name: 'shorter than the 8-byte length', bytes: () => Buffer.from([1, 2, 3]), message: /3 bytes is shorter than the 8-byte header length/ },
  {
    name: 'truncated inside the header',
    bytes: () => good().subarray(0, 20),
    message: /header length \d+ runs past the end of the 20-byte file \(truncated\?\)/,
  },
  {
    name: 'truncated inside the data',
    bytes: () => good().subarray(0, good().byteLength - 4),
    message: /tensor 'b' has data_offsets \[8, 16\] outside the 12-byte data section/,
  },
  {
    name: 'header length larger than the file',
    bytes: () => fileBytes('{}', new Uint8Array(0), 1000n),
    message: /header length 1000 runs past the end of the 10-byte file/,
  },
  {
    name: 'header length over 100 MB',
    bytes: () => fileBytes('{}', new Uint8Array(0), 2n ** 40n),
    message: /header length 1099511627776 exceeds the 100000000-byte limit/,
  },
  { name: 'header not JSON', bytes: () => fileBytes('{"a": {"dtype": "F32", '), message: /the header is not UTF-8 JSON/ },
  { name: 'header not UTF-8', bytes: () => fileBytes(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])), message: /the header is not UTF-8 JSON/ },
  { name: 'header a JSON array', bytes: () => fileBytes('[1, 2]'), message: /the header is not a JSON object/ },
  {
    name: 'offsets beyond the data',
    bytes: () => fileBytes(JSON.stringify({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }), new Uint8Array(8)),
    message: /tensor 'a' has data_offsets \[0, 16\] outside the 8-byte data section/,
  },
  {
    name: 'offsets overlapping',
    bytes: () =>
      fileBytes(
        JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }),
        new Uint8Array(12),
      ),
    message: /tensor 'b' starts at 4, expected 8 \(overlapping or missing bytes\)/,
  },
  {
    name: 'a hole in the data',
    bytes: () => fileBytes(JSON.stringify({ a: { dtype: 'U8', shape: [2], data_offsets: [2, 4] } }), new Uint8Array(4)),
    message: /tensor 'a' starts at 2, expected 0/,
  },
  {
    name: 'bytes left over after the tensors',
    bytes: () => fileBytes(JSON.stringify({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }), new Uint8Array(5)),
    message: /the data section has 5 bytes, the tensors cover 2/,
  },
  {
    name: 'wrong byte count for the shape',
    bytes: () => fileBytes(JSON.stringify({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }), new Uint8Array(8)),
    message: /tensor 'a' of shape \[3\] float32 needs 12 bytes, its offsets give 8/,
  },
  {
    name: 'unknown dtype',
    bytes: () => fileBytes(JSON.stringify({ a: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }), new Uint8Array(2)),
    message: /tensor 'a' has unsupported dtype "F8_E4M3"/,
  },
  {
    name: 'negative shape',
    bytes: () => fileBytes(JSON.stringify({ a: { dtype: 'U8', shape: [-2], data_offsets: [0, 2] } }), new Uint8Array(2)),
    message: /tensor 'a' has an invalid shape \[-2\]/,
  },
  {
    name: 'offsets not a pair of integers',
    bytes: () => fileBytes(JSON.stringify({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 'x'] } }), new Uint8Array(2)),
    message: /tensor 'a' has invalid data_offsets \[0,"x"\]/,
  },
  {
    name: 'metadata that is not strings',
    bytes: () => fileBytes(JSON.stringify({ __metadata__: { epoch: 3 } })),
    message: /__metadata__\.epoch is not a string/,
  },
];

for (const c of corrupt) {
  test(`corrupt file (${c.name}) is a SafetensorsError saying so`, () => {
    const path = join(dir, `corrupt-${c.name.replace(/\W+/g, '-')}.safetensors`);
    writeFileSync(path, c.bytes());
    const before = liveTensorCount();
    for (const read of [() => loadSafetensors(path), () => readSafetensorsHeader(path), () => parseSafetensors(c.bytes(), path)]) {
      assert.throws(read, (e: unknown) => {
        assert.ok(e instanceof SafetensorsError, `expected a SafetensorsError, got ${String(e)}`);
        assert.match(e.message, new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a valid safetensors file: `));
        assert.match(e.message, c.message);
        return true;
      });
    }
    assert.equal(liveTensorCount(), before, 'no tensors are left from a refused file');
  });
}

test('a missing file is a SafetensorsError naming it', () => {
  const path = join(dir, 'does-not-exist.safetensors');
  assert.throws(
    () => loadSafetensors(path),
    (e: unknown) => e instanceof SafetensorsError && e.message.startsWith(`${path}: cannot read`),
  );
});

test('`consistency inspect` on a corrupt file exits 2 with one line', () => {
  const path = join(dir, 'inspect-corrupt.safetensors');
  writeFileSync(path, fileBytes('{"a": 1'));
  const r = spawnSync(process.execPath, [CLI, 'inspect', path, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /not a valid safetensors file: the header is not UTF-8 JSON/);
});

// ---------------------------------------------------------------------------------------------
// Interchange with Python's safetensors

/** Tensors of every dtype, from a seeded JS generator. */
function makeTensors(): Map<string, Tensor> {
  const rng = new Rng(77);
  const values = (n: number, f: () => number): number[] => Array.from({ length: n }, f);
  const m = new Map<string, Tensor>();
  m.set(
    'net.conv.weight',
    tensorOf(
      values(2 * 3 * 3 * 3, () => rng.normal()),
      [2, 3, 3, 3],
      'float32',
    ),
  );
  m.set(
    'net.conv.bias',
    tensorOf(
      values(2, () => rng.normal()),
      [2],
      'float64',
    ),
  );
  m.set(
    'f16',
    tensorOf(
      values(7, () => rng.normal() * 1000),
      [7],
      'float16',
    ),
  );
  m.set(
    'bf16',
    tensorOf(
      values(6, () => rng.normal() * 1e5),
      [2, 3],
      'bfloat16',
    ),
  );
  m.set(
    'i64',
    tensorOf(
      values(4, () => rng.int(-(2 ** 50), 2 ** 50)),
      [4],
      'int64',
    ),
  );
  m.set(
    'i32',
    tensorOf(
      values(3, () => rng.int(-(2 ** 30), 2 ** 30)),
      [3],
      'int32',
    ),
  );
  m.set(
    'i16',
    tensorOf(
      values(3, () => rng.int(-30000, 30000)),
      [3],
      'int16',
    ),
  );
  m.set(
    'i8',
    tensorOf(
      values(3, () => rng.int(-128, 128)),
      [3],
      'int8',
    ),
  );
  m.set(
    'u8',
    tensorOf(
      values(12, () => rng.int(0, 256)),
      [2, 2, 3],
      'uint8',
    ),
  );
  m.set(
    'flags',
    tensorOf(
      values(5, () => (rng.uniform() < 0.5 ? 1 : 0)),
      [5],
      'bool',
    ),
  );
  m.set('zero-d', tensorOf([-2.25], [], 'float32'));
  m.set('empty', tensorOf([], [0, 4], 'float32'));
  return m;
}

// Each Python run costs seconds (importing torch), so the files and their Python views are made
// once and shared by the tests below.
const pythonViews = new Map<string, PythonView>();
function pythonRead(path: string): PythonView {
  if (!pythonViews.has(path)) pythonViews.set(path, JSON.parse(runPythonScript('test/reference/safetensors_ref.py', ['read', path])) as PythonView);
  return pythonViews.get(path)!;
}
const TS_FILE = join(dir, 'from-ts.safetensors');
const PY_FILE = join(dir, 'from-python.safetensors');
function tsWrittenFile(): string {
  if (!pythonViews.has(TS_FILE)) tidy(() => saveSafetensors(TS_FILE, makeTensors(), { format: 'pt', writer: 'consistency-ts' }));
  return TS_FILE;
}
function pythonWrittenFile(): PythonView {
  if (!pythonViews.has(PY_FILE))
    pythonViews.set(PY_FILE, JSON.parse(runPythonScript('test/reference/safetensors_ref.py', ['write', PY_FILE])) as PythonView);
  return pythonViews.get(PY_FILE)!;
}

test('a file written here reads in Python safetensors with the same names, dtypes, shapes and bytes', () => {
  const path = tsWrittenFile();
  tidy(() => {
    const tensors = makeTensors();
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('from-ts') && f !== 'from-ts.safetensors'),
      [],
      'no temporary files left',
    );
    const py = pythonRead(path);
    assert.deepEqual(py.metadata, { format: 'pt', writer: 'consistency-ts' });
    assert.deepEqual(Object.keys(py.tensors).sort(), [...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const p = py.tensors[name]!;
      assert.equal(p.dtype, ST_NAME[t.dtype], `${name} dtype`);
      assert.deepEqual(p.shape, t.shape, `${name} shape`);
      assert.deepEqual(Buffer.from(p.b64, 'base64'), Buffer.from(t.bytes()), `${name} bytes`);
    }
  });
});

test('a file written by Python safetensors reads here with the same names, dtypes, shapes and bytes', () => {
  const path = PY_FILE;
  const py = pythonWrittenFile();
  assert.ok(Object.keys(py.tensors).length >= 10, 'Python wrote every dtype');
  const before = liveTensorCount();
  const loaded = loadSafetensors(path, { device: 'cpu' });
  try {
    assert.deepEqual(loaded.metadata, py.metadata);
    assert.deepEqual([...loaded.tensors.keys()].sort(), Object.keys(py.tensors).sort());
    for (const [name, p] of Object.entries(py.tensors)) {
      const t = loaded.tensors.get(name)!;
      assert.equal(ST_NAME[t.dtype], p.dtype, `${name} dtype`);
      assert.deepEqual(t.shape, p.shape, `${name} shape`);
      assert.deepEqual(Buffer.from(t.bytes()), Buffer.from(p.b64, 'base64'), `${name} bytes`);
    }
    // The header alone agrees too.
    const header = readSafetensorsHeader(path);
    assert.deepEqual(header.tensors.map((t) => t.name).sort(), Object.keys(py.tensors).sort());
    // Written back from here, Python's file keeps every byte of every tensor.
    const again = join(dir, 'python-roundtrip.safetensors');
    saveSafetensors(again, loaded.tensors, loaded.metadata);
    const back = JSON.parse(runPythonScript('test/reference/safetensors_ref.py', ['read', again])) as PythonView;
    assert.deepEqual(back, py);
  } finally {
    for (const t of loaded.tensors.values()) t.dispose();
  }
  assert.equal(liveTensorCount(), before);
});

test('`consistency inspect FILE --json` prints the names, dtypes, shapes and float64 sums Python computes', () => {
  pythonWrittenFile();
  for (const file of [PY_FILE, tsWrittenFile()]) {
    const py = pythonViews.get(file) ?? pythonRead(file);
    const r = spawnSync(process.execPath, [CLI, 'inspect', file, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      file: string;
      metadata: Record<string, string>;
      tensors: Array<{ name: string; dtype: DType; shape: number[]; sum: number }>;
    };
    assert.equal(out.file, file);
    assert.deepEqual(out.metadata, py.metadata);
    assert.deepEqual(
      out.tensors.map((t) => t.name),
      Object.keys(py.tensors).sort(),
      'every tensor, sorted by name',
    );
    for (const t of out.tensors) {
      const p = py.tensors[t.name]!;
      assert.equal(ST_NAME[t.dtype], p.dtype, `${t.name} dtype`);
      assert.deepEqual(t.shape, p.shape, `${t.name} shape`);
      // Both sum the same float64 values; only the summation order may differ.
      assert.ok(Math.abs(t.sum - p.sum) <= 1e-12 * Math.max(1, Math.abs(p.sum)), `${t.name}: sum ${t.sum}, Python ${p.sum}`);
    }
  }
});

test('save then load here round-trips every dtype, and the serialized header is 8-byte aligned', () => {
  const path = join(dir, 'roundtrip.safetensors');
  tidy(() => {
    const tensors = makeTensors();
    saveSafetensors(path, tensors, { note: 'x' });
    const loaded = loadSafetensors(path);
    assert.deepEqual(loaded.metadata, { note: 'x' });
    for (const [name, t] of tensors) {
      const l = loaded.tensors.get(name)!;
      assert.deepEqual([l.dtype, l.shape], [t.dtype, t.shape], name);
      assert.deepEqual(Buffer.from(l.bytes()), Buffer.from(t.bytes()), name);
    }
    const bytes = readFileSync(path);
    assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0, 'the data section starts 8-byte aligned');
    assert.deepEqual(Buffer.concat(serializeSafetensors(tensors, { note: 'x' })), bytes, 'saveSafetensors writes serializeSafetensors');
    assert.throws(() => serializeSafetensors({ __metadata__: tensors.get('i8')! }), SafetensorsError);
  });
});
