/**
 * WorkerHandle: what register() returns. A thin facade over a WorkerRecord (record.ts); every read is a
 * synchronous look at shared memory, checked against the handle's generation, so it is safe in any state —
 * also after the worker stopped and its slot was reused.
 */
import type { WorkerChannel } from './channel.js';
import type { Latch } from './shared/latch.js';
import type { WorkerRecord, WorkerState } from './record.js';
import type { WorkerExit } from './shared/exit.js';

/** A registered worker. Obtained from `register()`; never constructed directly. */
export class WorkerHandle<R = unknown> {
  readonly #r: WorkerRecord;

  /** @internal */
  constructor(record: WorkerRecord) {
    this.#r = record;
  }

  /** Unique for the supervisor's lifetime (a reused slot gets a new id). Same as `ctx.id`. */
  get id(): string {
    return this.#r.id;
  }
  /** The spec's name, or the entry's base name + '#' + id. */
  get name(): string {
    return this.#r.name;
  }
  get kind(): string | undefined {
    return this.#r.kind;
  }
  get labels(): Readonly<Record<string, string>> {
    return this.#r.labels;
  }
  get ephemeral(): boolean {
    return this.#r.ephemeral;
  }
  get precious(): boolean {
    return this.#r.precious;
  }
  /** The current state, read synchronously from shared memory. */
  get state(): WorkerState {
    return this.#r.state;
  }
  /** Process runtime, once started. Always undefined for thread workers. */
  get pid(): number | undefined {
    return this.#r.pid;
  }
  /** Thread runtime: the worker's threadId, once it started. */
  get threadId(): number | undefined {
    return this.#r.threadId;
  }
  /** The worker's own latch (`ctx.latch` on the other side). A no-op once the worker stopped. */
  get latch(): Latch {
    return this.#r.latch;
  }
  /**
   * Direct channel to `ctx.port`. For a restartable worker the same object across restarts, connected to the
   * current run; messages posted while no run is connected are dropped.
   */
  get port(): WorkerChannel {
    return this.#r.port;
  }

  /** Resolves once the worker is running; rejects with WorkerStartupError if it stopped first. */
  waitForStartup(): Promise<void> {
    return this.#r.whenStarted();
  }

  /** Resolves once the worker stopped, whatever the reason. Never rejects. */
  waitForShutdown(): Promise<WorkerExit<R>> {
    return this.#r.whenStopped() as Promise<WorkerExit<R>>;
  }

  /**
   * Asks the supervisor to stop the worker (guarantee G2, docs/guide.md "Termination"). Synchronous and idempotent. From the moment it
   * returns the worker will never be started nor restarted: a worker that had not started runs no user code at
   * all (`never-started`); a running one has its signal aborted and latch set, and is stopped by force after the
   * graceful timeout (`terminated`, unless its main returns first: `completed`).
   */
  terminate(): void {
    this.#r.requestTermination();
  }
}
