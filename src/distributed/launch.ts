/**
 * The one-machine launcher behind `--nproc N`: starts N workers with the torchrun environment
 * (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT,
 * OMP_NUM_THREADS), as `torchrun --nproc-per-node N` does, and waits for them. libtorch's
 * own logging is quieted in the workers (GLOG_minloglevel, TORCH_CPP_LOG_LEVEL) unless set. When a worker
 * fails or is killed, the launcher names it, stops the others (SIGTERM, then SIGKILL after the
 * timeout) and exits non-zero. SIGINT/SIGTERM to the launcher is passed to every worker once
 * (they stop at the same step and rank 0 writes one checkpoint); a second one kills them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';

export interface LaunchOptions {
  /** The program and its arguments, started once per worker. */
  command: string;
  args: readonly string[];
  nproc: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr: string;
  /** 0: a free port on this machine (one machine only). */
  masterPort: number;
  /** libtorch threads per worker (OMP_NUM_THREADS). */
  threads: number;
  /** How long workers get to stop after SIGTERM before SIGKILL (s). */
  timeoutS: number;
  env?: NodeJS.ProcessEnv;
  /** Where the launcher's own lines go (default stderr). */
  log?: (line: string) => void;
}

/** What the run ended with. */
export interface LaunchResult {
  exitCode: number;
  /** The first rank that failed, or null. */
  failedRank: number | null;
  message: string | null;
}

/** torchrun's default: all cores shared among the workers, at least one each. */
export function defaultThreadsPerWorker(nproc: number): number {
  return Math.max(1, Math.floor(availableParallelism() / nproc));
}

/** A port nothing listens on now (the OS picks it), for a one-machine rendezvous. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `was killed by ${signal}` : `exited with code ${code ?? '?'}`;
}

export async function launch(o: LaunchOptions): Promise<LaunchResult> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const nnodes = o.nnodes ?? 1;
  const nodeRank = o.nodeRank ?? 0;
  const port = o.masterPort === 0 ? await freePort(o.masterAddr) : o.masterPort;
  const worldSize = nnodes * o.nproc;
  const children: { rank: number; child: ChildProcess; done: boolean }[] = [];
  let failure: { rank: number; message: string } | null = null;
  let stopping: NodeJS.Signals | null = null;
  let killTimer: NodeJS.Timeout | null = null;

  const stopAll = (signal: NodeJS.Signals): void => {
    for (const c of children) if (!c.done) c.child.kill(signal);
  };
  const escalate = (): void => {
    if (killTimer !== null) return;
    killTimer = setTimeout(() => stopAll('SIGKILL'), o.timeoutS * 1000);
    killTimer.unref();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log(`consistency: ${signal} again: killing the workers`);
      stopAll('SIGKILL');
      return;
    }
    stopping = signal;
    log(`consistency: ${signal}: asking the ${o.nproc} workers to stop at the same step`);
    stopAll('SIGTERM');
    escalate();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const exits = [];
    for (let local = 0; local < o.nproc; local++) {
      const rank = nodeRank * o.nproc + local;
      const env: NodeJS.ProcessEnv = {
        ...(o.env ?? process.env),
        RANK: String(rank),
        LOCAL_RANK: String(local),
        WORLD_SIZE: String(worldSize),
        LOCAL_WORLD_SIZE: String(o.nproc),
        GROUP_RANK: String(nodeRank),
        MASTER_ADDR: o.masterAddr,
        MASTER_PORT: String(port),
        OMP_NUM_THREADS: String(o.threads),
        // libtorch's own c10d log lines (socket retries, bind failures) would repeat, in glog's
        // format, what each rank already reports as one line; the user's setting wins.
        GLOG_minloglevel: (o.env ?? process.env)['GLOG_minloglevel'] ?? '3',
        TORCH_CPP_LOG_LEVEL: (o.env ?? process.env)['TORCH_CPP_LOG_LEVEL'] ?? 'FATAL',
      };
      const child = spawn(o.command, o.args, { env, stdio: 'inherit' });
      const entry = { rank, child, done: false };
      children.push(entry);
      exits.push(
        new Promise<void>((resolve) => {
          child.once('error', (e) => {
            entry.done = true;
            if (failure === null) failure = { rank, message: `rank ${rank} could not start: ${e.message}` };
            stopAll('SIGTERM');
            escalate();
            resolve();
          });
          child.once('exit', (code, signal) => {
            entry.done = true;
            // After a stop request, a worker that stopped as asked exits 130/143 (or by the SIGTERM itself).
            const stoppedAsAsked = stopping !== null && (code === 130 || code === 143 || signal === 'SIGTERM');
            if ((code !== 0 || signal !== null) && failure === null && !stoppedAsAsked) {
              failure = { rank, message: `rank ${rank} (pid ${child.pid ?? '?'}) ${describeExit(code, signal)}` };
              if (stopping === null) log(`consistency: ${failure.message}; stopping the other ranks`);
              stopAll('SIGTERM');
              escalate();
            }
            resolve();
          });
        }),
      );
    }
    await Promise.all(exits);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // escalate(), onSignal() and the exit handlers set these from callbacks, which TypeScript's
    // narrowing does not see: read as their declared types.
    const timer = killTimer as NodeJS.Timeout | null;
    if (timer !== null) clearTimeout(timer);
  }
  const f = failure as { rank: number; message: string } | null;
  const stoppedBy = stopping as NodeJS.Signals | null;
  if (f !== null) return { exitCode: 1, failedRank: f.rank, message: f.message };
  if (stoppedBy !== null) return { exitCode: stoppedBy === 'SIGTERM' ? 143 : 130, failedRank: null, message: null };
  return { exitCode: 0, failedRank: null, message: null };
}
