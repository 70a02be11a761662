/**
 * `consistency schedule`: prints the noise levels, their probabilities and loss weights at one
 * training step (docs/method.md sections 2-4), as a table or as one JSON object.
 */
import type { Command } from './command.js';
import { UsageError, bool, camelCase, num, parseCommandFlags, str, type FlagSpecs } from './args.js';
import { METHOD_NAMES, type MethodName } from '../method/presets.js';
import { levelSchedule, type LevelSchedule } from '../method/schedules.js';
import { configFlag, methodOverridesFrom, methodWithOverrides } from '../train/config-flags.js';

/** The method flags this command takes, from the shared flag table (src/train/config-flags.ts). */
const METHOD_FLAGS = ['s0', 's1', 'p-mean', 'p-std', 'sigma-min', 'sigma-max', 'rho'] as const;

const NAME = 'consistency schedule';
const USAGE = `${NAME} --total-steps K --step k [--method ict|ct] [--json] [flags]`;
const SUMMARY = 'print the noise levels, level probabilities and loss weights at training step k of K';

const FLAGS: FlagSpecs = {
  'total-steps': { kind: 'int', help: 'K, the total number of training steps', required: true },
  step: { kind: 'int', help: 'k, the training step, 0..K', required: true },
  method: { kind: 'string', help: 'the preset to start from', choices: METHOD_NAMES, default: 'ict' },
  json: { kind: 'boolean', help: 'print one JSON object {N, sigmas, probabilities, weights}' },
  ...Object.fromEntries(
    METHOD_FLAGS.map((flag) => {
      const row = configFlag(flag);
      return [flag, { kind: row.kind, help: row.help }];
    }),
  ),
};

async function run(argv: string[]): Promise<number> {
  const flags = parseCommandFlags(NAME, USAGE, SUMMARY, argv, FLAGS);
  if (!flags) return 0;
  const totalSteps = num(flags, 'totalSteps')!;
  const step = num(flags, 'step')!;
  if (totalSteps <= 0) throw new UsageError(`${NAME}: --total-steps must be a positive integer; got ${totalSteps}`);
  if (step < 0 || step > totalSteps)
    throw new UsageError(`${NAME}: --step must be an integer in [0, ${totalSteps}] (the --total-steps); got ${step}`);
  const method = (str(flags, 'method') ?? 'ict') as MethodName;

  const given: Record<string, number> = {};
  for (const flag of METHOD_FLAGS) {
    const v = num(flags, camelCase(flag));
    if (v !== undefined) given[flag] = v;
  }
  let schedule: LevelSchedule;
  try {
    // A method value out of range is a RangeError that names the flag (src/train/config-flags.ts).
    schedule = levelSchedule(methodWithOverrides(method, methodOverridesFrom(given)), step, totalSteps);
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(`${NAME}: ${err.message}`);
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
    lines.push(`${String(i + 1).padStart(5)}  ${fmt(sigmas[i]!)}  ${fmt(sigmas[i + 1]!)}  ${fmt(probabilities[i]!)}  ${fmt(weights[i]!)}`);
  }
  console.log(lines.join('\n'));
  return 0;
}

function fmt(v: number): string {
  return v.toPrecision(6).padStart(12);
}

const command: Command = { summary: SUMMARY, run };
export default command;
