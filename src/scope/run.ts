/**
 * Starting a scope: find its parent in the calling async context, refuse what cannot start (closed parent,
 * aborted signal, bad options), tie `options.signal` to it, and run its function in its frame.
 */
import { invalidOption, toAbortReason } from '../errors.js';
import { validateScopeOptions, type ScopeOptions } from '../options.js';
import { currentFrame, runInFrame } from './context.js';
import { ScopeNode, nearestOpen, type ScopeOwner } from './node.js';
import { Scope, scopeOf, type ScopeRegistrar } from './scope.js';
import { scopeTrace } from '../registrant/diagnostics.js';

/** What owns scopes: a supervisor (client side). */
export interface ScopeHost extends ScopeOwner, ScopeRegistrar {
  /** A scope started; `node.parent` is undefined for a root. */
  scopeStarted(node: ScopeNode): void;
}

/** Runs fn in a new scope of `host`, a child of the calling context's innermost open scope of the same host. */
export function runScope<T>(host: ScopeHost, fn: (scope: Scope) => T | PromiseLike<T>, options: ScopeOptions | undefined): Promise<T> {
  let opts: ReturnType<typeof validateScopeOptions>;
  const frame = currentFrame();
  const parent = frame instanceof ScopeNode && frame.owner === host ? nearestOpen(frame) : undefined;
  try {
    opts = validateScopeOptions(options);
    if (typeof fn !== 'function') throw invalidOption('fn', 'a function', fn);
    parent?.assertActive('scope'); // invariant 4 of node.ts: nothing starts in a scope that left `active`
  } catch (err) {
    return Promise.reject(err);
  }
  if (opts.signal?.aborted) return Promise.reject(toAbortReason(opts.signal.reason));
  const node = new ScopeNode(host, parent, opts.name);
  const scope = new Scope(node, host, parent === undefined ? undefined : scopeOf(parent));
  host.scopeStarted(node);
  const signal = opts.signal;
  if (signal !== undefined) {
    const onAbort = (): void => node.abort(toAbortReason(signal.reason));
    const off = (): void => signal.removeEventListener('abort', onAbort);
    signal.addEventListener('abort', onAbort, { once: true });
    void node.settled.then(off, off);
  }
  runInFrame(node, () => {
    let r: T | PromiseLike<T>;
    try {
      // The TracingChannel only when someone listens (its async wrapper costs a promise per scope otherwise).
      r = scopeTrace.hasSubscribers ? scopeTrace.tracePromise(async (s: Scope) => fn(s), { scopeId: node.id, name: node.name }, undefined, scope) : fn(scope);
    } catch (err) {
      node.functionSettled(false, err);
      return;
    }
    Promise.resolve(r).then(
      (v) => node.functionSettled(true, v),
      (e: unknown) => node.functionSettled(false, e),
    );
  });
  return node.settled as Promise<T>;
}
