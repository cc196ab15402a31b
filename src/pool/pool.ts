/**
 * PoolCore: the engine of a fan-out pool owned by a scope, on the supervisor's own workers. Each pool worker is an
 * ordinary registered worker (ephemeral, and precious unless `precious: false`) running pool-worker.ts, so every
 * guarantee of a worker holds for it: the supervisor starts and stops it (G2), its death aborts the scope and is
 * seen synchronously by checkForInterrupts() (G4), it ends with the scope (G3, G10), it holds a slot and shows in
 * `supervisor.workers()`. Why not piscina: see docs/architecture.md.
 *
 * Dispatch (#dispatch, O(1) per task in the queue's length): the queue is a deque of entries; the head entry goes
 * out in one batch to, in this order of preference, (1) a worker with room (fewer than concurrentTasksPerWorker
 * batches), (2) a new worker if the pool may grow, (3) as look-ahead, a busy worker's FIFO — only when every
 * worker is busy, and never for a task with a timeout. An idle worker with nothing queued steals unstarted tasks
 * back from a look-ahead batch (thread pools, via the gate), so a short task never waits behind a long one while
 * a worker idles. Batch sizes adapt (a map per task function, carried from one map to the next; run()s
 * pool-wide): each batch aims at TARGET_BATCH_MICROS of worker time and at most a fair share of what is queued —
 * but a map's batch is not split below MIN_SHARE_MICROS of measured time for fairness, so 100,000 trivial tasks
 * take a few messages while 1 ms tasks go one or two at a time. Queued run()s of the same task function share
 * batches.
 *
 * Shared maps (work.ts Call.shared): a precious thread pool's map whose inputs are all numbers (PACK_MIN or more,
 * an array) is copied once into a Float64Array on a SharedArrayBuffer. Its batches are views of that buffer (up to
 * MAX_SHARED_BATCH inputs: no copy, no large array on either side), each worker writes a number result where its
 * input was, and its answer is a count; the pool reads the results from the buffer. Everything else about a batch
 * (gate, claims, steals, aborts, deaths) is as for any map batch: a task's slot holds its input until it is called,
 * so a task taken back or retried is sent its input.
 *
 * Aborts (a run's or map's signal, a timeout, the map failing): a task not started is cancelled through the gate
 * and never starts (thread pools; a process pool never sends a cancellable task ahead). A map batch is claimed by
 * its worker a run at a time and cut by the pool from a task to its end (gate.ts): a map that can be aborted is
 * claimed one task at a time (runFor), one that cannot keeps what its workers claimed when it fails (a run each). A started task gets its
 * task.signal aborted and is abandoned: its worker gets no new work until it ends, and is stopped (and replaced on
 * demand) if it has not ended abortGraceMs later. A stop the pool asked for is not a precious death.
 *
 * A worker that dies: its tasks that never started are queued again; those that had started fail with
 * PoolWorkerDiedError (non-precious pools answer each task as it ends, so only the running ones are lost). A
 * worker whose entry did not load (exit `failed`) fails all it held with PoolWorkerDiedError: none started, and a
 * retry would fail the same way (a non-precious pool would otherwise start workers forever).
 *
 * Why one file of ~700 lines: dispatch, answers, aborts and worker stops all move the same counters (queued,
 * in flight, outstanding per worker, the gate words) and each must see the others' invariants hold; the types
 * (work.ts), the gate (gate.ts), the queue (deque.ts), the worker side (pool-worker.ts), stats (stats.ts) and
 * validation (options.ts) are out already. Its sections: dispatch, answers, aborts, workers.
 *
 * Invariants:
 * 1. Every call settles exactly once: its result, its task's error, the scope's abort reason, ScopeClosedError (the
 *    scope committed with it pending), its signal's reason, TaskTimeoutError, TaskCloneError, PoolQueueFullError,
 *    or PoolWorkerDiedError. Settling removes its abort listener.
 * 2. After close nothing is dispatched and every pending call has been rejected.
 * 3. map's results are in input order; it rejects at the first failed input (TaskFailedError with its index).
 * 4. A batch is counted in flight only once its post succeeded (a post that throws changes no counter).
 * 5. No task starts after its call settled by an abort, where the gate can prevent it (gate.ts invariant 2): a
 *    cancellable map's batches have runs of 1, so a claimed task is one being called.
 */
import type { Transferable } from 'node:worker_threads';
import { PoolQueueFullError, PoolWorkerDiedError, ScopeClosedError, TaskCloneError, TaskFailedError, TaskTimeoutError, invalidOption } from '../errors.js';
import type { WorkerHandle } from '../handle.js';
import type { ScopedWorkerSpec } from '../options.js';
import type { WorkerExit } from '../shared/exit.js';
import type { ScopeNode, ScopeResource } from '../scope/node.js';
import { reviveError, serializeError } from '../shared/protocol.js';
import { Deque } from './deque.js';
import { GATE_SIZE, G_CANCELLED, G_QUEUED, MAX_RUN, RUN_MICROS, gateCancel, gateCut, gateFrontier, gateLimit, gateOpen, gateQueue, gateState, newGate } from './gate.js';
import { validateMapOptions, validateRunOptions, type ResolvedPoolOptions } from './options.js';
import { packNumbers, type BatchDone, type PoolDown, type PoolWorkerData } from './protocol.js';
import { PoolTimes, summary, type PoolStats } from './stats.js';
import { SignalFanout } from './signal-fanout.js';

