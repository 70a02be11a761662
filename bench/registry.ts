/**
 * The benchmarks `npm run bench` (bench/run.ts) can run, by name. A benchmark module default-exports a `Benchmark`; it writes one JSON object per
 * result through `emit` (printed as one line on stdout) and progress through `log` (stderr).
 * To add one, write bench/<name>.ts and add its name to `benchmarkNames`.
 */

/** A benchmark's prerequisite is missing or misnamed (a build, a setting): `npm run bench` prints its message as one line, exit code 1. */
export class BenchSetupError extends Error {}

/** Options every benchmark accepts; each documents its own defaults for what is left out. */
export interface BenchOptions {
  /** Timed steps per side (after warm-up); medians are taken over these. */
  steps?: number;
  /** Warm-up steps per side before timing. */
  warmup?: number;
  /** Intra-op thread counts to run, in order (setNumThreads / torch.set_num_threads). */
  threads?: number[];
}

/** One result: printed as a JSON line. `bench` names what was measured. */
export type BenchRecord = { bench: string } & Record<string, unknown>;

export interface Benchmark {
  /** One line for --help. */
  summary: string;
  run(options: BenchOptions, emit: (record: BenchRecord) => void, log: (line: string) => void): Promise<void>;
}

/**
 * Every benchmark by name, in the order `all` runs them; bench/<name>.js is loaded only when
 * asked for (so a benchmark still being written does not stop the others).
 */
export const benchmarkNames: readonly string[] = ['engine', 'networks', 'inception', 'train', 'onnx', 'channels-last', 'torch-versions', 'cuda-step'];

/**
 * The benchmarks `all` leaves out: they need more than this checkout's CPU build (torch-versions:
 * a second build, against torch 2.15, in build/pip; cuda-step: a GPU).
 */
export const namedOnly: readonly string[] = ['torch-versions', 'cuda-step'];

/** Loads bench/<name>.js and checks that it default-exports a Benchmark. */
export async function loadBenchmark(name: string): Promise<Benchmark> {
  if (!benchmarkNames.includes(name)) throw new RangeError(`unknown benchmark '${name}'`);
  const specifier = `./${name}.js`;
  const mod = (await import(specifier)) as { default?: Partial<Benchmark> };
  const b = mod.default;
  if (!b || typeof b.run !== 'function' || typeof b.summary !== 'string')
    throw new Error(`bench/${name}.ts must default-export a Benchmark ({ summary, run(options, emit, log) })`);
  return b as Benchmark;
}

/** Expands 'all' and checks every name; throws a RangeError naming the unknown one. */
export function resolveBenchmarkNames(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const n of names.length ? names : ['engine']) {
    if (n === 'all') out.push(...benchmarkNames.filter((b) => !namedOnly.includes(b)));
    else if (benchmarkNames.includes(n)) out.push(n);
    else throw new RangeError(`unknown benchmark '${n}' (one of ${[...benchmarkNames, 'all'].join(', ')})`);
  }
  return [...new Set(out)];
}

/** Runs the named benchmarks one after another. */
export async function runBenchmarks(
  names: readonly string[],
  options: BenchOptions,
  emit: (record: BenchRecord) => void = (r) => console.log(JSON.stringify(r)),
  log: (line: string) => void = (l) => console.error(l),
): Promise<void> {
  for (const name of resolveBenchmarkNames(names)) {
    let benchmark: Benchmark;
    try {
      benchmark = await loadBenchmark(name);
    } catch (e) {
      throw new Error(`benchmark '${name}' is not available: ${(e as Error).message}`, { cause: e });
    }
    log(`[bench] ${name}: ${benchmark.summary}`);
    await benchmark.run(options, emit, log);
  }
}
