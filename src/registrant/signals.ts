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
 * A busy registrant (`busy`, on by default): Node runs a signal handler only when the main thread's event loop
 * turns, so the supervisor thread also watches the shutdown signals (supervisor/signal-watcher.ts: a helper
 * process in our process group) and tells the registrant through its mailbox and an interrupt; the next
 * checkForInterrupts() then aborts every scope. A group signal thus arrives twice — once through the watcher,
 * once through the main thread's own handler when it runs — and must count once: per signal name, the number of
 * arrivals is the larger of the two counts, so a second Ctrl-C (2 and 2) still forces, and the echo (1 and 1)
 * does not. A signal sent to the pid alone reaches only the main thread's handler.
 */
import { constants, hostname } from 'node:os';
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
  /**
   * Reach a registrant busy in synchronous code: a shutdown signal sent to the process group (Ctrl-C) is also seen
   * by the supervisor thread, through a small helper process (`/bin/sh`, POSIX only), and makes the registrant's
   * next checkForInterrupts() throw ShutdownSignalError. A signal sent to the pid alone still waits for the main
   * thread's event loop. @default true
   */
  busy?: boolean;
}

export interface ResolvedSignals {
  shutdown: NodeJS.Signals[];
  metrics: NodeJS.Signals | null;
  exit: boolean;
  relay: NodeJS.Signals[];
  busy: boolean;
}

const KEYS = ['shutdown', 'metrics', 'exit', 'relay', 'busy'] as const;
const DEFAULTS: ResolvedSignals = { shutdown: ['SIGINT', 'SIGTERM'], metrics: 'SIGUSR2', exit: true, relay: ['SIGHUP'], busy: true };

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
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidOption('handleSignals', 'a boolean or { shutdown?, metrics?, exit?, relay?, busy? }', v);
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
  const busy = o['busy'] === undefined ? DEFAULTS.busy : o['busy'];
  if (typeof busy !== 'boolean') throw invalidOption('handleSignals.busy', 'a boolean', busy);
  return { shutdown: list, metrics, exit, relay, busy };
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
  /** Per shutdown signal: arrivals seen by the main thread's handler, and by the supervisor thread's watcher. */
  readonly #direct = new Map<NodeJS.Signals, number>();
  readonly #watched = new Map<NodeJS.Signals, number>();
  /** Arrivals acted on so far: the sum over signals of max(direct, watched). */
  #arrivals = 0;

  constructor(o: ResolvedSignals, hooks: SignalHooks) {
    this.#o = o;
    this.#hooks = hooks;
    for (const sig of o.shutdown) this.#on(sig, () => this.#count(this.#direct, sig));
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

  /** The supervisor thread's watcher saw `sig` (a mailbox message, drained even by a busy registrant). */
  seenByWatcher(sig: NodeJS.Signals): void {
    if (this.#o.shutdown.includes(sig)) this.#count(this.#watched, sig);
  }

  #count(counts: Map<NodeJS.Signals, number>, sig: NodeJS.Signals): void {
    counts.set(sig, (counts.get(sig) ?? 0) + 1);
    let arrivals = 0;
    for (const s of this.#o.shutdown) arrivals += Math.max(this.#direct.get(s) ?? 0, this.#watched.get(s) ?? 0);
    while (this.#arrivals < arrivals) {
      this.#arrivals++;
      this.#shutdownSignal(sig);
    }
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
      this.#hooks.logger?.info({ version: process.version, pid: process.pid, ppid: process.ppid, host: hostname(), uptimeS: Math.round(process.uptime()), ...m }, 'metrics');
    } catch (err) {
      this.#hooks.logger?.warn({ err }, 'metrics line failed');
    }
  }

  remove(): void {
    for (const [sig, fn] of this.#installed.splice(0)) process.off(sig, fn);
  }
}
