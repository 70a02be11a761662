/**
 * Deterministic release of native memory (after tf.tidy and jax-js): every tensor made inside
 * `tidy(fn)` is disposed when `fn` returns, except the tensors `fn` returns (which move to the
 * enclosing scope) and those passed to `keep`. The garbage collector is only a backstop.
 */

/** What a scope can release. */
export interface ScopedResource {
  dispose(): void;
  /** Set by keep(): never released by a scope. */
  kept: boolean;
  readonly isDisposed: boolean;
  /**
   * Called once no scope owns the resource (made outside every scope, kept, or returned out of
   * the outermost scope), so it can arm its garbage-collection backstop; scopes own the rest.
   */
  unscoped?(): void;
}

const scopes: ScopedResource[][] = [];

/** Called by every new tensor: it belongs to the innermost open scope, if any. */
export function track(r: ScopedResource): void {
  const top = scopes[scopes.length - 1];
  if (top) top.push(r);
  else r.unscoped?.();
}

/** Marks a tensor (or every tensor in a structure) as owned by the caller, not by any scope. */
export function keep<T>(value: T): T {
  visit(value, (r) => {
    r.kept = true;
    r.unscoped?.();
  });
  return value;
}

/** A marker so `tidy` can find tensors in what a function returns without importing Tensor. */
export const scopedMarker: unique symbol = Symbol('consistency.scoped');

function isScoped(v: unknown): v is ScopedResource {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[scopedMarker] === true;
}

function visit(value: unknown, fn: (r: ScopedResource) => void, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isScoped(value)) {
    fn(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) visit(v, fn, seen);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) visit(v, fn, seen);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) visit(v, fn, seen);
  }
}

/**
 * Runs `fn` in a new scope: tensors created inside are disposed when it returns, except those it
 * returns (in a tensor, array, Map or plain object), which move to the enclosing scope.
 * `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope: ScopedResource[] = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    release(scope, new Set());
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    release(scope, new Set());
    throw new Error('tidy: the function returned a Promise; tidy takes synchronous functions (use scope tracking around await instead)');
  }
  const returned = new Set<ScopedResource>();
  visit(result, (r) => returned.add(r));
  release(scope, returned);
  const parent = scopes[scopes.length - 1];
  for (const r of returned) {
    if (r.kept) continue;
    if (parent) parent.push(r);
    else r.unscoped?.();
  }
  return result;
}

function release(scope: ScopedResource[], except: Set<ScopedResource>): void {
  for (const r of scope) if (!r.kept && !except.has(r) && !r.isDisposed) r.dispose();
}

/** Disposes every tensor in a structure (tensor, array, Map, plain object). */
export function dispose(value: unknown): void {
  visit(value, (r) => {
    if (!r.isDisposed) r.dispose();
  });
}

/** How many scopes are open (for tests). */
export function scopeDepth(): number {
  return scopes.length;
}
