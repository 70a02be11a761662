#!/usr/bin/env node
/**
 * The `consistency` program: dispatches to one module per subcommand (src/cli/<name>.ts).
 * Every failure of input (unknown flag, missing or corrupt file) ends with one line on stderr and
 * exit code 2; any other error with its message and exit code 1.
 */
import type { Command } from './command.js';
import { UsageError } from './args.js';
import { InputError } from '../util/input-error.js';

const commands: Record<string, () => Promise<{ default: Command }>> = {
  inspect: () => import('./inspect.js'),
  schedule: () => import('./schedule.js'),
  describe: () => import('./describe.js'),
  train: () => import('./train.js'),
  sample: () => import('./sample.js'),
  edit: () => import('./edit.js'),
  eval: () => import('./eval.js'),
  export: () => import('./export.js'),
  web: () => import('./web.js'),
  serve: () => import('./serve.js'),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const lines = ['usage: consistency <command> [flags]', '', 'commands:'];
    for (const [n, load] of Object.entries(commands)) {
      try {
        lines.push(`  ${n.padEnd(10)} ${(await load()).default.summary}`);
      } catch {
        /* a command module that is not built yet is left out of the list */
      }
    }
    lines.push('', "Run 'consistency <command> --help' for a command's flags.");
    console.log(lines.join('\n'));
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    console.log((await import('./version.js')).versionText());
    return 0;
  }
  const load = commands[name];
  // The benchmarks need a source checkout (bench/*_ref.py, Python torch): `npm run bench`, not a command.
  if (!load && name === 'bench') throw new UsageError("consistency: unknown command 'bench' (benchmarks: 'npm run bench' in a source checkout)");
  if (!load) throw new UsageError(`consistency: unknown command '${name}' (see 'consistency --help')`);
  const cmd = (await load()).default;
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof InputError) {
      console.error(err.message);
      process.exitCode = 2;
    } else {
      console.error(err instanceof Error ? `error: ${err.message}` : `error: ${String(err)}`);
      if (process.env.CONSISTENCY_DEBUG && err instanceof Error) console.error(err.stack);
      process.exitCode = 1;
    }
  },
);
