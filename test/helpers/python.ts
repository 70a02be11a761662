/**
 * The Python torch that tests compare against: $TORCH_PYTHON, else the interpreter the addon was
 * built for (build/libtorch.json), else python3, else /usr/bin/python3 (Debian's python3-torch).
 * A missing torch fails the test run with a message; nothing is skipped.
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

let cached: string | null = null;

export function torchPython(): string {
  if (cached) return cached;
  const candidates: string[] = [];
  // An explicit TORCH_PYTHON is the only candidate: falling back silently to another Python
  // would hide the mistake.
  if (process.env.TORCH_PYTHON) candidates.push(process.env.TORCH_PYTHON);
  else {
    const info = join(repoRoot, 'build', 'libtorch.json');
    if (existsSync(info)) {
      const p = (JSON.parse(readFileSync(info, 'utf8')) as { python?: string | null }).python;
      if (p) candidates.push(p);
    }
    candidates.push('python3', '/usr/bin/python3');
  }
  const tried: string[] = [];
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) {
      cached = c;
      return c;
    }
    tried.push(`${c}: ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').pop()}`);
  }
  throw new Error(
    `no Python with torch for the reference tests (install Debian's python3-torch: apt-get install python3-torch, or set TORCH_PYTHON). Tried:\n  ${tried.join('\n  ')}`,
  );
}

/** Runs a Python script file (relative to the repo root) with args; returns stdout. Throws with stderr on failure. */
export function runPythonScript(script: string, args: string[] = [], input?: string): string {
  const py = torchPython();
  try {
    return execFileSync(py, [join(repoRoot, script), ...args], {
      encoding: 'utf8',
      input,
      maxBuffer: 1 << 30,
      env: { ...process.env, PYTHONPATH: [join(repoRoot, '.cache', 'pydeps'), process.env.PYTHONPATH].filter(Boolean).join(':') },
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${script} failed: ${err.stderr || err.message}`);
  }
}
