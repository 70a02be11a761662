/**
 * The Python torch that tests compare against: the torch the addon was built against, as
 * scripts/build-native.mjs recorded it in build/libtorch.json (interpreter and PYTHONPATH), so
 * a build against pip's torch 2.15 is checked against torch 2.15 and one against Debian's 1.13
 * against 1.13. $TORCH_PYTHON overrides it (with $PYTHONPATH as given); without a build record,
 * python3 or /usr/bin/python3. A missing or mismatched torch fails the test run with a message;
 * nothing is skipped.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/...). */
export const repoRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();

/** What build/libtorch.json says about the reference Python (null fields: none matched). */
interface BuildRecord {
  version?: string;
  python?: string | null;
  pythonPath?: string | null;
}

function buildRecord(): BuildRecord | null {
  const info = join(repoRoot, 'build', 'libtorch.json');
  return existsSync(info) ? (JSON.parse(readFileSync(info, 'utf8')) as BuildRecord) : null;
}

interface Reference {
  python: string;
  /** Folders to put before the inherited PYTHONPATH (the pip torch's, if any). */
  pythonPath: string[];
}

let cached: Reference | null = null;

function reference(): Reference {
  if (cached) return cached;
  const record = buildRecord();
  const candidates: Reference[] = [];
  // An explicit TORCH_PYTHON is the only candidate: falling back silently to another Python
  // would hide the mistake. The same holds for the build's record.
  if (process.env['TORCH_PYTHON']) candidates.push({ python: process.env['TORCH_PYTHON'], pythonPath: [] });
  else if (record?.python) candidates.push({ python: record.python, pythonPath: record.pythonPath ? [record.pythonPath] : [] });
  else if (record?.version)
    throw new Error(
      `no Python with torch ${record.version} for the reference tests: the addon was built against libtorch ${record.version} and build/libtorch.json ` +
        'names no Python importing that torch (rebuild with npm run build:native after installing it, or set TORCH_PYTHON)',
    );
  else candidates.push({ python: 'python3', pythonPath: [] }, { python: '/usr/bin/python3', pythonPath: [] });
  const tried: string[] = [];
  for (const c of candidates) {
    const r = spawnSync(c.python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', env: envWith(c.pythonPath) });
    if (r.status !== 0) {
      tried.push(`${c.python}: ${(r.error?.message ?? r.stderr).trim().split('\n').pop() ?? ''}`);
      continue;
    }
    const found = r.stdout.trim().split('\n').pop() ?? '';
    const want = record?.version?.split('.').slice(0, 2).join('.');
    if (!process.env['TORCH_PYTHON'] && want && found.split('.').slice(0, 2).join('.') !== want) {
      tried.push(`${c.python}: imports torch ${found}, but the addon was built against ${record?.version ?? ''}`);
      continue;
    }
    cached = c;
    return c;
  }
  throw new Error(
    `no Python with torch for the reference tests (install Debian's python3-torch: apt-get install python3-torch, or set TORCH_PYTHON). Tried:\n  ${tried.join('\n  ')}`,
  );
}

function envWith(torchPath: string[]): NodeJS.ProcessEnv {
  const path = [...torchPath, join(repoRoot, '.cache', 'pydeps'), process.env['PYTHONPATH']].filter((p): p is string => Boolean(p));
  return { ...process.env, PYTHONPATH: path.join(':') };
}

/** The interpreter of the reference torch. */
export function torchPython(): string {
  return reference().python;
}

/** The environment to run the reference Python in: this process's, with PYTHONPATH for its torch and the project's .cache/pydeps. */
export function torchPythonEnv(): NodeJS.ProcessEnv {
  return envWith(reference().pythonPath);
}

/** Runs a Python script file (relative to the repo root) with args; returns stdout. Throws with stderr on failure. */
export function runPythonScript(script: string, args: string[] = [], input?: string): string {
  const py = torchPython();
  try {
    return execFileSync(py, [join(repoRoot, script), ...args], {
      encoding: 'utf8',
      input,
      maxBuffer: 1 << 30,
      env: torchPythonEnv(),
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${script} failed: ${err.stderr || err.message}`, { cause: e });
  }
}
