/**
 * A c10d process group (libtorch's distributed engine, native/distributed.cc): rendezvous through
 * a TCPStore hosted by rank 0, Gloo on CPU (NCCL on CUDA), and the few collectives data-parallel
 * training needs. The group is the same as torch.distributed.init_process_group's (store prefix
 * "default_pg"), so a Python rank can join it. Every failure becomes one DistributedError line.
 */
import {
  c10dAllReduceSum,
  c10dBarrier,
  c10dBroadcast,
  c10dClose,
  c10dInit,
  c10dStoreGet,
  c10dStoreSet,
  c10dSupport,
  type DistGroupHandle,
} from '../tensor/c10d.js';
import { tensor } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';

/** A failure of the distributed run, meant to be printed as one line. */
export class DistributedError extends Error {
  override readonly name = 'DistributedError';
}

/** How one rank joins a group. */
export interface ProcessGroupOptions {
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  /** Every rendezvous, store wait and collective fails after this long (ms): a lost rank never hangs the others. */
  timeoutMs: number;
  /** 'gloo' (CPU tensors) or 'nccl' (CUDA tensors; needs a CUDA libtorch). Default 'gloo'. */
  backend?: 'gloo' | 'nccl';
  /**
   * Set under torchrun's elastic agent, which hosts the store itself (DistributedEnv's
   * agentStoreAttempt): every rank is a client of it, as torch's own rendezvous makes one for the
   * libtorch the addon is built against (native/distributed.cc, distInit).
   */
  agentStoreAttempt?: number;
}

/** Whether this addon was built with c10d (and which backends). */
export function distributedSupport(): { c10d: boolean; gloo: boolean; nccl: boolean } {
  return c10dSupport();
}

/** Turns a native c10d message into one line that says what went wrong and where. */
function explain(call: string, e: unknown, o: ProcessGroupOptions): DistributedError {
  const raw = e instanceof Error ? e.message : String(e);
  const first = raw.split('\n').find((l) => l.trim() !== '') ?? raw;
  const where = `${o.masterAddr}:${o.masterPort}`;
  if (/address already in use|EADDRINUSE/i.test(raw))
    return new DistributedError(
      `rank ${o.rank}: port ${o.masterPort} is in use on ${o.masterAddr}; pick another --master-port (or stop what holds it)`,
    );
  if (call === 'distInit' && /timed? ?out|timeout/i.test(raw))
    return new DistributedError(
      `rank ${o.rank}: not all ${o.worldSize} ranks arrived at ${where} within ${o.timeoutMs / 1000} s (--dist-timeout); check --nproc/--nnodes, MASTER_ADDR and MASTER_PORT on every node`,
    );
  if (/connection refused|ECONNREFUSED/i.test(raw) && call === 'distInit')
    return new DistributedError(`rank ${o.rank}: no rank 0 listening at ${where} within ${o.timeoutMs / 1000} s (--dist-timeout)`);
  if (/closed by peer|connection reset|broken pipe|EPIPE|ECONNRESET|timed? ?out|timeout/i.test(raw))
    return new DistributedError(`rank ${o.rank}: ${call} failed, another rank is gone or stuck (${first.trim()})`);
  return new DistributedError(`rank ${o.rank}: ${first.trim()}`);
}

export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly options: Readonly<ProcessGroupOptions>;
  #handle: DistGroupHandle | null;

  private constructor(handle: DistGroupHandle, options: ProcessGroupOptions) {
    this.#handle = handle;
    this.options = options;
    this.rank = options.rank;
    this.worldSize = options.worldSize;
  }

  /** Joins the group (blocks until all ranks arrived, at most timeoutMs). */
  static init(options: ProcessGroupOptions): ProcessGroup {
    if (!c10dSupport().c10d) {
      throw new DistributedError(
        "data-parallel training needs libtorch's c10d with Gloo, which this build of the addon lacks (Debian: apt-get install libgloo-dev, then npm run build:native)",
      );
    }
    try {
      return new ProcessGroup(
        c10dInit(
          options.masterAddr,
          options.masterPort,
          options.rank,
          options.worldSize,
          options.timeoutMs,
          options.backend ?? 'gloo',
          options.agentStoreAttempt ?? -1,
        ),
        options,
      );
    } catch (e) {
      throw explain('distInit', e, options);
    }
  }

  get handle(): DistGroupHandle {
    if (this.#handle === null) throw new DistributedError(`rank ${this.rank}: the process group is closed`);
    return this.#handle;
  }

  /** Runs one native call, turning its failure into a DistributedError line. */
  call<T>(name: string, fn: (h: DistGroupHandle) => T): T {
    const h = this.handle;
    try {
      return fn(h);
    } catch (e) {
      throw explain(name, e, this.options);
    }
  }

  /** Overwrites the tensors in place with rank `root`'s. */
  broadcast(tensors: Tensor[], root = 0): void {
    this.call('broadcast', (h) => c10dBroadcast(h, tensors, root));
  }

  /** Each tensor becomes, in place, its sum over ranks. */
  allReduceSum(tensors: Tensor[]): void {
    this.call('allReduceSum', (h) => c10dAllReduceSum(h, tensors));
  }

  /** The sums over ranks of a few float64 numbers (loss sums, counts), so every rank decides alike. */
  allReduceNumbers(values: number[]): number[] {
    if (values.length === 0) return [];
    const t = tensor(Float64Array.from(values), [values.length], { device: 'cpu' });
    try {
      this.allReduceSum([t]);
      return Array.from(t.toFloat64Array());
    } finally {
      t.dispose();
    }
  }

  /** Rank `root`'s numbers on every rank. */
  broadcastNumbers(values: number[], root = 0): number[] {
    if (values.length === 0) return [];
    const t = tensor(Float64Array.from(values), [values.length], { device: 'cpu' });
    try {
      this.broadcast([t], root);
      return Array.from(t.toFloat64Array());
    } finally {
      t.dispose();
    }
  }

  barrier(): void {
    this.call('barrier', (h) => c10dBarrier(h));
  }

  /** Sets a key of the rendezvous store (visible to every rank). */
  storeSet(key: string, value: string): void {
    this.call('storeSet', (h) => c10dStoreSet(h, key, value));
  }

  /** A key of the rendezvous store, waiting (at most timeoutMs) until some rank set it. */
  storeGet(key: string): string {
    return this.call('storeGet', (h) => c10dStoreGet(h, key));
  }

  /**
   * Stops every rank with one clear line unless all ranks give the same `value` for `what`
   * (the project version, the training config): ranks that disagree would train different models.
   */
  requireSame(what: string, value: string): void {
    this.storeSet(`same/${what}/${this.rank}`, value);
    let mismatch = -1;
    if (this.rank === 0) {
      for (let r = 1; r < this.worldSize && mismatch < 0; r++) if (this.storeGet(`same/${what}/${r}`) !== value) mismatch = r;
    }
    const [bad] = this.broadcastNumbers([mismatch]);
    if (bad !== undefined && bad >= 0) {
      throw new DistributedError(`rank ${bad}'s ${what} differs from rank 0's: start every rank with the same ${what}`);
    }
  }

  /** Leaves the group now (joins Gloo's threads); the handle is unusable afterwards. */
  close(): void {
    if (this.#handle === null) return;
    const h = this.#handle;
    this.#handle = null;
    c10dClose(h);
  }
}
