/**
 * The Foreman (G19): a single-threaded loop on the registrant that claims jobs from a queue session and runs each
 * as a task of a pool whose entry is the user's handlers module (`defineJobs`), then records its outcome.
 *
 * The foreman's states, and who moves them:
 *
 *   starting ──Foreman.start (attached, supervisor ready, loop begun)──► running
 *   running ──stop() (the user, or SIGINT/SIGTERM with handleSignals)──► stopping
 *   stopping ──every run recorded (grace, then forced off), detached, scope and own supervisor closed──► stopped
 *
 * A job run's states (one per claimed job, in #runs from claim until its outcome is recorded), moved by the loop's
 * callbacks on the registrant:
 *
 *   claimed ──payload decodes──► running (a pool task) ──returned──► recording ──complete──► (gone)
 *      │                            ├──threw──► recording ──fail(retryAt | dead 'failed' | 'unknown-name')
 *      │                            ├──timed out──► ending (aborted; waits until the old run really ended:
 *      │                            │               its task answered or its worker stopped) ──► recording (fail)
 *      │                            ├──its worker died (PoolWorkerDiedError: crashed, or its entry did not load)
 *      │                            │     ──► recording: handlers module never loaded in this generation (exit
 *      │                            │     'failed', no job answered yet) → dead 'handlers-failed'; else (the job
 *      │                            │     may have done its work: the outcome is unknown) fail (at-least-once) /
 *      │                            │     dead 'lost' (at-most-once: never run again)
 *      │                            └──its pool's scope aborted (stop() forced it off; the supervisor went)──►
 *      │                                 ending (until that scope has ended: every worker of it stopped) ──►
 *      │                                 recording: forced off → release (at-least-once) / dead 'lost'
 *      │                                 (at-most-once); else fail (at-least-once) / dead 'lost' (at-most-once)
 *      └──payload does not decode──► recording (dead 'bad-payload')
 *
 * Blast radius: the pool is not precious, so a worker's death (process.exit, an uncaught error outside a handler,
 * out of memory, a kill) fails only the job running on it; jobs on the other workers run on, jobs queued in the
 * pool that had not started on it go to another worker, and the pool starts a replacement on demand. A handlers
 * module that does not load fails every job its worker held (none started), so a broken module costs a worker
 * start per batch of jobs claimed, never a loop of restarts.
 *
 * Pools live in generations: a scope on the supervisor holding one pool (minWorkers 0: workers start on demand and
 * stay). A generation ends only when its scope is aborted — by stop()'s force, or from outside (the supervisor
 * shutting down); the next claim then opens a new one once the old has ended.
 *
 * Sleeping: when a claim returns nothing the loop waits for the earliest of the queue's wake-up (onWakeup),
 * nextRunAt(), a run ending, stop() or drained(); a wake-up while a claim is in flight sets `#kicked`, so none is
 * lost. No fixed-interval polling.
 *
 * Leases (at-least-once): one `session.renew(refs)` of every held claim each leaseMs/3, from a timer of the
 * registrant — never from a job's worker, so a job that blocks its worker's event loop keeps its lease. A claim is
 * held (and renewed) until its outcome is recorded, which for an aborted run is after it really ended: a retry
 * never overlaps the old run.
 *
 * Store failures (the database restarting, a connection dropped): a claim that fails is logged and tried again
 * after 1 s or the next wake-up (the queue's reconnect wakes the loop); an outcome that fails to be recorded is
 * written again with backoff for up to leaseMs (#persist), its run held meanwhile, so a restart leaves no job
 * running in the queue for a foreman that no longer holds it.
 */
import { pino, type Logger } from 'pino';
import { PoolWorkerDiedError, TaskTimeoutError } from '../errors.js';
import { runWithEnd, type ScopedPool } from '../pool/scoped-pool.js';
import { Supervisor } from '../registrant/client.js';
import type { Scope } from '../scope/scope.js';
import { serializeError, type SerializedError } from '../shared/protocol.js';
import { retryDelayMs } from './backoff.js';
import { ERR_UNKNOWN_JOB, type JobInput } from './define-jobs.js';
import { validateForemanOptions, type ForemanOptions, type ResolvedForemanOptions } from './foreman-options.js';
import { jobClaim, jobEnd } from './job-channels.js';
import { newOwner } from './owner.js';
import type { ClaimedJob, ClaimRef, DeadReason, QueueSession } from './queue.js';

