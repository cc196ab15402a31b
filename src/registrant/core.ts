/**
 * The registrant side of a supervisor: registers workers (registration.ts), asks for stops (terminate sets
 * TERM, then wakes the supervisor thread), runs scopes, shuts down, takes over when the supervisor thread dies
 * (takeover.ts), and applies what the supervisor and the workers report — from its mailbox port, drained synchronously by checkForInterrupts() when the thread's interrupt
 * counter moved, and asynchronously otherwise. It never starts or stops a worker itself (G2).
 *
 * Keep-alive: the supervisor thread is ref'd only while a worker holds a slot or a shutdown runs, so an idle
 * supervisor does not keep the process alive (shutdown() is still the way to release it deterministically).
 *
 * Why ~290 lines: what remains besides the facade's plumbing is the handling of the supervisor's reports (#apply,
 * #stopped, #preciousDeath), which is to become one lifecycle event stream (registrant/events.ts) that the
 * registry, the logger and precious-death handling subscribe to; until then it stays here, in one place.
 *
 * Invariants:
 * 1. A record leaves the registry exactly when its 'stopped' message is applied; the slot is already free then.
 * 2. A precious death is applied once per record, by whichever path reports it first (the worker's own death
 *    report or the supervisor's 'stopped').
 * 3. Nothing is registered once `closed` is set, and `closed` is set before the shutdown request is posted.
 */
import { MessageChannel, Worker, receiveMessageOnPort, SHARE_ENV, type MessagePort } from 'node:worker_threads';
import { pino, type Logger } from 'pino';
import { RelayChannel } from '../channel.js';
import { PreciousWorkerDiedError, SupervisorClosedError, SupervisorDiedError, SupervisorShutdownError } from '../errors.js';
import { WorkerHandle } from '../handle.js';
import type { ResolvedSupervisorOptions, ScopedWorkerSpec } from '../options.js';
import { WorkerRecord, type WorkerExit } from '../record.js';
import { addInterruptSource, removeInterruptSource, threadWords, type InterruptSource } from '../scope/interrupts.js';
import type { ScopeNode } from '../scope/node.js';
import type { ScopeHost } from '../scope/run.js';
import { SlotTable, wordsRef } from '../shared/layout.js';
import { reviveError, type DeathReport, type MailboxMessage, type SerializedExit, type SupervisorInit } from '../shared/protocol.js';
import { O_CRASHED, O_FAILED, outcomeOf } from '../shared/slots.js';
import type { Supervisor } from './client.js';
import { validatePoolOptions, type PoolOptions } from '../pool/options.js';
import { PoolCore } from '../pool/pool.js';
import { ScopedPool } from '../pool/scoped-pool.js';
import { Registry } from './registry.js';
import { Registration, registerWorker } from './registration.js';
import { takeOver } from './takeover.js';

const THREAD_URL = new URL('../supervisor/thread.js', import.meta.url);

