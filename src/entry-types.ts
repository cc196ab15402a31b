/**
 * How a worker module's own types reach the registrant: `register<typeof import('./sum.js').default>(spec)` takes
 * the entry module's `defineWorker(...)` type, checks `spec.data` against its `ctx.data` type and types
 * `exit.result` with what its main returns (awaited). Types only: nothing here exists at run time.
 *
 * The register methods carry two overloads, chosen by how many type arguments the caller writes:
 * - one that is a worker definition (`register<typeof import('./w.js').default>`): this file's types;
 * - none, or `<D>`, or `<D, R>` (the older style, still accepted): data `D`, result `R`, both `unknown` by default.
 * With no type argument the first overload's `W` is `never`, which these types map to `unknown`: the same handle
 * type as the second overload gives.
 */
import type { WorkerDefinition } from './worker/context.js';

/** Any `defineWorker(...)` value's type. */
export type AnyWorkerDefinition = WorkerDefinition<any, any>;

/** The `ctx.data` type of a worker definition: what its spec's `data` must be. `unknown` for `never`. */
export type WorkerData<W extends AnyWorkerDefinition> = [W] extends [never] ? unknown : W extends WorkerDefinition<infer D, infer _R> ? D : unknown;

/** What a worker definition's main resolves to: its handle's `exit.result`. `unknown` for `never`. */
export type WorkerResult<W extends AnyWorkerDefinition> = [W] extends [never] ? unknown : W extends WorkerDefinition<infer _D, infer R> ? Awaited<R> : unknown;
