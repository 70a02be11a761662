/**
 * Small seeded pseudo-random generators for data order and augmentation (no Math.random, so runs
 * are reproducible and resumable):
 *
 * - splitmix64 (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators"):
 *   used only to turn a seed and stream/epoch numbers into well-mixed generator states.
 * - xoshiro128** (Blackman & Vigna 2018, "Scrambled linear pseudorandom number generators"):
 *   the generator itself; 128 bits of state in four uint32 words, period 2^128 - 1, fast in
 *   32-bit JavaScript arithmetic. Its state is plain numbers, so it saves to JSON exactly.
 */

const MASK64 = (1n << 64n) - 1n;

/** One splitmix64 step: returns [next state, output]. */
export function splitmix64(state: bigint): [bigint, bigint] {
  const s = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [s, z ^ (z >> 31n)];
}

/** Derives four non-zero-state uint32 words from a list of non-negative integers (seed, stream, epoch...). */
export function deriveState(...words: number[]): [number, number, number, number] {
  let s = 0n;
  for (const w of words) {
    if (!Number.isSafeInteger(w) || w < 0) throw new RangeError(`deriveState: expected non-negative safe integers, got ${w}`);
    const [next, out] = splitmix64(s ^ BigInt(w));
    s = next ^ out;
  }
  const [s1, a] = splitmix64(s);
  const [, b] = splitmix64(s1);
  const st: [number, number, number, number] = [Number(a & 0xffffffffn), Number(a >> 32n), Number(b & 0xffffffffn), Number(b >> 32n)];
  if (st.every((x) => x === 0)) st[0] = 1; // the all-zero state is a fixed point
  return st;
}

/** xoshiro128** generator. */
export class Xoshiro128 {
  private s: Uint32Array;

  /** Starts from a state of four uint32 words (not all zero); see deriveState. */
  constructor(state: readonly number[]) {
    if (state.length !== 4 || state.some((x) => !Number.isInteger(x) || x < 0 || x > 0xffffffff) || state.every((x) => x === 0)) {
      throw new RangeError(`Xoshiro128: state must be four uint32 words, not all zero; got ${JSON.stringify(state)}`);
    }
    this.s = Uint32Array.from(state);
  }

  /** A generator seeded from integers (e.g. seed, stream number). */
  static from(...words: number[]): Xoshiro128 {
    return new Xoshiro128(deriveState(...words));
  }

  /** The current state (four uint32 words) for saving. */
  state(): [number, number, number, number] {
    return [this.s[0]!, this.s[1]!, this.s[2]!, this.s[3]!];
  }

  /** The next uniform uint32. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** A uniform integer in [0, n), 1 <= n <= 2^32, without modulo bias (rejection sampling). */
  nextBelow(n: number): number {
    if (!(n >= 1 && n <= 0x100000000) || !Number.isInteger(n)) throw new RangeError(`nextBelow: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const r = this.nextUint32();
      if (r < limit) return r % n;
    }
  }

  /** A uniform float in [0, 1) with 32 random bits. */
  nextFloat(): number {
    return this.nextUint32() / 0x100000000;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates) drawn from `rng`. */
export function randomPermutation(n: number, rng: Xoshiro128): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.nextBelow(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
