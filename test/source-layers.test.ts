/**
 * The layers run one way, checked by reading the sources (a new import that breaks them fails here):
 * - the addon has one door: only the tensor layer (src/tensor) talks to native/*.node, the package
 *   root does not hand the raw addon out, and every native entry point runs inside the guard that
 *   turns C++ exceptions into JS errors naming the op (native/binding.h, GUARD_BEGIN/GUARD_END);
 * - the shipped program (src/) never imports the benchmarks (bench/), and the metrics do not
 *   depend on training or the CLI (src/cli/eval.ts joins them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as root from 'consistency-ts';

const repoRoot = join(fileURLToPath(import.meta.url), '..', '..', '..');

function sourceFiles(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(ext))
    .map((e) => join(e.parentPath, e.name));
}

test('the package root does not export the native addon', () => {
  assert.equal('native' in root, false, "consistency-ts exports 'native'");
  assert.equal('native' in root.nnf, false, "consistency-ts's nnf exports 'native'");
  // The wrappers that replaced direct calls are there.
  for (const name of ['buildInfo', 'tensor', 'liveTensorCount'] as const)
    assert.equal(typeof root[name], 'function', `consistency-ts exports ${name}`);
  assert.equal(typeof root.nnf.batchNorm, 'function');
  assert.equal(typeof root.buildInfo().torchVersion, 'string');
});

test('no module of src/ outside src/tensor imports the native addon', () => {
  const srcDir = join(repoRoot, 'src');
  const tensorDir = join(srcDir, 'tensor');
  // Static imports and re-exports ("from '...native.js'") and dynamic import('...native.js').
  const importsNative = /(?:from\s*|import\s*\(\s*)['"][^'"]*\/native(?:\.js)?['"]/;
  const files = sourceFiles(srcDir, '.ts');
  assert.ok(files.length > 50, `found only ${files.length} .ts files under ${srcDir}`);
  const offenders = files
    .filter((f) => !f.startsWith(tensorDir + '/') && importsNative.test(readFileSync(f, 'utf8')))
    .map((f) => relative(repoRoot, f));
  assert.deepEqual(offenders, [], 'these files import src/tensor/native.js; call a src/tensor wrapper instead');
  // The pattern does find the imports that are allowed, so an empty list above means something.
  assert.ok(importsNative.test(readFileSync(join(tensorDir, 'tensor.ts'), 'utf8')));
});

/** The relative module paths a TypeScript source imports or re-exports (static and dynamic). */
function importedPaths(source: string): string[] {
  return [...source.matchAll(/(?:from\s*|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1] ?? '');
}

test('src/ does not import bench/, and src/metrics does not import src/train or src/cli', () => {
  const srcDir = join(repoRoot, 'src');
  const offenders: string[] = [];
  for (const f of sourceFiles(srcDir, '.ts')) {
    for (const p of importedPaths(readFileSync(f, 'utf8'))) {
      const target = relative(repoRoot, join(f, '..', p));
      const inMetrics = f.startsWith(join(srcDir, 'metrics') + '/');
      if (target.startsWith('bench/') || (inMetrics && (target.startsWith('src/train/') || target.startsWith('src/cli/'))))
        offenders.push(`${relative(repoRoot, f)} -> ${p}`);
    }
  }
  assert.deepEqual(offenders, []);
  // The path reader does see imports: cli/eval.ts imports both metrics and train.
  const evalImports = importedPaths(readFileSync(join(srcDir, 'cli', 'eval.ts'), 'utf8'));
  assert.ok(evalImports.some((p) => p.startsWith('../metrics/')) && evalImports.some((p) => p.startsWith('../train/')), evalImports.join(', '));
});

/** The body of each function `NAME(const Napi::CallbackInfo& info) { ... }` of a C++ source, by name. */
function entryPoints(source: string): Map<string, string> {
  const out = new Map<string, string>();
  const head = /(?:ENTRY\((\w+)\)|static\s+Napi::Value\s+(\w+)\s*\(\s*const\s+Napi::CallbackInfo\s*&\s*\w+\s*\))\s*\{/g;
  for (let m = head.exec(source); m; m = head.exec(source)) {
    let depth = 1;
    let i = head.lastIndex;
    for (; i < source.length && depth > 0; i++) {
      if (source[i] === '{') depth++;
      else if (source[i] === '}') depth--;
    }
    out.set(m[1] ?? m[2] ?? '?', source.slice(head.lastIndex, i - 1));
  }
  return out;
}

test('every native entry point runs inside GUARD_BEGIN / GUARD_END', () => {
  const files = sourceFiles(join(repoRoot, 'native'), '.cc');
  let count = 0;
  const unguarded: string[] = [];
  for (const f of files) {
    // A macro that defines entry points (native/distributed.cc's ENTRY_POINT) is read as the code it makes.
    for (const [name, body] of entryPoints(readFileSync(f, 'utf8').replace(/\\\n/g, '\n'))) {
      count++;
      const start = body.indexOf('GUARD_BEGIN');
      const end = body.lastIndexOf('GUARD_END(');
      // The guard opens before the first statement that could throw and closes at the end.
      const beforeGuard =
        start < 0
          ? body
          : body
              .slice(0, start)
              .replace(/Napi::Env env = \w+\.Env\(\);/, '')
              .trim();
      if (
        start < 0 ||
        end < start ||
        beforeGuard !== '' ||
        body
          .slice(end)
          .replace(/GUARD_END\([^)]*\)/, '')
          .trim() !== ''
      )
        unguarded.push(`${relative(repoRoot, f)}: ${name}`);
    }
  }
  // binding.cc's hand-written entry points and the generated op table.
  assert.ok(count > 150, `found only ${count} entry points in native/*.cc`);
  assert.deepEqual(unguarded, [], 'these entry points are not wholly inside the guard');
});
