/**
 * ScopedPool: a fan-out pool owned by a scope, built on the supervisor's own workers. Each pool worker is an
 * ordinary registered worker (ephemeral, and precious unless `precious: false`) running pool-worker.ts, so every
 * guarantee of a worker holds for it: the supervisor starts and stops it (G2), its death aborts the scope and is
 * seen synchronously by checkForInterrupts() (G4), it ends with the scope (G3, G10), it holds a slot and shows in
 * `supervisor.workers()`. Why not piscina: see docs/architecture.md (its workers are started by the registrant
 * outside the supervisor, and a death reaches the registrant only when its event loop runs).
 *
 * Dispatch: inputs go out in batches over each worker's direct port, at most MAX_BATCHES_IN_FLIGHT per worker,
 * so a worker always has the next batch queued. `map` sizes batches adaptively: it starts small and aims each
 * batch at TARGET_BATCH_MICROS of worker time, so 100,000 trivial tasks need a few hundred messages while 1 ms
 * tasks go two or so at a time and the last batch cannot leave one worker long behind. `run` is one task per
 * message.
 *
 * Invariants:
 * 1. Every task settles exactly once: with its result, its own error, the scope's abort reason, ScopeClosedError
 *    (the scope committed with the task pending), or PoolWorkerDiedError (a non-precious worker died with it).
 * 2. After close() nothing is dispatched and every pending task has been rejected.
 * 3. map's results are in input order; it rejects at the first failed input (TaskFailedError with its index).
 */
import { PoolWorkerDiedError, ScopeClosedError, TaskFailedError, invalidOption } from '../errors.js';
import type { WorkerHandle } from '../handle.js';
import type { ScopedWorkerSpec } from '../options.js';
import type { WorkerExit } from '../record.js';
import type { ScopeMember, ScopeNode } from '../scope/node.js';
import { reviveError } from '../shared/protocol.js';
import type { BatchDone, PoolDown } from './protocol.js';
import { validateMapOptions, validateRunOptions, type ResolvedPoolOptions } from './options.js';

/** Batches a worker has queued or running: one running, one ready, so it never idles waiting for a message. */
export const MAX_BATCHES_IN_FLIGHT = 2;
/** Worker time one map batch aims at: large enough to amortise a message (~5 µs), small enough to balance. */
export const TARGET_BATCH_MICROS = 2000;
/** Upper bound on inputs per batch (bounds message size and memory per batch). */
export const MAX_BATCH = 1024;
/** The first batches of a map, before any timing is known. */
const FIRST_BATCH = 16;

const POOL_WORKER_URL = new URL('./pool-worker.js', import.meta.url);

/** Counters of a pool, read synchronously. */
export interface PoolStats {
  /** Inputs waiting for a worker. */
  queued: number;
  /** Inputs sent to a worker and not yet answered. */
  running: number;
  /** Inputs answered (with a result or an error). */
  done: number;
  /** Pool workers holding a slot. */
  workers: number;
}

interface Job {
  readonly kind: 'run' | 'map';
  readonly inputs: readonly unknown[];
  readonly results: unknown[];
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  readonly concurrency: number;
  readonly signal: AbortSignal | undefined;
  next: number;
  inFlight: number;
  answered: number;
  batch: number;
  settled: boolean;
}

interface Batch {
  readonly id: number;
  readonly job: Job;
  readonly start: number;
  readonly count: number;
  readonly member: Member;
}

interface Member {
  readonly handle: WorkerHandle;
  readonly batches: Map<number, Batch>;
  readonly onMessage: (m: unknown) => void;
}

/** The registrant-side engine of a pool; also a member of its scope, so scope teardown closes it. */
export class PoolCore implements ScopeMember {
  readonly ref: { id: string; name: string };
  readonly ephemeral = true;
  readonly precious = false;
  readonly #o: ResolvedPoolOptions;
  readonly #node: ScopeNode;
  readonly #register: (spec: ScopedWorkerSpec, throwOnFull: boolean) => WorkerHandle | undefined;
  readonly #members = new Set<Member>();
  readonly #queue: Job[] = [];
  readonly #stopped: Promise<unknown>[] = [];
  #nextBatch = 1;
  #workerSeq = 0;
  #closed = false;
  #queued = 0;
  #running = 0;
  #done = 0;

