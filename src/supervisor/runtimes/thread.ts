/**
 * The thread runtime: starts worker threads for the supervisor thread, fresh or from a pool of spares (threads
 * with the bootstrap loaded and no entry imported, waiting for an assignment). Only the supervisor thread uses
 * this module.
 *
 * Workers share the process environment (SHARE_ENV): a thread started from the supervisor thread would
 * otherwise get a copy of the supervisor's environment as of its start, not the registrant's `process.env`.
 * They inherit execArgv (so a TypeScript loader given to the registrant applies to .ts entries).
 */
import { SHARE_ENV, Worker, type ResourceLimits, type Transferable } from 'node:worker_threads';
import type { Assignment, SpareInit } from '../../shared/protocol.js';

const BOOTSTRAP_URL = new URL('../../worker/bootstrap.js', import.meta.url);

let lastSpareError: unknown;
function noteSpareError(err: unknown): void {
  lastSpareError = err;
}
/** The last error of a spare that died unassigned, for diagnostics. */
export const spareError = (): unknown => lastSpareError;

export class ThreadRuntime {
  readonly #spares: Worker[] = [];
  readonly #target: number;
  #closed = false;

  constructor(spareWorkers: number) {
    this.#target = spareWorkers;
    this.replenish();
  }

  /** Starts a thread for an assignment: a warm spare when one fits, a fresh thread otherwise. */
  start(assignment: Assignment, transfer: Transferable[], resourceLimits: ResourceLimits | undefined): Worker {
    const spare = resourceLimits === undefined ? this.#spares.shift() : undefined;
    if (spare !== undefined) {
      spare.removeAllListeners('exit');
      spare.removeAllListeners('error');
      spare.postMessage(assignment, transfer);
      queueMicrotask(() => this.replenish());
      return spare;
    }
    return new Worker(BOOTSTRAP_URL, {
      workerData: assignment,
      transferList: transfer,
      env: SHARE_ENV,
      name: assignment.name,
      ...(resourceLimits ? { resourceLimits } : {}),
    });
  }

  /** Starts spares until there are as many as configured. */
  replenish(): void {
    while (!this.#closed && this.#spares.length < this.#target) {
      const init: SpareInit = { t: 'spare' };
      const w = new Worker(BOOTSTRAP_URL, { workerData: init, env: SHARE_ENV, name: 'bgworkers-spare' });
      // A spare that dies unassigned (its bootstrap failed to load) is dropped, not retried in a loop; the next
      // start() uses a fresh thread, whose own failure is then classified and reported like any other.
      w.on('error', noteSpareError);
      w.once('exit', () => {
        const i = this.#spares.indexOf(w);
        if (i >= 0) this.#spares.splice(i, 1);
      });
      this.#spares.push(w);
    }
  }

  get spareCount(): number {
    return this.#spares.length;
  }

  /** Stops every spare and starts no more. Resolves when they are gone. */
  async close(): Promise<void> {
    this.#closed = true;
    const spares = this.#spares.splice(0);
    await Promise.all(spares.map((w) => w.terminate()));
  }
}
