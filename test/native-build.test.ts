/**
 * The native build: the committed generated files match the op table (scripts/gen-ops.mjs), the
 * loaded addon has every op of the table, and missing prerequisites fail with messages that say
 * how to provide them (libtorch discovery of scripts/build-native.mjs with all three sources
 * hidden, the Python torch of the reference tests, the addon file itself, an addon out of date
 * with the TypeScript or the sources), the supported-version
 * check, and that the reference Python's torch is the libtorch the addon runs on. The failing cases run
 * in child processes with a prepared environment; nothing here builds the addon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { native } from '../src/tensor/native.js';
import { setAllowTF32CuDNN } from '../src/tensor/device.js';
import { generatedOpNames } from '../src/tensor/ops.generated.js';
import { repoRoot, torchPython, torchPythonEnv } from './helpers/python.js';
import { CLI } from './helpers/cli.js';

interface Generated {
  cc: string;
  ts: string;
  count: number;
}

test('native/ops.generated.cc and src/tensor/ops.generated.ts are what gen-ops.mjs makes from native/ops.table', async () => {
  const gen = (await import(pathToFileURL(join(repoRoot, 'scripts', 'gen-ops.mjs')).href)) as { generate: () => Generated };
  const { cc, ts, count } = gen.generate();
  const hint = "run 'node scripts/gen-ops.mjs' and commit the result";
  assert.equal(readFileSync(join(repoRoot, 'native', 'ops.generated.cc'), 'utf8'), cc, `native/ops.generated.cc is stale: ${hint}`);
  assert.equal(readFileSync(join(repoRoot, 'src', 'tensor', 'ops.generated.ts'), 'utf8'), ts, `src/tensor/ops.generated.ts is stale: ${hint}`);
  const tableOps = readFileSync(join(repoRoot, 'native', 'ops.table'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'))
    .map((l) => l.split(' | ')[0]!.trim());
  assert.equal(count, tableOps.length);
  assert.deepEqual([...generatedOpNames], tableOps, 'one generated op per table line, in table order');
});

test('the loaded addon exports every op of the table and says what it was built against', () => {
  const exported = native as unknown as Record<string, unknown>;
  const missing = generatedOpNames.filter((n) => typeof exported[n] !== 'function');
  assert.deepEqual(missing, [], 'the addon is older than the table: rebuild it');
  const info = native.buildInfo();
  assert.match(info.torchVersion, /^\d+\.\d+\.\d+/);
  assert.equal(typeof info.cuda, 'boolean');
});

/** Runs scripts/build-native.mjs --find-libtorch with exactly `env`. */
function findLibtorch(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'build-native.mjs'), '--find-libtorch'], {
    encoding: 'utf8',
    env,
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("setAllowTF32CuDNN sets libtorch's cuDNN TF32 flag (default true, as torch.backends.cudnn.allow_tf32) and returns the previous value", () => {
  const first = setAllowTF32CuDNN(false);
  try {
    assert.equal(first, true, 'TF32 for cuDNN is on by default');
    assert.equal(setAllowTF32CuDNN(false), false);
    assert.throws(() => native.setAllowTF32CuDNN(1 as unknown as boolean), /setAllowTF32CuDNN: argument 'allow' must be a boolean, got number 1/);
  } finally {
    setAllowTF32CuDNN(first);
  }
});

test('libtorch discovery finds a libtorch on this machine', () => {
  const r = findLibtorch({ ...process.env } as Record<string, string>);
  assert.equal(r.status, 0, r.stderr);
  const found = JSON.parse(r.stdout) as { how: string; includes: string[]; lib: string };
  assert.ok(existsSync(join(found.includes[0]!, 'ATen', 'ATen.h')), `headers at ${found.includes[0]}`);
  assert.ok(existsSync(join(found.lib, 'libtorch.so')), `libtorch.so in ${found.lib}`);
});

test('with LIBTORCH empty, no python3 with torch and the system libtorch hidden, discovery fails naming all three ways', () => {
  const empty = mkdtempSync(join(tmpdir(), 'no-libtorch-'));
  try {
    const r = findLibtorch({
      PATH: empty, // no python3, no gcc
      LIBTORCH: empty,
      CONSISTENCY_PYTHON: join(empty, 'python3'),
      CONSISTENCY_NO_SYSTEM_LIBTORCH: '1',
      HOME: empty,
    });
    assert.equal(r.status, 1, `expected exit 1; stdout: ${r.stdout}; stderr: ${r.stderr}`);
    assert.equal(r.stdout, '', 'nothing is reported as found');
    assert.match(r.stderr, /libtorch was not found\. Provide it in one of three ways:/);
    assert.match(r.stderr, /1\. set LIBTORCH to an unzipped libtorch/);
    assert.match(r.stderr, /2\. install PyTorch for python3/);
    assert.match(r.stderr, /3\. install Debian's libtorch-dev/);
    // And what was tried, one line per way.
    assert.match(r.stderr, new RegExp(`LIBTORCH=${empty.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} has no include/ATen/ATen.h and lib/libtorch.so`));
    assert.match(r.stderr, /python3 cannot import torch/);
    assert.match(r.stderr, /the system libtorch is skipped \(CONSISTENCY_NO_SYSTEM_LIBTORCH=1\)/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('torchPython() with TORCH_PYTHON pointing nowhere fails with a message saying how to get torch', () => {
  const helper = pathToFileURL(join(repoRoot, 'dist', 'test', 'helpers', 'python.js')).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { torchPython } from ${JSON.stringify(helper)}; torchPython();`], {
    encoding: 'utf8',
    env: { ...process.env, TORCH_PYTHON: '/nonexistent/bin/python3' },
    timeout: 60_000,
  });
  assert.notEqual(r.status, 0, 'torchPython() must fail');
  assert.equal(r.signal, null);
  assert.match(
    r.stderr,
    /no Python with torch for the reference tests \(install Debian's python3-torch: apt-get install python3-torch, or set TORCH_PYTHON\)/,
  );
  assert.match(r.stderr, /\/nonexistent\/bin\/python3: .*ENOENT/);
});

test('a missing addon file fails at import with the build instructions', () => {
  const index = pathToFileURL(join(repoRoot, 'dist', 'src', 'tensor', 'index.js')).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(index)});`], {
    encoding: 'utf8',
    env: { ...process.env, CONSISTENCY_NATIVE_ADDON: '/nonexistent/consistency_native.node' },
    timeout: 60_000,
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /the native addon \/nonexistent\/consistency_native\.node is not built\. Run 'npm install'/);
  assert.match(r.stderr, /set LIBTORCH, install torch for python3, or install Debian's libtorch-dev/);
});

/**
 * Runs an import of the tensor layer (or `args`, a node command line) with CONSISTENCY_NATIVE_ADDON
 * at a stub module that wraps the real addon, changed by `stubBody`.
 */
function importWithStubAddon(stubBody: string, args?: string[]): { status: number | null; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'stale-addon-'));
  try {
    const stub = join(dir, 'consistency_native.cjs');
    const real = join(repoRoot, 'build', 'Release', 'consistency_native.node');
    writeFileSync(stub, `const exported = { ...require(${JSON.stringify(real)}) };\n${stubBody}\nmodule.exports = exported;\n`);
    const index = pathToFileURL(join(repoRoot, 'dist', 'src', 'tensor', 'index.js')).href;
    const r = spawnSync(process.execPath, args ?? ['--input-type=module', '-e', `await import(${JSON.stringify(index)});`], {
      encoding: 'utf8',
      env: { ...process.env, CONSISTENCY_NATIVE_ADDON: stub },
      timeout: 60_000,
    });
    return { status: r.status, stderr: r.stderr.replaceAll(stub, 'STUB') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('an addon older than the TypeScript (an entry point missing) stops at import with one line naming it and the rebuild', () => {
  // What an addon built before native/distributed.cc gained distInfo looked like to bench/ddp.
  const r = importWithStubAddon('delete exported.distInfo; delete exported.distReducerBuckets;');
  assert.notEqual(r.status, 0);
  assert.match(
    r.stderr,
    /consistency-ts: the native addon STUB is out of date \(it lacks distInfo, distReducerBuckets\); run 'npm run build:native'/,
  );
  assert.doesNotMatch(r.stderr, /is not a function/);
  // The command line prints it as its one line.
  const cli = importWithStubAddon('delete exported.distInfo;', [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'train', '--steps', '1']);
  assert.equal(cli.status, 1);
  assert.equal(cli.stderr, "error: consistency-ts: the native addon STUB is out of date (it lacks distInfo); run 'npm run build:native'\n");
});

test('an addon built from other native/ sources (its source hash differs) stops at import with the rebuild', () => {
  const r = importWithStubAddon("exported.sourceHash = '0'.repeat(64);");
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /the native addon STUB is out of date \(built from other sources than .*native\); run 'npm run build:native'/);
  // The unmodified addon passes the same checks: its hash is that of native/ now.
  assert.equal(importWithStubAddon('').status, 0);
});

test('a file that is no loadable addon fails at import with one line and the rebuild', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bad-addon-'));
  try {
    const file = join(dir, 'consistency_native.node');
    writeFileSync(file, 'not an ELF file');
    const index = pathToFileURL(join(repoRoot, 'dist', 'src', 'tensor', 'index.js')).href;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(index)});`], {
      encoding: 'utf8',
      env: { ...process.env, CONSISTENCY_NATIVE_ADDON: file },
      timeout: 60_000,
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /consistency-ts: cannot load the native addon .*consistency_native\.node \(.*\); run 'npm run build:native'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A fake libtorch folder whose headers say `major.minor.0` (enough for discovery and the version check). */
function fakeLibtorch(major: number, minor: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'fake-libtorch-'));
  mkdirSync(join(dir, 'include', 'ATen'), { recursive: true });
  mkdirSync(join(dir, 'include', 'torch'), { recursive: true });
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'include', 'ATen', 'ATen.h'), '');
  writeFileSync(
    join(dir, 'include', 'torch', 'version.h'),
    `#define TORCH_VERSION_MAJOR ${major}\n#define TORCH_VERSION_MINOR ${minor}\n#define TORCH_VERSION_PATCH 0\n`,
  );
  writeFileSync(join(dir, 'lib', 'libtorch.so'), '');
  return dir;
}

test('a libtorch outside the supported range is refused with the range and the override named; the override lets it through', () => {
  for (const [major, minor] of [
    [2, 99],
    [1, 12],
  ] as const) {
    const dir = fakeLibtorch(major, minor);
    try {
      const env = { ...process.env, LIBTORCH: dir } as Record<string, string>;
      delete env['CONSISTENCY_TORCH'];
      const refused = findLibtorch(env);
      assert.equal(refused.status, 1, refused.stderr);
      assert.equal(refused.stdout, '');
      assert.match(
        refused.stderr,
        new RegExp(
          `libtorch ${major}\\.${minor}\\.0 is outside the supported range 1\\.13 to 2\\.15\\.x; set CONSISTENCY_LIBTORCH_BYPASS_VERSION_CHECK=1`,
        ),
      );
      const bypassed = findLibtorch({ ...env, CONSISTENCY_LIBTORCH_BYPASS_VERSION_CHECK: '1' });
      assert.equal(bypassed.status, 0, bypassed.stderr);
      assert.equal((JSON.parse(bypassed.stdout) as { version: string }).version, `${major}.${minor}.0`);
      assert.match(bypassed.stderr, /building anyway \(CONSISTENCY_LIBTORCH_BYPASS_VERSION_CHECK=1\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('CONSISTENCY_TORCH accepts only pip or debian', () => {
  const r = findLibtorch({ ...process.env, CONSISTENCY_TORCH: 'conda' } as Record<string, string>);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /CONSISTENCY_TORCH must be 'pip' or 'debian', got 'conda'/);
});

test('the reference Python imports the torch the addon was built against', () => {
  const info = native.buildInfo();
  const record = JSON.parse(readFileSync(join(repoRoot, 'build', 'libtorch.json'), 'utf8')) as { version: string; lib: string };
  assert.equal(record.version, info.torchVersion, 'build/libtorch.json describes the loaded addon');
  const r = spawnSync(torchPython(), ['-c', 'import os, torch; print(torch.__version__); print(os.path.realpath(os.path.dirname(torch.__file__)))'], {
    encoding: 'utf8',
    env: torchPythonEnv(),
  });
  assert.equal(r.status, 0, r.stderr);
  const [version = '', folder = ''] = r.stdout.trim().split('\n');
  assert.equal(
    version.split('.').slice(0, 2).join('.'),
    info.torchVersion.split('.').slice(0, 2).join('.'),
    `Python's torch ${version} vs the addon's ${info.torchVersion}`,
  );
  // A pip torch is the very folder the addon links; Debian's python3-torch links the system libtorch.
  if (record.lib.endsWith(join('torch', 'lib'))) assert.equal(join(folder, 'lib'), realpathSync(record.lib));
});

test('consistency --version prints the package version and the libtorch it runs on; a CUDA libtorch without a GPU reports none', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const record = JSON.parse(readFileSync(join(repoRoot, 'build', 'libtorch.json'), 'utf8')) as { version: string; cuda: boolean };
  const r = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const [first, second, ...rest] = r.stdout.trimEnd().split('\n');
  assert.equal(first, `consistency-ts ${pkg.version}`);
  assert.deepEqual(rest, []);
  const info = native.buildInfo();
  // The build script saw libtorch_cuda.so and linked it; the addon must say CUDA is built in.
  assert.equal(info.cudaBuilt, record.cuda, 'buildInfo().cudaBuilt agrees with the linked libraries');
  const gpuPresent = existsSync('/dev/nvidia0');
  if (!gpuPresent) assert.equal(info.cuda, false, 'no GPU here, so CUDA is not available, even on a CUDA libtorch');
  const cuda = record.cuda ? `CUDA \\d+\\.\\d+, ${info.cudaDeviceCount} GPUs? visible` : 'CPU only';
  assert.match(second ?? '', new RegExp(`^libtorch ${record.version.replace(/\./g, '\\.')} \\(${cuda}\\), \\d+ threads?$`));
});
