/**
 * The registrant side of a supervisor: registers workers (registration.ts), asks for stops (terminate sets
 * TERM, then wakes the supervisor thread), runs scopes, shuts down, takes over when the supervisor thread dies
 * (takeover.ts), and applies what the supervisor and the workers report — from its mailbox port, drained synchronously by checkForInterrupts() when the thread's interrupt
 * counter moved, and asynchronously otherwise. It never starts or stops a worker itself (G2).
 *
 * Keep-alive: the supervisor thread is ref'd only while a worker holds a slot or a shutdown runs, so an idle
 * supervisor does not keep the process alive (shutdown() is still the way to release it deterministically).
 *
 * What the registrant learns becomes one event on the lifecycle stream (`events`, registrant/events.ts): the
 * registry's counters, the lifecycle log (lifecycle-log.ts) and precious-death handling (precious.ts) are its
 * subscribers; core keeps only the engine's own state (the records, the roots, keep-alive, the handles).
 * A report for a (slot, gen) with no record is ignored: records leave only at 'stopped' (invariant 1). Worker
 * log lines ('log') go to worker-log.ts.
 *
 * Why ~340 lines: the mailbox's handling (#apply, #stopped) turns each report into state changes on core's own
 * private fields (the ready and shutdown promises, keep-alive) plus one event; the lifecycle of the supervisor
 * thread itself (start, shutdown, death) shares those fields; and core is the scopes' registrar (register,
 * pool, spawn, shutdown by filter), each a few lines that check `closed` and delegate (registration.ts,
 * pool/, task/registry.ts, filtered-shutdown.ts).
 *
 * Invariants:
 * 1. A record leaves the registry exactly when its 'stopped' message is applied; the slot is already free then.
 * 2. A precious death is applied once per record, by whichever path reports it first (the worker's own death
 *    report or the supervisor's 'stopped'), and before that worker's 'worker-stopped' (precious.ts).
 * 3. Nothing is registered once `closed` is set, and `closed` is set before the shutdown request is posted.
 */
import { MessageChannel, Worker, receiveMessageOnPort, SHARE_ENV, type MessagePort } from 'node:worker_threads';
import { pino, type Logger } from 'pino';
import { RelayChannel } from '../channel.js';
import { RestartIntensityError, SupervisorClosedError, SupervisorDiedError, SupervisorShutdownError, WorkerCapacityError } from '../errors.js';
import { WorkerHandle } from '../handle.js';
import type { ResolvedSupervisorOptions, ScopedWorkerSpec } from '../options.js';
import type { WorkerRecord } from '../record.js';
import { isDeath, type WorkerExit } from '../shared/exit.js';
import { addInterruptSource, removeInterruptSource, threadWords, type InterruptSource } from '../scope/interrupts.js';
import type { ScopeNode, ScopeState } from '../scope/node.js';
import type { ScopeHost } from '../scope/run.js';
import { SlotTable, wordsRef } from '../shared/layout.js';
import { reviveError, type MailboxMessage, type SerializedExit, type SupervisorInit } from '../shared/protocol.js';
import type { Supervisor } from './client.js';
import { validatePoolOptions, type PoolOptions } from '../pool/options.js';
import { PoolCore } from '../pool/pool.js';
import { ScopedPool } from '../pool/scoped-pool.js';
import { Registry, type WorkerFilter } from './registry.js';
import { Registration, tryRegisterWorker } from './registration.js';
import { takeOver } from './takeover.js';
import { poisonOnWorkerEnd } from '../poison/shared-poison.js';
import type { SpawnOptions, SpawnedTask, TaskHandle } from '../task/task.js';
import { TaskRegistry } from '../task/registry.js';
import { stopWorkers, validateFilteredShutdownOptions } from './filtered-shutdown.js';
import { clearThreadLogger, setThreadLogger } from '../shared/thread-logger.js';
import { threadExecArgv } from '../shared/exec-argv.js';
import { LifecycleEvents, type LifecycleEvent } from './events.js';
import { logLifecycle } from './lifecycle-log.js';
import { publishLifecycle } from './diagnostics.js';
import { SignalHandlers } from './signals.js';
import { PreciousDeaths } from './precious.js';
import { forwardWorkerLog } from './worker-log.js';

const THREAD_URL = new URL('../supervisor/thread.js', import.meta.url);

