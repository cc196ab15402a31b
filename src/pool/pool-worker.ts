/**
 * A pool worker: a defineWorker module that imports the pool's task module and runs the batches its pool sends
 * on ctx.port. Batches wait in a FIFO; up to `concurrency` of them run at once, each one input after another
 * (tasks returning plain values run in a plain loop, no promise per task or batch; a thenable is awaited and the
 * loop goes on after it). Main returns
 * once termination is requested (the pool's scope ended, or the pool stopped this worker): `completed`. Main
 * throws only before it takes any batch, when the task module does not load or exports no task function: the pool
 * reads a `failed` exit as that (pool.ts #workerStopped).
 *
 * Before calling a task it claims it in the gate (thread pools, gate.ts): a task of a batch of run()s by a CAS on
 * its own word; the tasks of a map batch a run at a time, by a CAS on the batch's claim word (runs of 1, 2, 4, ...
 * up to the batch's `run`), with a plain store of STARTED in each task's word just before its call. A task the
 * pool cancelled or took back is skipped and reported as such, never started. A map batch stops at its first
 * failed task: the map rejects there, so the rest is skipped (reported as such, never started). A map batch's
 * inputs may come as a Float64Array (all numbers, protocol.ts packNumbers), and its results go back as one when
 * they are all numbers; or as a view of the map's shared buffer (`inPlace`), where each number result is written
 * over its own input (read already, and no other worker ever holds that task) and the answer is a count — until the
 * first result that is not a number, a thenable or a failure, from which on the batch's results go in an array
 * (spill() moves there the ones written so far). A task whose run is aborted while running gets its task.signal aborted (a 'cancel'
 * message); one that ignores it is stopped with the whole worker by the pool.
 *
 * Idle wait (thread pools, PoolOptions.idleWaitMs > 0). A worker that has just run out of work (no batch running
 * or waiting in its FIFO) waits for its next batch in Atomics.wait on its own latch (ctx.latch, which no task sees)
 * for up to idleWaitMs, and reads what the pool posted with receiveMessageOnPort; after that it waits in its event
 * loop as before. The pool sets that latch after each batch it posts (pool.ts #send); a termination request sets
 * it too (interrupts.ts). Measured on the 2-core machines: a bare thread woken through its event loop answers a
 * message round trip in ~60 µs, one woken by Atomics.notify in ~15 µs (docs/benchmarks.md, "The idle wait"). States and who
 * moves them:
 * - busy (a batch runs or waits) → idle-queued: pump() leaves the worker with nothing to do and queues idle() with
 *   setImmediate, so the wait starts from a turn of its own, with no microtask or callback of the batch pending.
 * - idle-queued → asleep: idle() resets the latch, drains the port, and with nothing received waits on the latch
 *   (reset, then look, then wait: a batch posted in between has set the latch, so the wait returns at once).
 * - asleep → busy: woken, it drains the port; each batch runs there (onMessage, as from the event loop). After
 *   any message it returns to the event loop for a turn (microtasks, timers that came due) and, idle again, is
 *   idle-queued: a new wait of up to idleWaitMs.
 * - asleep → in its event loop: idleWaitMs passed since the wait began. Timers or I/O a task left behind run then,
 *   so at most idleWaitMs late, once; an idle worker costs nothing more (no periodic wake-up: a 20 ms period cost
 *   2-4% of a core for 2 idle workers here). The next batch comes as a 'message' event (onMessage → pump → busy).
 * - asleep → stopping: an interrupt (termination requested) woke it; checkForInterrupts() aborts ctx.signal, and
 *   main returns from the event loop.
 * - idle-queued → flushing → idle-queued: output a task wrote to process.stdout/stderr still waits for the main
 *   thread's acknowledgement (a worker thread's stdio is a stream over its port), which arrives through the event
 *   loop; the worker waits there until that output is out (piscina does the same).
 */
import { MessagePort, receiveMessageOnPort, type Transferable } from 'node:worker_threads';
import { TaskCloneError, invalidOption } from '../errors.js';
import { reviveError, serializeError, type SerializedError } from '../shared/protocol.js';
import { defineWorker } from '../worker/context.js';
import { GATE_SIZE, G_STARTED, gateClaim, gateStart } from './gate.js';
import { transferOf } from './move.js';
import { packNumbers, type PoolDown, type PoolUp, type PoolWorkerData } from './protocol.js';
import type { TaskContext, TaskFunction } from './task.js';

type BatchMsg = Extract<PoolDown, { t: 'batch' }>;