export type { ForemanOptions } from './foreman-options.js';

/** First wait before recording a job's outcome again after the store failed. */
const RECORD_RETRY_MS = 50;
/** Longest wait between attempts to record an outcome. */
const MAX_RECORD_RETRY_MS = 1_000;

/** A foreman's lifecycle state. */
export type ForemanState = 'starting' | 'running' | 'stopping' | 'stopped';

/** Counters of one foreman since it started. */
export interface ForemanStats {
  /** Jobs claimed. */
  readonly claimed: number;
  /** Jobs whose handler returned (completed in the queue). */
  readonly completed: number;
  /** Attempts that failed (threw, timed out, their worker died), whether retried or dead. */
  readonly failed: number;
  /** Failed attempts given a retry. */
  readonly retried: number;
  /** Jobs made dead (last attempt failed, unknown name, bad payload, handlers failed, at-most-once lost). */
  readonly dead: number;
  /** Jobs claimed and not yet recorded. */
  readonly running: number;
  /** at-least-once jobs forced off by stop() and released. */
  readonly released: number;
  /** at-most-once jobs forced off by stop() or whose worker died: dead with reason 'lost'. */
  readonly lost: number;
}

/** Why a job's run was forced off: the abort reason of its pool's scope at stop(). */
class ForcedOffError extends Error {
  constructor() {
    super('foreman stopping: gracefulTimeoutMs passed with jobs running');
    this.name = 'ForcedOffError';
  }
}

/** A scope and its pool; aborted for good by stop()'s force (or from outside: the supervisor shutting down). */
interface Generation {
  readonly scope: Scope;
  readonly pool: ScopedPool<JobInput, unknown>;
  /** Resolves when the scope has ended (every worker of it stopped); never rejects. */
  readonly ended: Promise<void>;
  /** Lets the scope's function return (the scope commits, or ends if aborted). */
  readonly close: () => void;
  /** Runs of this generation that answered (a result or the handler's own error): the module loaded once. */
  answered: number;
}

interface Run {
  readonly job: ClaimedJob;
  readonly ref: ClaimRef;
  readonly startedAt: number;
}

type Outcome =
  | { readonly kind: 'complete' }
  | { readonly kind: 'fail'; readonly error: unknown }
  | { readonly kind: 'dead'; readonly error: unknown; readonly reason: DeadReason }
  | { readonly kind: 'release' };

/**
 * Durable background jobs: takes jobs from a queue and runs them on the supervisor's workers (G19).
 *
 * @example
 * ```ts
 * // foreman-demo.ts (jobs.ts is defineJobs' example)
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * import { Foreman, SqliteQueue } from 'bgworkers/foreman';
 *
 * const queue = SqliteQueue.open(join(mkdtempSync(join(tmpdir(), 'jobs-')), 'jobs.db'));
 * const foreman = await Foreman.start({ queue, handlers: new URL('./jobs.js', import.meta.url), concurrency: 2 });
 * await queue.enqueueMany([{ name: 'square', payload: 3 }, { name: 'square', payload: 4 }]);
 * await foreman.drained();
 * await foreman.stop();
 * await queue.close();
 * console.log(foreman.stats().completed); // prints: 2
 * ```
 */
export class Foreman {
  readonly #o: ResolvedForemanOptions;
  readonly #session: QueueSession;
  readonly #supervisor: Supervisor;
  readonly #ownSupervisor: boolean;
  readonly #logger: Logger | undefined;
  /**
   * Jobs held at once: one per pool worker plus up to a batch claimed ahead (queued in the pool), so a worker never
   * idles waiting for a claim round trip. Those claimed ahead are held like running ones (leases renewed; at stop
   * released or, at-most-once, lost).
   */
  readonly #slots: number;
  /** Jobs claimed ahead of the workers at most (0 for at-most-once). */
  readonly #ahead: number;
  readonly #runs = new Map<string, Run>();
  readonly #drainWaiters: (() => void)[] = [];
  readonly #idleWaiters: (() => void)[] = [];
  readonly #forced = new ForcedOffError();
  #state: ForemanState = 'starting';
  #gen: Generation | undefined;
  #opening: Promise<Generation | undefined> | undefined;
  #kicked = false;
  /** The last pool worker death logged (the jobs it held share one error: one line per worker). */
  #lastDeath: PoolWorkerDiedError | undefined;
  #waker: (() => void) | undefined;
  #loopDone: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #renewing = false;
  #offWakeup: (() => void) | undefined;
  #signalHandler: (() => void) | undefined;
  #claimed = 0;
  #completed = 0;
  #failed = 0;
  #retried = 0;
  #dead = 0;
  #released = 0;
  #lost = 0;