export class SupervisorCore implements InterruptSource, ScopeHost {
  readonly supervisor: Supervisor;
  readonly table: SlotTable;
  readonly registry: Registry;
  readonly options: ResolvedSupervisorOptions;
  readonly logger: Logger | undefined;
  /** The lifecycle event stream: `core.events.subscribe(fn)` adds a subscriber. */
  readonly events: LifecycleEvents;
  closed = false;
  readonly #thread: Worker;
  readonly #mailbox: MessagePort;
  readonly #roots = new Set<ScopeNode>();
  readonly #precious: PreciousDeaths;
  /** In-thread tasks that have not stopped (supervisor.tasks(), shutdownTasks()). */
  readonly tasks = new TaskRegistry();
  readonly #registration: Registration;
  #signals: SignalHandlers | undefined;
  #ready: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  #shutdown: Promise<void> | undefined;
  #shutdownDone: (() => void) | undefined;
  /** 'shutdown-done' arrived: the thread's exit that follows is the normal end, not a death. */
  #finished = false;
  #dead = false;
  #threadExited: Promise<void>;
  #threadGone = false;
  #refd = false;

  constructor(supervisor: Supervisor, options: ResolvedSupervisorOptions) {
    this.supervisor = supervisor;
    this.options = options;
    this.logger = options.logger === false ? undefined : (options.logger ?? pino({ level: 'warn' }, pino.destination({ fd: 2, sync: true })));
    this.table = SlotTable.create(options.maxWorkers);
    this.registry = new Registry(this.table);
    this.events = new LifecycleEvents((err, e) => this.#subscriberFailed(err, e));
    this.events.subscribe((e) => this.registry.observe(e));
    this.events.subscribe(logLifecycle);
    this.events.subscribe(publishLifecycle);
    this.events.subscribe(poisonOnWorkerEnd);
    this.#precious = new PreciousDeaths(this.events);
    const { port1, port2 } = new MessageChannel();
    this.#mailbox = port1;
    const init: SupervisorInit = {
      table: this.table.buffer,
      registrant: wordsRef(threadWords()),
      mailbox: port2,
      spareWorkers: options.spareWorkers,
      gracefulTimeoutMs: options.gracefulTimeoutMs,
      logLevel: this.logger?.level ?? 'silent',
      watchSignals: options.handleSignals?.busy === true ? options.handleSignals.shutdown : [],
      childIgnoredSignals: options.handleSignals?.shutdown ?? [],
    };
    this.#thread = new Worker(THREAD_URL, { workerData: init, transferList: [port2], env: SHARE_ENV, name: 'bgworkers-supervisor', execArgv: threadExecArgv(process.execArgv) });
    this.#threadExited = new Promise((resolve) => this.#thread.once('exit', () => resolve()));
    this.#thread.on('error', (err) => this.#died(err));
    this.#thread.once('exit', (code) => {
      this.#threadGone = true;
      this.#died(new Error(`supervisor thread exited with code ${code}`));
    });
    this.#registration = new Registration({
      table: this.table,
      options,
      logger: this.logger,
      post: (request, transfer) => this.#thread.postMessage(request, transfer),
      wake: (slot, gen) => this.#wake(slot, gen),
      stopping: (worker) => this.events.emit({ type: 'worker-stopping', worker }),
    });
    this.#mailbox.on('message', (m: MailboxMessage) => this.#apply(m));
    this.#mailbox.unref();
    addInterruptSource(this);
    setThreadLogger(this, () => this.logger);
    if (options.handleSignals !== undefined) {
      this.#signals = new SignalHandlers(options.handleSignals, {
        logger: this.logger,
        shutdown: (reason) => {
          for (const node of [...this.#roots].reverse()) node.abort(reason);
          return this.shutdown(this.options.gracefulTimeoutMs);
        },
        force: () => this.#forceAll(),
        relay: (sig) => this.relay(sig),
        metrics: () => ({
          ...this.registry.metrics(),
          tasks: this.tasks.list(undefined).length,
          usage: this.registry.list().map((w) => ({ id: w.id, name: w.name, state: w.state, runtime: w.runtime, elu: w.elu, cpuMs: w.cpuMs })),
        }),
      });
    }
  }

  /** relaySignal(): every running worker gets `sig` once (the supervisor thread knows which ones run). */
  relay(sig: NodeJS.Signals): void {
    if (this.closed || this.#threadGone) return;
    this.#thread.postMessage({ t: 'relay', signal: sig });
  }

  /** A second shutdown signal: every worker's grace cut to 0 (the loop only ever brings a forced stop forward). */
  #forceAll(): void {
    if (!this.#threadGone) this.#thread.postMessage({ t: 'shutdown', timeoutMs: 0 });
  }

  /** Resolves once the supervisor thread is ready (it posts 'ready' after loading). */
  ready(): Promise<void> {
    this.#keepAlive(true);
    return new Promise<void>((resolve, reject) => (this.#ready = { resolve, reject })).finally(() => this.#updateKeepAlive());
  }

  /** Registers a worker in `node` (undefined: unscoped); throws WorkerCapacityError when no slot is free. */
  registerIn<D, R>(node: ScopeNode | undefined, spec: ScopedWorkerSpec<D>): WorkerHandle<R> {
    const handle = this.tryRegisterIn<D, R>(node, spec);
    if (handle === undefined) throw new WorkerCapacityError(this.table.size);
    return handle;
  }

  /** Like registerIn(), but undefined when no slot is free. */
  tryRegisterIn<D, R>(node: ScopeNode | undefined, spec: ScopedWorkerSpec<D>): WorkerHandle<R> | undefined {
    if (this.closed) throw new SupervisorClosedError('register');
    const record = tryRegisterWorker(this.#registration, node, spec);
    if (record === undefined) return undefined;
    this.registry.add(record);
    node?.members.add(record);
    this.#updateKeepAlive();
    this.events.emit({ type: 'worker-registered', worker: record });
    return new WorkerHandle<R>(record);
  }

  spawnIn<T>(node: ScopeNode, fn: (task: SpawnedTask) => T | PromiseLike<T>, options: SpawnOptions | undefined): TaskHandle<T> {
    if (this.closed) throw new SupervisorClosedError('spawn');
    return this.tasks.spawn(node, fn, options);
  }

  createPool<I, O>(node: ScopeNode, options: PoolOptions): ScopedPool<I, O> {
    if (this.closed) throw new SupervisorClosedError('pool');
    const o = validatePoolOptions(options);
    node.assertActive('pool');
    const core = new PoolCore(o, node, { register: (spec) => this.registerIn(node, spec), tryRegister: (spec) => this.tryRegisterIn(node, spec) });
    node.members.add(core); // after its workers: teardown (reverse order) closes the pool before stopping them
    return new ScopedPool<I, O>(core);
  }

  #wake(slot: number, gen: number): void {
    if (this.#threadGone) return;
    this.#thread.postMessage({ t: 'terminate', slot, gen });
  }

  /** G14 (filtered-shutdown.ts): what matches now, stopped at once. */
  shutdownWorkers(filter: WorkerFilter, options: unknown): Promise<WorkerExit[]> {
    const o = validateFilteredShutdownOptions(options);
    return stopWorkers(this.registry.matching(filter), o, this.logger, (r) => this.forceStop(r));
  }


  /** Stops a worker whose termination was requested by force now (its grace cut to 0). */
  forceStop(r: WorkerRecord): void {
    if (this.#threadGone) return;
    r.requestTermination();
    this.#thread.postMessage({ t: 'terminate', slot: r.slot, gen: r.gen, graceMs: 0 });
  }

  scopeStarted(node: ScopeNode): void {
    if (node.parent === undefined) this.#roots.add(node);
    this.events.emit({ type: 'scope-opened', scope: node });
  }

  scopeMoved(scope: ScopeNode, to: ScopeState, reason: unknown): void {
    if (to === 'aborting' || to === 'aborted') this.events.emit({ type: `scope-${to}`, scope, reason });
    else if (to !== 'active') this.events.emit({ type: `scope-${to}`, scope });
  }

  scopeSettled(node: ScopeNode): void {
    this.#roots.delete(node);
  }

  /** The slow path of checkForInterrupts(): drain the mailbox, then the precious workers' own death reports. */
  drainInterrupts(): void {
    for (;;) {
      const m = receiveMessageOnPort(this.#mailbox);
      if (m === undefined) break;
      this.#apply(m.message as MailboxMessage);
    }
    this.#precious.poll();
  }

  #apply(m: MailboxMessage): void {
    switch (m.t) {
      case 'ready':
        this.#ready?.resolve();
        return;
      case 'started': {
        const r = this.registry.get(m.slot, m.gen);
        if (r === undefined) return;
        r.markStarted(m.threadId, m.pid, m.startedAt);
        this.events.emit({ type: 'worker-started', worker: r, threadId: m.threadId, pid: m.pid });
        return;
      }
      case 'port': {
        const r = this.registry.get(m.slot, m.gen);
        if (r !== undefined && r.port instanceof RelayChannel) r.port.attach(m.port);
        else m.port.close();
        return;
      }
      case 'restarting': {
        const r = this.registry.get(m.slot, m.gen);
        if (r === undefined) return;
        if (r.port instanceof RelayChannel) r.port.detach();
        this.events.emit({ type: 'worker-restarting', worker: r, exit: reviveExit(m.exit), delayMs: m.delayMs, threadId: m.threadId });
        return;
      }
      case 'stopped': {
        const r = this.registry.get(m.slot, m.gen);
        const exit = reviveExit(m.exit);
        if (m.gaveUp !== undefined && r !== undefined) exit.error = new RestartIntensityError(r.ref, m.gaveUp.restarts, m.gaveUp.withinMs, exit.error);
        this.#stopped(m.slot, m.gen, exit, m.forced, m.requested, m.threadId, m.endedAt);
        return;
      }
      case 'log': {
        const r = this.registry.get(m.slot, m.gen);
        if (r !== undefined) forwardWorkerLog(r, m.line);
        return;
      }
      case 'signal':
        this.#signals?.seenByWatcher(m.signal);
        return;
      case 'shutdown-done':
        this.#finished = true;
        this.#shutdownDone?.();
        return;
    }
  }

  /** `threadId`: the ended run's thread worker (0: none, or a process worker). */
  #stopped(slot: number, gen: number, exit: WorkerExit, forced: boolean, requested: boolean, threadId: number, endedAt: number): void {
    const r = this.registry.get(slot, gen);
    if (r === undefined) return;
    this.registry.remove(r);
    if (r.port instanceof RelayChannel) r.port.close();
    if (r.precious && isDeath(exit.reason)) this.#precious.died(r, exit, endedAt); // invariant 2
    this.events.emit({ type: 'worker-stopped', worker: r, exit, forced, requested, threadId });
    r.markStopped(exit);
    this.#updateKeepAlive();
  }

  /** Delivery rule 3 of events.ts: a subscriber threw; the engine goes on. Never throws. */
  #subscriberFailed(err: unknown, e: LifecycleEvent): void {
    try {
      if (this.logger !== undefined) this.logger.error({ err, event: e.type }, 'lifecycle event subscriber threw');
      else process.emitWarning(`bgworkers: a lifecycle event subscriber threw on ${e.type}: ${String(err)}`);
    } catch {
      // a logger that throws too: nothing more can be said
    }
  }

  shutdown(timeoutMs: number): Promise<void> {
    this.#shutdown ??= this.#doShutdown(timeoutMs);
    return this.#shutdown;
  }

  async #doShutdown(timeoutMs: number): Promise<void> {
    this.closed = true; // invariant 3
    this.#keepAlive(true);
    const reason = new SupervisorShutdownError();
    for (const node of [...this.#roots].reverse()) node.abort(reason);
    if (!this.#threadGone) {
      const done = new Promise<void>((resolve) => (this.#shutdownDone = resolve));
      this.#thread.postMessage({ t: 'shutdown', timeoutMs });
      await Promise.race([done, this.#threadExited]);
      this.drainInterrupts(); // every 'stopped' was posted before 'shutdown-done'
    }
    await this.#threadExited;
    this.#release();
  }

  /** The supervisor thread died (not by our shutdown): abort everything; its workers died with it. */
  #died(cause: unknown): void {
    if (this.#dead || this.#finished) return;
    // Stops it reported before dying are real stops; and the thread's 'exit' can be seen before the mailbox's
    // 'shutdown-done', which makes this exit the normal end of a shutdown, not a death.
    this.drainInterrupts();
    if (this.#finished) return;
    this.#dead = true;
    this.closed = true;
    const reason = new SupervisorDiedError(cause);
    this.logger?.error({ err: cause }, 'supervisor thread died');
    this.#ready?.reject(reason);
    for (const node of [...this.#roots].reverse()) node.abort(reason);
    takeOver(this.table, [...this.registry.all()], reason, (r, exit) => this.#stopped(r.slot, r.gen, exit, false, false, r.threadId ?? 0, performance.timeOrigin + performance.now()));
    this.#shutdownDone?.();
    this.#release();
  }

  /** @internal Fault injection for tests: kills the supervisor thread as a crash would. */
  killThread(): Promise<number> {
    return this.#thread.terminate();
  }

  #release(): void {
    this.#signals?.remove();
    removeInterruptSource(this);
    clearThreadLogger(this);
    this.#mailbox.close();
    this.#keepAlive(false);
  }

  #updateKeepAlive(): void {
    this.#keepAlive(this.registry.size > 0 || this.#shutdown !== undefined && !this.#threadGone);
  }

  #keepAlive(on: boolean): void {
    if (on === this.#refd || this.#threadGone) return;
    this.#refd = on;
    if (on) this.#thread.ref();
    else this.#thread.unref();
  }
}

function reviveExit(e: SerializedExit): WorkerExit {
  const exit: WorkerExit = { reason: e.reason, code: e.code, signal: e.signal };
  if (e.error !== undefined) exit.error = reviveError(e.error);
  if (e.reason === 'completed') exit.result = e.result;
  return exit;
}
