/**
 * The worker side's public shapes: `defineWorker()` (an entry module's default export) and the WorkerContext
 * handed to main.
 */
import type { Logger } from 'pino';
import { invalidOption } from '../errors.js';
import type { WorkerChannel } from '../channel.js';
import type { Latch } from '../shared/latch.js';

/** Marks a module's default export as a worker definition; checked by the bootstrap before calling main. */
export const DEFINITION = Symbol.for('bgworkers.definition');

/** What a worker's main receives. */
export interface WorkerContext<D = unknown> {
  /** The worker's id, same as `handle.id`. */
  readonly id: string;
  readonly name: string;
  /** The spec's `data`, structured-cloned. */
  readonly data: D;
  /** Own latch; the registrant sets it with `handle.latch.set()`. Termination requests set it too. */
  readonly latch: Latch;
  /** The registrant thread's latch (its `myLatch()`). */
  readonly registrantLatch: Latch;
  /** The other end of `handle.port`. */
  readonly port: WorkerChannel;
  /** Aborts when termination is requested, with a TerminationRequestedError as reason. */
  readonly signal: AbortSignal;
  /**
   * A pino logger at the level of the supervisor's logger. Its lines are logged by the supervisor's logger (the one
   * given to `Supervisor.start`, or the default on stderr) with the worker's bindings: `worker`, `name`, `kind`,
   * `scope`, `runtime`, and `workerPid` for a process worker. A call below the level costs nothing and sends nothing.
   */
  readonly logger: Logger;
  /** Throws TerminationRequestedError once termination was requested. Synchronous and cheap: call it often. */
  /**
   * Listens for signals relayed to every running worker (`handleSignals.relay`, `supervisor.relaySignal()`).
   * Returns the function that removes the listener. A process worker also gets the real signal.
   */
  onSignal(listener: (signal: NodeJS.Signals) => void): () => void;
  checkForInterrupts(): void;
}

/** The default export of a worker entry module. */
export interface WorkerDefinition<D = unknown, R = unknown> {
  readonly [DEFINITION]: true;
  readonly main: (ctx: WorkerContext<D>) => R | PromiseLike<R>;
}

/**
 * Defines a worker: make it the entry module's default export. `main` runs once per start; what it returns is
 * the worker's result (`WorkerExit.result`, structured-cloned); what it throws makes the run `failed`.
 *
 * @example
 * ```ts
 * // sum.ts (a worker entry module)
 * import { defineWorker } from 'bgworkers/worker';
 *
 * export default defineWorker<{ n: number }, number>(async (ctx) => {
 *   let sum = 0;
 *   for (let i = 0; i < ctx.data.n; i++) { ctx.checkForInterrupts(); sum += i; }
 *   return sum;
 * });
 * ```
 */
export function defineWorker<D = unknown, R = unknown>(main: (ctx: WorkerContext<D>) => R | PromiseLike<R>): WorkerDefinition<D, R> {
  if (typeof main !== 'function') throw invalidOption('main', 'a function', main);
  return Object.freeze({ [DEFINITION]: true as const, main });
}

export function isWorkerDefinition(value: unknown): value is WorkerDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[DEFINITION] === true && typeof (value as WorkerDefinition).main === 'function';
}
