/**
 * A pool worker: a defineWorker module that imports the pool's task module and runs the batches its pool sends
 * on ctx.port. Batches wait in a FIFO; up to `concurrency` of them run at once, each one input after another
 * (a synchronous task runs back to back with the next, without awaiting; a promise is awaited). Main returns
 * once termination is requested (the pool's scope ended, or the pool stopped this worker): `completed`. Main
 * throws only before it takes any batch, when the task module does not load or exports no task function: the pool
 * reads a `failed` exit as that (pool.ts #workerStopped).
 *
 * Before calling a task it claims the task's gate word (thread pools, gate.ts): a task the pool cancelled or took
 * back is skipped and reported as such, never started. A task whose run is aborted while running gets its
 * task.signal aborted (a 'cancel' message); one that ignores it is stopped with the whole worker by the pool.
 */
import type { Transferable } from 'node:worker_threads';
import { TaskCloneError, invalidOption } from '../errors.js';
import { reviveError, serializeError, type SerializedError } from '../shared/protocol.js';
import { defineWorker } from '../worker/context.js';
import { gateStart } from './gate.js';
import { transferOf } from './move.js';
import type { PoolDown, PoolUp, PoolWorkerData } from './protocol.js';
import type { TaskContext, TaskFunction } from './task.js';

type BatchMsg = Extract<PoolDown, { t: 'batch' }>;

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

  const runBatch = async (b: BatchMsg): Promise<void> => {
    let fn: TaskFunction;
    let shared: TaskContext;
    try {
      ({ fn, shared } = lookup(b.name));
    } catch (err) {
      const e = serializeError(err);
      const skipped: number[] = [];
      const errors: [number, SerializedError][] = [];
      for (let i = 0; i < b.inputs.length; i++) {
        if (gate !== undefined && !gateStart(gate, b.seq + i)) skipped.push(i);
        else errors.push([i, e]);
      }
      post({ t: 'done', id: b.id, from: 0, results: new Array(b.inputs.length), errors, skipped, micros: 0, ran: 0 }, []);
      return;
    }
    const n = b.inputs.length;
    const each = d.answerEach;
    let results = new Array<unknown>(each ? 1 : n);
    let errors: [number, SerializedError][] | undefined;
    let skipped: number[] | undefined;
    let transfer: Transferable[] = [];
    let from = 0;
    let ran = 0;
    let t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const seq = b.seq + i;
      const slot = each ? 0 : i;
      const cancelled = early.size === 0 ? undefined : early.get(seq);
      if (cancelled !== undefined) early.delete(seq);
      if (cancelled !== undefined || (gate !== undefined && !gateStart(gate, seq))) {
        (skipped ??= []).push(i);
      } else {
        ran++;
        let context = shared;
        if (b.cancellable) {
          const c = new AbortController();
          live.set(seq, c);
          context = { signal: AbortSignal.any([ctx.signal, c.signal]), data: shared.data, name: shared.name };
        }
        try {
          let r = fn(b.inputs[i], context);
          if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') r = await r;
          results[slot] = r;
          const moved = transferOf(r);
          if (moved !== undefined) transfer.push(...moved);
        } catch (err) {
          (errors ??= []).push([i, serializeError(err)]);
        }
        if (b.cancellable) live.delete(seq);
      }
      if (each) {
        const t1 = performance.now();
        post({ t: 'done', id: b.id, from: i, results, errors, skipped, micros: Math.round((t1 - t0) * 1000), ran }, transfer);
        results = new Array<unknown>(1);
        errors = skipped = undefined;
        transfer = [];
        ran = 0;
        from = i + 1;
        t0 = t1;
      }
    }
    if (!each) post({ t: 'done', id: b.id, from, results, errors, skipped, micros: Math.round((performance.now() - t0) * 1000), ran }, transfer);
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
      void runBatch(b).finally(() => {
        running--;
        pump();
      });
    }
  };

  ctx.port.on('message', (value) => {
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
  });
  if (!ctx.signal.aborted) await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
});
