/**
 * What the supervisor loop (loop.ts) sees of a started worker, whatever its runtime: events in, stop requests
 * out. A runtime (runtimes/thread.ts, runtimes/process.ts) turns its own transport into these.
 */
import type { MessagePort, ResourceLimits } from 'node:worker_threads';
import type { RegisterRequest, SerializedError, WorkerReport } from '../shared/protocol.js';
import type { SlotTable, ThreadWords } from '../shared/layout.js';

export interface RunnerEvents {
  /** 'running', then at most one 'outcome' (the outcome word is already written when it arrives). */
  report(m: WorkerReport): void;
  /** The runtime's own error (uncaught exception, out of memory, spawn failure): details for the exit. */
  error(e: SerializedError): void;
  /** The worker is gone: its thread ended or its process was reaped. */
  exit(code: number | null, signal: string | null): void;
}

export interface Runner {
  /** The worker thread's id; 0 for a process. */
  readonly threadId: number;
  /** The child's pid; 0 for a thread. */
  readonly pid: number;
  /**
   * Relays a termination request through the runtime's own channel. Thread workers already got it through shared
   * memory (TERM, interrupt word, latch), so this is a no-op for them.
   */
  requestStop(): void;
  /** Stops the worker now (thread terminate, SIGKILL). */
  forceStop(): void;
  /** Relays a signal: a 'signal' message to a thread (its ctx.onSignal listeners), the real signal to a process. */
  signal(sig: NodeJS.Signals): void;
  /** Resource use of this run so far, each NaN where the runtime cannot tell (usage-sampler.ts). */
  usage(): { elu: number; cpuMs: number };
}

/** Everything a runtime needs to start one run. */
export interface StartInfo {
  request: RegisterRequest;
  table: SlotTable;
  registrant: ThreadWords;
  logLevel: string;
  /** The worker's end of handle.port for this run. */
  userPort: MessagePort;
  controlPort: MessagePort | undefined;
  resourceLimits: ResourceLimits | undefined;
}

/** A runtime's start function: starts one run's worker and turns its transport into `events`. May throw. */
export type StartRunner = (info: StartInfo, events: RunnerEvents) => Runner;

/** The runtimes the supervisor loop starts workers with (runtimes/thread.ts, runtimes/process.ts). */
export interface Runtimes {
  thread: StartRunner;
  process: StartRunner;
  /** Stops whatever the runtimes keep besides runs (spare threads). Resolves when that is gone. */
  close(): Promise<void>;
}