/** A batch being run, and what its answer holds so far (the inputs from `from` on). */
interface BatchRun {
  readonly b: BatchMsg;
  readonly fn: TaskFunction;
  readonly shared: TaskContext;
  results: unknown[];
  errors: [number, SerializedError][] | undefined;
  skipped: number[] | undefined;
  transfer: Transferable[];
  from: number;
  ran: number;
  /** When the inputs from `from` on began (micros of the answer). */
  t0: number;
  /** The thenable the current task returned, while step() hands over to finish(). */
  pending: PromiseLike<unknown> | undefined;
  /** Map batch: tasks [0, claimed) are claimed (gate.ts), and the length of the next run to claim. */
  claimed: number;
  k: number;
  /** Map batch: a task failed; the rest is skipped. */
  stop: boolean;
  /**
   * A batch sent in place whose results so far are all numbers, each written where its input was: `results` is
   * empty. At the first other result (or a thenable, or a failure) spill() moves them to `results`, for good.
   */
  inPlace: boolean;
}

/** The outcome of the task at which inPlaceRun() stopped: its result (not a number), or what it threw. */
const outcome: { value: unknown; threw: boolean } = { value: undefined, threw: false };

/**
 * The loop of a batch sent in place (stepMap): calls tasks [i, end), claimed already, storing STARTED in each
 * task's gate word just before its call, and writes each number result over its input. Returns `end`, or the
 * index of the first task whose outcome is not a number, left in `outcome`. A function of its own, and small: a
 * fresh worker ran stepMap unoptimised for its first ~20 ms of maps, TurboFan's compile time for it on a busy
 * 2-core machine (measured with --trace-opt); this loop compiles in about a millisecond.
 */
function inPlaceRun(fn: TaskFunction, place: Float64Array, i: number, end: number, context: TaskContext, gate: Int32Array | undefined, base: number): number {
  for (; i < end; i++) {
    if (gate !== undefined) {
      const w = base + i;
      gate[w < GATE_SIZE ? w : w - GATE_SIZE] = G_STARTED; // a plain store: the task is claimed already
    }
    let out: unknown;
    try {
      out = fn(place[i], context);
    } catch (err) {
      outcome.value = err;
      outcome.threw = true;
      return i;
    }
    if (typeof out !== 'number') {
      outcome.value = out;
      return i;
    }
    place[i] = out;
  }
  return end;
}

