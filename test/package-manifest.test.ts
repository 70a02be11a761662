/**
 * package.json's "files" list matches what exists: npm's own file selection (`npm pack --dry-run`)
 * packs at least one file for every entry, and the sources the install script compiles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(fileURLToPath(import.meta.url), '..', '..', '..');

test("every entry of package.json's files list packs at least one file", () => {
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { files: string[] };
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `npm pack --dry-run failed: ${r.stderr}`);
  const packs = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
  const paths = (packs[0]?.files ?? []).map((f) => f.path);
  for (const entry of manifest.files) {
    // npm's patterns here are a folder or a single-level '*' glob.
    const pattern = new RegExp(`^${entry.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/|$)`);
    assert.ok(
      paths.some((p) => pattern.test(p)),
      `package.json files entry '${entry}' matches nothing npm would pack`,
    );
  }
  for (const needed of ['native/binding.cc', 'native/binding.h', 'native/ops.generated.cc', 'scripts/build-native.mjs', 'dist/src/index.js'])
    assert.ok(paths.includes(needed), `the package lacks ${needed}`);
});