export class SupervisorCore implements InterruptSource, ScopeHost {
  readonly supervisor: Supervisor;
  readonly table: SlotTable;
  readonly registry: Registry;
  readonly options: ResolvedSupervisorOptions;
  readonly logger: Logger | undefined;
  closed = false;
  readonly #thread: Worker;
  readonly #mailbox: MessagePort;
  readonly #roots = new Set<ScopeNode>();
  readonly #precious = new Set<WorkerRecord>();
  readonly #registration: Registration;
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
    const { port1, port2 } = new MessageChannel();
    this.#mailbox = port1;
    const init: SupervisorInit = {
      table: this.table.buffer,
      registrant: wordsRef(threadWords()),
      mailbox: port2,
      spareWorkers: options.spareWorkers,
      gracefulTimeoutMs: options.gracefulTimeoutMs,
      logLevel: this.logger?.level ?? 'silent',
    };
    this.#thread = new Worker(THREAD_URL, { workerData: init, transferList: [port2], env: SHARE_ENV, name: 'bgworkers-supervisor' });
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
    });
    this.#mailbox.on('message', (m: MailboxMessage) => this.#apply(m));
    this.#mailbox.unref();
    addInterruptSource(this);
  }

  /** Resolves once the supervisor thread is ready (it posts 'ready' after loading). */
  ready(): Promise<void> {
    this.#keepAlive(true);
    return new Promise<void>((resolve, reject) => (this.#ready = { resolve, reject })).finally(() => this.#updateKeepAlive());
  }

  registerIn<D, R>(node: ScopeNode | undefined, spec: ScopedWorkerSpec<D>, throwOnFull: boolean): WorkerHandle<R> | undefined {
    if (this.closed) throw new SupervisorClosedError('register');
    const record = registerWorker(this.#registration, node, spec, throwOnFull);
    if (record === undefined) return undefined;
    this.registry.add(record);
    if (record.precious) this.#precious.add(record);
    node?.members.push(record);
    this.#updateKeepAlive();
    return new WorkerHandle<R>(record);
  }

  createPool<I, O>(node: ScopeNode, options: PoolOptions): ScopedPool<I, O> {
    if (this.closed) throw new SupervisorClosedError('pool');
    const o = validatePoolOptions(options);
    node.assertActive('pool');
    const core = new PoolCore(o, node, (spec, throwOnFull) => this.registerIn(node, spec, throwOnFull));
    node.members.push(core); // after its workers: teardown (reverse order) closes the pool before stopping them
    return new ScopedPool<I, O>(core);
  }

  #wake(slot: number, gen: number): void {
    if (this.#threadGone) return;
    this.#thread.postMessage({ t: 'terminate', slot, gen });
  }

  scopeStarted(node: ScopeNode): void {
    if (node.parent === undefined) this.#roots.add(node);
    this.registry.scopes.active++;
  }

  scopeSettled(node: ScopeNode, committed: boolean): void {
    this.#roots.delete(node);
    this.registry.scopes.active--;
    if (committed) this.registry.scopes.committed++;
    else this.registry.scopes.aborted++;
  }

  /** The slow path of checkForInterrupts(): drain the mailbox, then the precious workers' own death reports. */
  drainInterrupts(): void {
    for (;;) {
      const m = receiveMessageOnPort(this.#mailbox);
      if (m === undefined) break;
      this.#apply(m.message as MailboxMessage);
    }
    for (const r of this.#precious) {
      if (r.deathHandled || r.controlPort === undefined) continue;
      const w = r.ctrl();
      if (w === undefined) continue;
      const o = outcomeOf(w);
      if (o !== O_FAILED && o !== O_CRASHED) continue;
      const m = receiveMessageOnPort(r.controlPort);
      if (m === undefined) continue; // the report is posted before the counter moves again: next time
      const d = m.message as DeathReport;
      this.#preciousDeath(r, { reason: d.reason, code: d.code, signal: null, ...(d.error ? { error: reviveError(d.error) } : {}) });
    }
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
        r.logger?.info(m.pid ? { pid: m.pid } : { threadId: m.threadId }, 'worker started');
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
        this.registry.exits[m.exit.reason]++;
        if (r === undefined) return;
        if (r.port instanceof RelayChannel) r.port.detach();
        r.logger?.warn({ reason: m.exit.reason, code: m.exit.code, err: m.exit.error, delayMs: m.delayMs }, 'worker stopped; restarting');
        return;
      }
      case 'stopped':
        this.#stopped(m.slot, m.gen, reviveExit(m.exit), m.forced, m.requested);
        return;
      case 'shutdown-done':
        this.#finished = true;
        this.#shutdownDone?.();
        return;
    }
  }

  #stopped(slot: number, gen: number, exit: WorkerExit, forced: boolean, requested: boolean): void {
    const r = this.registry.get(slot, gen);
    this.registry.exits[exit.reason]++;
    this.registry.stopped++;
    if (forced) this.registry.terminations.forced++;
    else if (requested && exit.reason !== 'never-started') this.registry.terminations.graceful++;
    if (r === undefined) return;
    this.registry.remove(r);
    this.#precious.delete(r);
    if (r.port instanceof RelayChannel) r.port.close();
    const log = { reason: exit.reason, code: exit.code, ...(exit.error ? { err: exit.error } : {}) };
    if (forced) r.logger?.warn(log, 'worker did not stop within its graceful timeout; stopped by force');
    if (exit.reason === 'failed' || exit.reason === 'crashed') r.logger?.warn(log, 'worker stopped');
    else r.logger?.info(log, 'worker stopped');
    if (r.precious && (exit.reason === 'failed' || exit.reason === 'crashed')) this.#preciousDeath(r, exit);
    r.markStopped(exit);
    this.#updateKeepAlive();
  }

  /** G4: a precious worker failed or crashed — abort its registering scope (invariant 2: once). */
  #preciousDeath(r: WorkerRecord, exit: WorkerExit): void {
    if (r.deathHandled) return;
    r.deathHandled = true;
    this.registry.preciousDeaths++;
    const err = new PreciousWorkerDiedError(r.ref, exit);
    r.logger?.error({ reason: exit.reason, code: exit.code, err: exit.error, scope: r.scope?.id }, 'precious worker died; aborting its scope');
    r.scope?.abort(err);
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
    this.#dead = true;
    this.closed = true;
    const reason = new SupervisorDiedError(cause);
    this.logger?.error({ err: cause }, 'supervisor thread died');
    this.#ready?.reject(reason);
    this.drainInterrupts(); // stops it reported before dying are real stops
    for (const node of [...this.#roots].reverse()) node.abort(reason);
    takeOver(this.table, [...this.registry.all()], reason, (r, exit) => this.#stopped(r.slot, r.gen, exit, false, false));
    this.#shutdownDone?.();
    this.#release();
  }

  /** @internal Fault injection for tests: kills the supervisor thread as a crash would. */
  killThread(): Promise<number> {
    return this.#thread.terminate();
  }

  #release(): void {
    removeInterruptSource(this);
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
