/**
 * Opt-in process signal handling (issue 13.1, 13.4; G18): `SupervisorOptions.handleSignals`. Without it the
 * library installs no handler. With it, on the registrant's main thread:
 *
 * | signal                     | first time                                              | second time          |
 * |----------------------------|---------------------------------------------------------|----------------------|
 * | `shutdown` (SIGINT, SIGTERM) | abort every scope with ShutdownSignalError; shutdown() | every worker forced at once |
 * | `metrics` (SIGUSR2)        | one info line, msg 'metrics', with supervisor.metrics()  | the same; nothing else changes |
 *
 * | `relay` (SIGHUP)          | handed to every running worker (relaySignal)            | the same             |
 *
 * `exit: true`: after that shutdown, `process.exitCode = 128 + the signal's number` (130, 143), and the process ends
 * by itself when nothing else holds it. Every handler is removed when the supervisor shuts down (however it does).
 *
 * Not built yet (issue 13): delivering a signal to a registrant busy in synchronous code (Node runs a signal
 * handler only when the main thread's event loop turns).
 */
import { constants } from 'node:os';
import type { Logger } from 'pino';
import { ShutdownSignalError, invalidOption, unknownOption } from '../errors.js';
import { RELAYABLE } from '../shared/relay.js';

export interface HandleSignalsOptions {
  /** Graceful shutdown on the first, forced on the second. @default ['SIGINT', 'SIGTERM'] */
  shutdown?: NodeJS.Signals[];
  /** Logs one metrics line. `null`: none. @default 'SIGUSR2' */
  metrics?: NodeJS.Signals | null;
  /** `process.exitCode = 128 + signal number` after the shutdown. @default true */
  exit?: boolean;
  /** Handed to every running worker: thread workers' `ctx.onSignal`, process workers the real signal. @default ['SIGHUP'] */
  relay?: NodeJS.Signals[];
}

export interface ResolvedSignals {
  shutdown: NodeJS.Signals[];
  metrics: NodeJS.Signals | null;
  exit: boolean;
  relay: NodeJS.Signals[];
}

const KEYS = ['shutdown', 'metrics', 'exit', 'relay'] as const;
const DEFAULTS: ResolvedSignals = { shutdown: ['SIGINT', 'SIGTERM'], metrics: 'SIGUSR2', exit: true, relay: ['SIGHUP'] };

/** A signal `relaySignal()` can hand to workers (shared/relay.ts RELAYABLE). */
export function relayable(v: unknown, field: string): NodeJS.Signals {
  if (typeof v !== 'string' || !RELAYABLE.includes(v as NodeJS.Signals)) throw invalidOption(field, `one of ${RELAYABLE.join(', ')}`, v);
  return v as NodeJS.Signals;
}

function signalName(v: unknown, field: string): NodeJS.Signals {
  if (typeof v !== 'string' || !(v in constants.signals) || v === 'SIGKILL' || v === 'SIGSTOP') throw invalidOption(field, 'a signal name that can be handled (e.g. SIGTERM)', v);
  return v as NodeJS.Signals;
}

export function validateHandleSignals(v: unknown): ResolvedSignals | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return { ...DEFAULTS, shutdown: [...DEFAULTS.shutdown], relay: [...DEFAULTS.relay] };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidOption('handleSignals', 'a boolean or { shutdown?, metrics?, exit? }', v);
  for (const k of Object.keys(v)) if (!(KEYS as readonly string[]).includes(k)) throw unknownOption(`handleSignals.${k}`, 'handleSignals', KEYS);
  const o = v as Record<string, unknown>;
  const shutdown = o['shutdown'] === undefined ? [...DEFAULTS.shutdown] : o['shutdown'];
  if (!Array.isArray(shutdown)) throw invalidOption('handleSignals.shutdown', 'an array of signal names', shutdown);
  const metrics = o['metrics'] === undefined ? DEFAULTS.metrics : o['metrics'] === null ? null : signalName(o['metrics'], 'handleSignals.metrics');
  const exit = o['exit'] === undefined ? DEFAULTS.exit : o['exit'];
  if (typeof exit !== 'boolean') throw invalidOption('handleSignals.exit', 'a boolean', exit);
  const list = shutdown.map((s, i) => signalName(s, `handleSignals.shutdown[${i}]`));
  if (metrics !== null && list.includes(metrics)) throw invalidOption('handleSignals.metrics', 'a signal that is not also a shutdown signal', metrics);
  const relayRaw = o['relay'] === undefined ? [...DEFAULTS.relay] : o['relay'];
  if (!Array.isArray(relayRaw)) throw invalidOption('handleSignals.relay', 'an array of signal names', relayRaw);
  const relay = relayRaw.map((s, i) => relayable(s, `handleSignals.relay[${i}]`));
  if (metrics !== null && relay.includes(metrics)) throw invalidOption('handleSignals.metrics', 'a signal that is not also relayed', metrics);
  return { shutdown: list, metrics, exit, relay };
}

export interface SignalHooks {
  logger: Logger | undefined;
  /** The first shutdown signal: abort every scope with `reason`, then shut down; resolves when shut down. */
  shutdown(reason: ShutdownSignalError): Promise<void>;
  /** The second one: force every worker now. */
  force(): void;
  metrics(): Record<string, unknown>;
  /** A relay signal: hand it to every running worker. */
  relay(sig: NodeJS.Signals): void;
}

/** The installed handlers of one supervisor; remove() takes every one of them off again. */
export class SignalHandlers {
  readonly #o: ResolvedSignals;
  readonly #hooks: SignalHooks;
  readonly #installed: [NodeJS.Signals, () => void][] = [];
  #received: NodeJS.Signals | undefined;

  constructor(o: ResolvedSignals, hooks: SignalHooks) {
    this.#o = o;
    this.#hooks = hooks;
    for (const sig of o.shutdown) this.#on(sig, () => this.#shutdownSignal(sig));
    if (o.metrics !== null) {
      const sig = o.metrics;
      if (process.listenerCount(sig) > 0) hooks.logger?.warn({ signal: sig }, `another listener is already on ${sig}; the metrics line is logged as well`);
      this.#on(sig, () => this.#metricsLine());
    }
    for (const sig of o.relay) this.#on(sig, () => hooks.relay(sig));
  }

  #on(sig: NodeJS.Signals, fn: () => void): void {
    process.on(sig, fn);
    this.#installed.push([sig, fn]);
  }

  #shutdownSignal(sig: NodeJS.Signals): void {
    if (this.#received !== undefined) {
      this.#hooks.logger?.warn({ signal: sig }, 'second shutdown signal: stopping every worker by force');
      this.#hooks.force();
      return;
    }
    this.#received = sig;
    this.#hooks.logger?.info({ signal: sig }, 'shutdown signal: aborting every scope and stopping every worker');
    void this.#hooks.shutdown(new ShutdownSignalError(sig)).then(() => {
      if (this.#o.exit) process.exitCode = 128 + (constants.signals[sig] ?? 0);
    });
  }

  #metricsLine(): void {
    try {
      const m = this.#hooks.metrics();
      this.#hooks.logger?.info({ version: process.version, pid: process.pid, ppid: process.ppid, uptimeS: Math.round(process.uptime()), ...m }, 'metrics');
    } catch (err) {
      this.#hooks.logger?.warn({ err }, 'metrics line failed');
    }
  }

  remove(): void {
    for (const [sig, fn] of this.#installed.splice(0)) process.off(sig, fn);
  }
}
