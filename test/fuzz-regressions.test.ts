/**
 * Inputs the fuzzer once found failing (test/fuzz-corpus/<target>/*.bin, copied from
 * fuzz-findings/ after the fix) are replayed through their target: each must now parse or be
 * refused with the target's typed error in one line (checkOutcome, fuzz/targets.ts). The seeds are
 * replayed too: they must parse without any error at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FUZZ_TARGETS, checkOutcome, findTarget } from '../fuzz/targets.js';
import { repoRoot } from './helpers/python.js';

const CORPUS = join(repoRoot, 'test', 'fuzz-corpus');

test('every corpus folder names a fuzz target, and the corpus is not empty', () => {
  const folders = readdirSync(CORPUS).filter((d) => d !== 'seeds');
  assert.ok(folders.length > 0);
  for (const d of folders) assert.ok(findTarget(d), `test/fuzz-corpus/${d} names no target`);
});

for (const dir of readdirSync(CORPUS)
  .filter((d) => d !== 'seeds')
  .sort()) {
  test(`fuzz regressions of ${dir}: each input parses or is refused with a typed one-line error`, async () => {
    const target = findTarget(dir);
    assert.ok(target);
    const files = readdirSync(join(CORPUS, dir)).sort();
    assert.ok(files.length > 0);
    for (const f of files) {
      const scratch = mkdtempSync(join(tmpdir(), 'fuzz-regression-'));
      try {
        const problem = await checkOutcome(target, new Uint8Array(readFileSync(join(CORPUS, dir, f))), scratch);
        assert.equal(problem, null, `${dir}/${f}: ${problem ?? ''}`);
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    }
  });
}

test('every file target parses its own seeds without error (so mutations start from valid files)', async () => {
  // The CLI's seeds are command lines confined to missing files: they are refused, not run.
  for (const target of FUZZ_TARGETS.filter((t) => t.name !== 'cli')) {
    const scratch = mkdtempSync(join(tmpdir(), 'fuzz-seed-'));
    process.env['FUZZ_SCRATCH'] = scratch;
    try {
      for (const [i, seed] of target.seeds().entries()) {
        await assert.doesNotReject(async () => target.run(seed, scratch), `${target.name} seed ${i}`);
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
});
