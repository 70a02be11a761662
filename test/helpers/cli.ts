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

/** The flags of the tests' few-step CPU trainings: batch 4, one thread, 4-image sample grids. */
export const SMALL_TRAINING_FLAGS = ['--batch', '4', '--threads', '1', '--samples', '4'] as const;

/**
 * `consistency train` of `steps` steps of the unconditional mnist-quick at sigma_max 80 (the preset
 * before it became class-conditional at sigma_max 20) into `out`, for the sampling tests: after a
 * few steps its samples are not all background, and `--class` on it must be refused.
 */
export function trainUnconditionalQuick(out: string, steps: number): ReturnType<typeof consistency> {
  return consistency(
    'train',
    '--preset',
    'mnist-quick',
    '--classes',
    '0',
    '--sigma-max',
    '80',
    '--steps',
    String(steps),
    ...SMALL_TRAINING_FLAGS,
    '--out',
    out,
  );
}
