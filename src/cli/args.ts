/**
 * The command-line flags of every subcommand: node:util's parseArgs splits the arguments into
 * tokens; this module checks each token against the command's flag specs and converts its value,
 * so unknown flags and malformed values raise a UsageError that names the flag (exit code 2).
 */
import { parseArgs } from 'node:util';
import { InputError } from '../util/input-error.js';

/** An error in how the program was called: printed as one line, exit code 2. */
export class UsageError extends InputError {
  override name = 'UsageError';
}

export type FlagKind = 'string' | 'number' | 'int' | 'boolean' | 'list';

export interface FlagSpec {
  kind: FlagKind;
  /** One line shown by --help. */
  help: string;
  default?: string | number | boolean;
  /** For 'string' flags: the allowed values. */
  choices?: readonly string[];
  required?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type FlagValue = string | number | boolean | string[] | undefined;
export type ParsedFlags = Record<string, FlagValue> & { _: string[] };

/** Turns `--total-steps` into `totalSteps`. */
export function camelCase(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Parses `argv` against `specs` (keys are the flag names without dashes, e.g. 'total-steps').
 * Values are stored under camelCase keys. Positional arguments are collected in `_`.
 */
export function parseFlags(command: string, argv: readonly string[], specs: FlagSpecs): ParsedFlags {
  const out: ParsedFlags = { _: [] };
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.default !== undefined) out[camelCase(name)] = spec.default;
    else if (spec.kind === 'boolean') out[camelCase(name)] = false;
  }
  // Non-strict tokens: parseArgs reports unknown flags and missing values as tokens instead of
  // throwing, so the messages below name the flag the same way for every case.
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [name, { type: spec.kind === 'boolean' ? ('boolean' as const) : ('string' as const) }]),
  );
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  let lastWord = -1;
  for (const token of tokens) {
    if (token.kind === 'positional') {
      out._.push(token.value);
      continue;
    }
    if (token.kind === 'option-terminator') continue;
    if (!token.rawName.startsWith('--')) {
      // A single-dash word ('-x', '-1'; '-ab' is one word of two tokens) is an argument, as before parseArgs.
      if (token.index !== lastWord) out._.push(argv[token.index]!);
      lastWord = token.index;
      continue;
    }
    let name = token.name;
    let spec = specs[name];
    let negated = false;
    if (!spec && name.startsWith('no-') && specs[name.slice(3)]?.kind === 'boolean') {
      name = name.slice(3);
      spec = specs[name];
      negated = true;
    }
    if (!spec) throw new UsageError(`${command}: unknown flag --${name} (see '${command} --help')`);
    const key = camelCase(name);
    if (spec.kind === 'boolean') {
      if (token.value !== undefined && token.value !== 'true' && token.value !== 'false')
        throw new UsageError(`${command}: --${name} takes no value or true/false, got '${token.value}'`);
      out[key] = negated ? false : token.value !== 'false';
      continue;
    }
    if (token.value === undefined) throw new UsageError(`${command}: --${name} needs a value`);
    out[key] = convert(command, name, spec, token.value);
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required && out[camelCase(name)] === undefined) throw new UsageError(`${command}: --${name} is required (see '${command} --help')`);
  }
  return out;
}

function convert(command: string, name: string, spec: FlagSpec, raw: string): FlagValue {
  switch (spec.kind) {
    case 'string':
      if (spec.choices && !spec.choices.includes(raw))
        throw new UsageError(`${command}: --${name} must be one of ${spec.choices.join(', ')}; got '${raw}'`);
      return raw;
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    case 'number': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`${command}: --${name} must be a number; got '${raw}'`);
      return v;
    }
    case 'int': {
      const v = Number(raw);
      if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(v)) throw new UsageError(`${command}: --${name} must be an integer; got '${raw}'`);
      return v;
    }
    default:
      return raw;
  }
}

/** The --help text of a subcommand. */
export function helpText(usage: string, summary: string, specs: FlagSpecs): string {
  const lines = [`usage: ${usage}`, '', summary, '', 'flags:'];
  const names = Object.keys(specs);
  const width = Math.max(...names.map((n) => n.length + 2), 10);
  for (const n of names) {
    const s = specs[n]!;
    const extra = [
      s.choices ? `one of ${s.choices.join('|')}` : '',
      s.default !== undefined ? `default ${String(s.default)}` : '',
      s.required ? 'required' : '',
    ]
      .filter(Boolean)
      .join('; ');
    lines.push(`  --${n.padEnd(width)} ${s.help}${extra ? ` (${extra})` : ''}`);
  }
  lines.push(`  --${'help'.padEnd(width)} show this text`);
  return lines.join('\n');
}

/**
 * The start of a subcommand's run(): for --help or -h prints the help text and returns null (the
 * command then exits 0); otherwise parses `argv`, where a positional argument is a UsageError.
 */
export function parseCommandFlags(command: string, usage: string, summary: string, argv: readonly string[], specs: FlagSpecs): ParsedFlags | null {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(helpText(usage, summary, specs));
    return null;
  }
  const flags = parseFlags(command, argv, specs);
  if (flags._.length > 0) throw new UsageError(`${command}: unexpected argument '${flags._[0]}' (see '${command} --help')`);
  return flags;
}

/** Reads a value that parseFlags stored, with its type. */
export function str(flags: ParsedFlags, key: string): string | undefined {
  const v = flags[key];
  return typeof v === 'string' ? v : undefined;
}
export function num(flags: ParsedFlags, key: string): number | undefined {
  const v = flags[key];
  return typeof v === 'number' ? v : undefined;
}
export function bool(flags: ParsedFlags, key: string): boolean {
  return flags[key] === true;
}
export function list(flags: ParsedFlags, key: string): string[] | undefined {
  const v = flags[key];
  return Array.isArray(v) ? v : undefined;
}
