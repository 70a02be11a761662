/**
 * Automatic intra-op thread count for CPU training on a machine that may be shared.
 *
 * libtorch's OpenMP threads wait for each other at the end of every parallel op; when another
 * process holds one of the cores, every op waits for the descheduled thread, and a step with
 * 2 threads on 2 cores measured 2.5-20x SLOWER than with 1 thread here (while on an idle machine
 * 2 threads were 1.7x faster). So when no --threads is given, the trainer times steps with 1 and
 * with all threads and keeps the faster, re-checking the other choice now and then as the load
 * changes. Which count ran does not change what is computed beyond float rounding, but bit-exact
 * resumption needs a fixed --threads.
 */

export interface ThreadTunerOptions {
  /** The largest thread count to try (the core count). */
  maxThreads: number;
  /** Re-check the other thread count every this many steps (default 100). */
  recheckEvery?: number;
  /** Steps timed per choice when (re)checking (default 3; the median is used). */
  probeSteps?: number;
}

/** Chooses the thread count of each step from measured step times. */
export class ThreadTuner {
  readonly choices: number[];
  private readonly recheckEvery: number;
  private readonly probeSteps: number;
  /** Recent step times (ms) per choice. */
  private readonly times = new Map<number, number[]>();
  private current: number;
  private probing: number[] = [];
  private sinceCheck = 0;
  /** The current choice's median step time when it was chosen. */
  private reference = Infinity;
  private slowInARow = 0;

  constructor(o: ThreadTunerOptions) {
    this.choices = o.maxThreads > 1 ? [o.maxThreads, 1] : [1];
    this.recheckEvery = o.recheckEvery ?? 100;
    this.probeSteps = o.probeSteps ?? 3;
    this.current = this.choices[0]!;
    // Start by timing every choice.
    if (this.choices.length > 1) for (const c of this.choices) for (let i = 0; i < this.probeSteps; i++) this.probing.push(c);
  }

  /** The thread count for the next step. */
  next(): number {
    return this.probing.length > 0 ? this.probing[0]! : this.current;
  }

  /** Records how long a step with `threads` took. */
  record(threads: number, ms: number): void {
    if (this.choices.length === 1) return;
    const list = this.times.get(threads) ?? [];
    list.push(ms);
    if (list.length > this.probeSteps) list.shift();
    this.times.set(threads, list);
    if (this.probing.length > 0 && this.probing[0] === threads) {
      this.probing.shift();
      if (this.probing.length === 0) this.decide();
      return;
    }
    // Two steps in a row 1.5x slower than when this choice was made: the load changed, re-check now.
    this.slowInARow = threads === this.current && ms > 1.5 * this.reference ? this.slowInARow + 1 : 0;
    if (++this.sinceCheck >= this.recheckEvery || this.slowInARow >= 2) {
      this.sinceCheck = 0;
      this.slowInARow = 0;
      // Time the other choices again; the current one's recent times are fresh.
      for (const c of this.choices) if (c !== this.current) for (let i = 0; i < this.probeSteps; i++) this.probing.push(c);
    }
  }

  private decide(): void {
    let best = this.current;
    let bestMs = Infinity;
    for (const c of this.choices) {
      const m = median(this.times.get(c) ?? []);
      if (m < bestMs) {
        bestMs = m;
        best = c;
      }
    }
    this.current = best;
    this.reference = bestMs;
  }
}

function median(v: number[]): number {
  if (v.length === 0) return Infinity;
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
