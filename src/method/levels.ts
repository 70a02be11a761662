/**
 * Noise levels of sampling (docs/method.md section 6) as plain numbers, with no tensor code, so that the
 * libtorch-free runtime (src/generate) uses the same levels and checks as src/method.
 */
import { karrasSigmas } from './schedules.js';

/** Checks that levels are a non-empty, strictly decreasing list of finite numbers >= sigma_min. */
export function checkLevels(fn: string, levels: readonly number[], sigmaMin: number): void {
  if (!Array.isArray(levels) || levels.length === 0)
    throw new RangeError(`${fn}: levels must be a non-empty array of noise levels, got ${String(levels)}`);
  levels.forEach((t, i) => {
    if (typeof t !== 'number' || !Number.isFinite(t) || t < sigmaMin)
      throw new RangeError(`${fn}: levels[${i}] must be a finite number >= sigmaMin=${sigmaMin}, got ${t}`);
    if (i > 0 && !(t < levels[i - 1]!))
      throw new RangeError(`${fn}: levels must decrease strictly, got levels[${i - 1}]=${levels[i - 1]} then levels[${i}]=${t}`);
  });
}

/** What the levels for a number of steps depend on (a run's method config and its second level). */
export interface LevelSettings {
  sigmaMin: number;
  sigmaMax: number;
  rho: number;
  /** The second level of two-step sampling (0.821 CIFAR-10, 1.526 ImageNet 64). */
  secondSigma: number;
}

/**
 * The sampling levels for `steps` steps (docs/method.md section 6): 1 step [sigma_max]; 2 steps
 * [sigma_max, secondSigma]; more steps: the top `steps` levels of a Karras discretization with
 * steps + 1 levels (sigma_min itself, where f is the identity, is left out).
 */
export function levelsForSteps(steps: number, s: LevelSettings): number[] {
  if (!Number.isSafeInteger(steps) || steps < 1) throw new RangeError(`steps must be an integer >= 1, got ${steps}`);
  if (steps === 1) return [s.sigmaMax];
  if (steps === 2) return [s.sigmaMax, s.secondSigma];
  return karrasSigmas(steps + 1, { sigmaMin: s.sigmaMin, sigmaMax: s.sigmaMax, rho: s.rho })
    .reverse()
    .slice(0, steps);
}
