/**
 * Messages between a pool (registrant side, pool.ts) and its workers (pool-worker.ts), over each worker's
 * direct port (handle.port ↔ ctx.port). Inputs travel in batches so that many small tasks cost one message
 * each way per batch, and several batches are in flight per worker so a worker never waits for the next.
 */
import type { SerializedError } from '../shared/protocol.js';

export type PoolDown =
  | { t: 'batch'; id: number; inputs: unknown[]; cancellable: boolean }
  | { t: 'cancel'; id: number };

export interface BatchDone {
  t: 'done';
  id: number;
  /** One entry per input; undefined where the task threw (see errors). */
  results: unknown[];
  /** [index in batch, error] for the inputs whose task threw or rejected. */
  errors: [number, SerializedError][] | undefined;
  /** Worker-side time spent on the batch, in microseconds (drives the adaptive batch size). */
  micros: number;
}

export type PoolUp = BatchDone;