export default defineWorker<PoolWorkerData>(async (ctx) => {
  const d = ctx.data;
  const mod = (await import(d.entry)) as Record<string, unknown>;
  let def = mod['default'];
  // A default export that is a promise of a task function (piscina supports it) is awaited once here.
  if (def !== null && (typeof def === 'object' || typeof def === 'function') && typeof (def as PromiseLike<unknown>).then === 'function') def = await def;
  const hasNamed = Object.entries(mod).some(([k, v]) => k !== 'default' && typeof v === 'function');
  if (typeof def !== 'function' && !hasNamed) throw invalidOption('entry', 'a module whose default export (or a named export) is a task function', d.entry);
  const gate = d.gate === undefined ? undefined : new Int32Array(d.gate);
  const fns = new Map<string | undefined, { fn: TaskFunction; shared: TaskContext }>();
  const lookup = (name: string | undefined): { fn: TaskFunction; shared: TaskContext } => {
    let entry = fns.get(name);
    if (entry === undefined) {
      const fn = name === undefined ? def : mod[name];
      if (typeof fn !== 'function') throw invalidOption('name', `the name of a task function exported by ${d.entry}`, name ?? 'default');
      entry = { fn: fn as TaskFunction, shared: { signal: ctx.signal, data: d.data, name: name ?? 'default' } };
      fns.set(name, entry);
    }
    return entry;
  };

  /** Running cancellable tasks by seq, and cancels that arrived while their task waited in the FIFO. */
  const live = new Map<number, AbortController>();
  const early = new Map<number, SerializedError>();
  const fifo: BatchMsg[] = [];
  let head = 0;
  let running = 0;

  const post = (m: PoolUp, transfer: Transferable[]): void => {
    try {
      ctx.port.postMessage(m, transfer);
    } catch {
      // Some result cannot be cloned (nothing was sent): report each such input as its own failure.
      for (let i = 0; i < m.results.length; i++) {
        try {
          structuredClone(m.results[i]);
        } catch (err) {
          m.results[i] = undefined;
          (m.errors ??= []).push([m.from + i, serializeError(new TaskCloneError(d.pool, 'result', undefined, err))]);
        }
      }
      ctx.port.postMessage(m);
    }
  };

  /**
   * Starts batch `b`: runs its tasks in a plain loop while each returns a plain value (no promise per task);
   * from the first task that returns a thenable on, the rest runs in `finish`, which awaits it. Returns undefined
   * when the batch was answered synchronously, else the promise of its end.
   */
  const runBatch = (b: BatchMsg): Promise<void> | undefined => {
    let fn: TaskFunction;
    let shared: TaskContext;
    try {
      ({ fn, shared } = lookup(b.name));
    } catch (err) {
      const e = serializeError(err);
      const skipped: number[] = [];
      const errors: [number, SerializedError][] = [];
      if (b.run > 0) {
        // A map batch fails at its first task (if the pool did not cut it first); the rest never starts.
        const first = gate === undefined || gateClaim(gate, b.seq, 0, 1) === 1;
        if (first) errors.push([0, e]);
        for (let i = first ? 1 : 0; i < b.inputs.length; i++) skipped.push(i);
      } else {
        for (let i = 0; i < b.inputs.length; i++) {
          if (gate !== undefined && !gateStart(gate, b.seq + i)) skipped.push(i);
          else errors.push([i, e]);
        }
      }
      post({ t: 'done', id: b.id, from: 0, results: new Array(b.inputs.length), errors, skipped, micros: 0, ran: 0 }, []);
      return undefined;
    }
    const r: BatchRun = { b, fn, shared, results: [], errors: undefined, skipped: undefined, transfer: [], from: 0, ran: 0, t0: performance.now(), pending: undefined, claimed: 0, k: 1, stop: false, inPlace: b.inPlace && plain && !b.cancellable };
    const i = b.run > 0 ? stepMap(r, 0) : step(r, 0);
    return i === b.inputs.length ? undefined : finish(r, i);
  };

  /** Awaits task i's thenable, then runs on with step() until the batch is done (one await per async task). */
  const finish = async (r: BatchRun, i: number): Promise<void> => {
    const n = r.b.inputs.length;
    for (;;) {
      const pending = r.pending!;
      r.pending = undefined;
      try {
        settled(r, await pending);
      } catch (err) {
        failed(r, i, err);
      }
      ended(r, i);
      i = r.b.run > 0 ? stepMap(r, i + 1) : step(r, i + 1);
      if (i === n) return;
    }
  };

  /**
   * Calls task i of r's batch (`seq`: its sequence number) with its context, a task.signal of its own in a
   * cancellable batch. True when it returned a thenable (left in r.pending, its end still to do); otherwise it has
   * settled or failed, and the caller ends it.
   */
  const callTask = (r: BatchRun, seq: number, i: number): boolean => {
    r.ran++;
    let context = r.shared;
    if (r.b.cancellable) {
      const c = new AbortController();
      live.set(seq, c);
      context = { signal: AbortSignal.any([ctx.signal, c.signal]), data: context.data, name: context.name };
    }
    try {
      const out = r.fn(r.b.inputs[i], context);
      if (out !== null && typeof out === 'object' && typeof (out as PromiseLike<unknown>).then === 'function') {
        r.pending = out as PromiseLike<unknown>;
        return true;
      }
      settled(r, out);
    } catch (err) {
      failed(r, i, err);
    }
    return false;
  };

  /**
   * Runs the tasks of a batch from `i` on, synchronously, and returns the index of the first one whose task
   * function returned a thenable (left in r.pending, its end still to do), or the batch's length once every task
   * has ended and the batch is answered. Every task pushes exactly one entry to r.results (undefined for one
   * skipped or failed), so results stay a packed array: V8 clones a holey one entry by entry, several times slower.
   */
  const step = (r: BatchRun, i: number): number => {
    const b = r.b;
    const n = b.inputs.length;
    for (; i < n; i++) {
      const seq = b.seq + i;
      const cancelled = early.size === 0 ? undefined : early.get(seq);
      if (cancelled !== undefined) early.delete(seq);
      if (cancelled !== undefined || (gate !== undefined && !gateStart(gate, seq))) {
        r.results.push(undefined);
        (r.skipped ??= []).push(i);
      } else if (callTask(r, seq, i)) return i;
      ended(r, i);
    }
    if (!d.answerEach) post({ t: 'done', id: b.id, from: r.from, results: r.results, errors: r.errors, skipped: r.skipped, micros: Math.round((performance.now() - r.t0) * 1000), ran: r.ran }, r.transfer);
    return n;
  };

  /** Batches are answered whole (a precious pool): stepMap's tight loop. */
  const plain = !d.answerEach;

  /** r's results so far, written in place (tasks [r.from, i)), into r.results: from task i on they go there. */
  const spill = (r: BatchRun, i: number): void => {
    const place = r.b.inputs as Float64Array;
    for (let t = r.from; t < i; t++) r.results.push(place[t]);
    r.inPlace = false;
  };

  /**
   * step() for a map batch: claims its tasks a run at a time (gate.ts), stores STARTED in each task's word just
   * before calling it, and stops at the first failed task (the rest is skipped). Same contract as step().
   */
  const stepMap = (r: BatchRun, i: number): number => {
    const b = r.b;
    const inputs = b.inputs;
    const n = inputs.length;
    const fn = r.fn;
    const base = b.seq % GATE_SIZE;
    while (!r.stop) {
      if (i === r.claimed) {
        if (i === n) break;
        if (gate === undefined) r.claimed = n;
        else {
          r.claimed = gateClaim(gate, b.seq, i, r.k);
          if (r.k < b.run) r.k = Math.min(b.run, 2 * r.k);
          if (r.claimed === i) break; // the pool cut the batch here: the rest never starts on this worker
        }
      }
      const end = r.claimed;
      if (plain && !b.cancellable) {
        // The common case, in one tight loop: one answer per batch, no task.signal of its own.
        const from = i;
        if (r.inPlace) {
          // Numbers written over their inputs, in a loop of its own (inPlaceRun) until a task's outcome is not a number.
          i = inPlaceRun(fn, inputs as Float64Array, i, end, r.shared, gate, base);
          if (i === end) {
            r.ran += i - from;
            continue;
          }
          // Task i was called: its outcome, and the results written so far, go to r.results from now on.
          spill(r, i);
          r.ran += i + 1 - from;
          const out = outcome.value;
          const threw = outcome.threw;
          outcome.value = undefined;
          outcome.threw = false;
          if (threw) {
            failed(r, i, out);
            i++;
            break;
          }
          if (out !== null && typeof out === 'object') {
            if (typeof (out as PromiseLike<unknown>).then === 'function') {
              r.pending = out as PromiseLike<unknown>;
              return i;
            }
            const moved = transferOf(out);
            if (moved !== undefined) r.transfer.push(...moved);
          }
          r.results.push(out);
          i++;
          continue; // the rest of the run goes by the loop below
        }
        const results = r.results;
        const shared = r.shared;
        let w = base + i;
        for (; i < end; i++, w++) {
          if (gate !== undefined) gate[w < GATE_SIZE ? w : w - GATE_SIZE] = G_STARTED; // a plain store: claimed already
          let out: unknown;
          try {
            out = fn(inputs[i], shared);
            if (out !== null && typeof out === 'object') {
              if (typeof (out as PromiseLike<unknown>).then === 'function') {
                r.ran += i + 1 - from;
                r.pending = out as PromiseLike<unknown>;
                return i;
              }
              const moved = transferOf(out);
              if (moved !== undefined) r.transfer.push(...moved);
            }
          } catch (err) {
            r.ran += i + 1 - from;
            failed(r, i, err);
            i++;
            break;
          }
          results.push(out);
        }
        if (!r.stop) r.ran += i - from;
        continue;
      }
      for (; i < end; i++) {
        if (gate !== undefined) {
          const w = base + i;
          gate[w < GATE_SIZE ? w : w - GATE_SIZE] = G_STARTED; // a plain store: the task is claimed already
        }
        if (callTask(r, b.seq + i, i)) return i;
        ended(r, i);
        if (r.stop) {
          i++;
          break;
        }
      }
    }
    if (i < n) {
      // Skipped: after a failed task, or cut by the pool. One answer for all of them in a non-precious pool too.
      const skipped = (r.skipped ??= []);
      for (let t = i; t < n; t++) {
        if (!r.inPlace) r.results.push(undefined);
        skipped.push(t);
      }
      if (d.answerEach) {
        post({ t: 'done', id: b.id, from: r.from, results: r.results, errors: r.errors, skipped, micros: 0, ran: 0 }, r.transfer);
        return n;
      }
    }
    if (!d.answerEach) {
      const micros = Math.round((performance.now() - r.t0) * 1000);
      // Results that are all numbers go as a Float64Array, moved (protocol.ts packNumbers); in place, none go.
      const packed = gate === undefined || r.inPlace ? undefined : packNumbers(r.results);
      if (r.inPlace) post({ t: 'done', id: b.id, from: r.from, results: [], inPlace: n - r.from, errors: r.errors, skipped: r.skipped, micros, ran: r.ran }, []);
      else if (packed !== undefined) post({ t: 'done', id: b.id, from: r.from, results: packed, errors: r.errors, skipped: r.skipped, micros, ran: r.ran }, [packed.buffer as ArrayBuffer]);
      else post({ t: 'done', id: b.id, from: r.from, results: r.results, errors: r.errors, skipped: r.skipped, micros, ran: r.ran }, r.transfer);
    }
    return n;
  };

  const settled = (r: BatchRun, out: unknown): void => {
    r.results.push(out);
    const moved = transferOf(out);
    if (moved !== undefined) r.transfer.push(...moved);
  };

  const failed = (r: BatchRun, i: number, err: unknown): void => {
    r.results.push(undefined);
    (r.errors ??= []).push([i, serializeError(err)]);
    if (r.b.run > 0) r.stop = true; // a map rejects at its first failed input: the rest of its batch is not run
  };

  /** Task i has ended (or was skipped): it is no longer abortable, and a non-precious pool gets its answer now. */
  const ended = (r: BatchRun, i: number): void => {
    if (r.b.cancellable) live.delete(r.b.seq + i);
    if (!d.answerEach) return;
    const t1 = performance.now();
    post({ t: 'done', id: r.b.id, from: i, results: r.results, errors: r.errors, skipped: r.skipped, micros: Math.round((t1 - r.t0) * 1000), ran: r.ran }, r.transfer);
    r.results = [];
    r.errors = r.skipped = undefined;
    r.transfer = [];
    r.ran = 0;
    r.from = i + 1;
    r.t0 = t1;
  };

  /** Whether task `seq` is in a batch that waits in the FIFO (not started). */
  const waiting = (seq: number): boolean => {
    for (let i = head; i < fifo.length; i++) {
      const b = fifo[i]!;
      if (seq >= b.seq && seq < b.seq + b.inputs.length) return true;
    }
    return false;
  };

  const pump = (): void => {
    while (running < d.concurrency && head < fifo.length) {
      const b = fifo[head]!;
      fifo[head++] = undefined as unknown as BatchMsg;
      if (head === fifo.length) {
        fifo.length = 0;
        head = 0;
      }
      running++;
      const rest = runBatch(b);
      if (rest === undefined) running--;
      else {
        void rest.finally(() => {
          running--;
          pump();
        });
      }
    }
    idleSoon();
  };

  const onMessage = (value: unknown): void => {
    const m = value as PoolDown;
    if (m.t === 'batch') {
      fifo.push(m);
      pump();
    } else {
      const c = live.get(m.seq);
      if (c !== undefined) c.abort(reviveError(m.reason));
      else if (waiting(m.seq)) early.set(m.seq, m.reason); // received, not started: it never will be
      // else it has finished (its answer is on the way): nothing to abort
    }
  };

  // ---- idle wait (header) ----
  const port = d.idleWaitMs > 0 && ctx.port instanceof MessagePort ? ctx.port : undefined;
  let idleQueued = false;
  const isIdle = (): boolean => running === 0 && head === fifo.length && !ctx.signal.aborted;
  /** Queues idle() for a turn of its own when the worker has nothing to do (idle-queued). */
  const idleSoon = (): void => {
    if (port === undefined || idleQueued || !isIdle()) return;
    idleQueued = true;
    setImmediate(idle);
  };
  const flushed = (): void => {
    idleQueued = false;
    idleSoon();
  };
  const idle = (): void => {
    const out = process.stdout.writableLength > 0 ? process.stdout : process.stderr.writableLength > 0 ? process.stderr : undefined;
    if (out !== undefined) {
      out.write('', flushed); // flushing: stays queued until the output is out
      return;
    }
    idleQueued = false;
    const latch = ctx.latch;
    const until = performance.now() + d.idleWaitMs; // Infinity: no end
    while (isIdle()) {
      latch.reset();
      let got = false;
      for (let e = receiveMessageOnPort(port!); e !== undefined; e = receiveMessageOnPort(port!)) {
        onMessage(e.message);
        got = true;
      }
      if (got) {
        idleSoon(); // a turn of the event loop after any message, then a new wait (pump() queued it after a batch)
        return;
      }
      const r = latch.waitSync(until === Infinity ? undefined : { timeoutMs: Math.max(0, until - performance.now()) });
      if (r.interrupted) {
        try {
          ctx.checkForInterrupts(); // a termination request aborts ctx.signal here
        } catch {
          return;
        }
      }
      if (r.timedOut) return; // waiting in the event loop until the next message (onMessage → pump → idleSoon)
    }
  };

  ctx.port.on('message', onMessage);
  idleSoon();
  if (!ctx.signal.aborted) await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
});
