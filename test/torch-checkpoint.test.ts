/**
 * Reading torch.save checkpoints without executing pickle code: state dicts written by Python's
 * torch (zip and legacy formats, float16/bfloat16/int/bool tensors, strided views, shared
 * storages) load with the values torch.load gives; pickles that call os.system or eval are refused
 * with an error naming the global, and their side effect never happens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPythonScript } from './helpers/python.js';
import { loadTorchCheckpoint, parseTorchCheckpoint, TorchCheckpointError } from '../src/io/torch-checkpoint.js';
import { unpickle, PickleDict } from '../src/io/pickle.js';
import { setNumThreads, liveTensorCount } from '../src/tensor/index.js';

setNumThreads(1);

const dir = mkdtempSync(join(tmpdir(), 'torch-ckpt-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
runPythonScript('test/reference/torch_checkpoint_ref.py', [dir]);

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, Expected>;

function checkState(file: string): void {
  const before = liveTensorCount();
  const state = loadTorchCheckpoint(join(dir, file), { device: 'cpu' });
  assert.deepEqual([...state.keys()].sort(), Object.keys(expected).sort());
  for (const [name, want] of Object.entries(expected)) {
    const t = state.get(name)!;
    assert.equal(t.dtype, want.dtype, `${file}: ${name} dtype`);
    assert.deepEqual(t.shape, want.shape, `${file}: ${name} shape`);
    if (want.dtype === 'int64') {
      assert.deepEqual(
        Array.from(t.dataSync() as BigInt64Array, (v) => v.toString()),
        want.values,
        `${file}: ${name} values`,
      );
    } else {
      assert.deepEqual(Array.from(t.toFloat64Array()), want.values, `${file}: ${name} values`);
    }
  }
  for (const t of state.values()) t.dispose();
  assert.equal(liveTensorCount(), before);
}

test('a zip-format state dict loads with the values torch.load gives (float16, bfloat16, strided views, shared storage)', () => {
  checkState('state_zip.pt');
});

test('a legacy-format state dict loads with the same values', () => {
  checkState('state_legacy.pt');
});

test('a checkpoint whose pickle calls os.system is refused, naming the global, and nothing runs', () => {
  assert.throws(
    () => loadTorchCheckpoint(join(dir, 'evil_system.pt'), { device: 'cpu' }),
    (err: Error) => {
      assert.ok(err instanceof TorchCheckpointError, err.name);
      assert.match(err.message, /'posix\.system'/);
      assert.match(err.message, /evil_system\.pt/);
      return true;
    },
  );
  assert.equal(existsSync(join(dir, 'pwned_system')), false);
});

test('a checkpoint whose pickle calls builtins.eval is refused, naming the global', () => {
  assert.throws(() => loadTorchCheckpoint(join(dir, 'evil_eval.pt'), { device: 'cpu' }), /'(__builtin__|builtins)\.eval'/);
  assert.equal(existsSync(join(dir, 'pwned_eval')), false);
});

test('a legacy checkpoint whose pickle calls os.system is refused, naming the global', () => {
  assert.throws(() => loadTorchCheckpoint(join(dir, 'evil_legacy.pt'), { device: 'cpu' }), /'posix\.system'/);
  assert.equal(existsSync(join(dir, 'pwned_legacy')), false);
});

test('hand-made pickles: INST and NEWOBJ are refused, plain containers unpickle', () => {
  const refuseAll = { findGlobal: () => undefined };
  // INST 'os\nsystem\n' with a MARK and one string argument.
  const inst = Buffer.concat([
    Buffer.from([0x80, 0x02, 0x28]),
    Buffer.from('X'),
    Buffer.from([2, 0, 0, 0]),
    Buffer.from('ls'),
    Buffer.from('ios\nsystem\n.'),
  ]);
  assert.throws(() => unpickle(inst, refuseAll), /'os\.system' \(INST\)/);
  const newobj = Buffer.from([0x80, 0x02, 0x4e, 0x29, 0x81, 0x2e]);
  assert.throws(() => unpickle(newobj, refuseAll), /NEWOBJ/);
  // {'a': [1, -2, 3.5], 'b': (True, None)} as Python's pickle protocol 2 writes it.
  const plain = Buffer.from('gAJ9cQAoWAEAAABhcQFdcQIoSwFK/v///0dADAAAAAAAAGVYAQAAAGJxA4hOhnEEdS4=', 'base64');
  const { value } = unpickle(plain, refuseAll);
  assert.ok(value instanceof PickleDict);
  assert.deepEqual(value.entries.get('a'), [1, -2, 3.5]);
});

test('truncated and foreign files give one-line errors naming the file', () => {
  const bytes = readFileSync(join(dir, 'state_zip.pt'));
  assert.throws(
    () => parseTorchCheckpoint(bytes.subarray(0, bytes.length - 100), 'cut.pt', { device: 'cpu' }),
    /cut\.pt: .*(truncated|end-of-central-directory)/,
  );
  const legacy = readFileSync(join(dir, 'state_legacy.pt'));
  assert.throws(
    () => parseTorchCheckpoint(legacy.subarray(0, legacy.length - 8), 'cut-legacy.pt', { device: 'cpu' }),
    /cut-legacy\.pt: .*(truncated|past the end)/,
  );
  const other = join(dir, 'other.pt');
  writeFileSync(other, 'hello, not a checkpoint');
  assert.throws(() => loadTorchCheckpoint(other), /other\.pt: not a PyTorch checkpoint/);
  assert.throws(() => loadTorchCheckpoint(join(dir, 'missing.pt')), /missing\.pt: cannot read/);
});
