/**
 * Reads a JavaScript object literal as data, never as code: the subset a minifier emits for JSON
 * (objects with bare or quoted keys, arrays, strings, numbers such as `.5` or `-1e-3`, `true`,
 * `false`, `null`, and `!0` / `!1` for true / false). Used to read the Keras model topology that
 * nsfwjs ships inside a JavaScript bundle, without evaluating the bundle.
 */
import type { JsonValue } from '../../util/json.js';

export class JsLiteralError extends Error {
  override name = 'JsLiteralError';
}

/** Parses one literal starting at `start` (after whitespace); returns it and the index after it. */
export function parseJsLiteral(text: string, start = 0, label = '<text>'): { value: JsonValue; end: number } {
  let p = start;
  const fail = (what: string): JsLiteralError => new JsLiteralError(`${label}: ${what} at offset ${p}`);
  const ws = (): void => {
    while (p < text.length && /\s/.test(text[p]!)) p++;
  };
  const ident = (): string => {
    const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(text.slice(p, p + 256));
    if (!m) throw fail('expected a name');
    p += m[0].length;
    return m[0];
  };
  const str = (): string => {
    const q = text[p++];
    let out = '';
    for (;;) {
      if (p >= text.length) throw fail('unterminated string');
      const c = text[p++]!;
      if (c === q) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text[p++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'v':
          out += '\v';
          break;
        case '0':
          out += '\0';
          break;
        case 'x':
          out += String.fromCharCode(parseInt(text.slice(p, p + 2), 16));
          p += 2;
          break;
        case 'u':
          out += String.fromCharCode(parseInt(text.slice(p, p + 4), 16));
          p += 4;
          break;
        case undefined:
          throw fail('unterminated string');
        default:
          out += e;
      }
    }
  };
  const num = (): number => {
    const m = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(text.slice(p, p + 64));
    if (!m) throw fail('expected a value');
    p += m[0].length;
    return Number(m[0]);
  };
  const value = (): JsonValue => {
    ws();
    const c = text[p];
    if (c === '{') {
      p++;
      // No prototype: a key named __proto__ stays an ordinary key.
      const obj = Object.create(null) as { [key: string]: JsonValue };
      for (;;) {
        ws();
        if (text[p] === '}') {
          p++;
          return obj;
        }
        const k = text[p] === '"' || text[p] === "'" ? str() : /[0-9.]/.test(text[p] ?? '') ? String(num()) : ident();
        ws();
        if (text[p++] !== ':') throw fail(`expected ':' after key '${k}'`);
        obj[k] = value();
        ws();
        if (text[p] === ',') p++;
        else if (text[p] !== '}') throw fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      p++;
      const arr: JsonValue[] = [];
      for (;;) {
        ws();
        if (text[p] === ']') {
          p++;
          return arr;
        }
        arr.push(value());
        ws();
        if (text[p] === ',') p++;
        else if (text[p] !== ']') throw fail("expected ',' or ']'");
      }
    }
    if (c === '"' || c === "'") return str();
    if (c === '!' && (text[p + 1] === '0' || text[p + 1] === '1')) {
      p += 2;
      return text[p - 1] === '0';
    }
    if (c !== undefined && /[A-Za-z_$]/.test(c)) {
      const w = ident();
      if (w === 'true') return true;
      if (w === 'false') return false;
      if (w === 'null') return null;
      throw fail(`'${w}' is not a literal`);
    }
    return num();
  };
  const v = value();
  return { value: v, end: p };
}
