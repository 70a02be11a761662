#!/usr/bin/env node
// Builds the native addon (build/Release/consistency_native.node) against libtorch.
// libtorch is looked for, in this order:
//   1. $LIBTORCH: an unzipped libtorch, or a torch package folder (with include/ and lib/);
//   2. the torch that `python3` imports (its bundled headers and libraries; a CUDA PyTorch
//      gives GPU support);
//   3. the system's (Debian's libtorch-dev: /usr/include/torch, /usr/lib/<arch>/libtorch.so).
// Flags: --force rebuilds even when the addon is newer than its sources; --find-libtorch only
// looks for libtorch and prints what it found as JSON (builds nothing).
// CONSISTENCY_NO_SYSTEM_LIBTORCH=1 skips way 3 (lets a test see the message when all ways fail).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const outDir = join(root, 'build', 'Release');
const output = join(outDir, 'consistency_native.node');
const sources = ['native/binding.cc', 'native/ops.generated.cc', 'native/distributed.cc'];
const force = process.argv.includes('--force');
const findOnly = process.argv.includes('--find-libtorch');

function log(msg) {
  process.stderr.write(`consistency-ts native: ${msg}\n`);
}

function run(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Reads version, C++ ABI and folders of the torch a Python interpreter imports. */
function pythonTorch(python) {
  try {
    const out = run(python, ['-c', [
      'import json, os, torch',
      'd = os.path.dirname(torch.__file__)',
      'print(json.dumps({"root": d, "version": torch.__version__, "abi": int(torch._C._GLIBCXX_USE_CXX11_ABI), "cuda": torch.version.cuda}))',
    ].join('\n')]);
    return JSON.parse(out.split('\n').pop());
  } catch {
    return null;
  }
}

/** Guesses the C++11 ABI flag of a libtorch from its symbols (tch-rs does the same). */
function abiFromLibrary(libDir) {
  try {
    const syms = run('nm', ['-D', '--defined-only', join(libDir, 'libc10.so')]);
    return syms.includes('__cxx11') ? 1 : 0;
  } catch {
    return 1;
  }
}

function torchFromFolder(dir, how) {
  const include = join(dir, 'include');
  const lib = join(dir, 'lib');
  if (!existsSync(join(include, 'ATen', 'ATen.h')) || !existsSync(join(lib, 'libtorch.so'))) return null;
  return { how, includes: [include, join(include, 'torch', 'csrc', 'api', 'include')], lib, abi: abiFromLibrary(lib) };
}

function findLibtorch() {
  const tried = [];
  if (process.env.LIBTORCH) {
    const t = torchFromFolder(process.env.LIBTORCH, `LIBTORCH=${process.env.LIBTORCH}`);
    if (t) return t;
    tried.push(`LIBTORCH=${process.env.LIBTORCH} has no include/ATen/ATen.h and lib/libtorch.so`);
  }
  const python = process.env.CONSISTENCY_PYTHON || 'python3';
  const py = pythonTorch(python);
  if (py) {
    const t = torchFromFolder(py.root, `${python} (torch ${py.version})`);
    if (t) return { ...t, abi: py.abi, python, torchVersion: py.version };
    tried.push(`${python} imports torch ${py.version} from ${py.root}, but it has no bundled headers/libraries`);
  } else tried.push(`${python} cannot import torch`);
  let arch = 'x86_64-linux-gnu';
  try { arch = run('gcc', ['-print-multiarch']) || arch; } catch { /* keep default */ }
  const sysLib = `/usr/lib/${arch}`;
  if (process.env.CONSISTENCY_NO_SYSTEM_LIBTORCH === '1') tried.push('the system libtorch is skipped (CONSISTENCY_NO_SYSTEM_LIBTORCH=1)');
  else if (existsSync('/usr/include/ATen/ATen.h') && existsSync(join(sysLib, 'libtorch.so'))) {
    // Debian's python3-torch (for /usr/bin/python3) uses this same libtorch.
    return { how: 'system libtorch (Debian libtorch-dev)', includes: ['/usr/include', '/usr/include/torch/csrc/api/include'], lib: sysLib, abi: abiFromLibrary(sysLib), python: '/usr/bin/python3' };
  }
  else tried.push('no system libtorch (/usr/include/ATen/ATen.h, libtorch.so)');
  throw new Error([
    'libtorch was not found. Provide it in one of three ways:',
    '  1. set LIBTORCH to an unzipped libtorch (or a torch package folder with include/ and lib/);',
    "  2. install PyTorch for python3 (pip install torch): its bundled libtorch is used;",
    '  3. install Debian\'s libtorch-dev (apt-get install libtorch-dev python3-torch), or run scripts/setup.sh.',
    'What was tried:', ...tried.map((t) => `  - ${t}`),
  ].join('\n'));
}

/** What native/distributed.cc needs: c10d's headers in the libtorch, and for ProcessGroupGloo.hpp
 *  -DUSE_C10D_GLOO plus gloo's headers (Debian's libgloo-dev; a torch wheel may bundle them);
 *  NCCL when the libtorch has CUDA. Without them the addon builds with distributed training off. */
function distributedFlags(torch, hasCuda) {
  const c10dDir = torch.includes.map((i) => join(i, 'torch', 'csrc', 'distributed', 'c10d')).find((d) => existsSync(join(d, 'ProcessGroupGloo.hpp')));
  if (!c10dDir) return { flags: [], note: 'distributed training off: this libtorch has no c10d headers (ProcessGroupGloo.hpp)' };
  const glooInclude = [...torch.includes, '/usr/include'].find((i) => existsSync(join(i, 'gloo', 'algorithm.h')));
  if (!glooInclude) return { flags: [], note: 'distributed training off: no gloo headers (Debian: apt-get install libgloo-dev)' };
  const flags = ['-DCTS_HAVE_C10D', '-DUSE_C10D_GLOO', `-I${glooInclude}`];
  const nccl = hasCuda && existsSync(join(c10dDir, 'ProcessGroupNCCL.hpp'));
  if (nccl) flags.push('-DCTS_HAVE_NCCL', '-DUSE_C10D_NCCL');
  return { flags, note: `distributed training on: c10d with Gloo${nccl ? ' and NCCL' : ''}` };
}

function upToDate() {
  if (!existsSync(output)) return false;
  const built = statSync(output).mtimeMs;
  return [...sources, 'native/binding.h', 'scripts/build-native.mjs'].every((s) => statSync(join(root, s)).mtimeMs < built);
}

function compile(args) {
  return new Promise((resolve, reject) => {
    const p = spawn('g++', args, { stdio: ['ignore', 'inherit', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve(err) : reject(new Error(err || `g++ exited with ${code}`))));
  });
}

async function main() {
  if (findOnly) {
    console.log(JSON.stringify(findLibtorch()));
    return;
  }
  if (!force && upToDate()) {
    log('addon is up to date');
    return;
  }
  const torch = findLibtorch();
  log(`building against ${torch.how}`);
  mkdirSync(join(root, 'build', 'obj'), { recursive: true });
  mkdirSync(outDir, { recursive: true });
  const napiInclude = require('node-api-headers').include_dir;
  const addonInclude = dirname(require.resolve('node-addon-api/package.json'));
  const libs = readdirSync(torch.lib);
  const hasCuda = libs.includes('libtorch_cuda.so');
  const c10d = distributedFlags(torch, hasCuda);
  log(c10d.note);
  const common = [
    '-O2', '-fPIC', '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', `-D_GLIBCXX_USE_CXX11_ABI=${torch.abi}`,
    '-Wno-deprecated-declarations', '-Wno-unused-parameter',
    `-I${napiInclude}`, `-I${addonInclude}`, ...torch.includes.map((i) => `-I${i}`), ...c10d.flags,
  ];
  let std = process.env.CONSISTENCY_CXX_STD || 'c++17';
  const objects = sources.map((s) => join(root, 'build', 'obj', s.replace(/^native\//, '').replace(/\.cc$/, '.o')));
  const compileAll = () => Promise.all(sources.map((s, k) => compile([`-std=${std}`, ...common, '-c', join(root, s), '-o', objects[k]])));
  try {
    await compileAll();
  } catch (e) {
    // Newer libtorch headers need C++20; retry only when the errors point that way.
    if (process.env.CONSISTENCY_CXX_STD || !/c\+\+20|C\+\+20|requires|concept/.test(e.message)) throw e;
    log(`compiling with -std=${std} failed; retrying with -std=c++20`);
    std = 'c++20';
    await compileAll();
  }
  const link = [
    '-shared', '-o', output, ...objects, `-L${torch.lib}`, `-Wl,-rpath,${torch.lib}`,
    // CUDA libraries register their kernels at load time, so they must stay linked.
    '-Wl,--no-as-needed', ...(hasCuda ? ['-ltorch_cuda', '-lc10_cuda'] : []), '-ltorch', '-ltorch_cpu', '-lc10', '-Wl,--as-needed',
  ];
  await compile(link);
  writeFileSync(join(root, 'build', 'libtorch.json'), JSON.stringify({ how: torch.how, lib: torch.lib, abi: torch.abi, cuda: hasCuda, python: torch.python ?? null, std }, null, 2) + '\n');
  log(`built ${output}`);
}

main().catch((e) => {
  log(e.message);
  process.exit(1);
});
