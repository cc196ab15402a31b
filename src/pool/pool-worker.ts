/**
 * A pool worker: a defineWorker module that imports the pool's task module and runs the batches its pool sends
 * on ctx.port, one input at a time. Synchronous tasks run back to back without awaiting; a task that returns a
 * promise is awaited. Main returns once termination is requested (the pool's scope ended): `completed`.
 */
import { invalidOption } from '../errors.js';
import { serializeError, type SerializedError } from '../shared/protocol.js';
import { defineWorker } from '../worker/context.js';
import type { PoolDown, PoolUp } from './protocol.js';
import type { TaskFunction } from './task.js';

export interface PoolWorkerData {
  entry: string;
}

export default defineWorker<PoolWorkerData>(async (ctx) => {
  const mod = (await import(ctx.data.entry)) as { default?: unknown };
  const fn = mod.default;
  if (typeof fn !== 'function') throw invalidOption('entry', 'a module whose default export is a task function', ctx.data.entry);
  const task = fn as TaskFunction;
  const cancels = new Map<number, AbortController>();

  const runBatch = async (id: number, inputs: unknown[], cancellable: boolean): Promise<void> => {
    const t0 = performance.now();
    let signal = ctx.signal;
    if (cancellable) {
      const c = new AbortController();
      cancels.set(id, c);
      signal = AbortSignal.any([ctx.signal, c.signal]);
    }
    const context = { signal };
    const results = new Array<unknown>(inputs.length);
    let errors: [number, SerializedError][] | undefined;
    for (let i = 0; i < inputs.length; i++) {
      try {
        let r = task(inputs[i], context);
        if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') r = await r;
        results[i] = r;
      } catch (err) {
        (errors ??= []).push([i, serializeError(err)]);
      }
    }
    cancels.delete(id);
    const micros = Math.round((performance.now() - t0) * 1000);
    try {
      ctx.port.postMessage({ t: 'done', id, results, errors, micros } satisfies PoolUp);
    } catch {
      // Some result cannot be cloned (the whole post failed, nothing was sent): find which, and report each of
      // those as the failure of its own input.
      for (let i = 0; i < results.length; i++) {
        try {
          structuredClone(results[i]);
        } catch (err) {
          results[i] = undefined;
          (errors ??= []).push([i, serializeError(err)]);
        }
      }
      ctx.port.postMessage({ t: 'done', id, results, errors, micros } satisfies PoolUp);
    }
  };

  ctx.port.on('message', (value) => {
    const m = value as PoolDown;
    if (m.t === 'batch') void runBatch(m.id, m.inputs, m.cancellable);
    else cancels.get(m.id)?.abort(new Error('task cancelled'));
  });
  if (!ctx.signal.aborted) await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
});
