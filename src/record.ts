/**
 * WorkerRecord: the registrant's record of one registered worker — the engine behind a WorkerHandle and a
 * scope member. A record is (slot, generation): every shared-memory read checks the generation first, so a
 * stale record never reports, terminates or wakes another worker that reuses its slot (slots.ts invariant 4).
 *
 * Who moves it: the registrant thread only. Shared memory tells it the worker's live state; the supervisor's
 * mailbox messages (started, stopped) and the worker's own death report deliver what does not fit in a word.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { WorkerStartupError } from './errors.js';
import type { WorkerChannel } from './channel.js';
import { CTRL, INTERRUPT, LATCH, PID, THREAD_ID, type SlotTable } from './shared/layout.js';
import { SharedLatch, deliverInterrupt } from './shared/latch.js';
import { LineLatch } from './shared/control-line.js';
import { FREE, O_NONE, PENDING, RUNNING, STARTING, genOf, outcomeOf, requestTermination, stateOf, termRequested } from './shared/slots.js';
import type { ScopeNode, ScopeResource } from './scope/node.js';
import type { WorkerExit } from './shared/exit.js';

/** A worker's lifecycle state as users see it. */
export type WorkerState = 'pending' | 'starting' | 'running' | 'stopping' | 'stopped';

export interface RecordInit {
  table: SlotTable;
  slot: number;
  gen: number;
  id: string;
  name: string;
  /** The entry module's file: URL. */
  entry: string;
  kind: string | undefined;
  labels: Readonly<Record<string, string>>;
  runtime: 'thread' | 'process';
  ephemeral: boolean;
  precious: boolean;
  scope: ScopeNode | undefined;
  port: WorkerChannel;
  controlPort: MessagePort | undefined;
  logger: Logger | undefined;
  /** Tells the supervisor to act on a termination request (the request itself is the TERM bit). */
  wakeSupervisor: (slot: number, gen: number) => void;
  /** A termination request reached this worker while it was live (no outcome yet): the 'worker-stopping' event. */
  stopping: () => void;
  /** Whether an interrupt is pending for the calling thread (reported by waits on the handle's latch). */
  interrupted: () => boolean;
}

type Waiter<T> = { resolve: (v: T) => void; reject: (e: unknown) => void };

export class WorkerRecord implements ScopeResource {
  readonly table: SlotTable;
  readonly slot: number;
  readonly gen: number;
  readonly id: string;
  readonly name: string;
  readonly entry: string;
  readonly kind: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly runtime: 'thread' | 'process';
  readonly ephemeral: boolean;
  readonly precious: boolean;
  readonly scope: ScopeNode | undefined;
  readonly port: WorkerChannel;
  readonly controlPort: MessagePort | undefined;
  readonly logger: Logger | undefined;
  readonly latch: SharedLatch;
  readonly registeredAt = Date.now();
  readonly ref: { id: string; name: string };
  startedAt: number | undefined;
  /** Some run reached RUNNING (waitForStartup resolves, never rejects, from then on). */
  everRunning = false;
  /** A precious death has been acted on (by either path: the worker's report or the supervisor's). */
  deathHandled = false;
  exit: WorkerExit | undefined;
  readonly #ctrlAt: number;
  readonly #wakeSupervisor: (slot: number, gen: number) => void;
  readonly #stopping: () => void;
  readonly #startupWaiters: Waiter<void>[] = [];
  readonly #shutdownWaiters: Waiter<WorkerExit>[] = [];

