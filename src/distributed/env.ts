/**
 * Who this process is in a data-parallel run: the torchrun / SLURM environment protocol (RANK,
 * WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), which the launcher
 * (launch.ts) sets for its workers exactly as `torchrun --nproc-per-node N` does, so
 * `torchrun --no-python consistency train ...` works too; and the launch flags (--nproc,
 * --nnodes, --node-rank, --master-addr, --master-port, --dist-timeout), taken out of a
 * command line before the command's own flags are parsed.
 */
import { UsageError } from '../cli/args.js';

/** This process's place in a run. */
export interface DistributedEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  /**
   * Under torchrun's elastic agent, which hosts the store at MASTER_ADDR:MASTER_PORT itself
   * (TORCHELASTIC_USE_AGENT_STORE=True): its restart count (TORCHELASTIC_RESTART_COUNT); else null.
   */
  agentStoreAttempt: number | null;
}

/** How to launch or join a run (the launch flags). */
export interface LaunchFlags {
  /** Worker processes on this machine (1: no launcher). */
  nproc: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  /** 0: any free port (one machine only). */
  masterPort: number;
  /** Seconds any rendezvous or collective may wait for another rank. */
  timeoutS: number;
}

/** torchrun's default port; also ours when several machines must agree on one. */
export const DEFAULT_MASTER_PORT = 29500;
export const DEFAULT_DIST_TIMEOUT_S = 60;

export const LAUNCH_FLAG_HELP: Readonly<Record<string, string>> = {
  nproc: 'worker processes on this machine, like torchrun --nproc-per-node (default 1: no launcher)',
  nnodes: 'machines in the run (default 1)',
  'node-rank': "this machine's index, 0..nnodes-1 (default 0)",
  'master-addr': "address of rank 0's machine (default 127.0.0.1)",
  'master-port': `port of rank 0's rendezvous store (default: a free port on one machine, ${DEFAULT_MASTER_PORT} on several)`,
  'dist-timeout': `seconds a rank waits for the others before the run stops, naming the lost rank (default ${DEFAULT_DIST_TIMEOUT_S})`,
};

function intIn(what: string, raw: string, min: number, max: number): number {
  const v = Number(raw);
  if (!/^\s*-?\d+\s*$/.test(raw) || !Number.isSafeInteger(v) || v < min || v > max)
    throw new UsageError(`${what} must be an integer in ${min}..${max}, got '${raw}'`);
  return v;
}

/**
 * The torchrun environment, when RANK and WORLD_SIZE are set (null otherwise). A partial or
 * inconsistent environment is a UsageError naming the variable.
 */
export function distributedEnvFrom(env: NodeJS.ProcessEnv): DistributedEnv | null {
  const rankRaw = env['RANK'];
  const worldRaw = env['WORLD_SIZE'];
  if (rankRaw === undefined && worldRaw === undefined) return null;
  if (rankRaw === undefined || worldRaw === undefined) throw new UsageError('RANK and WORLD_SIZE must be set together (the torchrun environment)');
  const worldSize = intIn('WORLD_SIZE', worldRaw, 1, 65536);
  const rank = intIn('RANK', rankRaw, 0, worldSize - 1);
  const localWorldSize = env['LOCAL_WORLD_SIZE'] === undefined ? worldSize : intIn('LOCAL_WORLD_SIZE', env['LOCAL_WORLD_SIZE'], 1, worldSize);
  const localRank = env['LOCAL_RANK'] === undefined ? rank % localWorldSize : intIn('LOCAL_RANK', env['LOCAL_RANK'], 0, localWorldSize - 1);
  const masterAddr = env['MASTER_ADDR'] ?? '';
  if (worldSize > 1 && masterAddr === '') throw new UsageError('MASTER_ADDR must be set when WORLD_SIZE > 1 (the address of rank 0)');
  const portRaw = env['MASTER_PORT'];
  if (worldSize > 1 && portRaw === undefined) throw new UsageError("MASTER_PORT must be set when WORLD_SIZE > 1 (the port of rank 0's store)");
  const masterPort = portRaw === undefined ? DEFAULT_MASTER_PORT : intIn('MASTER_PORT', portRaw, 1, 65535);
  // As torch/distributed/rendezvous.py reads them (_torchelastic_use_agent_store: the string 'True').
  const agentStoreAttempt =
    env['TORCHELASTIC_USE_AGENT_STORE'] === 'True' ? intIn('TORCHELASTIC_RESTART_COUNT', env['TORCHELASTIC_RESTART_COUNT'] ?? '0', 0, 1 << 30) : null;
  return { rank, worldSize, localRank, localWorldSize, masterAddr: masterAddr || '127.0.0.1', masterPort, agentStoreAttempt };
}

const FLAG_NAMES = Object.keys(LAUNCH_FLAG_HELP);

/**
 * Takes the launch flags out of `argv` (as `--flag value` or `--flag=value`); returns them and
 * the rest of the command line, untouched, for the command itself.
 */
export function takeLaunchFlags(argv: readonly string[]): { flags: LaunchFlags; rest: string[]; given: Set<string> } {
  const values = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = m?.[1];
    if (m === null || name === undefined || !FLAG_NAMES.includes(name)) {
      rest.push(arg);
      continue;
    }
    let value = m[2];
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      i++;
    }
    values.set(name, value);
  }
  const get = (n: string): string | undefined => values.get(n);
  const nnodes = intIn('--nnodes', get('nnodes') ?? '1', 1, 4096);
  const nodeRank = intIn('--node-rank', get('node-rank') ?? '0', 0, nnodes - 1);
  const portRaw = get('master-port');
  if (nnodes > 1 && get('master-addr') === undefined) throw new UsageError('--master-addr is needed with --nnodes > 1 (the address of node 0)');
  const timeoutRaw = get('dist-timeout') ?? String(DEFAULT_DIST_TIMEOUT_S);
  const timeoutS = Number(timeoutRaw);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0 || timeoutS > 86400)
    throw new UsageError(`--dist-timeout must be a number of seconds in (0, 86400], got '${timeoutRaw}'`);
  return {
    flags: {
      nproc: intIn('--nproc', get('nproc') ?? '1', 1, 1024),
      nnodes,
      nodeRank,
      masterAddr: get('master-addr') ?? '127.0.0.1',
      masterPort: portRaw === undefined ? (nnodes > 1 ? DEFAULT_MASTER_PORT : 0) : intIn('--master-port', portRaw, 1, 65535),
      timeoutS,
    },
    rest,
    given: new Set(values.keys()),
  };
}
