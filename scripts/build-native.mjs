#!/usr/bin/env node
// Builds the native addon (build/Release/consistency_native.node) against libtorch.
// libtorch is looked for, in this order:
//   1. $LIBTORCH: an unzipped libtorch, or a torch package folder (with include/ and lib/);
//   2. the torch that `python3` imports (its bundled headers and libraries; a CUDA PyTorch
//      gives GPU support);
//   3. the system's (Debian's libtorch-dev: /usr/include/torch, /usr/lib/<arch>/libtorch.so).
// Flags: --force rebuilds even when the addon is newer than its sources; --find-libtorch only
// looks for libtorch, checks its version and prints what it found as JSON (builds nothing);
// --out DIR builds into DIR (DIR/Release/consistency_native.node, DIR/obj, DIR/libtorch.json)
// instead of build/, so a second build against another libtorch can sit beside the default one
// (e.g. CONSISTENCY_TORCH=pip node scripts/build-native.mjs --out build/pip; load it with
// CONSISTENCY_NATIVE_ADDON=build/pip/Release/consistency_native.node).
// CONSISTENCY_NO_SYSTEM_LIBTORCH=1 skips way 3 (lets a test see the message when all ways fail).
// gloo's headers (for distributed training) are looked for in the libtorch, then in
// $CONSISTENCY_GLOO_INCLUDE (a folder holding gloo/), then in /usr/include (Debian's libgloo-dev).
// The libtorch's version (read from its headers) must lie in SUPPORTED_TORCH below, the versions
// the test suite has passed against; CONSISTENCY_LIBTORCH_BYPASS_VERSION_CHECK=1 builds anyway
// (as tch-rs's LIBTORCH_BYPASS_VERSION_CHECK). The C++ standard follows the version (2.x headers
// need C++20); CONSISTENCY_CXX_STD overrides it.
// build/libtorch.json records what was built against, including the Python (and PYTHONPATH)
// whose torch is that same libtorch: the tests compare against it (test/helpers/python.ts).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
// The fingerprint compiled into the addon (CTS_SOURCE_HASH), checked again at load by src/tensor/native.ts.
const { nativeSourceHash } = require('./native-source-hash.cjs');
const outFlag = process.argv.indexOf('--out');
if (outFlag >= 0 && !process.argv[outFlag + 1]) {
  process.stderr.write('consistency-ts native: --out needs a folder\n');
  process.exit(2);
}
const buildDir = outFlag >= 0 ? resolve(process.argv[outFlag + 1]) : join(root, 'build');
const outDir = join(buildDir, 'Release');
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
    const out = run(python, [
      '-c',
      [
        'import json, os, torch',
        'd = os.path.dirname(torch.__file__)',
        'print(json.dumps({"root": d, "version": torch.__version__, "abi": int(torch._C._GLIBCXX_USE_CXX11_ABI), "cuda": torch.version.cuda}))',
      ].join('\n'),
    ]);
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

/** The oldest and newest libtorch (major.minor) the test suite has passed against. */
const SUPPORTED_TORCH = { min: [1, 13], max: [2, 15] };

