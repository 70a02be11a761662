/** The field-by-field comparison that names every difference between two run configs (JSON values). */
import { isJsonObject, type JsonValue } from '../util/json.js';

// The JSON type itself lives in src/util/json.ts; re-exported for the training modules that import it from here.
export { isJsonObject, type JsonValue, type JsonObject } from '../util/json.js';

/**
 * The dotted paths where `a` and `b` differ ('method.curriculum.s1', 'network.channels'),
 * recursing into objects; arrays and scalars compare whole. A key present on one side only
 * counts as a difference.
 */
export function diffJson(a: JsonValue | undefined, b: JsonValue | undefined, prefix = ''): string[] {
  if (isJsonObject(a) && isJsonObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => diffJson(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix || '(root)'];
}

/** The value at a dotted path, or undefined. */
export function getPath(obj: JsonValue | undefined, path: string): JsonValue | undefined {
  let cur: JsonValue | undefined = obj;
  for (const part of path.split('.')) {
    if (!isJsonObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}
