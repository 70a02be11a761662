/**
 * Inputs for the fuzz targets: a valid seed file changed by a short list of byte-level mutations
 * (bit flips, overwritten bytes, "interesting" 16/32/64-bit integers in either byte order such as
 * 0, -1 and 2^31, truncation, insertions, deletions, duplicated runs), or, now and then, bytes made
 * from nothing. Structured formats reject purely random bytes at the first magic number; mutating
 * valid files reaches the size fields, offsets and nested parsers behind it. fast-check shrinks a
 * failing input to a short mutation list, which is what the regression corpus keeps.
 */
import fc from 'fast-check';

/** One mutation; positions are taken modulo the current length, so every list applies to every seed. */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'int'; at: number; width: 2 | 4 | 8; value: bigint; little: boolean }
  | { kind: 'truncate'; keep: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'duplicate'; at: number; count: number };

/** Values at the edges of the integer types, where size checks usually fail. */
const INTERESTING: readonly bigint[] = [
  0n,
  1n,
  2n,
  7n,
  8n,
  0x7fn,
  0x80n,
  0xffn,
  0x100n,
  0x7fffn,
  0x8000n,
  0xffffn,
  0x10000n,
  0x7fffffffn,
  0x80000000n,
  0xfffffffen,
  0xffffffffn,
  0x100000000n,
  0x1fffffffffffffn,
  0x20000000000000n,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0xffffffffffffffffn,
];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('int' as const),
      at: fc.nat(),
      width: fc.constantFrom(2 as const, 4 as const, 8 as const),
      value: fc.oneof(fc.constantFrom(...INTERESTING), fc.bigInt({ min: 0n, max: 0xffffffffffffffffn })),
      little: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 64 }) }) },
);

/** Applies mutations in order to a copy of `seed`. */
export function applyMutations(seed: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(seed);
  for (const m of mutations) {
    const n = b.length;
    switch (m.kind) {
      case 'flip':
        if (n > 0) b[m.at % n]! ^= 1 << m.bit;
        break;
      case 'byte':
        if (n > 0) b[m.at % n] = m.value;
        break;
      case 'int': {
        if (n < m.width) break;
        const at = m.at % (n - m.width + 1);
        for (let i = 0; i < m.width; i++) b[at + (m.little ? i : m.width - 1 - i)] = Number((m.value >> BigInt(8 * i)) & 0xffn);
        break;
      }
      case 'truncate':
        b = b.slice(0, n === 0 ? 0 : m.keep % n);
        break;
      case 'insert': {
        const at = m.at % (n + 1);
        const out = new Uint8Array(n + m.bytes.length);
        out.set(b.subarray(0, at));
        out.set(m.bytes, at);
        out.set(b.subarray(at), at + m.bytes.length);
        b = out;
        break;
      }
      case 'delete': {
        if (n === 0) break;
        const at = m.at % n;
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(Math.min(n, at + m.count))]);
        break;
      }
      case 'duplicate': {
        if (n === 0) break;
        const at = m.at % n;
        const run = b.subarray(at, Math.min(n, at + m.count));
        const out = new Uint8Array(n + run.length);
        out.set(b.subarray(0, at + run.length));
        out.set(run, at + run.length);
        out.set(b.subarray(at + run.length), at + 2 * run.length);
        b = out;
        break;
      }
    }
  }
  return b;
}

/**
 * An edit of a JSON seed: the value at a path (each step picks a key or index modulo the count
 * there) replaced by `value`, or deleted when `value` is undefined. Byte mutations of JSON text
 * mostly stop at JSON.parse; edits reach the code that uses the values.
 */
export interface JsonEdit {
  path: number[];
  value: fc.JsonValue | undefined;
}

/** Replacement values: the edges of numbers and sizes, wrong types, and arbitrary JSON. */
const jsonReplacement: fc.Arbitrary<fc.JsonValue | undefined> = fc.oneof(
  fc.constantFrom(0, -1, 1, 0.5, 2 ** 31, 2 ** 53, 1e308, -1e308, 1e-320, 65536, 1e9, '', 'x', null, true, [], {}, [0], [1e9]),
  fc.integer({ min: -4, max: 4096 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.jsonValue({ maxDepth: 2 }),
  fc.constant(undefined),
);

const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({ path: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), value: jsonReplacement });

type Json = fc.JsonValue;

/** `doc` with one edit applied (a copy; paths that reach a scalar early edit that scalar's parent). */
function applyJsonEdit(doc: Json, edit: JsonEdit): Json {
  const root = JSON.parse(JSON.stringify(doc)) as Json;
  let parent: Json = root;
  for (let i = 0; i < edit.path.length; i++) {
    const step = edit.path[i]!;
    const isLast = i === edit.path.length - 1;
    if (Array.isArray(parent)) {
      if (parent.length === 0) break;
      const k = step % parent.length;
      // In range, so never undefined; `!` would have dropped null from the type too.
      const child = parent[k] ?? null;
      if (isLast || child === null || typeof child !== 'object') {
        if (edit.value === undefined) parent.splice(k, 1);
        else parent[k] = edit.value;
        break;
      }
      parent = child;
    } else if (parent !== null && typeof parent === 'object') {
      const keys = Object.keys(parent);
      if (keys.length === 0) break;
      const k = keys[step % keys.length]!;
      const child = parent[k] ?? null;
      if (isLast || child === null || typeof child !== 'object') {
        if (edit.value === undefined) Reflect.deleteProperty(parent, k);
        else parent[k] = edit.value;
        break;
      }
      parent = child;
    } else break;
  }
  return root;
}

/** A fuzz input: which seed and which mutations (bytes) or edits (JSON seeds); or raw bytes. Kept as data so a failure can be printed and replayed. */
export type FuzzInput = { seed: number; mutations: Mutation[] } | { seed: number; edits: JsonEdit[] } | { raw: Uint8Array };

/** Mutated seeds (most inputs) and raw bytes (a few), for `seedCount` seeds; JSON seeds get JSON edits mostly. */
export function fuzzInput(seedCount: number, json = false): fc.Arbitrary<FuzzInput> {
  const seed = fc.integer({ min: 0, max: seedCount - 1 });
  const mutated: fc.Arbitrary<FuzzInput> = fc.record({ seed, mutations: fc.array(mutation, { minLength: 1, maxLength: 8 }) });
  const edited: fc.Arbitrary<FuzzInput> = fc.record({ seed, edits: fc.array(jsonEdit, { minLength: 1, maxLength: 4 }) });
  const raw: fc.Arbitrary<FuzzInput> = fc.record({ raw: fc.uint8Array({ maxLength: 256 }) });
  return json
    ? fc.oneof({ weight: 7, arbitrary: edited }, { weight: 2, arbitrary: mutated }, { weight: 1, arbitrary: raw })
    : fc.oneof({ weight: 9, arbitrary: mutated }, { weight: 1, arbitrary: raw });
}

/** The bytes of an input. */
export function inputBytes(seeds: readonly Uint8Array[], input: FuzzInput): Uint8Array {
  if ('raw' in input) return input.raw;
  const seed = seeds[input.seed];
  if (seed === undefined) throw new RangeError(`fuzz input names seed ${input.seed} of ${seeds.length}`);
  if ('mutations' in input) return applyMutations(seed, input.mutations);
  let doc = JSON.parse(new TextDecoder().decode(seed)) as Json;
  for (const e of input.edits) doc = applyJsonEdit(doc, e);
  return new TextEncoder().encode(JSON.stringify(doc));
}
