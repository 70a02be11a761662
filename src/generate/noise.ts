/**
 * Seeded Gaussian noise that is the same in Node and in the browser: xoshiro128** (Blackman and
 * Vigna 2018; 32-bit integer arithmetic, so every engine gives the same integers), seeded through
 * splitmix32, and Box-Muller pairs in float64 rounded to float32. Math.log, Math.cos and Math.sin
 * are not bit-specified by ECMAScript; V8 (Node and Chromium) computes them with the same fdlibm
 * port on every platform, so the noise is bit-identical there; another engine may differ in the
 * last bit of a value.
 */

/** A seeded source of uniform and standard normal numbers. */
export class NoiseRng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /** @param seed an integer in [0, 2^32). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff)
      throw new RangeError(`NoiseRng: seed must be an integer in [0, 2^32), got ${seed}`);
    // splitmix32 spreads the seed over the 128-bit state (never all zero).
    let z = seed >>> 0;
    const next = (): number => {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      return (t ^ (t >>> 16)) >>> 0;
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
  }

  /** The next 32-bit unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = (this.#s1 << 9) >>> 0;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    this.#s0 >>>= 0;
    this.#s1 >>>= 0;
    this.#s2 >>>= 0;
    return result;
  }

  /** Uniform in the open interval (0, 1): (k + 0.5) / 2^32. */
  uniform(): number {
    return (this.nextUint32() + 0.5) / 4294967296;
  }

  /** `count` standard normal values (Box-Muller: pairs r cos(2 pi u2), r sin(2 pi u2) with r = sqrt(-2 ln u1)). */
  normal(count: number): Float32Array {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`NoiseRng.normal: count must be an integer >= 0, got ${count}`);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i += 2) {
      const r = Math.sqrt(-2 * Math.log(this.uniform()));
      const angle = 2 * Math.PI * this.uniform();
      out[i] = r * Math.cos(angle);
      if (i + 1 < count) out[i + 1] = r * Math.sin(angle);
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
