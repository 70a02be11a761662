/** The built command line (dist/src/cli/main.js), for the tests that run `consistency` as a child process. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './python.js';

export const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** Runs `consistency ...args` to its end: its exit status and output. */
export function consistency(...args: string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}
