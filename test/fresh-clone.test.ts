/**
 * `npm test` must pass in a user's fresh clone, which has only the repository and what
 * scripts/setup.sh installs (issue 15, "The README's test command on a fresh clone"). A developer
 * machine may have a `shared` folder beside the repository (project data, the real CIFAR-10); a test or library
 * file that reads it would pass here and fail for every user. This test fails when any file under
 * src/, test/, bench/, scripts/ or .ci/ names such a path. (.ci/run also hides that folder while the tests
 * run, which catches paths built in ways no pattern sees; this test names the file and line.)
 * Opt-in checks that need outside data take it as an argument (test/opt-in/cifar10-real.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { repoRoot } from './helpers/python.js';

const SCANNED = ['src', 'test', 'bench', 'scripts', '.ci'];
const TEXT = /\.(ts|mts|js|mjs|cjs|py|sh|json|md)$|^run$/;

// Built from pieces so that this file, which is scanned too, does not name the path itself.
const SHARED = 'sha' + 'red';
const OUTSIDE_PATHS: { what: string; re: RegExp }[] = [
  { what: `../${SHARED}`, re: new RegExp(`(^|[^.\\w])\\.\\./${SHARED}\\b`) },
  { what: `/work/${SHARED}`, re: new RegExp(`/work/${SHARED}\\b`) },
  { what: `join(..., '..', '${SHARED}')`, re: new RegExp(`['"]\\.\\.['"]\\s*,\\s*['"]${SHARED}['"]`) },
];

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) yield* files(p);
    else if (st.isFile() && TEXT.test(name)) yield p;
  }
}

/** Every `file:line: text` in the scanned folders that names a path outside the repository. */
function outsidePathReferences(root: string): string[] {
  const found: string[] = [];
  for (const top of SCANNED) {
    let st;
    try {
      st = statSync(join(root, top));
    } catch {
      continue;
    }
    if (!st.isDirectory()) continue;
    for (const file of files(join(root, top))) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        for (const { what, re } of OUTSIDE_PATHS) {
          if (re.test(line)) found.push(`${relative(root, file)}:${i + 1}: names ${what}: ${line.trim()}`);
        }
      });
    }
  }
  return found;
}

test("no file in src/, test/, bench/, scripts/ or .ci/ reads the developer machine's shared folder beside the repository", () => {
  const found = outsidePathReferences(repoRoot);
  assert.deepEqual(
    found,
    [],
    `a user's clone has no shared folder beside it; make the data in the test or take it as an argument:\n${found.join('\n')}`,
  );
});

test('the scan flags each form in a planted file and leaves ordinary uses of the word alone (it is not vacuous)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'consistency-fresh-clone-'));
  try {
    mkdirSync(join(dir, 'test', 'nested'), { recursive: true });
    const planted = [
      `const a = join(root, '..', '${SHARED}', 'data');`,
      `read('../${SHARED}/data/x');`,
      `const b = '/work/${SHARED}/data';`,
      `cc('-${SHARED}', '-o', out); // a ${SHARED} storage`,
    ];
    writeFileSync(join(dir, 'test', 'nested', 'planted.ts'), planted.join('\n'));
    const found = outsidePathReferences(dir);
    assert.deepEqual(
      found.map((f) => f.split(': names')[0]),
      ['test/nested/planted.ts:1', 'test/nested/planted.ts:2', 'test/nested/planted.ts:3'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