export type { PoolStats } from './stats.js';
import { SEGMENT, T_ANSWERED, T_PENDING, T_STOLEN, indexAt, callAt, callsOf, answeredInputs, rangeOf, segmentsOf, unansweredOf, usable, type Batch, type Entry, type Call, type Member } from './work.js';

/** Batches a busy worker may hold beyond the ones it runs: one ready, so it never idles waiting for a message. */
export const LOOKAHEAD_BATCHES = 1;
/** Worker time one batch aims at: large enough to amortise a message (~5 µs), small enough to balance. */
export const TARGET_BATCH_MICROS = 2000;
/**
 * Upper bound on inputs per batch (bounds message size, and the gate words a worker holds): one segment of a
 * call's inputs, so a full batch of a map is posted as its segment, without a slice (work.ts rangeOf).
 */
export const MAX_BATCH = SEGMENT;
/**
 * Upper bound on inputs per batch of a shared map (work.ts Call.shared): a view of its buffer, so neither side
 * copies a segment or builds a large array for it, and fewer messages win (measured, a 100,000 trivial map: 2.4 ms
 * in batches of up to 4,096, 1.9 ms of up to 16,384; up to 32,768, 4 batches of 25,000, ~10% faster again). The
 * gate holds two of them per worker (gate.ts GATE_SIZE).
 */
export const MAX_SHARED_BATCH = 8 * SEGMENT;
/** The first batches of a map, before any timing of its task function is known. */
const FIRST_BATCH = 16;
/**
 * A map's batch is not cut to a fair share smaller than this much measured worker time: finishing together
 * gains less than the messages cost (a fair share of a 100,000 trivial map's tail would halve down to 1 input).
 */
export const MIN_SHARE_MICROS = 500;
/** The largest shared map buffer a pool keeps for its next map (1,048,576 inputs). */
export const SPARE_MAX_BYTES = 8 * 1024 * 1024;
/** Weight of history in the measured time per input (per answered batch). */
const DECAY = 0.9;

/**
 * A map batch's run length (gate.ts): the tasks its worker may claim at once. 1 for tasks that can be aborted one
 * by one (their own task.signal) and for an unmeasured task function; else RUN_MICROS of measured work, at most
 * MAX_RUN tasks.
 */
function runFor(call: Call): number {
  if (call.cancellable || call.sumRan === 0) return 1;
  return Math.max(1, Math.min(MAX_RUN, Math.floor(RUN_MICROS / Math.max(call.sumMicros / call.sumRan, 0.01))));
}

/** Inputs per batch for TARGET_BATCH_MICROS at the measured time per input (decayed sums, sumRan > 0). */
function batchFor(sumMicros: number, sumRan: number, max: number): number {
  return Math.max(1, Math.min(max, Math.floor(TARGET_BATCH_MICROS / Math.max(sumMicros / sumRan, 0.01))));
}

const POOL_WORKER_URL = new URL('./pool-worker.js', import.meta.url);

/** How the pool registers its workers: the supervisor's register path, in the pool's scope. */
export interface PoolRegistrar {
  /** Throws WorkerCapacityError when no slot is free (the workers the pool starts with). */
  register(spec: ScopedWorkerSpec): WorkerHandle;
  /** Undefined when no slot is free (workers started on demand). */
  tryRegister(spec: ScopedWorkerSpec): WorkerHandle | undefined;
}