/** Reads TORCH_VERSION_{MAJOR,MINOR,PATCH} from a libtorch's headers through the preprocessor. */
function headerVersion(includes) {
  const src = '#include <torch/version.h>\nTORCH_VERSION_MAJOR TORCH_VERSION_MINOR TORCH_VERSION_PATCH\n';
  const out = execFileSync('g++', ['-std=c++20', '-E', '-P', '-x', 'c++', ...includes.map((i) => `-I${i}`), '-'], { input: src, encoding: 'utf8' });
  const m = /(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(out.trim());
  if (!m) throw new Error(`cannot read the libtorch version from torch/version.h under ${includes[0]}`);
  return m.slice(1, 4).map(Number);
}

function checkVersion(version) {
  const [major, minor] = version;
  const key = major * 1000 + minor;
  const { min, max } = SUPPORTED_TORCH;
  if (key >= min[0] * 1000 + min[1] && key <= max[0] * 1000 + max[1]) return;
  const msg = `libtorch ${version.join('.')} is outside the supported range ${min.join('.')} to ${max.join('.')}.x`;
  if (process.env.CONSISTENCY_LIBTORCH_BYPASS_VERSION_CHECK === '1') log(`${msg}; building anyway (CONSISTENCY_LIBTORCH_BYPASS_VERSION_CHECK=1)`);
  else throw new Error(`${msg}; set CONSISTENCY_LIBTORCH_BYPASS_VERSION_CHECK=1 to build against it anyway`);
}

/**
 * The Python whose torch is this libtorch, with the PYTHONPATH it needs: for a torch package
 * folder (LIBTORCH=.../site-packages/torch, as `CONSISTENCY_TORCH=pip scripts/setup.sh` makes)
 * its parent goes on PYTHONPATH. Only a Python importing the same torch version counts.
 */
function matchingPython(candidates, pythonPath, version) {
  const want = version.slice(0, 2).join('.');
  for (const python of candidates) {
    let py;
    try {
      const env = pythonPath ? { ...process.env, PYTHONPATH: [pythonPath, process.env.PYTHONPATH].filter(Boolean).join(':') } : process.env;
      py = JSON.parse(
        execFileSync(python, ['-c', 'import json, torch; print(json.dumps(torch.__version__))'], {
          encoding: 'utf8',
          env,
          stdio: ['ignore', 'pipe', 'ignore'],
        })
          .trim()
          .split('\n')
          .pop(),
      );
    } catch {
      continue;
    }
    if (py.split('.').slice(0, 2).join('.') === want) return { python, pythonPath: pythonPath ?? null, pythonTorch: py };
  }
  return { python: null, pythonPath: null, pythonTorch: null };
}

function torchFromFolder(dir, how) {
  const include = join(dir, 'include');
  const lib = join(dir, 'lib');
  if (!existsSync(join(include, 'ATen', 'ATen.h')) || !existsSync(join(lib, 'libtorch.so'))) return null;
  return { how, includes: [include, join(include, 'torch', 'csrc', 'api', 'include')], lib, abi: abiFromLibrary(lib) };
}

/** The pip-installed torch of `CONSISTENCY_TORCH=pip bash scripts/setup.sh`. */
const pipTorch = join(root, '.cache', 'torch-pip', 'torch');

function systemLibtorch() {
  let arch = 'x86_64-linux-gnu';
  try {
    arch = run('gcc', ['-print-multiarch']) || arch;
  } catch {
    /* keep default */
  }
  const sysLib = `/usr/lib/${arch}`;
  if (!existsSync('/usr/include/ATen/ATen.h') || !existsSync(join(sysLib, 'libtorch.so'))) return null;
  // Debian's python3-torch (for /usr/bin/python3) uses this same libtorch.
  return {
    how: 'system libtorch (Debian libtorch-dev)',
    includes: ['/usr/include', '/usr/include/torch/csrc/api/include'],
    lib: sysLib,
    abi: abiFromLibrary(sysLib),
    pythons: ['/usr/bin/python3'],
    pythonPath: null,
  };
}

function findLibtorch() {
  const tried = [];
  const pythons = [...new Set([process.env.CONSISTENCY_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean))];
  // CONSISTENCY_TORCH names the choice of scripts/setup.sh: 'pip' (its folder) or 'debian'.
  const choice = process.env.CONSISTENCY_TORCH;
  if (choice === 'pip') {
    const t = torchFromFolder(pipTorch, `pip's torch in ${pipTorch}`);
    if (t) return { ...t, pythons, pythonPath: dirname(pipTorch) };
    throw new Error(
      `CONSISTENCY_TORCH=pip, but ${pipTorch} has no torch with headers and libraries: run CONSISTENCY_TORCH=pip bash scripts/setup.sh`,
    );
  }
  if (choice === 'debian') {
    const t = systemLibtorch();
    if (t) return t;
    throw new Error("CONSISTENCY_TORCH=debian, but Debian's libtorch-dev is not installed: run bash scripts/setup.sh");
  }
  if (choice) throw new Error(`CONSISTENCY_TORCH must be 'pip' or 'debian', got '${choice}'`);
  if (process.env.LIBTORCH) {
    const t = torchFromFolder(process.env.LIBTORCH, `LIBTORCH=${process.env.LIBTORCH}`);
    // A torch package folder (site-packages/torch) is imported from its parent.
    if (t) return { ...t, pythons, pythonPath: existsSync(join(process.env.LIBTORCH, '__init__.py')) ? dirname(process.env.LIBTORCH) : null };
    tried.push(`LIBTORCH=${process.env.LIBTORCH} has no include/ATen/ATen.h and lib/libtorch.so`);
  }
  const python = process.env.CONSISTENCY_PYTHON || 'python3';
  const py = pythonTorch(python);
  if (py) {
    const t = torchFromFolder(py.root, `${python} (torch ${py.version})`);
    if (t) return { ...t, abi: py.abi, pythons: [python], pythonPath: null, torchVersion: py.version };
    tried.push(`${python} imports torch ${py.version} from ${py.root}, but it has no bundled headers/libraries`);
  } else tried.push(`${python} cannot import torch`);
  if (process.env.CONSISTENCY_NO_SYSTEM_LIBTORCH === '1') tried.push('the system libtorch is skipped (CONSISTENCY_NO_SYSTEM_LIBTORCH=1)');
  else {
    const t = systemLibtorch();
    if (t) return t;
    tried.push('no system libtorch (/usr/include/ATen/ATen.h, libtorch.so)');
  }
  throw new Error(
    [
      'libtorch was not found. Provide it in one of three ways:',
      '  1. set LIBTORCH to an unzipped libtorch (or a torch package folder with include/ and lib/);',
      '  2. install PyTorch for python3 (pip install torch): its bundled libtorch is used;',
      "  3. install Debian's libtorch-dev (apt-get install libtorch-dev python3-torch), or run scripts/setup.sh.",
      'What was tried:',
      ...tried.map((t) => `  - ${t}`),
    ].join('\n'),
  );
}

/** What native/distributed.cc needs: c10d's headers in the libtorch, and for ProcessGroupGloo.hpp
 *  -DUSE_C10D_GLOO plus gloo's headers (Debian's libgloo-dev; a torch wheel may bundle them);
 *  NCCL when the libtorch has CUDA. Without them the addon builds with distributed training off. */
function distributedFlags(torch, hasCuda) {
  const c10dDir = torch.includes.map((i) => join(i, 'torch', 'csrc', 'distributed', 'c10d')).find((d) => existsSync(join(d, 'ProcessGroupGloo.hpp')));
  if (!c10dDir) return { flags: [], note: 'distributed training off: this libtorch has no c10d headers (ProcessGroupGloo.hpp)' };
  // CONSISTENCY_GLOO_INCLUDE: a folder holding gloo/ (scripts/gpu-check.sh unpacks the headers it carries there).
  const glooDirs = [...torch.includes, process.env.CONSISTENCY_GLOO_INCLUDE, '/usr/include'].filter(Boolean);
  const glooInclude = glooDirs.find((i) => existsSync(join(i, 'gloo', 'algorithm.h')));
  if (!glooInclude)
    return { flags: [], note: 'distributed training off: no gloo headers (Debian: apt-get install libgloo-dev, or set CONSISTENCY_GLOO_INCLUDE)' };
  const flags = ['-DCTS_HAVE_C10D', '-DUSE_C10D_GLOO', `-I${glooInclude}`];
  // ProcessGroupNCCL.hpp includes the CUDA toolkit's and NCCL's headers, which a CUDA libtorch
  // does not always bring (PyPI's torch does, in its nvidia-* packages); without them, Gloo only.
  const cuda = hasCuda && existsSync(join(c10dDir, 'ProcessGroupNCCL.hpp')) ? cudaIncludes(torch) : null;
  if (cuda) flags.push('-DCTS_HAVE_NCCL', '-DUSE_C10D_NCCL', ...cuda.map((d) => `-I${d}`));
  const ncclNote = hasCuda && !cuda ? ' (NCCL off: no cuda.h and nccl.h found; set CUDA_HOME)' : '';
  return { flags, note: `distributed training on: c10d with Gloo${cuda ? ' and NCCL' : ncclNote}` };
}

/** Include folders with the CUDA toolkit's cuda.h and crt/host_config.h (a full toolkit; pip's
 *  nvidia-cuda-runtime lacks crt/) and NCCL's nccl.h: $CUDA_HOME, /usr/local/cuda,
 *  and pip's nvidia-* packages beside a torch package; null when either header is missing. */
function cudaIncludes(torch) {
  const dirs = [];
  const add = (d) => {
    if (d && existsSync(d) && !dirs.includes(d)) dirs.push(d);
  };
  if (process.env.CUDA_HOME) add(join(process.env.CUDA_HOME, 'include'));
  add('/usr/local/cuda/include');
  for (const inc of torch.includes) {
    const nvidia = join(inc, '..', '..', 'nvidia');
    if (existsSync(nvidia)) for (const pkg of readdirSync(nvidia)) add(join(nvidia, pkg, 'include'));
  }
  const has = (header) => dirs.some((d) => existsSync(join(d, header)));
  return has('cuda.h') && has(join('crt', 'host_config.h')) && has('nccl.h') ? dirs : null;
}

function upToDate(torch, hash) {
  if (!existsSync(output)) return false;
  // A build against another libtorch (CONSISTENCY_TORCH switched), or from other sources, is never up to date.
  try {
    const record = JSON.parse(readFileSync(join(buildDir, 'libtorch.json'), 'utf8'));
    if (record.lib !== torch.lib || record.sourceHash !== hash) return false;
  } catch {
    return false;
  }
  const built = statSync(output).mtimeMs;
  return [...sources, 'native/binding.h', 'scripts/build-native.mjs', 'scripts/native-source-hash.cjs'].every(
    (s) => statSync(join(root, s)).mtimeMs < built,
  );
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
  const torch = findLibtorch();
  const version = headerVersion(torch.includes);
  checkVersion(version);
  if (findOnly) {
    console.log(JSON.stringify({ ...torch, version: version.join('.') }));
    return;
  }
  const hash = nativeSourceHash(join(root, 'native'));
  if (!force && upToDate(torch, hash)) {
    log('addon is up to date');
    return;
  }
  log(`building against ${torch.how}: libtorch ${version.join('.')}`);
  mkdirSync(join(buildDir, 'obj'), { recursive: true });
  mkdirSync(outDir, { recursive: true });
  const napiInclude = require('node-api-headers').include_dir;
  const addonInclude = dirname(require.resolve('node-addon-api/package.json'));
  const libs = readdirSync(torch.lib);
  const hasCuda = libs.includes('libtorch_cuda.so');
  const c10d = distributedFlags(torch, hasCuda);
  log(c10d.note);
  const common = [
    '-O2',
    '-fPIC',
    '-DNAPI_VERSION=8',
    '-DNAPI_CPP_EXCEPTIONS',
    `-D_GLIBCXX_USE_CXX11_ABI=${torch.abi}`,
    `-DCTS_SOURCE_HASH="${hash}"`,
    '-Wno-deprecated-declarations',
    '-Wno-unused-parameter',
    `-I${napiInclude}`,
    `-I${addonInclude}`,
    ...torch.includes.map((i) => `-I${i}`),
    ...c10d.flags,
  ];
  // ATen 2.x refuses anything older than C++20; 1.13 is built (and tested) as C++17.
  const std = process.env.CONSISTENCY_CXX_STD || (version[0] >= 2 ? 'c++20' : 'c++17');
  const objects = sources.map((s) => join(buildDir, 'obj', s.replace(/^native\//, '').replace(/\.cc$/, '.o')));
  await Promise.all(sources.map((s, k) => compile([`-std=${std}`, ...common, '-c', join(root, s), '-o', objects[k]])));
  const link = [
    '-shared',
    '-o',
    output,
    ...objects,
    `-L${torch.lib}`,
    `-Wl,-rpath,${torch.lib}`,
    // CUDA libraries register their kernels at load time, so they must stay linked.
    '-Wl,--no-as-needed',
    ...(hasCuda ? ['-ltorch_cuda', '-lc10_cuda'] : []),
    '-ltorch',
    '-ltorch_cpu',
    '-lc10',
    '-Wl,--as-needed',
  ];
  await compile(link);
  const py = matchingPython(torch.pythons, torch.pythonPath, version);
  if (!py.python)
    log(`warning: no Python imports torch ${version.slice(0, 2).join('.')} (tried ${torch.pythons.join(', ')}): the reference tests will fail`);
  const facts = { how: torch.how, version: version.join('.'), lib: torch.lib, abi: torch.abi, cuda: hasCuda, std, sourceHash: hash, ...py };
  writeFileSync(join(buildDir, 'libtorch.json'), JSON.stringify(facts, null, 2) + '\n');
  log(`built ${output}`);
}

main().catch((e) => {
  log(e.message);
  process.exit(1);
});