  constructor(init: RecordInit) {
    this.table = init.table;
    this.slot = init.slot;
    this.gen = init.gen;
    this.id = init.id;
    this.name = init.name;
    this.entry = init.entry;
    this.kind = init.kind;
    this.labels = init.labels;
    this.runtime = init.runtime;
    this.ephemeral = init.ephemeral;
    this.precious = init.precious;
    this.scope = init.scope;
    this.port = init.port;
    this.controlPort = init.controlPort;
    this.logger = init.logger;
    this.ref = { id: init.id, name: init.name };
    this.#ctrlAt = init.table.at(init.slot, CTRL);
    this.#wakeSupervisor = init.wakeSupervisor;
    this.#stopping = init.stopping;
    const hooks = { alive: () => this.#current(), interrupted: init.interrupted };
    this.latch = init.runtime === 'process' ? new LineLatch(init.table, init.slot, init.gen, hooks) : new SharedLatch(init.table.i32, init.table.at(init.slot, LATCH), hooks);
  }

  /** The control word, or undefined once this record's run is over (stopped, or the slot was reused). */
  ctrl(): number | undefined {
    if (this.exit !== undefined) return undefined;
    const w = Atomics.load(this.table.i32, this.#ctrlAt);
    return genOf(w) === this.gen && stateOf(w) !== FREE ? w : undefined;
  }

  get state(): WorkerState {
    const w = this.ctrl();
    if (w === undefined) return 'stopped';
    if (termRequested(w) || outcomeOf(w) !== O_NONE) return 'stopping';
    switch (stateOf(w)) {
      case PENDING:
        return 'pending';
      case STARTING:
        return 'starting';
      case RUNNING:
        return 'running';
      default:
        return 'stopped';
    }
  }

  get threadId(): number | undefined {
    const w = this.ctrl();
    if (w === undefined || stateOf(w) === PENDING) return this.exit === undefined ? undefined : this.#lastThreadId;
    return (this.#lastThreadId = Atomics.load(this.table.i32, this.table.at(this.slot, THREAD_ID)) || undefined);
  }
  #lastThreadId: number | undefined;

  get pid(): number | undefined {
    const w = this.ctrl();
    if (w === undefined) return this.#lastPid;
    return (this.#lastPid = Atomics.load(this.table.i32, this.table.at(this.slot, PID)) || undefined);
  }
  #lastPid: number | undefined;

  isLive(): boolean {
    const w = this.ctrl();
    return w !== undefined && outcomeOf(w) === O_NONE;
  }

  /**
   * G2: sets TERM, interrupts the worker (signal, latch, checkForInterrupts), wakes the supervisor. Never throws.
   * A worker that already reported its outcome is exiting and will never wait again: it is not notified (a notify
   * racing a worker's teardown can crash Node 20; see interrupts.ts releaseWaits), and the supervisor is woken
   * after the caller's synchronous code, from a microtask. For such a worker TERM in its word is all that counts
   * (a restart it might be waiting for reads TERM before it starts: restart-policy.ts decideStart), and the wake
   * only makes the supervisor act sooner; made at once, it is a postMessage that wakes the supervisor thread,
   * which then competes for a core with the registrant on its way to the throw of a precious death (its scope's
   * teardown asks the dead worker to stop). Measured with process.exit deaths seen by a busy registrant (30 a run,
   * three runs): from the death report to the throw 0.29-0.33 ms at the median before, 0.19-0.22 ms after.
   */
  requestTermination(): void {
    const before = requestTermination(this.table.i32, this.#ctrlAt, this.gen);
    if (before === undefined) return;
    const slot = this.slot;
    const gen = this.gen;
    if (outcomeOf(before) !== O_NONE) {
      queueMicrotask(() => this.#wakeSupervisor(slot, gen));
      return;
    }
    deliverInterrupt(this.table.i32, this.table.at(slot, INTERRUPT), this.table.at(slot, LATCH));
    this.#wakeSupervisor(slot, gen);
    this.#stopping();
  }

  // ScopeResource: flagged workers close with their scope; a precious, non-ephemeral one still live blocks a commit.
  get closesWithScope(): boolean {
    return this.ephemeral || this.precious;
  }

  blocksCommit(): boolean {
    return this.precious && !this.ephemeral && this.isLive();
  }

  close(): void {
    this.requestTermination();
  }

  get closed(): Promise<WorkerExit> {
    return this.whenStopped();
  }

  whenStarted(): Promise<void> {
    if (this.everRunning || this.#reachedRunning()) return Promise.resolve();
    if (this.exit !== undefined) return Promise.reject(new WorkerStartupError(this.ref, this.exit));
    return new Promise((resolve, reject) => this.#startupWaiters.push({ resolve, reject }));
  }

  whenStopped(): Promise<WorkerExit> {
    if (this.exit !== undefined) return Promise.resolve(this.exit);
    return new Promise((resolve, reject) => this.#shutdownWaiters.push({ resolve, reject }));
  }

  /** Mailbox 'started': a run reached RUNNING. */
  markStarted(threadId: number, pid: number, startedAt: number): void {
    this.everRunning = true;
    this.startedAt = startedAt;
    this.#lastThreadId = threadId || undefined;
    this.#lastPid = pid || undefined;
    for (const w of this.#startupWaiters.splice(0)) w.resolve();
  }

  /** Mailbox 'stopped': the run is over and the slot already free. */
  markStopped(exit: WorkerExit): void {
    if (this.exit !== undefined) return;
    this.#lastThreadId = this.threadId;
    this.#lastPid = this.pid;
    this.exit = exit;
    this.controlPort?.close();
    for (const w of this.#startupWaiters.splice(0)) {
      if (this.everRunning) w.resolve();
      else w.reject(new WorkerStartupError(this.ref, exit));
    }
    for (const w of this.#shutdownWaiters.splice(0)) w.resolve(exit);
  }

  #current(): boolean {
    return this.ctrl() !== undefined;
  }

  #reachedRunning(): boolean {
    const w = this.ctrl();
    if (w !== undefined && stateOf(w) === RUNNING) this.everRunning = true;
    return this.everRunning;
  }
}