export class PoolCore implements ScopeResource {
  readonly ref: { id: string; name: string };
  /** The scope's end closes the pool (ScopeResource); its workers are resources of the scope too. */
  readonly closesWithScope = true;
  readonly #o: ResolvedPoolOptions;
  readonly #node: ScopeNode;
  readonly #registrar: PoolRegistrar;
  readonly #members = new Set<Member>();
  readonly #queue = new Deque<Entry>();
  readonly #stopped: Promise<unknown>[] = [];
  readonly #times = new PoolTimes();
  /** One listener per user signal, whatever the number of calls sharing it (invariant 1: removed at settle). */
  readonly #signals = new SignalFanout<Call>((call, reason) => this.#abort(call, reason));
  readonly #drainWaiters: (() => void)[] = [];
  /** Per task function (export name): the decayed timing sums of its last map, where the next map starts. */
  readonly #learned = new Map<string | undefined, { sumMicros: number; sumRan: number }>();
  /**
   * A shared map's buffer, free again: the one its call had once it ended (#endIfIdle), for the next shared map
   * that fits (measured: a fresh 800 kB SharedArrayBuffer per 100,000-input map, its pages faulted in and freed
   * again, cost the main thread ~0.16 ms; a map took 1.72 ms with reuse, 1.96 ms without). At most SPARE_MAX_BYTES,
   * held until the pool's scope ends.
   */
  #spare: SharedArrayBuffer | undefined;
  readonly #sharedAlloc = (n: number): Float64Array => {
    const spare = this.#spare;
    return spare !== undefined && spare.byteLength >= n * 8 ? new Float64Array(spare, 0, n) : new Float64Array(new SharedArrayBuffer(n * 8));
  };
  /**
   * Look-ahead only in thread pools: the gate makes work sent ahead abortable and tells, after a death or a stop,
   * what had started. A process pool sends a worker only what it can start at once, so all it sent has started.
   */
  readonly #lookahead: boolean;
  #nextBatch = 1;
  #workerSeq = 0;
  #closed = false;
  #queuedTasks = 0;
  #queueSize = 0;
  #outstanding = 0;
  #done = 0;
  #runSumMicros = 0;
  #runSumRan = 0;
  #deadWorkerMs = 0;
  #busyMicros = 0;

  constructor(o: ResolvedPoolOptions, node: ScopeNode, registrar: PoolRegistrar) {
    this.#o = o;
    this.#node = node;
    this.#registrar = registrar;
    this.#lookahead = o.runtime === 'thread';
    this.ref = { id: `pool:${o.name}`, name: o.name };
    const started: WorkerHandle[] = [];
    try {
      for (let i = 0; i < o.minWorkers; i++) started.push(this.#addWorker(this.#registrar.register)!.handle);
    } catch (err) {
      // Not all of minWorkers got a slot: leave nothing behind (the started ones are asked to stop at once).
      for (const h of started) h.terminate();
      this.#closed = true;
      throw err;
    }
  }

  get stats(): PoolStats {
    // In flight but not started (sent ahead), and in flight but never to start (taken back, cancelled).
    let ahead = 0;
    let gone = 0;
    for (const m of this.#members) {
      for (const b of m.batches.values()) {
        for (let t = 0; t < b.count; t++) {
          if (b.state[t] === T_STOLEN) gone++;
          else if (b.state[t] === T_PENDING && m.gate !== undefined) {
            const st = gateState(m.gate, b.seq + t);
            if (st === G_QUEUED) ahead++;
            else if (st === G_CANCELLED) gone++;
          }
        }
      }
    }
    const now = performance.now();
    let aliveMs = this.#deadWorkerMs;
    for (const m of this.#members) aliveMs += now - m.bornAt;
    return {
      queued: this.#queuedTasks + ahead,
      running: this.#outstanding - ahead - gone,
      done: this.#done,
      workers: this.#members.size,
      runTime: summary(this.#times.run, this.#times.runCount),
      waitTime: summary(this.#times.wait),
      utilization: aliveMs > 0 ? this.#busyMicros / 1000 / aliveMs : 0,
    };
  }

  /** Calls waiting for a worker (a map counts once). */
  get queueSize(): number {
    return this.#queueSize;
  }

  drained(): Promise<void> {
    if (this.#isDrained()) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  run(input: unknown, options: unknown, ended?: () => void): Promise<unknown> {
    let o;
    try {
      o = validateRunOptions(options, this.#o.timeoutMs);
    } catch (err) {
      ended?.();
      return Promise.reject(err);
    }
    if (o.signal?.aborted) {
      ended?.();
      return Promise.reject(o.signal.reason);
    }
    return this.#submit('run', [[input]], Number.MAX_SAFE_INTEGER, o.name, o.signal, o.timeoutMs, o.transfer, ended).then((r) => (r as unknown[])[0]);
  }

  map(inputs: Iterable<unknown>, options: unknown): Promise<unknown[]> {
    let o;
    let segments: unknown[][];
    let shared: Float64Array | undefined;
    try {
      o = validateMapOptions(options, this.#o.timeoutMs);
      if (inputs === null || typeof (inputs as { [Symbol.iterator]?: unknown })?.[Symbol.iterator] !== 'function') {
        throw invalidOption('inputs', 'an iterable', inputs);
      }
      // A copy either way: the caller may change theirs. Numbers, in a precious thread pool (whose workers answer
      // a batch whole), go in one shared buffer (work.ts Call.shared).
      shared = this.#lookahead && this.#o.precious && Array.isArray(inputs) ? packNumbers(inputs, this.#sharedAlloc) : undefined;
      if (shared !== undefined && shared.buffer === this.#spare) this.#spare = undefined;
      segments = shared !== undefined ? [] : segmentsOf(inputs);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#closed) return Promise.reject(this.#closedReason());
    if (o.signal?.aborted) return Promise.reject(o.signal.reason);
    if (segments.length === 0 && shared === undefined) return Promise.resolve([]);
    return this.#submit('map', segments, o.concurrency, o.name, o.signal, o.timeoutMs, undefined, undefined, shared) as Promise<unknown[]>;
  }

  /** `inputs` in segments (work.ts segmentsOf), or a map's `shared` buffer instead: the call keeps them. */
  #submit(kind: 'run' | 'map', inputs: unknown[][], concurrency: number, name: string | undefined, signal: AbortSignal | undefined, timeoutMs: number | undefined, transfer: readonly Transferable[] | undefined, ended?: () => void, shared?: Float64Array): Promise<unknown> {
    if (this.#closed) {
      ended?.();
      return Promise.reject(this.#closedReason());
    }
    const count = shared !== undefined ? shared.length : (inputs.length - 1) * SEGMENT + inputs[inputs.length - 1]!.length;
    const learned = kind === 'map' ? this.#learned.get(name) : undefined;
    return new Promise((resolve, reject) => {
      const call: Call = {
        kind, name, inputs, shared, count, unanswered: kind === 'map' && shared === undefined ? unansweredOf(inputs) : undefined, results: count === 1 ? new Array(1) : [], resolve, reject, concurrency, signal, timeoutMs, transfer,
        cancellable: signal !== undefined || timeoutMs !== undefined, submittedAt: performance.now(),
        queued: count, inFlight: 0, answered: 0, batch: kind === 'run' ? 1 : learned === undefined ? FIRST_BATCH : batchFor(learned.sumMicros, learned.sumRan, shared !== undefined ? MAX_SHARED_BATCH : MAX_BATCH),
        sumMicros: learned?.sumMicros ?? 0, sumRan: learned?.sumRan ?? 0,
        settled: false, parked: undefined, batches: new Set(), ended,
      };
      this.#queue.push({ call, next: 0, end: count });
      this.#queuedTasks += count;
      this.#queueSize++;
      if (signal !== undefined) this.#signals.join(signal, call);
      this.#dispatch();
      // The results array once the first batches are out (no answer can come before): a large array took ~0.7 ms
      // to allocate (measured, 100,000 entries), time the workers would otherwise wait for their first batch.
      if (count > 1) call.results = new Array(count);
      // Back-pressure: a call that could not go to a worker at once and finds maxQueue waiting is refused.
      if (!call.settled && call.queued === count && this.#queueSize > this.#o.maxQueue) this.#settle(call, false, new PoolQueueFullError(this.#o.name, this.#o.maxQueue));
    });
  }

  // ---- dispatch ----------------------------------------------------------------------------------------------

  #dispatch(): void {
    while (!this.#closed) {
      const entry = this.#head();
      if (entry === undefined) {
        if (this.#steal()) continue;
        return;
      }
      let member = this.#withRoom();
      if (member === undefined && this.#members.size < this.#o.maxWorkers && this.#node.state === 'active') member = this.#addWorker(this.#registrar.tryRegister);
      if (member === undefined && this.#lookahead && entry.call.timeoutMs === undefined) {
        member = this.#forLookahead();
      }
      if (member === undefined) return;
      this.#send(member, entry);
    }
  }

  /** The queue's first live entry; settled calls' entries are dropped, calls at their concurrency parked. */
  #head(): Entry | undefined {
    for (;;) {
      const e = this.#queue.peek();
      if (e === undefined) return undefined;
      if (e.call.settled || e.next >= e.end) {
        this.#queue.shift();
        continue;
      }
      if (e.call.inFlight >= e.call.concurrency) {
        this.#queue.shift();
        (e.call.parked ??= []).push(e);
        continue;
      }
      return e;
    }
  }

  #withRoom(): Member | undefined {
    let best: Member | undefined;
    for (const m of this.#members) {
      if (usable(m) && m.batches.size < this.#o.concurrentTasksPerWorker && m.outstanding + MAX_SHARED_BATCH <= GATE_SIZE && (best === undefined || m.batches.size < best.batches.size)) best = m;
    }
    return best;
  }

  #forLookahead(): Member | undefined {
    let best: Member | undefined;
    const limit = this.#o.concurrentTasksPerWorker + LOOKAHEAD_BATCHES;
    for (const m of this.#members) {
      if (usable(m) && m.batches.size < limit && m.outstanding + MAX_SHARED_BATCH <= GATE_SIZE && (best === undefined || m.batches.size < best.batches.size)) best = m;
    }
    return best;
  }

  /** Sends one batch from the head of the queue to `member` (invariant 4: counters change after the post). */
  #send(member: Member, entry: Entry): void {
    const first = entry.call;
    const runs: Call[] | undefined = first.kind === 'run' ? [] : undefined;
    let inputs: readonly unknown[];
    const single = first.timeoutMs !== undefined || first.transfer !== undefined || (this.#o.runtime === 'process' && (first.cancellable || !this.#o.precious));
    const fair = Math.ceil(this.#queuedTasks / (this.#o.maxWorkers * (1 + LOOKAHEAD_BATCHES)));
    let count: number;
    if (runs === undefined) {
      // Not cut below MIN_SHARE_MICROS of measured time for the fair share (unmeasured: the share as it is).
      const share = first.sumRan > 0 ? Math.max(fair, Math.floor(MIN_SHARE_MICROS / Math.max(first.sumMicros / first.sumRan, 0.01))) : fair;
      count = single ? 1 : Math.max(1, Math.min(first.batch, share, entry.end - entry.next, first.concurrency - first.inFlight));
      // A shared map's batch is a view of its buffer (shared, not copied); else its inputs as an array.
      inputs = first.shared !== undefined ? (first.shared.subarray(entry.next, entry.next + count) as unknown as readonly unknown[]) : rangeOf(first, entry.next, count);
    } else {
      const list: unknown[] = (inputs = []);
      const limit = single ? 1 : Math.max(1, Math.min(this.#runBatchSize(), fair));
      // Consecutive queued run()s of the same task function share a batch; taken from the queue after the post.
      for (let k = 0; runs.length < limit; k++) {
        const e = k === 0 ? entry : this.#queue.at(k);
        if (e === undefined || e.call.kind !== 'run' || e.call.name !== first.name || e.call.settled) break;
        if (k > 0 && (e.call.timeoutMs !== undefined || e.call.transfer !== undefined || (this.#o.runtime === 'process' && e.call.cancellable))) break;
        runs.push(e.call);
        list.push(e.call.inputs[0]![0]);
      }
      count = runs.length;
    }
    const seq = member.nextSeq;
    const gate = member.gate;
    if (gate !== undefined) {
      if (runs === undefined) gateOpen(gate, seq, count);
      else gateQueue(gate, seq, count);
    }
    const cancellable = runs === undefined ? first.cancellable : runs.some((j) => j.cancellable);
    const id = this.#nextBatch++;
    // Any other thread pool's map batch of numbers goes as a Float64Array, moved (protocol.ts packNumbers).
    const inPlace = runs === undefined && first.shared !== undefined;
    const packed = runs === undefined && gate !== undefined && !inPlace ? packNumbers(inputs) : undefined;
    const msg: PoolDown = { t: 'batch', id, name: first.name, seq, inputs: packed ?? inputs, inPlace, cancellable, run: runs === undefined ? runFor(first) : 0 };
    try {
      member.handle.port.postMessage(msg, packed !== undefined ? [packed.buffer as ArrayBuffer] : (first.transfer as Transferable[] | undefined));
      // An idle thread worker may be asleep in Atomics.wait on its latch (pool-worker.ts, "Idle wait"): wake it.
      if (this.#o.idleWaitMs > 0) member.handle.latch.set();
    } catch (err) {
      this.#cloneFailed(first, runs, entry.next, inputs, err);
      return;
    }
    // Posted: now take the tasks out of the queue and count them in flight.
    member.nextSeq += count;
    const batch: Batch = { id, member, seq, count, call: runs === undefined ? first : undefined, start: entry.next, runs, state: new Uint8Array(count), abandoned: undefined, answered: 0, stolen: 0, timer: undefined };
    const now = performance.now();
    if (runs === undefined) {
      entry.next += count;
      if (entry.next >= entry.end) this.#queue.shift();
      this.#took(first, count, batch, now);
    } else {
      for (let k = 0; k < count; k++) this.#queue.shift();
      for (const call of runs) this.#took(call, 1, batch, now);
    }
    this.#queuedTasks -= count;
    this.#outstanding += count;
    member.outstanding += count;
    member.batches.set(id, batch);
    if (member.idleTimer !== undefined) {
      clearTimeout(member.idleTimer);
      member.idleTimer = undefined;
    }
    if (first.timeoutMs !== undefined) {
      const ms = first.timeoutMs;
      batch.timer = setTimeout(() => this.#abort(first, new TaskTimeoutError(this.#o.name, ms)), ms);
    }
  }

  /** `count` of a call's queued inputs went out in `batch`. */
  #took(call: Call, count: number, batch: Batch, now: number): void {
    call.queued -= count;
    call.inFlight += count;
    if (call.queued === 0) this.#queueSize--;
    call.batches.add(batch);
    this.#times.recordWait((now - call.submittedAt) * 1000);
  }

  /** A post threw (DataCloneError): reject the calls whose input cannot be cloned; the rest stay queued. */
  #cloneFailed(first: Call, runs: Call[] | undefined, start: number, inputs: readonly unknown[], err: unknown): void {
    let found = false;
    for (let i = 0; i < inputs.length; i++) {
      try {
        structuredClone(inputs[i]);
      } catch (e) {
        found = true;
        const call = runs?.[i] ?? first;
        this.#settle(call, false, new TaskCloneError(this.#o.name, 'input', runs === undefined ? start + i : undefined, e));
        if (runs === undefined) return; // a map rejects at its first bad input
      }
    }
    // Every input clones alone (a bad transfer list): the post's own error belongs to the first call.
    if (!found) this.#settle(first, false, new TaskCloneError(this.#o.name, 'input', runs === undefined ? start : undefined, err));
  }

  #runBatchSize(): number {
    return this.#runSumRan === 0 ? 1 : batchFor(this.#runSumMicros, this.#runSumRan, MAX_BATCH);
  }

  /**
   * Work stealing: with nothing queued, a worker with room takes back half of the unstarted tail of a busy
   * worker's newest batch — sent ahead, or the one it runs (thread pools: a gate CAS per task, or for a map batch
   * one cut of its unclaimed tail, so a task runs on exactly one of them). Half, so two workers do not hand the
   * same tail back and forth. True if it took any.
   */
  #steal(): boolean {
    const thief = this.#withRoom();
    if (thief === undefined) return false;
    for (const victim of this.#members) {
      const gate = victim.gate;
      if (victim === thief || gate === undefined || victim.batches.size === 0) continue;
      let last: Batch | undefined;
      for (const b of victim.batches.values()) last = b;
      const b = last!;
      let tail = 0;
      let t = b.count - 1;
      if (b.call !== undefined) {
        // A map batch: its unclaimed tasks are [F, L) (gate.ts), less those answered already (skipped).
        const front = gateFrontier(gate, b.seq);
        for (t = gateLimit(gate, b.seq) - 1; t >= front; t--) if (b.state[t] === T_PENDING) tail++;
        t = front - 1;
      } else {
        for (; t >= 0 && (b.state[t] !== T_PENDING || gateState(gate, b.seq + t) === G_QUEUED); t--) {
          if (b.state[t] === T_PENDING) tail++;
        }
      }
      // Only work that waits behind a running task (t >= 0: one of this batch started, or was claimed; or an
      // earlier batch runs): a batch just sent to a worker with room is about to start, and taking it would only
      // double the messages.
      const behind = t >= 0 || victim.batches.size > 1;
      if (tail > 0 && behind && this.#takeBack(victim, [b], Math.ceil(tail / 2)) > 0) return true;
    }
    return false;
  }

  /**
   * Queues again the unstarted tasks of `batches` (newest first) of a thread pool worker, each cancelled in its
   * gate first; with `tail`, at most that many from the end of each batch, up to the first one that started.
   * Returns how many it took. They go to the head of the queue, oldest first.
   */
  #takeBack(victim: Member, batches: readonly Batch[], tail = Infinity): number {
    const gate = victim.gate;
    if (gate === undefined) return 0;
    let n = 0;
    for (const b of batches) {
      // A map batch: cut once, at the task where `tail` pending tasks from its end begin (gate.ts); what the
      // worker claimed stays its own.
      let cut = -1;
      if (b.call !== undefined) {
        if (b.call.settled || n >= tail) continue;
        let from = b.count;
        for (let left = tail - n; from > 0 && left > 0; ) if (b.state[--from] === T_PENDING) left--;
        cut = gateCut(gate, b.seq, from);
      }
      for (let t = b.count - 1; t >= 0; t--) {
        if (b.state[t] !== T_PENDING) continue;
        const call = callAt(b, t);
        if (call.settled) continue;
        if (n >= tail) break;
        if (cut >= 0 ? t < cut : !gateCancel(gate, b.seq + t)) {
          if (tail !== Infinity || cut >= 0) break; // started (or claimed): so has everything before it
          continue;
        }
        b.state[t] = T_STOLEN;
        b.stolen++;
        call.inFlight--;
        if (call.queued === 0) this.#queueSize++;
        call.queued++;
        this.#queuedTasks++;
        n++;
        const i = indexAt(b, t);
        const head = this.#queue.peek();
        if (head !== undefined && head.call === call && head.next === i + 1) head.next = i;
        else this.#queue.unshift({ call, next: i, end: i + 1 });
      }
    }
    return n;
  }

  // ---- answers -----------------------------------------------------------------------------------------------

  #answered(member: Member, m: BatchDone): void {
    const batch = member.batches.get(m.id);
    if (batch === undefined) return;
    const answers = m.inPlace ?? m.results.length;
    if (batch.call !== undefined && m.errors === undefined && m.skipped === undefined && m.from === 0 && answers === batch.count && batch.answered === 0 && batch.stolen === 0 && batch.abandoned === undefined) {
      this.#answeredWhole(member, batch, batch.call, m);
      return;
    }
    const errors = m.errors === undefined ? undefined : new Map(m.errors);
    const skipped = m.skipped === undefined ? undefined : new Set(m.skipped);
    const end = m.from + answers;
    let callOfBatch: Call | undefined; // the map call this batch ran for, if any (for its batch size)
    for (let t = m.from; t < end; t++) {
      const st = batch.state[t];
      if (st === T_ANSWERED) continue;
      batch.state[t] = T_ANSWERED;
      batch.answered++;
      member.outstanding--;
      this.#outstanding--;
      if (batch.abandoned?.[t] === 1) {
        batch.abandoned[t] = 0;
        if (--member.abandoned === 0 && member.graceTimer !== undefined) {
          clearTimeout(member.graceTimer);
          member.graceTimer = undefined;
        }
      }
      if (st === T_STOLEN) {
        batch.stolen--;
        continue; // queued again when it was taken back: its call counted it then
      }
      const call = callAt(batch, t);
      call.inFlight--;
      if (call.settled) this.#endIfIdle(call);
      if (skipped?.has(t) === true) continue; // cancelled before it started: its call has settled
      this.#done++;
      if (call.kind === 'map') callOfBatch = call;
      if (call.settled) continue;
      const e = errors?.get(t);
      if (e !== undefined) {
        const error = reviveError(e);
        this.#settle(call, false, call.kind === 'run' ? error : new TaskFailedError(this.#o.name, indexAt(batch, t), error));
        continue;
      }
      call.results[indexAt(batch, t)] = m.inPlace !== undefined ? call.shared![indexAt(batch, t)] : m.results[t - m.from];
      answeredInputs(call, indexAt(batch, t), 1);
      if (++call.answered === call.count) this.#settle(call, true, call.results);
      else if (call.parked !== undefined && call.inFlight < call.concurrency) this.#unpark(call);
    }
    this.#afterAnswer(member, batch, m, callOfBatch);
  }

  /**
   * The common case of a map, taken whole: every input of the batch answered at once, with no error, nothing
   * skipped, stolen or abandoned (one pass over the results instead of the per-task bookkeeping).
   */
  #answeredWhole(member: Member, batch: Batch, call: Call, m: BatchDone): void {
    const n = batch.count;
    batch.state.fill(T_ANSWERED);
    batch.answered = n;
    member.outstanding -= n;
    this.#outstanding -= n;
    call.inFlight -= n;
    this.#done += n;
    if (!call.settled) {
      const results = call.results;
      const start = batch.start;
      if (m.inPlace !== undefined) {
        const src = call.shared!; // results where their inputs were
        for (let t = start; t < start + n; t++) results[t] = src[t];
      } else {
        const src = m.results;
        for (let t = 0; t < n; t++) results[start + t] = src[t];
      }
      answeredInputs(call, start, n);
      call.answered += n;
      if (call.answered === call.count) this.#settle(call, true, results);
      else if (call.parked !== undefined && call.inFlight < call.concurrency) this.#unpark(call);
    }
    else this.#endIfIdle(call);
    this.#afterAnswer(member, batch, m, call);
  }

  /** Timing, batch sizes, the batch's end, then more work. */
  #afterAnswer(member: Member, batch: Batch, m: BatchDone, callOfBatch: Call | undefined): void {
    if (m.ran > 0) {
      this.#times.recordRun(m.micros, m.ran);
      member.busyMicros += m.micros;
      this.#busyMicros += m.micros;
      if (callOfBatch !== undefined) {
        const c = callOfBatch;
        c.sumMicros = c.sumMicros * DECAY + m.micros;
        c.sumRan = c.sumRan * DECAY + m.ran;
        c.batch = batchFor(c.sumMicros, c.sumRan, c.shared !== undefined ? MAX_SHARED_BATCH : MAX_BATCH);
        const learned = this.#learned.get(c.name);
        if (learned === undefined) this.#learned.set(c.name, { sumMicros: c.sumMicros, sumRan: c.sumRan });
        else {
          learned.sumMicros = c.sumMicros;
          learned.sumRan = c.sumRan;
        }
      } else {
        this.#runSumMicros = this.#runSumMicros * DECAY + m.micros;
        this.#runSumRan = this.#runSumRan * DECAY + m.ran;
      }
    }
    if (batch.answered === batch.count) {
      member.batches.delete(batch.id);
      if (batch.timer !== undefined) clearTimeout(batch.timer);
      for (const call of callsOf(batch)) call.batches.delete(batch);
      if (member.batches.size === 0) this.#idle(member);
    }
    this.#dispatch();
    this.#checkDrained();
  }

  #unpark(call: Call): void {
    const parked = call.parked!;
    call.parked = undefined;
    for (let i = parked.length - 1; i >= 0; i--) this.#queue.unshift(parked[i]!);
  }

  // ---- aborts ------------------------------------------------------------------------------------------------

  /**
   * A call's run was aborted (its signal, a timeout): it rejects now; its unstarted tasks are cancelled through the
   * gate (they never start: invariant 5) and its running ones abandoned (their task.signal aborts; their worker
   * gets no new work until they end, and is stopped abortGraceMs later if they have not).
   */
  #abort(call: Call, reason: unknown): void {
    if (call.settled) return;
    this.#settle(call, false, reason);
    for (const batch of call.batches) {
      const member = batch.member;
      // A map batch is cut whole: its tasks from the limit on never start (gate.ts); the claimed ones ran or run.
      const limit = member.gate !== undefined && batch.call !== undefined ? gateCut(member.gate, batch.seq, 0) : -1;
      for (let t = 0; t < batch.count; t++) {
        if (callAt(batch, t) !== call || batch.state[t] !== T_PENDING) continue;
        if (limit >= 0) {
          if (t >= limit) continue; // never starts; answered as skipped
        } else if (member.gate !== undefined) {
          if (gateCancel(member.gate, batch.seq + t)) continue; // never starts; answered as skipped
          if (gateState(member.gate, batch.seq + t) === G_CANCELLED) continue; // cancelled already
        }
        (batch.abandoned ??= new Uint8Array(batch.count))[t] = 1;
        member.abandoned++;
        member.handle.port.postMessage({ t: 'cancel', seq: batch.seq + t, reason: serializeError(reason) } satisfies PoolDown);
        member.graceTimer ??= setTimeout(() => this.#retire(member), this.#o.abortGraceMs);
        // Whatever waits behind the abandoned task on that worker goes elsewhere (it may never get there).
        this.#takeBack(member, [...member.batches.values()].reverse());
      }
    }
    this.#dispatch();
  }

  /** Cancels a settled call's tasks that have not started (a failed map's rest): they would only waste a worker. */
  #cancelRest(call: Call): void {
    for (const batch of call.batches) {
      const gate = batch.member.gate;
      if (gate === undefined) continue;
      if (batch.call !== undefined) gateCut(gate, batch.seq, 0); // a map batch: all it has not claimed
      else for (let t = 0; t < batch.count; t++) if (callAt(batch, t) === call && batch.state[t] === T_PENDING) gateCancel(gate, batch.seq + t);
    }
  }

  #settle(call: Call, ok: boolean, value: unknown): void {
    if (call.settled) return;
    call.settled = true;
    if (call.signal !== undefined) this.#signals.leave(call.signal, call);
    if (call.queued > 0) {
      // Its entries stay in the queue and are dropped when they reach the head (O(1) here).
      this.#queuedTasks -= call.queued;
      this.#queueSize--;
      call.queued = 0;
    }
    call.parked = undefined;
    call.inputs.fill(undefined); // never read again: what is queued of it is dropped, nothing is sent again
    if (!ok && call.kind === 'map') this.#cancelRest(call);
    if (ok) call.resolve(value);
    else call.reject(value);
    this.#endIfIdle(call);
    this.#checkDrained();
  }

  /** A settled call with nothing queued or in flight has really ended: its `ended` hook runs (once). */
  #endIfIdle(call: Call): void {
    if (!call.settled || call.inFlight !== 0 || call.queued !== 0) return;
    if (call.shared !== undefined) {
      // No worker holds a task of it any more: its buffer may take the next shared map's inputs.
      const buffer = call.shared.buffer as SharedArrayBuffer;
      call.shared = undefined;
      if (buffer.byteLength <= SPARE_MAX_BYTES && (this.#spare === undefined || buffer.byteLength > this.#spare.byteLength)) this.#spare = buffer;
    }
    if (call.ended === undefined) return;
    const ended = call.ended;
    call.ended = undefined;
    ended();
  }

  // ---- workers -----------------------------------------------------------------------------------------------

  /** Registers one pool worker with `register` (one of the registrar's): undefined when it found no free slot. */
  #addWorker(register: (spec: ScopedWorkerSpec) => WorkerHandle | undefined): Member | undefined {
    const o = this.#o;
    const gate = o.runtime === 'thread' ? newGate() : undefined;
    const data: PoolWorkerData = { entry: o.entry, data: o.data, gate, concurrency: o.concurrentTasksPerWorker, answerEach: !o.precious, pool: o.name, idleWaitMs: o.idleWaitMs };
    const spec: ScopedWorkerSpec = {
      entry: POOL_WORKER_URL,
      name: `${o.name}#${++this.#workerSeq}`,
      kind: o.kind,
      labels: o.labels,
      data,
      runtime: o.runtime,
      ephemeral: true,
      precious: o.precious,
      // A stop the pool asks for comes after abortGraceMs already: force it as soon again.
      gracefulTimeoutMs: o.abortGraceMs,
      ...(o.resourceLimits ? { resourceLimits: o.resourceLimits } : {}),
      ...(o.env ? { env: o.env } : {}),
      ...(o.execArgv ? { execArgv: o.execArgv } : {}),
    };
    const handle = register(spec);
    if (handle === undefined) return undefined;
    const member: Member = {
      handle, gate: gate === undefined ? undefined : new Int32Array(gate), bornAt: performance.now(), nextSeq: 0, batches: new Map(),
      outstanding: 0, abandoned: 0, retiring: false, busyMicros: 0, idleTimer: undefined, graceTimer: undefined,
      onMessage: (m) => this.#answered(member, m as BatchDone),
    };
    handle.port.on('message', member.onMessage);
    this.#members.add(member);
    // Deferred one turn: answers the worker posted before it died arrive first (they travel on another port).
    this.#stopped.push(handle.waitForShutdown().then((exit) => new Promise<void>((resolve) => setImmediate(() => {
      this.#workerStopped(member, exit);
      resolve();
    }))));
    if (member.batches.size === 0) this.#idle(member);
    return member;
  }

  /** A worker has nothing in flight: above minWorkers, it stops after idleTimeoutMs unless work comes. */
  #idle(member: Member): void {
    if (this.#o.idleTimeoutMs === Infinity || this.#closed || member.retiring) return;
    if (member.idleTimer !== undefined) clearTimeout(member.idleTimer);
    member.idleTimer = setTimeout(() => {
      member.idleTimer = undefined;
      if (member.batches.size === 0 && this.#live() > this.#o.minWorkers) this.#retire(member);
    }, this.#o.idleTimeoutMs);
    member.idleTimer.unref();
  }

  #live(): number {
    let n = 0;
    for (const m of this.#members) if (!m.retiring) n++;
    return n;
  }

  /** Asks a worker to stop (idle, or an aborted task went on past its grace). Requested: never a precious death. */
  #retire(member: Member): void {
    member.graceTimer = undefined;
    if (member.retiring || !this.#members.has(member)) return;
    member.retiring = true;
    member.handle.terminate();
    this.#dispatch(); // its queued work may go to a new worker now
  }

  #workerStopped(member: Member, exit: WorkerExit): void {
    this.#members.delete(member);
    member.handle.port.off('message', member.onMessage);
    clearTimeout(member.idleTimer);
    clearTimeout(member.graceTimer);
    this.#deadWorkerMs += performance.now() - member.bornAt;
    const gate = member.gate;
    // `failed`: its entry did not load (pool-worker.ts's main throws nowhere else) or it could not be spawned, so no
    // task of it started, and each would fail the same way on the next worker. They fail here instead of going
    // round again: a pool whose entry cannot load starts a worker per batch of calls, never in a loop.
    const loadFailed = exit.reason === 'failed';
    let died: PoolWorkerDiedError | undefined;
    const again: Entry[] = [];
    for (const batch of member.batches.values()) {
      if (batch.timer !== undefined) clearTimeout(batch.timer);
      for (let t = 0; t < batch.count; t++) {
        const st = batch.state[t];
        if (st === T_ANSWERED) continue;
        batch.state[t] = T_ANSWERED;
        this.#outstanding--;
        const started = gate === undefined || gateState(gate, batch.seq + t) !== G_QUEUED;
        if (st === T_STOLEN) continue;
        const call = callAt(batch, t);
        call.inFlight--;
        call.batches.delete(batch);
        if (call.settled) this.#endIfIdle(call);
        if (call.settled || this.#closed) continue;
        if (!started && !loadFailed) {
          // Never started: run it elsewhere (a task runs at most once).
          if (call.queued === 0) this.#queueSize++;
          call.queued++;
          this.#queuedTasks++;
          again.push({ call, next: indexAt(batch, t), end: indexAt(batch, t) + 1 });
        } else {
          this.#settle(call, false, (died ??= new PoolWorkerDiedError(member.handle, exit)));
        }
      }
    }
    member.batches.clear();
    member.outstanding = 0;
    member.abandoned = 0;
    for (let i = again.length - 1; i >= 0; i--) this.#queue.unshift(again[i]!);
    if (this.#closed) return;
    // Keep minWorkers while the scope is active (a non-precious pool outlives its workers' deaths) — but not after
    // a worker whose entry did not load: its replacement would fail alike, and so on; work starts one on demand.
    if (!loadFailed) while (this.#live() < this.#o.minWorkers && this.#node.state === 'active' && this.#addWorker(this.#registrar.tryRegister) !== undefined);
    this.#dispatch();
    this.#checkDrained();
  }

  #isDrained(): boolean {
    return this.#closed || (this.#queuedTasks === 0 && this.#outstanding === 0);
  }

  #checkDrained(): void {
    if (this.#drainWaiters.length === 0 || !this.#isDrained()) return;
    for (const resolve of this.#drainWaiters.splice(0)) resolve();
  }

  #closedReason(): unknown {
    return this.#node.aborted ? this.#node.reason : new ScopeClosedError(`pool "${this.#o.name}": its scope has ended`);
  }

  // ---- ScopeResource: the scope's teardown closes the pool (its workers are resources too and are stopped) -----

  /** A pool never blocks a commit: what is pending is rejected with ScopeClosedError and its workers stop. */
  blocksCommit(): boolean {
    return false;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true; // invariant 2
    const reason = this.#closedReason();
    for (let e = this.#queue.shift(); e !== undefined; e = this.#queue.shift()) this.#settle(e.call, false, reason);
    for (const m of this.#members) {
      clearTimeout(m.idleTimer);
      clearTimeout(m.graceTimer);
      for (const b of m.batches.values()) {
        clearTimeout(b.timer);
        for (const call of callsOf(b)) this.#settle(call, false, reason);
      }
    }
    this.#checkDrained();
  }

  get closed(): Promise<unknown> {
    return Promise.all(this.#stopped);
  }
}
