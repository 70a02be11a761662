/**
 * A long-lived Python torch process that benchmarks talk to over stdin/stdout, one JSON line per
 * command and per answer (TorchPeer; LinePeer is the same protocol with any child process). Keeping one process alive lets a benchmark alternate blocks of
 * TypeScript work with blocks of the same work in Python, so both are timed under the same
 * (noisy, shared) machine load. The Python is the one the reference tests use (torchPython():
 * $TORCH_PYTHON, else build/libtorch.json's interpreter, ...), whose libtorch the addon links.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { repoRoot, torchPython, torchPythonEnv } from '../test/helpers/python.js';

/** Environment variables that change how many threads libtorch, OpenMP or BLAS use. */
export const THREAD_ENV_PREFIXES = ['OMP_', 'MKL_', 'KMP_', 'GOMP_', 'OPENBLAS_'] as const;

/** The thread-related variables of an environment (for checking both sides see the same). */
export function threadEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && THREAD_ENV_PREFIXES.some((p) => k.startsWith(p))) out[k] = v;
  return out;
}

/** A child process answering one JSON line per JSON-line command; `label` names it in errors. */
export class LinePeer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #pending: { command: string; resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  #stderrTail = '';
  #exited: Error | null = null;

  constructor(
    readonly label: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.#child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (chunk: string) => {
      this.#stderrTail = (this.#stderrTail + chunk).slice(-4000);
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => this.#answer(line));
    const fail = (why: string) => {
      this.#exited = new Error(`${label}: ${why}${this.#stderrTail ? `\n${this.#stderrTail.trim()}` : ''}`);
      for (const p of this.#pending.splice(0)) p.reject(new Error(`${this.#exited.message}\n(while running ${p.command})`));
    };
    this.#child.on('error', (e) => fail(`could not start ${command}: ${e.message}`));
    this.#child.on('exit', (code, signal) => fail(`exited (${signal ?? `code ${code}`})`));
  }

  #answer(line: string): void {
    const p = this.#pending.shift();
    if (!p) return;
    let reply: Record<string, unknown>;
    try {
      reply = JSON.parse(line) as Record<string, unknown>;
    } catch {
      p.reject(new Error(`${this.label}: answered ${p.command} with a line that is not JSON: ${line.slice(0, 200)}`));
      return;
    }
    if (typeof reply.error === 'string') p.reject(new Error(`${this.label}: ${p.command} failed: ${reply.error}`));
    else p.resolve(reply);
  }

  /** Sends one command and waits for its answer. */
  request<T = Record<string, unknown>>(command: Record<string, unknown> & { op: string }): Promise<T> {
    if (this.#exited) return Promise.reject(this.#exited);
    const text = JSON.stringify(command);
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ command: text, resolve: resolve as (v: Record<string, unknown>) => void, reject });
      this.#child.stdin.write(text + '\n');
    });
  }

  /** Asks the peer to quit and waits for it to end. */
  async close(): Promise<void> {
    if (this.#exited) return;
    const ended = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdin.end(JSON.stringify({ op: 'quit' }) + '\n');
    await ended;
  }
}

/** A Python script of the repository run by the reference Python, as a LinePeer. */
export class TorchPeer extends LinePeer {
  /** Starts `script` (relative to the repository root) with the reference Python. */
  constructor(
    readonly script: string,
    args: string[] = [],
  ) {
    // The child inherits this process's environment unchanged (OMP_* included), plus the
    // reference torch's and the project's private Python packages on PYTHONPATH as runPythonScript adds them.
    super(script, torchPython(), ['-u', join(repoRoot, script), ...args], torchPythonEnv());
  }
}