  private constructor(o: ResolvedForemanOptions, session: QueueSession, supervisor: Supervisor, own: boolean, logger: Logger | undefined) {
    this.#o = o;
    this.#session = session;
    this.#supervisor = supervisor;
    this.#ownSupervisor = own;
    this.#logger = logger;
    // at-most-once claims only for free workers (snappea's min(free workers, batchSize)): a job claimed ahead and
    // then lost to a forced stop or the foreman's death never ran, and at-most-once cannot give it back.
    // at-least-once claims a batch ahead (released at a forced stop), so that a worker never idles for a claim's
    // round trip. A worker's crash loses neither: what it had not started goes to another worker.
    this.#ahead = o.delivery === 'at-most-once' ? 0 : o.batchSize;
    this.#slots = o.concurrency + this.#ahead;
  }

  /**
   * Validates the options (InvalidWorkerSpecError naming the field), attaches to the queue (ForemanRunningError
   * when another live foreman holds a SQLite queue: nothing is left running), and starts the loop, which drains
   * the backlog first.
   */
  static async start(options: ForemanOptions): Promise<Foreman> {
    const o = validateForemanOptions(options);
    const logger = o.logger === false ? undefined : (o.logger ?? pino({ level: 'warn' }, pino.destination({ fd: 2, sync: true })));
    const session = await o.queue.attach({
      owner: newOwner(),
      delivery: o.delivery,
      leaseMs: o.leaseMs,
      logger: { warn: (obj, msg) => logger?.warn(obj, msg), info: (obj, msg) => logger?.info(obj, msg) },
    });
    let supervisor = o.supervisor;
    const own = supervisor === undefined;
    try {
      supervisor ??= await Supervisor.start(o.logger === undefined ? {} : { logger: o.logger });
    } catch (err) {
      await session.detach();
      throw err;
    }
    const foreman = new Foreman(o, session, supervisor, own, logger);
    foreman.#begin();
    return foreman;
  }

