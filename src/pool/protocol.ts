/**
 * Messages between a pool (registrant side, pool.ts) and its workers (pool-worker.ts), over each worker's
 * direct port (handle.port ↔ ctx.port). Inputs travel in batches so that many small tasks cost one message
 * each way per batch. Task i of a batch has the gate sequence number `seq + i` (gate.ts).
 */
import type { SerializedError } from '../shared/protocol.js';

export type PoolDown =
  | {
      t: 'batch';
      id: number;
      /** The task function's export name; undefined: the default export. */
      name: string | undefined;
      /** Gate sequence number of the first input. */
      seq: number;
      /** The inputs; a Float64Array (moved, not copied) when they are all numbers (packNumbers). */
      inputs: readonly unknown[] | Float64Array;
      /** The tasks may be aborted while running (they get their own task.signal). */
      cancellable: boolean;
      /**
       * The inputs are a view of the map's shared buffer (pool.ts map, packNumbers shared): the worker writes each number it
       * gets back from a task into the slot of the input it came from, and answers with `inPlace`.
       */
      inPlace: boolean;
      /**
       * 0: a batch of run()s (a gate CAS per task). A map batch: the longest run of tasks the worker claims at
       * once (>= 1, gate.ts); it stops the batch at its first failed task (the map rejects there).
       */
      run: number;
    }
  | { t: 'cancel'; seq: number; reason: SerializedError };

/** The worker's answer for inputs [from, from + results.length) of batch `id`. */
export interface BatchDone {
  t: 'done';
  id: number;
  from: number;
  /**
   * One entry per input; undefined where the task threw (see errors) or was skipped. A Float64Array (moved) when
   * they are all numbers (packNumbers).
   */
  results: unknown[] | Float64Array;
  /**
   * A batch sent `inPlace`: the results of inputs [from, from + inPlace) are in the shared buffer, each where its
   * input was (skipped ones excepted), and `results` is empty. Undefined: the results are in `results`.
   */
  inPlace?: number;
  /** [index in batch, error] for the inputs whose task threw or rejected, or whose result cannot be cloned. */
  errors: [number, SerializedError][] | undefined;
  /**
   * Indexes in the batch of inputs the worker did not start: the pool cancelled or took them back (gate.ts), or
   * they follow a failed task of a map batch.
   */
  skipped: number[] | undefined;
  /** Worker time spent on these inputs (started ones), in microseconds: batch sizes and stats.runTime. */
  micros: number;
  /** How many of these inputs started (micros / ran is their mean run time). */
  ran: number;
}

/** Worker data of a pool worker. */
export interface PoolWorkerData {
  entry: string;
  /** The pool's `data`, handed to every task as task.data. */
  data: unknown;
  /** Thread pools: the start gate (gate.ts); undefined for process workers. */
  gate: SharedArrayBuffer | undefined;
  concurrency: number;
  /** Answer each input on its own (non-precious pools: after a crash, only the running task is lost). */
  answerEach: boolean;
  /** Name of the pool, for errors. */
  pool: string;
  /** PoolOptions.idleWaitMs (0: the worker waits in its event loop; always for a process worker). */
  idleWaitMs: number;
}

export type PoolUp = BatchDone;

/** Lists shorter than this go as they are: packing costs an ArrayBuffer and a transfer. */
export const PACK_MIN = 256;

const newFloat64Array = (n: number): Float64Array => new Float64Array(n);

/**
 * `list` as a Float64Array (of n values, from `alloc`) when it holds PACK_MIN or more values and all are numbers, else undefined. A map's batch
 * of numbers (inputs one way, results the other) then goes as one buffer moved to the other side instead of a
 * structured clone of each value (measured: V8 clones a number array ~20-30 ns a value; a Float64Array is a
 * buffer moved). Exact for every number: -0, NaN and the infinities are float64 values.
 */
export function packNumbers(list: readonly unknown[], alloc: (n: number) => Float64Array = newFloat64Array): Float64Array | undefined {
  const n = list.length;
  if (n < PACK_MIN || typeof list[0] !== 'number') return undefined;
  // One pass: check and copy together (this runs on every map batch, both ways).
  const out = alloc(n);
  for (let i = 0; i < n; i++) {
    const v = list[i];
    if (typeof v !== 'number') return undefined;
    out[i] = v;
  }
  return out;
}
