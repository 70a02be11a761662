/**
 * A restricted unpickler: reads Python pickle streams (protocols 0-5, binary opcodes only) into
 * plain values WITHOUT executing anything. Python's pickle runs arbitrary callables through
 * GLOBAL/STACK_GLOBAL + REDUCE (a checkpoint can call os.system); here every global goes through
 * a resolver that accepts only names it implements itself, in TypeScript, and anything else stops
 * the load with an error naming the global. Opcodes that build instances of arbitrary classes
 * (INST, OBJ, NEWOBJ, NEWOBJ_EX, the extension registry) are refused outright.
 */
import { oneLine } from './one-line.js';
import { InputError } from '../util/input-error.js';

/** A pickle stream that is malformed or asks for something the resolver refuses. */
export class PickleError extends InputError {
  override name = 'PickleError';
  /** The message is made one printable line (it may quote what the file holds). */
  constructor(message: string) {
    super(oneLine(message));
  }
}

/** A Python tuple. */
export class PickleTuple {
  constructor(readonly items: PickleValue[]) {}
}

/** A key a dict may have here (Python's str, int, bool, None). */
export type PickleKey = string | number | bigint | boolean | null;

/** A Python dict (also collections.OrderedDict); `state` holds what BUILD set on it (e.g. torch's _metadata). */
export class PickleDict {
  readonly entries = new Map<PickleKey, PickleValue>();
  state: PickleValue | undefined;
  constructor(readonly ordered = false) {}
}

/**
 * A value made by a resolver's callable (a tensor, a storage reference, ...). Subclasses decide
 * whether BUILD may set state on them; by default it may not.
 */
export abstract class PickleOpaque {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the default refuses every state; overrides read it
  setState(state: PickleValue): void {
    throw new PickleError(`pickle: BUILD on ${this.constructor.name} is not supported`);
  }
}

/** A global the resolver allowed: a marker (e.g. a storage type) or a callable for REDUCE. */
export interface PickleGlobal {
  readonly kind: 'global';
  readonly module: string;
  readonly name: string;
  /** What REDUCE does with it; absent: the global may only be passed around, not called. */
  call?(args: PickleValue[]): PickleValue;
}

export type PickleValue =
  null | boolean | number | bigint | string | Uint8Array | PickleValue[] | PickleTuple | PickleDict | PickleOpaque | PickleGlobal;

/** What the unpickler may use: the allowed globals and the persistent-id loader. */
export interface PickleResolver {
  /** The global `module.name`, or undefined to refuse it. */
  findGlobal(module: string, name: string): PickleGlobal | undefined;
  /** Resolves a persistent id (torch's storage references); absent: BINPERSID is refused. */
  persistentLoad?(pid: PickleValue): PickleValue;
  /** Extra words for the refusal message (e.g. which globals are allowed). */
  refusalHint?: string;
}

export function isPickleGlobal(v: PickleValue): v is PickleGlobal {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as { kind?: unknown }).kind === 'global';
}

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

/** Opcodes that construct instances of arbitrary classes: never allowed. */
const REFUSED: Record<number, string> = {
  0x69: 'INST',
  0x6f: 'OBJ',
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x50: 'PERSID',
};

/**
 * Unpickles one pickle starting at `offset` and returns its value and the offset just after its
 * STOP opcode (legacy torch files hold several pickles in a row). `label` names the source in errors.
 */
