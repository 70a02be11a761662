/**
 * The code's references to the method description resolve for a reader of the repository: every
 * "docs/method.md section N" (or "sections N-M") in the sources names a section that
 * docs/method.md has, no reference points at a spec outside the repository, and the page cites
 * the papers it follows (iCT, CT, EDM).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(fileURLToPath(import.meta.url), '..', '..', '..');

function sources(): string[] {
  const out = [join(repoRoot, 'README.md')];
  for (const dir of ['src', 'test', 'bench', 'native', 'scripts']) {
    for (const e of readdirSync(join(repoRoot, dir), { withFileTypes: true, recursive: true })) {
      if (e.isFile() && /\.(ts|mjs|py|cc|h|sh)$/.test(e.name)) out.push(join(e.parentPath, e.name));
    }
  }
  return out;
}

/** The section numbers of a reference such as 'section 4', 'sections 2-5', 'sections 1 and 3'. */
function sectionNumbers(ref: string): number[] {
  const out: number[] = [];
  for (const m of ref.matchAll(/(\d+)(?:-(\d+))?/g)) {
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let n = a; n <= b; n++) out.push(n);
  }
  return out;
}

test('every docs/method.md section reference names a section of docs/method.md', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'method.md'), 'utf8');
  const sections = new Set([...doc.matchAll(/^## (\d+)\. /gm)].map((m) => Number(m[1])));
  assert.ok(sections.size >= 8, `docs/method.md has numbered sections 1..8, found ${[...sections].join(', ')}`);
  const missing: string[] = [];
  let count = 0;
  for (const file of sources()) {
    // A reference may wrap onto the next comment line.
    const text = readFileSync(file, 'utf8').replace(/\s*\n\s*(?:\*|\/\/|#)?\s*/g, ' ');
    for (const m of text.matchAll(/docs\/method\.md[ (]*sections? (\d+(?:\s*(?:-|,|and)\s*\d+)*)/g)) {
      count++;
      for (const n of sectionNumbers(m[1] ?? '')) if (!sections.has(n)) missing.push(`${relative(repoRoot, file)}: section ${n}`);
    }
  }
  assert.ok(count > 50, `found only ${count} references`);
  assert.deepEqual(missing, []);
});

test('no source refers to a spec outside the repository', () => {
  const stale = sources()
    .filter((f) => /ict-spec\.md|\b[Ss]pec sections? \d/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(repoRoot, f));
  assert.deepEqual(stale, [], 'these files cite the spec by a path or name the repository does not have; cite docs/method.md');
});

test('docs/method.md cites iCT, CT and EDM', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'method.md'), 'utf8');
  for (const arxiv of ['2310.14189', '2303.01469', '2206.00364']) assert.ok(doc.includes(`arXiv:${arxiv}`), `docs/method.md cites arXiv:${arxiv}`);
});
