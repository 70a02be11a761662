/**
 * `consistency schedule`: prints the noise levels, their probabilities and loss weights at one
 * training step (spec sections 2-4), as a table or as one JSON object.
 */
import type { Command } from './command.js';
import { UsageError, bool, num, parseCommandFlags, str, type FlagSpecs } from './args.js';
import { METHOD_NAMES, methodPreset, type MethodName, type MethodOverrides } from '../method/presets.js';
import { levelSchedule, type LevelSchedule } from '../method/schedules.js';

const NAME = 'consistency schedule';
const USAGE = `${NAME} --total-steps K --step k [--method ict|ct] [--json] [flags]`;
const SUMMARY = 'print the noise levels, level probabilities and loss weights at training step k of K';

const FLAGS: FlagSpecs = {
  'total-steps': { kind: 'int', help: 'K, the total number of training steps', required: true },
  step: { kind: 'int', help: 'k, the training step, 0..K', required: true },
  method: { kind: 'string', help: 'the preset to start from', choices: METHOD_NAMES, default: 'ict' },
  json: { kind: 'boolean', help: 'print one JSON object {N, sigmas, probabilities, weights}' },
  s0: { kind: 'int', help: 'initial discretization steps s0 (preset: ict 10, ct 2)' },
  s1: { kind: 'int', help: 'final discretization steps s1 (preset: ict 1280, ct 150)' },
  'p-mean': { kind: 'number', help: 'P_mean of the lognormal level distribution (preset -1.1)' },
  'p-std': { kind: 'number', help: 'P_std of the lognormal level distribution, > 0 (preset 2.0)' },
  'sigma-min': { kind: 'number', help: 'smallest noise level sigma_min (preset 0.002)' },
  'sigma-max': { kind: 'number', help: 'largest noise level sigma_max (preset 80)' },
  rho: { kind: 'number', help: 'rho of the Karras levels (preset 7)' },
};

async function run(argv: string[]): Promise<number> {
  const flags = parseCommandFlags(NAME, USAGE, SUMMARY, argv, FLAGS);
  if (!flags) return 0;
  const totalSteps = num(flags, 'totalSteps')!;
  const step = num(flags, 'step')!;
  if (totalSteps <= 0) throw new UsageError(`${NAME}: --total-steps must be a positive integer; got ${totalSteps}`);
  if (step < 0 || step > totalSteps) throw new UsageError(`${NAME}: --step must be an integer in [0, ${totalSteps}] (the --total-steps); got ${step}`);
  const method = (str(flags, 'method') ?? 'ict') as MethodName;

  const overrides: MethodOverrides = {
    curriculum: { s0: num(flags, 's0'), s1: num(flags, 's1') },
    levels: { pMean: num(flags, 'pMean'), pStd: num(flags, 'pStd') },
    sigmaMin: num(flags, 'sigmaMin'),
    sigmaMax: num(flags, 'sigmaMax'),
    rho: num(flags, 'rho'),
  };
  let schedule: LevelSchedule;
  try {
    schedule = levelSchedule(methodPreset(method, overrides), step, totalSteps);
  } catch (err) {
    // A value out of range: name the flag, as the library names the field.
    if (err instanceof RangeError) throw new UsageError(`${NAME}: ${flagNames(err.message)}`);
    throw err;
  }
  const { N, sigmas, probabilities, weights, teacherEmaRate } = schedule;

  if (bool(flags, 'json')) {
    console.log(JSON.stringify({ N, sigmas, probabilities, weights }));
    return 0;
  }
  const lines = [
    `method ${method}, step ${step} of ${totalSteps}: N = ${N} levels, ${N - 1} pairs, teacher EMA rate ${teacherEmaRate}`,
    '',
    `${'i'.padStart(5)}  ${'sigma_i'.padStart(12)}  ${'sigma_i+1'.padStart(12)}  ${'p(i)'.padStart(12)}  ${'lambda'.padStart(12)}`,
  ];
  for (let i = 0; i < N - 1; i++) {
    lines.push(
      `${String(i + 1).padStart(5)}  ${fmt(sigmas[i]!)}  ${fmt(sigmas[i + 1]!)}  ${fmt(probabilities[i]!)}  ${fmt(weights[i]!)}`,
    );
  }
  console.log(lines.join('\n'));
  return 0;
}

function fmt(v: number): string {
  return v.toPrecision(6).padStart(12);
}

/** Rewrites the config field names in a methodPreset/levelSchedule message as the flags that set them. */
function flagNames(message: string): string {
  const map: Array<[RegExp, string]> = [
    [/\bcurriculum\.s0\b/g, '--s0'],
    [/\bcurriculum\.s1\b/g, '--s1'],
    [/\bs0=/g, '--s0='],
    [/\blevels\.pMean\b/g, '--p-mean'],
    [/\blevels\.pStd\b/g, '--p-std'],
    [/\bsigmaMin\b/g, '--sigma-min'],
    [/\bsigmaMax\b/g, '--sigma-max'],
    [/\brho\b/g, '--rho'],
  ];
  let m = message.replace(/^methodPreset: /, '');
  for (const [re, flag] of map) m = m.replace(re, flag);
  return m;
}

const command: Command = { summary: SUMMARY, run };
export default command;
