/**
 * The pool's units of work, as the engine (pool.ts) keeps them: a Call is one `run()` or `map()` call, an Entry a
 * range of a call's inputs waiting in the pool's queue, a Batch the inputs sent to one worker in one message, a
 * Member one pool worker.
 *
 * A task (one input of a call) is, from the pool's side: queued (in an Entry) → in flight (in a Batch; thread pools
 * also know from the gate whether it started) → answered (the worker's 'done' covered it). A task in flight is
 * `pending` in its batch until answered; one taken back from a look-ahead batch is `stolen` (it is queued again
 * at once, and its gate word is freed when the worker answers for it, skipped).
 *
 * A call's inputs are held as segments of SEGMENT inputs, never as one array: copying a large array at once
 * allocates it in V8's large-object space (measured ~0.6 ms for 100,000 numbers against ~0.1 ms as segments),
 * and a batch that is a whole segment goes out as that segment, without a slice. A segment is let go as soon as
 * all its inputs are answered: a map's inputs held to its end survived every young-generation GC meanwhile
 * (measured: the main thread's scavenges took ~4x as long). A shared map (Call.shared) holds no segments: its
 * inputs are one shared Float64Array, its batches views of it.
 */
import type { Transferable } from 'node:worker_threads';
import type { WorkerHandle } from '../handle.js';

export interface Call {
  readonly kind: 'run' | 'map';
  readonly name: string | undefined;
  /**
   * The inputs, copied at the call into segments of SEGMENT (segmentsOf; the last may be shorter); a segment
   * whose inputs have all been answered is dropped (undefined), and all are once the call has settled: no
   * input is read again after that (answeredInputs).
   */
  readonly inputs: (readonly unknown[] | undefined)[];
  /**
   * A thread pool's map of numbers (precious pools): all its inputs in one Float64Array on a SharedArrayBuffer,
   * copied at the call instead of `inputs` (which is then empty). Batches are views of it, and each worker writes
   * a number result into the slot of its input (pool-worker.ts): a task's slot holds its input until the task
   * has been called, so a task retried or taken back is sent its input. Kept until the call has ended (settled,
   * none of its tasks queued or in flight: no worker writes there any more), then the pool's spare (pool.ts).
   */
  shared: Float64Array | undefined;
  /** map: per segment, its inputs not answered yet (answeredInputs); undefined for a run or a shared map. */
  readonly unanswered: Uint16Array | undefined;
  /** How many inputs. */
  readonly count: number;
  /** One entry per input (allocated once the call's first batches are out: pool.ts #submit). */
  results: unknown[];
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  /** map's `concurrency`: inputs in flight at most. */
  readonly concurrency: number;
  readonly signal: AbortSignal | undefined;
  readonly timeoutMs: number | undefined;
  readonly transfer: readonly Transferable[] | undefined;
  /** Its tasks get their own task.signal (an abort or a timeout can reach them while they run). */
  readonly cancellable: boolean;
  readonly submittedAt: number;
  /** Inputs in the queue (entries, parked ones included). */
  queued: number;
  /** Inputs sent and neither answered nor stolen back. */
  inFlight: number;
  answered: number;
  /** map: the next batch's size, adapted to the measured time per input. */
  batch: number;
  /** Decayed sums of measured worker time and inputs run, for `batch`; a map's start from its task function's last map. */
  sumMicros: number;
  sumRan: number;
  settled: boolean;
  /** Entries held back while the call is at its concurrency. */
  parked: Entry[] | undefined;
  /** Batches with some of its tasks in flight. */
  readonly batches: Set<Batch>;
  /**
   * Called once when the call has settled and none of its tasks is queued or in flight any more: an aborted task
   * that ran on has really ended (answered, or its worker stopped). Internal: the Foreman's retry of a timed-out
   * job must not overlap the old run (`runWithEnd` in scoped-pool.ts).
   */
  ended: (() => void) | undefined;
}

/** Inputs [next, end) of a call, waiting in the queue. */
export interface Entry {
  readonly call: Call;
  next: number;
  end: number;
}

export const T_PENDING = 0;
export const T_ANSWERED = 1;
export const T_STOLEN = 2;

