/**
 * The worker sequence, common to both runtimes: commit → import the entry → running → main(ctx) → outcome.
 * A WorkerHost supplies what differs: how the commit and the outcome reach the slot table (a CAS in shared
 * memory for threads; the supervisor over IPC for processes), the latches and the port.
 *
 * Invariant: the entry is imported only after `commit()` resolved true (slots.ts invariant 2), so a worker
 * terminated before it started runs no user code at all.
 */
import type { Logger } from 'pino';
import type { WorkerChannel } from '../channel.js';
import { TerminationRequestedError, invalidOption } from '../errors.js';
import type { Latch } from '../shared/latch.js';
import { checkForInterrupts } from '../scope/interrupts.js';
import { setThreadLogger } from '../shared/thread-logger.js';
import type { SignalListener } from '../shared/relay.js';
import { isWorkerDefinition, type WorkerContext } from './context.js';
import { nodeModule } from '../shared/builtins.js';

/** What the sequence needs to know about the worker it runs. */
export interface WorkerIdentity {
  id: string;
  name: string;
  entry: string;
  data: unknown;
  logLevel: string;
}

export interface WorkerHost {
  readonly identity: WorkerIdentity;
  readonly signal: AbortSignal;
  readonly latch: Latch;
  readonly registrantLatch: Latch;
  readonly port: WorkerChannel;
  /** Commits to running user code; false when termination was requested first (the worker then imports nothing). */
  commit(): boolean | Promise<boolean>;
  /** Ends the worker without having run any user code (never-started). */
  neverStarted(): Promise<never> | never;
  /**
   * The entry loaded: may main be called? False when termination was requested while the entry loaded (then
   * main is never called and the run ends `terminated`); true moves the slot to RUNNING.
   */
  running(): boolean | Promise<boolean>;
  /** main returned: report the result (throws if it cannot be cloned) and end the worker. */
  complete(result: unknown): Promise<never> | never;
  /** main threw, or the entry could not be loaded: report and end the worker. */
  fail(error: unknown): Promise<never> | never;
  /** Sends one line of ctx.logger to the registrant's logger (through the supervisor). */
  log(line: string): void;
  /** ctx.onSignal(): listens for signals relayed by the supervisor; returns the remover. */
  onSignal(listener: SignalListener): () => void;
}

export async function runWorker(host: WorkerHost): Promise<void> {
  if (!(await host.commit())) return host.neverStarted();
  let main: (ctx: WorkerContext) => unknown;
  try {
    const mod = (await import(host.identity.entry)) as { default?: unknown };
    if (!isWorkerDefinition(mod.default)) throw invalidOption('entry', 'a module whose default export is defineWorker(...)', host.identity.entry);
    main = mod.default.main;
  } catch (err) {
    return host.fail(err);
  }
  // Terminated while the entry was loading: main is never called (the run ends `terminated`).
  if (!(await host.running())) return host.fail(new TerminationRequestedError(host.identity.name));
  const { id, name, data } = host.identity;
  let logger: Logger | undefined;
  const ctx: WorkerContext = {
    id,
    name,
    data,
    latch: host.latch,
    registrantLatch: host.registrantLatch,
    port: host.port,
    signal: host.signal,
    get logger(): Logger {
      logger ??= createLogger(host);
      return logger;
    },
    checkForInterrupts,
    onSignal: (listener) => {
      if (typeof listener !== 'function') throw invalidOption('listener', 'a function', listener);
      return host.onSignal(listener);
    },
  };
  setThreadLogger(ctx, () => ctx.logger);
  let result: unknown;
  try {
    result = await main(ctx);
  } catch (err) {
    return host.fail(err);
  }
  try {
    return await host.complete(result);
  } catch (err) {
    // An uncloneable result: the run failed, and the outcome word must say so (complete() posts before it records).
    return host.fail(err);
  }
}

/**
 * ctx.logger: a pino logger at the registrant logger's level whose lines go to the registrant, which logs them
 * with its own logger and the worker's bindings (registrant/worker-log.ts). No base fields and no time here: the
 * registrant's logger adds its own, once. A call below the level is pino's no-op: nothing is serialized or sent.
 * pino is loaded on first use of ctx.logger only, to keep it off the start-up path.
 */
function createLogger(host: WorkerHost): Logger {
  const pino = nodeModule().createRequire(import.meta.url)('pino') as typeof import('pino');
  return pino.pino({ level: host.identity.logLevel, base: null, timestamp: false }, { write: (line: string) => host.log(line) });
}