  constructor(o: ResolvedPoolOptions, node: ScopeNode, register: (spec: ScopedWorkerSpec, throwOnFull: boolean) => WorkerHandle | undefined) {
    this.#o = o;
    this.#node = node;
    this.#register = register;
    this.ref = { id: `pool:${o.name}`, name: o.name };
    const started: WorkerHandle[] = [];
    try {
      for (let i = 0; i < o.minWorkers; i++) started.push(this.#addWorker(true)!.handle);
    } catch (err) {
      // Not all of minWorkers got a slot: leave nothing behind (the started ones are asked to stop at once).
      for (const h of started) h.terminate();
      this.#closed = true;
      throw err;
    }
  }

  get stats(): PoolStats {
    return { queued: this.#queued, running: this.#running, done: this.#done, workers: this.#members.size };
  }

  run(input: unknown, options: unknown): Promise<unknown> {
    let signal: AbortSignal | undefined;
    try {
      ({ signal } = validateRunOptions(options));
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return this.#submit('run', [input], 1, signal).then((r) => (r as unknown[])[0]);
  }

  map(inputs: Iterable<unknown>, options: unknown): Promise<unknown[]> {
    let concurrency: number;
    let list: unknown[];
    try {
      ({ concurrency } = validateMapOptions(options));
      if (inputs === null || typeof (inputs as { [Symbol.iterator]?: unknown })?.[Symbol.iterator] !== 'function') {
        throw invalidOption('inputs', 'an iterable', inputs);
      }
      list = Array.from(inputs);
    } catch (err) {
      return Promise.reject(err);
    }
    if (list.length === 0) return this.#closed ? Promise.reject(this.#closedReason()) : Promise.resolve([]);
    return this.#submit('map', list, concurrency, undefined) as Promise<unknown[]>;
  }

  #submit(kind: 'run' | 'map', inputs: unknown[], concurrency: number, signal: AbortSignal | undefined): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closedReason());
    return new Promise((resolve, reject) => {
      const job: Job = { kind, inputs, results: new Array(inputs.length), resolve, reject, concurrency, signal, next: 0, inFlight: 0, answered: 0, batch: kind === 'run' ? 1 : FIRST_BATCH, settled: false };
      this.#queue.push(job);
      this.#queued += inputs.length;
      signal?.addEventListener('abort', () => this.#cancel(job), { once: true });
      this.#dispatch();
    });
  }

  /** Sends batches while some worker has room and some job has inputs left (invariant 2: not after close). */
  #dispatch(): void {
    while (!this.#closed && this.#queue.length > 0) {
      let member = this.#leastBusy();
      // Grow on demand up to maxWorkers (scope active, a slot free) rather than queue behind a busy worker.
      if ((member === undefined || member.batches.size > 0) && this.#members.size < this.#o.maxWorkers && this.#node.state === 'active') {
        member = this.#addWorker(false) ?? member;
      }
      if (member === undefined) return;
      const job = this.#queue.find((j) => j.inFlight < j.concurrency);
      if (job === undefined) return;
      const left = job.inputs.length - job.next;
      // Never put more than a fair share of what is left in one batch, so a short map still spreads out.
      const fair = Math.ceil(left / (this.#o.maxWorkers * MAX_BATCHES_IN_FLIGHT));
      const count = Math.max(1, Math.min(job.batch, fair, left, job.concurrency - job.inFlight));
      const batch: Batch = { id: this.#nextBatch++, job, start: job.next, count, member };
      job.next += count;
      job.inFlight += count;
      this.#queued -= count;
      this.#running += count;
      if (job.next === job.inputs.length) this.#queue.splice(this.#queue.indexOf(job), 1);
      member.batches.set(batch.id, batch);
      const inputs = count === job.inputs.length ? (job.inputs as unknown[]) : job.inputs.slice(batch.start, batch.start + count);
      const msg: PoolDown = { t: 'batch', id: batch.id, inputs, cancellable: job.signal !== undefined };
      member.handle.port.postMessage(msg);
    }
  }

  #leastBusy(): Member | undefined {
    let best: Member | undefined;
    for (const m of this.#members) {
      if (m.batches.size < MAX_BATCHES_IN_FLIGHT && (best === undefined || m.batches.size < best.batches.size)) best = m;
    }
    return best;
  }

  /** Registers one pool worker; with throwOnFull false, returns undefined when no slot is free. */
  #addWorker(throwOnFull: boolean): Member | undefined {
    const o = this.#o;
    const spec: ScopedWorkerSpec = {
      entry: POOL_WORKER_URL,
      name: `${o.name}#${++this.#workerSeq}`,
      kind: o.kind,
      labels: o.labels,
      data: { entry: o.entry },
      runtime: o.runtime,
      ephemeral: true,
      precious: o.precious,
      ...(o.resourceLimits ? { resourceLimits: o.resourceLimits } : {}),
    };
    const handle = this.#register(spec, throwOnFull);
    if (handle === undefined) return undefined;
    const member: Member = { handle, batches: new Map(), onMessage: (m) => this.#answered(member, m as BatchDone) };
    handle.port.on('message', member.onMessage);
    this.#members.add(member);
    this.#stopped.push(handle.waitForShutdown().then((exit) => this.#workerStopped(member, exit)));
    return member;
  }

  #answered(member: Member, m: BatchDone): void {
    const batch = member.batches.get(m.id);
    if (batch === undefined) return;
    member.batches.delete(m.id);
    const { job } = batch;
    this.#running -= batch.count;
    this.#done += batch.count;
    job.inFlight -= batch.count;
    if (!job.settled) {
      if (m.errors !== undefined && m.errors.length > 0) {
        const [i, e] = m.errors[0]!;
        const error = reviveError(e);
        this.#settle(job, false, job.kind === 'run' ? error : new TaskFailedError(this.#o.name, batch.start + i, error));
      } else {
        for (let i = 0; i < batch.count; i++) job.results[batch.start + i] = m.results[i];
        job.answered += batch.count;
        if (job.kind === 'map' && m.micros > 0) {
          const perItem = m.micros / batch.count;
          job.batch = Math.max(1, Math.min(MAX_BATCH, Math.round(TARGET_BATCH_MICROS / perItem)));
        }
        if (job.answered === job.inputs.length) this.#settle(job, true, job.results);
      }
    }
    this.#dispatch();
  }

  /** A run() whose signal aborted: reject it now; a batch already sent is cancelled in the worker. */
  #cancel(job: Job): void {
    if (job.settled) return;
    const queuedIndex = this.#queue.indexOf(job);
    if (queuedIndex >= 0) {
      this.#queue.splice(queuedIndex, 1);
      this.#queued -= job.inputs.length - job.next;
    }
    for (const m of this.#members) {
      for (const b of m.batches.values()) if (b.job === job) m.handle.port.postMessage({ t: 'cancel', id: b.id } satisfies PoolDown);
    }
    this.#settle(job, false, job.signal!.reason);
  }

  #workerStopped(member: Member, exit: WorkerExit): void {
    this.#members.delete(member);
    member.handle.port.off('message', member.onMessage);
    if (member.batches.size === 0 || this.#closed) return;
    // A non-precious pool lost a worker with work in flight (a precious one has aborted the scope, which closes
    // the pool): those tasks fail, and the pool carries on with a replacement when a slot is free.
    const err = new PoolWorkerDiedError(member.handle, exit);
    for (const b of member.batches.values()) {
      this.#running -= b.count;
      b.job.inFlight -= b.count;
      this.#settle(b.job, false, err);
    }
    member.batches.clear();
    this.#dispatch();
  }

  #settle(job: Job, ok: boolean, value: unknown): void {
    if (job.settled) return;
    job.settled = true;
    const queuedIndex = this.#queue.indexOf(job);
    if (queuedIndex >= 0) {
      this.#queue.splice(queuedIndex, 1);
      this.#queued -= job.inputs.length - job.next;
    }
    if (ok) job.resolve(value);
    else job.reject(value);
  }

  #closedReason(): unknown {
    return this.#node.aborted ? this.#node.reason : new ScopeClosedError(`pool "${this.#o.name}": its scope has ended`);
  }

  // ---- ScopeMember: the scope's teardown closes the pool (its workers are members too and are stopped) -------

  isLive(): boolean {
    return false; // never "outlives" the scope: it is ephemeral
  }

  requestTermination(): void {
    if (this.#closed) return;
    this.#closed = true; // invariant 2
    const reason = this.#closedReason();
    for (const job of [...this.#queue]) this.#settle(job, false, reason);
    for (const m of this.#members) {
      for (const b of m.batches.values()) this.#settle(b.job, false, reason);
    }
  }

  whenStopped(): Promise<unknown> {
    return Promise.all(this.#stopped);
  }
}