  /** starting → running: wake-ups, the lease timer, signal handlers, the loop. */
  #begin(): void {
    this.#state = 'running';
    this.#offWakeup = this.#session.onWakeup(() => this.#kick());
    if (this.#o.delivery === 'at-least-once') this.#leaseTimer = setInterval(() => this.#renew(), Math.max(10, Math.floor(this.#o.leaseMs / 3)));
    if (this.#o.handleSignals) {
      this.#signalHandler = () => void this.stop();
      process.on('SIGINT', this.#signalHandler);
      process.on('SIGTERM', this.#signalHandler);
    }
    this.#loopDone = this.#loop();
  }

  /** 'starting', 'running', 'stopping' or 'stopped'. */
  get state(): ForemanState {
    return this.#state;
  }

  /** This foreman's counters, read synchronously. */
  stats(): ForemanStats {
    return {
      claimed: this.#claimed, completed: this.#completed, failed: this.#failed, retried: this.#retried, dead: this.#dead,
      running: this.#runs.size, released: this.#released, lost: this.#lost,
    };
  }

  /**
   * Resolves the next time a claim finds no runnable job (none with runAt ≤ now; scheduled ones and retries whose
   * time has not come do not count) while this foreman holds no job; at once if the foreman has stopped. A job
   * enqueued while it waits is run first.
   */
  drained(): Promise<void> {
    if (this.#state === 'stopped' || this.#stopping !== undefined) return this.#stopping ?? Promise.resolve();
    return new Promise((resolve) => {
      this.#drainWaiters.push(resolve);
      this.#kick();
    });
  }

  /**
   * Stops: no new claims; running jobs get gracefulTimeoutMs, then are terminated with their workers; at-least-once
   * jobs forced off are released at once, at-most-once ones are dead ('lost', logged with their ids). Then detaches
   * from the queue and closes its scope (and its own supervisor). Idempotent: the same promise every time.
   */
  stop(): Promise<void> {
    return (this.#stopping ??= this.#stop());
  }

  async #stop(): Promise<void> {
    this.#state = 'stopping';
    if (this.#signalHandler !== undefined) {
      process.off('SIGINT', this.#signalHandler);
      process.off('SIGTERM', this.#signalHandler);
    }
    this.#offWakeup?.();
    this.#kick();
    await this.#loopDone;
    if (this.#runs.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.#o.gracefulTimeoutMs)));
      const finished = await Promise.race([this.#idle().then(() => true), graceOver]);
      clearTimeout(timer);
      if (!finished) {
        const ids = [...this.#runs.keys()];
        this.#logger?.info({ jobs: ids, gracefulTimeoutMs: this.#o.gracefulTimeoutMs }, 'foreman: forcing running jobs off');
        this.#gen?.scope.abort(this.#forced);
        await this.#idle();
      }
    }
    clearInterval(this.#leaseTimer);
    try {
      await this.#session.detach();
    } catch (err) {
      this.#logger?.error({ err }, 'foreman: detach failed');
    }
    const gen = this.#gen;
    this.#gen = undefined;
    if (gen !== undefined) {
      gen.close();
      await gen.ended;
    }
    if (this.#ownSupervisor) await this.#supervisor.shutdown();
    this.#state = 'stopped';
    for (const resolve of this.#drainWaiters.splice(0)) resolve();
  }

  /** Resolves when no run is held (every claimed job's outcome recorded). */
  #idle(): Promise<void> {
    if (this.#runs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  // ---- the loop -------------------------------------------------------------------------------------------------

  #kick(): void {
    this.#kicked = true;
    const w = this.#waker;
    this.#waker = undefined;
    w?.();
  }

  /** Sleeps until a kick or `until` (ms since the epoch; null: no deadline). */
  #sleep(until: number | null): Promise<void> {
    if (this.#kicked) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.#waker = () => {
        clearTimeout(timer);
        resolve();
      };
      if (until !== null) timer = setTimeout(() => this.#kick(), Math.max(0, Math.min(until - Date.now(), 2 ** 31 - 1)));
    });
  }

  async #loop(): Promise<void> {
    while (this.#state === 'running') {
      this.#kicked = false;
      const free = this.#slots - this.#runs.size;
      // Refill in batches: claim again once the jobs held ahead fell to half a batch (or nothing is held), not
      // at every job's end (one claim transaction per job would cost as much as the jobs).
      if (free <= 0 || (this.#ahead > 0 && this.#runs.size > this.#o.concurrency + (this.#ahead >> 1))) {
        await this.#sleep(null);
        continue;
      }
      const gen = await this.#usableGeneration();
      if (gen === undefined) {
        await this.#sleep(Date.now() + 1000); // no pool now (the supervisor refused one): try again soon
        continue;
      }
      if (this.#state !== 'running') break;
      let jobs: ClaimedJob[];
      try {
        jobs = await this.#session.claim(Math.min(free, this.#o.batchSize));
      } catch (err) {
        this.#logger?.error({ err }, 'foreman: claim failed');
        await this.#sleep(Date.now() + 1000);
        continue;
      }
      for (const job of jobs) this.#start(job, gen);
      if (jobs.length > 0) continue;
      if (this.#runs.size === 0) for (const resolve of this.#drainWaiters.splice(0)) resolve();
      if (this.#kicked) continue;
      let next: Date | null = null;
      try {
        next = await this.#session.nextRunAt();
      } catch (err) {
        this.#logger?.error({ err }, 'foreman: nextRunAt failed');
        next = new Date(Date.now() + 1000);
      }
      await this.#sleep(next === null ? null : next.getTime());
    }
  }

  /** The current generation, or a new one once a broken one has ended. */
  async #usableGeneration(): Promise<Generation | undefined> {
    const gen = this.#gen;
    if (gen !== undefined && !gen.scope.signal.aborted) return gen;
    this.#opening ??= (async () => {
      if (gen !== undefined) await gen.ended;
      try {
        this.#gen = await this.#open();
      } catch (err) {
        this.#logger?.error({ err }, 'foreman: cannot start its pool');
        this.#gen = undefined;
      }
      this.#opening = undefined;
      return this.#gen;
    })();
    return this.#opening;
  }

  #open(): Promise<Generation> {
    const o = this.#o;
    return new Promise<Generation>((resolve, reject) => {
      let close!: () => void;
      const hold = new Promise<void>((r) => (close = r));
      let ended!: Promise<void>;
      const scopeDone = this.#supervisor.scope(
        (scope) => {
          const pool = scope.pool<JobInput, unknown>({
            entry: o.handlers, maxWorkers: o.concurrency, minWorkers: 0, runtime: o.runtime, abortGraceMs: o.abortGraceMs, name: 'foreman', kind: 'foreman',
            precious: false, // a worker's death fails only the job it ran (PoolWorkerDiedError); the pool replaces it
          });
          scope.signal.addEventListener('abort', () => {
            close(); // an aborted scope ends once its function returned and its workers stopped
            this.#kick();
          }, { once: true });
          resolve({ scope, pool, get ended() { return ended; }, close, answered: 0 });
          return hold;
        },
        { name: 'foreman' },
      );
      ended = scopeDone.then(() => undefined, () => undefined);
      scopeDone.catch(reject); // rejects before resolve() only when the pool could not be made
    });
  }

  // ---- runs -----------------------------------------------------------------------------------------------------

  #start(job: ClaimedJob, gen: Generation): void {
    this.#claimed++;
    const run: Run = { job, ref: { id: job.id, fence: job.fence }, startedAt: performance.now() };
    this.#runs.set(job.id, run);
    if (jobClaim.hasSubscribers) jobClaim.publish({ id: job.id, name: job.name, attempt: job.attempt, fence: job.fence, queue: this.#o.queue.location });
    let payload: unknown;
    try {
      payload = JSON.parse(job.payloadText);
    } catch (err) {
      void this.#record(run, { kind: 'dead', error: err, reason: 'bad-payload' });
      return;
    }
    const timeoutMs = this.#timeoutOf(job.name);
    const { result, ended } = runWithEnd(gen.pool, { id: job.id, name: job.name, payload, attempt: job.attempt }, timeoutMs === undefined ? undefined : { timeoutMs });
    result.then(
      () => {
        gen.answered++;
        void this.#record(run, { kind: 'complete' });
      },
      (err: unknown) => {
        if (gen.scope.signal.aborted) {
          // Forced off (or the supervisor went): the outcome is known once every worker of that scope stopped.
          void gen.ended.then(() => this.#record(run, this.#afterAbort(gen.scope.signal.reason)));
        } else if (err instanceof PoolWorkerDiedError) {
          void ended.then(() => this.#record(run, this.#afterDeath(gen, run, err)));
        } else if (err instanceof TaskTimeoutError) {
          void ended.then(() => this.#record(run, { kind: 'fail', error: err }));
        } else {
          gen.answered++;
          if ((err as { code?: unknown } | null)?.code === ERR_UNKNOWN_JOB) void this.#record(run, { kind: 'dead', error: err, reason: 'unknown-name' });
          else void ended.then(() => this.#record(run, { kind: 'fail', error: err }));
        }
      },
    );
  }

  #afterAbort(reason: unknown): Outcome {
    if (reason === this.#forced) return this.#o.delivery === 'at-least-once' ? { kind: 'release' } : { kind: 'dead', error: reason, reason: 'lost' };
    return this.#unknownOutcome(reason);
  }

  /**
   * The job's worker died under it (or, exit `failed`, never loaded the handlers module): only this job is hit.
   * A `failed` exit before any job of this generation answered means the handlers module does not load: dead at
   * once. After one answered, it is an ordinary failed attempt (a module that loaded once may fail to load in a
   * new worker for a passing reason). Logged once per worker (every job it held shares its error), naming the
   * first of its jobs.
   */
  #afterDeath(gen: Generation, run: Run, err: PoolWorkerDiedError): Outcome {
    const broken = err.exit.reason === 'failed' && gen.answered === 0;
    if (this.#lastDeath !== err) {
      this.#lastDeath = err;
      const msg = broken ? 'foreman: the handlers module did not load; its jobs are dead'
        : this.#o.delivery === 'at-least-once' ? 'foreman: a job\'s worker died; that attempt failed' : 'foreman: a job\'s worker died; at-most-once: the job is lost';
      this.#logger?.warn({ err: err.exit.error, worker: err.worker.name, exit: err.exit.reason, job: run.job.id, name: run.job.name }, msg);
    }
    return broken ? { kind: 'dead', error: err, reason: 'handlers-failed' } : this.#unknownOutcome(err);
  }

  /** A run ended without an answer (its worker died or was stopped): it may have done its work. at-most-once never runs it again. */
  #unknownOutcome(error: unknown): Outcome {
    return this.#o.delivery === 'at-least-once' ? { kind: 'fail', error } : { kind: 'dead', error, reason: 'lost' };
  }

  #timeoutOf(name: string): number | undefined {
    const t = this.#o.timeoutMs;
    return typeof t === 'number' || t === undefined ? t : t[name];
  }

  /** Records a run's outcome in the queue, counts it, and lets the loop claim again. Never rejects. */
  async #record(run: Run, outcome: Outcome): Promise<void> {
    const { job, ref } = run;
    const s = this.#session;
    let end: string = outcome.kind;
    let reason: DeadReason | undefined;
    let error: SerializedError | undefined;
    try {
      switch (outcome.kind) {
        case 'complete':
          await this.#persist(job, () => s.complete(ref));
          this.#completed++;
          end = 'completed';
          break;
        case 'release':
          await this.#persist(job, () => s.release(ref));
          this.#released++;
          end = 'released';
          break;
        case 'dead': {
          const e = (error = serializeError(outcome.error));
          reason = outcome.reason;
          await this.#persist(job, () => s.fail(ref, e, null, outcome.reason));
          this.#dead++;
          if (outcome.reason === 'lost') {
            this.#lost++;
            this.#logger?.warn({ job: job.id, name: job.name, err: outcome.error }, 'foreman: at-most-once job ended with an unknown outcome (forced off at stop, or its worker died): lost');
          }
          end = outcome.reason === 'lost' ? 'lost' : 'dead';
          break;
        }
        case 'fail': {
          const e = (error = serializeError(outcome.error));
          this.#failed++;
          if (job.attempt >= job.maxAttempts) {
            reason = 'failed';
            await this.#persist(job, () => s.fail(ref, e, null, 'failed'));
            this.#dead++;
            end = 'dead';
          } else {
            const retryAt = new Date(Date.now() + retryDelayMs(job.attempt, this.#o.backoffBaseMs, this.#o.maxBackoffMs));
            await this.#persist(job, () => s.fail(ref, e, retryAt, 'failed'));
            this.#retried++;
            end = 'retry';
          }
          break;
        }
      }
    } catch (err) {
      // The store failed for leaseMs: the claim stays running under this owner (at-least-once: run again once this
      // foreman is gone; at-most-once: left running, never run again).
      this.#logger?.error({ err, job: job.id, outcome: outcome.kind }, 'foreman: recording a job outcome failed');
    }
    this.#runs.delete(job.id);
    if (jobEnd.hasSubscribers) {
      jobEnd.publish({
        id: job.id, name: job.name, attempt: job.attempt, queue: this.#o.queue.location, outcome: end,
        ...(reason === undefined ? {} : { reason }), ...(error === undefined ? {} : { error }), durationMs: performance.now() - run.startedAt,
      });
    }
    if (this.#runs.size === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    this.#kick();
  }

  /**
   * One store write of a run's outcome, made again after a failure (the server restarting, a connection dropped)
   * with backoff, for at most leaseMs: an outcome never recorded leaves the claim running under this live owner,
   * which no other foreman takes over. The run stays held meanwhile (its lease renewed, stop() waits for it). A
   * write that did commit but whose reply was lost matches no row when made again (its fence): nothing changes.
   * Rejects with the last error when the time is up.
   */
  async #persist(job: ClaimedJob, write: () => Promise<boolean>): Promise<void> {
    const deadline = performance.now() + this.#o.leaseMs;
    let delay = RECORD_RETRY_MS;
    for (;;) {
      try {
        await write();
        return;
      } catch (err) {
        if (performance.now() + delay > deadline) throw err;
        if (delay === RECORD_RETRY_MS) this.#logger?.warn({ err, job: job.id }, 'foreman: recording a job outcome failed, retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, MAX_RECORD_RETRY_MS);
      }
    }
  }

  /** at-least-once: extends every held claim's lease (one statement), at most one renewal in flight. */
  #renew(): void {
    if (this.#renewing || this.#runs.size === 0) return;
    this.#renewing = true;
    const refs = [...this.#runs.values()].map((r) => r.ref);
    this.#session.renew(refs).then(
      () => (this.#renewing = false),
      (err: unknown) => {
        this.#renewing = false;
        this.#logger?.error({ err }, 'foreman: renewing leases failed');
      },
    );
  }
}
