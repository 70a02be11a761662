/**
 * The short version of `npm run fuzz`: every target gets a few hundred inputs (fixed seed, so the
 * run is the same each time) in its own child process (fuzz/run.ts), under the same contract and
 * time and allocation limits as the long runs. Also checks that the harness notices a failure: a
 * target that throws a plain TypeError must be reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FUZZ_TARGETS, checkOutcome, type FuzzTarget } from '../fuzz/targets.js';
import { fuzzTarget } from '../fuzz/run.js';
import { applyMutations } from '../fuzz/mutate.js';
import { DataError } from '../src/data/types.js';

const RUNS = 300;

for (const target of FUZZ_TARGETS) {
  test(`fuzz ${target.name}: ${RUNS} inputs, each parsed or refused with a typed one-line error in time`, async () => {
    const out = mkdtempSync(join(tmpdir(), 'fuzz-findings-'));
    try {
      const r = await fuzzTarget(target.name, { seconds: 60, runs: RUNS, seed: 20261201, out });
      assert.equal(r.failure, null, r.failure ? `${r.failure.problem} (input kept in ${r.failure.file}: ${r.failure.input})` : '');
      assert.ok(r.runs >= RUNS, `only ${r.runs} inputs ran`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}

test('checkOutcome tells a typed one-line refusal from a stray exception or a message of several lines', async () => {
  const scratch = mkdtempSync(join(tmpdir(), 'fuzz-check-'));
  try {
    const make = (run: () => void): FuzzTarget => ({ name: 't', what: 't', seeds: () => [], run, expected: [DataError] });
    assert.equal(
      await checkOutcome(
        make(() => undefined),
        new Uint8Array(0),
        scratch,
      ),
      null,
    );
    assert.equal(
      await checkOutcome(
        make(() => {
          throw new DataError('x.bin: bad');
        }),
        new Uint8Array(0),
        scratch,
      ),
      null,
    );
    assert.match(
      (await checkOutcome(
        make(() => {
          throw new TypeError('cannot read properties of undefined');
        }),
        new Uint8Array(0),
        scratch,
      )) ?? '',
      /threw TypeError/,
    );
    const multi = new DataError('a');
    Object.defineProperty(multi, 'message', { value: 'line one\nline two' });
    assert.match(
      (await checkOutcome(
        make(() => {
          throw multi;
        }),
        new Uint8Array(0),
        scratch,
      )) ?? '',
      /not one line/,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

test('mutations: truncation, insertion, 32-bit integers in both byte orders', () => {
  const seed = Uint8Array.of(1, 2, 3, 4, 5, 6);
  assert.deepEqual([...applyMutations(seed, [{ kind: 'truncate', keep: 4 }])], [1, 2, 3, 4]);
  assert.deepEqual([...applyMutations(seed, [{ kind: 'insert', at: 2, bytes: Uint8Array.of(9, 9) }])], [1, 2, 9, 9, 3, 4, 5, 6]);
  assert.deepEqual([...applyMutations(seed, [{ kind: 'int', at: 1, width: 4, value: 0x01020304n, little: true }])], [1, 4, 3, 2, 1, 6]);
  assert.deepEqual([...applyMutations(seed, [{ kind: 'int', at: 1, width: 4, value: 0x01020304n, little: false }])], [1, 1, 2, 3, 4, 6]);
  assert.deepEqual([...applyMutations(seed, [{ kind: 'duplicate', at: 4, count: 9 }])], [1, 2, 3, 4, 5, 6, 5, 6]);
});
