/**
 * Array.isArray without its `any[]`: narrows to `readonly unknown[]`, so that a value typed as an
 * array stays its type and one from JSON or a JS caller has its elements checked before use.
 */
export function isArray(v: unknown): v is readonly unknown[] {
  return Array.isArray(v);
}
