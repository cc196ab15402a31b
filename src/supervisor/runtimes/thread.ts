/**
 * The thread runtime: starts worker threads for the supervisor thread, fresh or from a pool of spares (threads
 * with the bootstrap loaded and no entry imported, waiting for an assignment). Only the supervisor thread uses
 * this module.
 *
 * Workers share the process environment (SHARE_ENV): a thread started from the supervisor thread would
 * otherwise get a copy of the supervisor's environment as of its start, not the registrant's `process.env`.
 * They inherit execArgv (so a TypeScript loader given to the registrant applies to .ts entries).
 */
import { SHARE_ENV, Worker, type Transferable } from 'node:worker_threads';
import { OS_TID, wordsRef } from '../../shared/layout.js';
import { threadCpuMs } from '../../shared/usage.js';
import type { Assignment, SpareInit } from '../../shared/protocol.js';
import { isReport, serializeError } from '../../shared/protocol.js';
import type { Runner, RunnerEvents, StartInfo } from '../runner.js';

const BOOTSTRAP_URL = new URL('../../worker/bootstrap.js', import.meta.url);

export class ThreadRuntime {
  readonly #spares: Worker[] = [];
  readonly #target: number;
  #closed = false;

  constructor(spareWorkers: number) {
    this.#target = spareWorkers;
    this.replenish();
  }

  /** Starts a thread for a run: a warm spare when one fits (no resourceLimits), a fresh thread otherwise. */
  start(info: StartInfo, events: RunnerEvents): Runner {
    const { request: req } = info;
    const assignment: Assignment = {
      t: 'assign',
      table: info.table.buffer,
      registrant: wordsRef(info.registrant),
      nonce: req.nonce,
      slot: req.slot,
      gen: req.gen,
      id: req.id,
      name: req.name,
      entry: req.entry,
      data: req.data,
      precious: req.precious,
      logLevel: info.logLevel,
      userPort: info.userPort,
      controlPort: info.controlPort,
    };
    const transfer: Transferable[] = [info.userPort];
    if (info.controlPort) transfer.push(info.controlPort);
    const spare = info.resourceLimits === undefined ? this.#spares.shift() : undefined;
    let worker: Worker;
    if (spare !== undefined) {
      spare.removeAllListeners();
      spare.postMessage(assignment, transfer);
      worker = spare;
    } else {
      worker = new Worker(BOOTSTRAP_URL, {
        workerData: assignment,
        transferList: transfer,
        env: SHARE_ENV,
        name: req.name,
        ...(info.resourceLimits ? { resourceLimits: info.resourceLimits } : {}),
      });
    }
    // A used spare is replaced once its worker runs (or stops): starting the replacement right away would compete
    // for the CPU with the very start the spare is there to speed up (measured: ~2x slower warm starts on 2 cores).
    let replace = spare !== undefined;
    const replaceSpare = (): void => {
      if (!replace) return;
      replace = false;
      this.replenish();
    };
    worker.on('message', (m: unknown) => {
      if (!isReport(m, req.nonce)) return;
      events.report(m);
      if (m.t === 'running') replaceSpare();
    });
    worker.on('error', (err) => events.error(serializeError(err)));
    // A spare's idle time before this run is not the run's: utilisation is measured from here.
    const eluAtStart = worker.performance.eventLoopUtilization();
    worker.once('exit', (code) => {
      replaceSpare();
      events.exit(code, null);
    });
    return {
      threadId: worker.threadId,
      pid: 0,
      requestStop: () => {},
      forceStop: () => void worker.terminate(),
      signal: (sig) => worker.postMessage({ t: 'signal', signal: sig }),
      usage: () => ({
        elu: worker.performance.eventLoopUtilization(eluAtStart).utilization,
        cpuMs: threadCpuMs(info.table.f64[info.table.atF64(req.slot, OS_TID)]!),
      }),
    };
  }

  /** Starts spares until there are as many as configured. */
  replenish(): void {
    while (!this.#closed && this.#spares.length < this.#target) {
      const init: SpareInit = { t: 'spare' };
      const w = new Worker(BOOTSTRAP_URL, { workerData: init, env: SHARE_ENV, name: 'bgworkers-spare' });
      // A spare that dies unassigned (its bootstrap failed to load) is dropped, not retried in a loop: the next
      // start() uses a fresh thread, whose own failure is then classified and reported like any other. Its
      // 'error' needs a listener (an unheard 'error' would crash the supervisor thread); the exit says enough.
      w.on('error', () => {});
      w.once('exit', () => {
        const i = this.#spares.indexOf(w);
        if (i >= 0) this.#spares.splice(i, 1);
      });
      this.#spares.push(w);
    }
  }

  /** Stops every spare and starts no more. Resolves when they are gone. */
  async close(): Promise<void> {
    this.#closed = true;
    const spares = this.#spares.splice(0);
    await Promise.all(spares.map((w) => w.terminate()));
  }
}