export function unpickle(bytes: Uint8Array, resolver: PickleResolver, label = '<pickle>', offset = 0): { value: PickleValue; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  let p = offset;
  const fail = (what: string): PickleError => new PickleError(`${label}: ${what}`);
  const need = (n: number): void => {
    if (p + n > bytes.length) throw fail(`pickle is truncated at byte ${p}`);
  };
  const u8 = (): number => {
    need(1);
    return bytes[p++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(p, true);
    p += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(p, true);
    p += 4;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = view.getInt32(p, true);
    p += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`length ${v} is too large`);
    return Number(v);
  };
  // A negative length (BINSTRING's is signed) would move the cursor backwards: a loop, not a value.
  const take = (n: number): Uint8Array => {
    if (n < 0) throw fail(`negative length ${n} at byte ${p}`);
    need(n);
    const b = bytes.subarray(p, p + n);
    p += n;
    return b;
  };
  const line = (): string => {
    const start = p;
    while (p < bytes.length && bytes[p] !== 0x0a) p++;
    if (p >= bytes.length) throw fail('pickle is truncated inside a text line');
    return new TextDecoder('utf-8').decode(bytes.subarray(start, p++));
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined) throw fail(`pickle stack underflow at byte ${p - 1}`);
    if (v === MARK) throw fail(`unexpected MARK on the pickle stack at byte ${p - 1}`);
    return v;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw fail(`pickle stack has no value at byte ${p - 1}`);
    return v;
  };
  const popMark = (): PickleValue[] => {
    let i = stack.length - 1;
    while (i >= 0 && stack[i] !== MARK) i--;
    if (i < 0) throw fail(`pickle has no MARK at byte ${p - 1}`);
    const items = stack.splice(i + 1) as PickleValue[];
    stack.pop();
    return items;
  };
  const signedLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const asKey = (k: PickleValue): PickleKey => {
    if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return k;
    throw fail('a dict key that is not a str, int, bool or None is not supported');
  };
  const setItems = (d: PickleValue, kv: PickleValue[]): void => {
    if (!(d instanceof PickleDict)) throw fail('SETITEM(S) on a value that is not a dict');
    for (let i = 0; i + 1 < kv.length; i += 2) d.entries.set(asKey(kv[i]!), kv[i + 1]!);
  };
  const resolveGlobal = (module: string, name: string): PickleGlobal => {
    const g = resolver.findGlobal(module, name);
    if (!g) {
      throw fail(
        `refusing to load: the pickle references the global '${module}.${name}', which is not allowed here${resolver.refusalHint ? ` (${resolver.refusalHint})` : ''}`,
      );
    }
    return g;
  };

  for (;;) {
    const at = p;
    const op = u8();
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO
      case 0x95:
        u64();
        break; // FRAME: only a size hint
      case 0x28:
        stack.push(MARK);
        break; // MARK
      case 0x2e: {
        // STOP
        const value = pop();
        return { value, end: p };
      }
      case 0x30:
        pop();
        break; // POP
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x32:
        stack.push(top());
        break; // DUP
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x4a:
        stack.push(i32());
        break; // BININT
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x8a:
        stack.push(signedLE(take(u8())));
        break; // LONG1
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) throw fail('negative LONG4 length');
        stack.push(signedLE(take(n)));
        break;
      }
      case 0x47: {
        need(8);
        stack.push(view.getFloat64(p, false));
        p += 8;
        break;
      } // BINFLOAT (big-endian)
      case 0x58:
        stack.push(new TextDecoder('utf-8').decode(take(u32())));
        break; // BINUNICODE
      case 0x8c:
        stack.push(new TextDecoder('utf-8').decode(take(u8())));
        break; // SHORT_BINUNICODE
      case 0x8d:
        stack.push(new TextDecoder('utf-8').decode(take(u64())));
        break; // BINUNICODE8
      case 0x54:
        stack.push(new TextDecoder('latin1').decode(take(i32())));
        break; // BINSTRING (Python 2 str)
      case 0x55:
        stack.push(new TextDecoder('latin1').decode(take(u8())));
        break; // SHORT_BINSTRING
      case 0x42:
        stack.push(take(u32()).slice());
        break; // BINBYTES
      case 0x43:
        stack.push(take(u8()).slice());
        break; // SHORT_BINBYTES
      case 0x8e:
        stack.push(take(u64()).slice());
        break; // BINBYTES8
      case 0x29:
        stack.push(new PickleTuple([]));
        break; // EMPTY_TUPLE
      case 0x74:
        stack.push(new PickleTuple(popMark()));
        break; // TUPLE
      case 0x85:
        stack.push(new PickleTuple([pop()]));
        break; // TUPLE1
      case 0x86: {
        const b = pop();
        const a = pop();
        stack.push(new PickleTuple([a, b]));
        break;
      } // TUPLE2
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PickleTuple([a, b, c]));
        break;
      } // TUPLE3
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x6c:
        stack.push(popMark());
        break; // LIST
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) throw fail('APPEND on a value that is not a list');
        l.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) throw fail('APPENDS on a value that is not a list');
        l.push(...items);
        break;
      }
      case 0x7d:
        stack.push(new PickleDict());
        break; // EMPTY_DICT
      case 0x64: {
        const d = new PickleDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      } // DICT
      case 0x73: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      } // SETITEM
      case 0x75: {
        const kv = popMark();
        setItems(top(), kv);
        break;
      } // SETITEMS
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
      case 0x6a: {
        // BINGET, LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) throw fail(`memo entry ${i} is missing`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE: callable(*args)
        const args = pop();
        const fn = pop();
        if (!(args instanceof PickleTuple)) throw fail('REDUCE arguments are not a tuple');
        if (!isPickleGlobal(fn) || !fn.call)
          throw fail(`refusing to call '${isPickleGlobal(fn) ? `${fn.module}.${fn.name}` : 'a non-global value'}' (REDUCE)`);
        stack.push(fn.call(args.items));
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!resolver.persistentLoad) throw fail('persistent ids are not allowed here');
        stack.push(resolver.persistentLoad(pid));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PickleDict) obj.state = state;
        else if (obj instanceof PickleOpaque) obj.setState(state);
        else throw fail('BUILD on a value that is not an object');
        break;
      }
      case 0x69: {
        // INST names its class inline: say which
        const module = line();
        const name = line();
        throw fail(`refusing to load: the pickle instantiates '${module}.${name}' (INST)`);
      }
      default: {
        const refused = REFUSED[op];
        if (refused) throw fail(`refusing to load: pickle opcode ${refused} at byte ${at} builds arbitrary objects`);
        throw fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} ('${String.fromCharCode(op)}') at byte ${at}`);
      }
    }
  }
}