export interface Batch {
  readonly id: number;
  readonly member: Member;
  /** Gate sequence number of task 0. */
  readonly seq: number;
  readonly count: number;
  /**
   * A map batch: its call, and task t is that call's input `start + t` (no per-task arrays: a map batch holds up
   * to MAX_BATCH inputs). A batch of run()s: `call` undefined, task t is `runs[t]`'s only input.
   */
  readonly call: Call | undefined;
  readonly start: number;
  readonly runs: Call[] | undefined;
  /** Per task: T_PENDING, T_ANSWERED or T_STOLEN. */
  readonly state: Uint8Array;
  /** Per task: its run was aborted while it ran (its worker owes the pool its end). */
  abandoned: Uint8Array | undefined;
  answered: number;
  /** Tasks taken back (T_STOLEN) whose skip the worker has not reported yet. */
  stolen: number;
  timer: NodeJS.Timeout | undefined;
}

export interface Member {
  readonly handle: WorkerHandle;
  readonly gate: Int32Array | undefined;
  readonly bornAt: number;
  nextSeq: number;
  /** Batches sent and not fully answered, in send order. */
  readonly batches: Map<number, Batch>;
  /** Tasks sent and not answered (stolen ones included: their gate word is in use until then). */
  outstanding: number;
  /** Tasks whose run was aborted while they ran and that have not ended: no new work until they have. */
  abandoned: number;
  /** Asked to stop by the pool (idle, or an aborted task that did not end): gets no new work. */
  retiring: boolean;
  busyMicros: number;
  idleTimer: NodeJS.Timeout | undefined;
  graceTimer: NodeJS.Timeout | undefined;
  readonly onMessage: (m: unknown) => void;
}

/** Task t's call. */
export function callAt(b: Batch, t: number): Call {
  return b.call ?? b.runs![t]!;
}

/** Task t's input index in its call. */
export function indexAt(b: Batch, t: number): number {
  return b.call === undefined ? 0 : b.start + t;
}

/** The distinct calls of a batch. */
export function callsOf(b: Batch): Iterable<Call> {
  return b.call !== undefined ? [b.call] : new Set(b.runs);
}

/** Whether a member may be given work at all. */
export function usable(m: Member): boolean {
  return !m.retiring && m.abandoned === 0;
}

/** Inputs per segment of a call's inputs (pool.ts MAX_BATCH: a full batch of an aligned map is one segment). */
export const SEGMENT = 4096;

/** A copy of `inputs` in segments of SEGMENT (an array by slices; any other iterable read once, in order). */
export function segmentsOf(inputs: Iterable<unknown>): unknown[][] {
  const segments: unknown[][] = [];
  if (Array.isArray(inputs)) {
    for (let i = 0; i < inputs.length; i += SEGMENT) segments.push(inputs.slice(i, i + SEGMENT));
    return segments;
  }
  let seg: unknown[] = [];
  for (const x of inputs) {
    if (seg.length === SEGMENT) {
      segments.push(seg);
      seg = [];
    }
    seg.push(x);
  }
  if (seg.length > 0) segments.push(seg);
  return segments;
}

/** Per segment of a map's `segments`, how many inputs it holds (Call.unanswered's start). */
export function unansweredOf(segments: readonly (readonly unknown[])[]): Uint16Array {
  return Uint16Array.from(segments, (s) => s.length);
}

/** Inputs [from, from + count) of a call have been answered: a segment with none left unanswered is dropped. */
export function answeredInputs(call: Call, from: number, count: number): void {
  const left = call.unanswered;
  if (left === undefined) return;
  const end = from + count;
  for (let i = from; i < end; ) {
    const k = Math.floor(i / SEGMENT);
    const take = Math.min((k + 1) * SEGMENT, end) - i;
    if ((left[k] -= take) === 0) call.inputs[k] = undefined;
    i += take;
  }
}

/**
 * Inputs [from, from + count) of a call, as one array to post: a whole segment is returned as it is (the post
 * copies it), a range inside one segment is sliced, a range across segments joined from slices.
 */
export function rangeOf(call: Call, from: number, count: number): readonly unknown[] {
  const end = from + count;
  let k = Math.floor(from / SEGMENT);
  const off = from - k * SEGMENT;
  const seg = call.inputs[k]!;
  if (off === 0 && count === seg.length) return seg;
  if (off + count <= seg.length) return seg.slice(off, off + count);
  const parts: (readonly unknown[])[] = [];
  for (let i = from; i < end; k++) {
    const o = i - k * SEGMENT;
    const take = Math.min(SEGMENT - o, end - i);
    parts.push(call.inputs[k]!.slice(o, o + take));
    i += take;
  }
  return parts[0]!.concat(...parts.slice(1));
}
