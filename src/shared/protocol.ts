/**
 * The messages between registrant, supervisor and worker: what does not fit in the slot table's Int32 words
 * (specs, data, results, errors, ports). Shared memory says *that* something happened; these say *what*.
 *
 * ```
 * registrant ──(supervisor Worker.postMessage)──► supervisor     RegisterRequest, TerminateRequest, ShutdownRequest
 * supervisor ──(mailbox port, drained sync or async)──► registrant   MailboxMessage
 * supervisor ──(workerData / parentPort)──► worker                Assignment
 * worker ──(parentPort)──► supervisor                              WorkerReport (running, outcome, log lines)
 * worker ──(control port, precious workers only)──► registrant     DeathReport (before the worker exits)
 * ```
 *
 * Process workers cannot map the slot table, so the supervisor stands in for them (runtimes/process.ts):
 *
 * ```
 * supervisor ──(IPC, advanced serialization)──► child      ProcessDown: assign, commit and run answers, port messages
 * child ──(IPC)──► supervisor                               ProcessUp: commit request, run request, outcome, port messages
 * supervisor ──(control pipe, child fd 4)──► child's watchdog thread    one byte each: CMD_TERMINATE, CMD_LATCH
 * registrant ──(the same pipe, written directly: control-line.ts)──►     CMD_LATCH, from handle.latch.set()
 * child ──(signal pipe, child fd 5, written synchronously)──► supervisor lines: registrant latch set, crash
 * ```
 *
 * The control pipe doubles as the parent-death detector: its write end lives only in the registrant process, so
 * when that process dies (even by SIGKILL) the child's watchdog thread reads EOF and kills its process at once.
 *
 * Ordering: each port is FIFO, and a message posted before `process.exit()` in a worker arrives before its
 * 'exit' event. Nothing else is ordered across ports, so every message carries (slot, gen) and receivers
 * check it against the slot table.
 */
import type { MessagePort, ResourceLimits } from 'node:worker_threads';
import type { WordsRef } from './layout.js';
import { ErrorClass } from './intrinsics.js';
import { util } from './builtins.js';
import type { ExitReason, WorkerExit } from './exit.js';

/** An error flattened for structured clone, keeping what clone drops (custom `code`, own properties). */
export interface SerializedError {
  name: string;
  message: string;
  stack: string | undefined;
  code: unknown;
  /** The thrown value was not an Error; `message` describes it. */
  nonError: boolean;
  cause?: SerializedError;
}

/** A worker's exit as it travels: WorkerExit with its error serialized; revived into WorkerExit by the registrant. */
export type SerializedExit = Omit<WorkerExit, 'error'> & { error?: SerializedError };

export interface SupervisorInit {
  table: SharedArrayBuffer;
  /** The registrant thread's words (latch, interrupt counter). */
  registrant: WordsRef;
  mailbox: MessagePort;
  spareWorkers: number;
  gracefulTimeoutMs: number;
  logLevel: string;
  /** handleSignals: the shutdown signals the supervisor thread watches for a busy registrant (supervisor/signal-watcher.ts). */
  watchSignals: NodeJS.Signals[];
  /** handleSignals: the shutdown signals every process worker ignores (the registrant decides what they mean). */
  childIgnoredSignals: NodeJS.Signals[];
}

/** Who a run is, as every side needs to know it. */
export interface RunIdentity {
  /**
   * A random token of this run. User code shares the worker's parentPort (threads) and IPC channel (processes)
   * with the bootstrap: reports without the token are not the bootstrap's and are ignored.
   */
  nonce: string;
  slot: number;
  gen: number;
  id: string;
  name: string;
  /** The entry module's file: URL. */
  entry: string;
  data: unknown;
  precious: boolean;
}

/** A restart policy beyond its first delay (Erlang/OTP's intensity and period, with exponential backoff). */
export interface RestartBackoff {
  /** The delay grows to at most this. */
  maxDelayMs: number;
  /** Each consecutive restart multiplies the delay by this (1: constant). */
  factor: number;
  /** More restarts than this within `withinMs` stop the worker for good. */
  maxRestarts: number;
  /** The intensity window; a run that lasted this long also resets the backoff. */
  withinMs: number;
}

export interface RegisterRequest extends RunIdentity {
  t: 'register';
  ephemeral: boolean;
  scopeId: number;
  /** Milliseconds between a failed/crashed run and the next (the first delay of the backoff); -1: never restart. */
  restartDelayMs: number;
  /** How the delay grows and when restarting stops for good (meaningful only when restartDelayMs >= 0). */
  restartBackoff: RestartBackoff;
  gracefulTimeoutMs: number;
  runtime: 'thread' | 'process';
  /** Process runtime: the child's environment (default: the registrant's process.env). */
  env: Record<string, string> | undefined;
  /** Process runtime: the child's execArgv (default: the registrant's process.execArgv). */
  execArgv: string[] | undefined;
  resourceLimits: ResourceLimits | undefined;
  /** The worker's end of handle.port; absent for restartable workers (the supervisor makes one per run). */
  userPort: MessagePort | undefined;
  /** The worker's end of the death-report channel; precious workers only. */
  controlPort: MessagePort | undefined;
}

export interface TerminateRequest {
  t: 'terminate';
  slot: number;
  gen: number;
  /** Brings the forced stop forward to at most this many ms from now (a filtered shutdown's timeout); default: the worker's grace. */
  graceMs?: number;
}

export interface ShutdownRequest {
  t: 'shutdown';
  timeoutMs: number;
}

/** relaySignal(): hand `signal` to every running worker once. */
export interface RelayRequest {
  t: 'relay';
  signal: NodeJS.Signals;
}

export type SupervisorRequest = RegisterRequest | TerminateRequest | ShutdownRequest | RelayRequest;

export type MailboxMessage =
  | { t: 'ready' }
  | { t: 'started'; slot: number; gen: number; threadId: number; pid: number; startedAt: number }
  | { t: 'port'; slot: number; gen: number; port: MessagePort }
  // threadId: the thread worker of the run that ended (0: none, or a process worker), for shared poisons it held.
  | { t: 'restarting'; slot: number; gen: number; exit: SerializedExit; delayMs: number; threadId: number }
  // endedAt: when the supervisor thread saw the run end, ms since the epoch, fractional.
  | { t: 'stopped'; slot: number; gen: number; exit: SerializedExit; forced: boolean; requested: boolean; threadId: number; endedAt: number; gaveUp?: { restarts: number; withinMs: number } }
  /** A line of the worker's ctx.logger (pino JSON, no time), for the registrant's logger (registrant/worker-log.ts). */
  | { t: 'log'; slot: number; gen: number; line: string }
  | { t: 'shutdown-done' }
  /** The process group received a shutdown signal (seen by the supervisor thread's signal watcher); an interrupt follows. */
  | { t: 'signal'; signal: NodeJS.Signals };

/** What the supervisor hands a worker thread: at spawn (workerData) or to a spare (an 'assign' message). */
export interface Assignment extends RunIdentity {
  t: 'assign';
  table: SharedArrayBuffer;
  registrant: WordsRef;
  logLevel: string;
  userPort: MessagePort;
  controlPort: MessagePort | undefined;
}

export type WorkerReport =
  | { t: 'running' }
  | { t: 'outcome'; reason: Exclude<ExitReason, 'never-started'>; code: number; result?: unknown; error?: SerializedError }
  /** A line the worker's ctx.logger wrote (only lines its level lets through are ever made). */
  | { t: 'log'; line: string };

/** A WorkerReport as it travels on a thread worker's parentPort: with its run's nonce. */
export type SignedReport = WorkerReport & { nonce: string };

/** Whether a message from a worker is its bootstrap's report for this run (user code may post anything). */
export function isReport(m: unknown, nonce: string): m is SignedReport {
  if (typeof m !== 'object' || m === null || (m as { nonce?: unknown }).nonce !== nonce) return false;
  const t = (m as { t?: unknown }).t;
  return t === 'running' || t === 'outcome' || t === 'log';
}

export interface DeathReport {
  t: 'death';
  reason: 'failed' | 'crashed';
  code: number;
  error?: SerializedError;
  /** When it died: ms since the epoch, fractional (performance.timeOrigin + performance.now() where it was seen). */
  at: number;
}

/** What a process worker learns first over IPC (its identity; it has no slot table). */
export interface ProcessAssignment {
  t: 'assign';
  nonce: string;
  id: string;
  name: string;
  entry: string;
  data: unknown;
  precious: boolean;
  logLevel: string;
  /**
   * Shutdown signals the child ignores as the registrant handles them (handleSignals): a signal to the process
   * group reaches the child too, and only the registrant decides what it means.
   */
  ignoreSignals: NodeJS.Signals[];
}

export type ProcessDown = ProcessAssignment | { t: 'commit'; ok: boolean } | { t: 'run'; ok: boolean } | { t: 'port'; value: unknown };

export type ProcessUp = { nonce: string } & (
  | { t: 'commit?' }
  | { t: 'running?' }
  | { t: 'outcome'; reason: 'completed' | 'failed'; code: number; result?: unknown; error?: SerializedError }
  | { t: 'port'; value: unknown }
  | { t: 'log'; line: string }
  /** Its event loop's active and idle ms since it started (performance.eventLoopUtilization()), every 250 ms. */
  | { t: 'usage'; active: number; idle: number }
);

/** Bytes on the control pipe (supervisor → child watchdog). */
export const CMD_TERMINATE = 0x54; // 'T'
export const CMD_LATCH = 0x4c; // 'L'
/** Child stdio layout: 0-2 inherited, 3 IPC, 4 control pipe (down), 5 signal pipe (up). */
export const FD_CONTROL = 4;
export const FD_SIGNALS = 5;
/** Lines on the signal pipe (child → supervisor): `R` sets the registrant's latch; `X<code> <json error>` a crash. */
export const SIG_REGISTRANT_LATCH = 'R';
export const SIG_CRASH = 'X';

/** What a spare thread's workerData holds before it gets an Assignment. */
export interface SpareInit {
  t: 'spare';
}

const MAX_CAUSE_DEPTH = 4;

const isNativeError = util().types.isNativeError;

/** An Error of this realm or of another one (a `vm` context's Error is not `instanceof` ours). */
function isError(value: unknown): value is Error {
  try {
    return value instanceof ErrorClass || isNativeError(value);
  } catch {
    return false; // a revoked Proxy throws on instanceof
  }
}

/** Flattens a thrown value for structured clone. Never throws. */
export function serializeError(value: unknown, depth = 0): SerializedError {
  if (isError(value)) {
    const out: SerializedError = {
      name: value.name,
      message: value.message,
      stack: value.stack,
      code: cloneableScalar((value as { code?: unknown }).code),
      nonError: false,
    };
    if (value.cause !== undefined && depth < MAX_CAUSE_DEPTH) out.cause = serializeError(value.cause, depth + 1);
    return out;
  }
  return { name: 'Error', message: `non-error thrown: ${safeString(value)}`, stack: undefined, code: undefined, nonError: true };
}

/**
 * Rebuilds an Error from its serialized form: same name, message, stack and code, and a constructor of that name
 * (the native one for the built-in names, so a revived TypeError is a TypeError), so that loggers that print
 * `constructor.name` (pino's `err.type`) show the original type. Without a stack to restore (a lost worker, a
 * thrown non-error) the stack is the error's first line only: never the frames of the code that revived it.
 */
export function reviveError(s: SerializedError): Error {
  const cause = s.cause ? { cause: reviveError(s.cause) } : undefined;
  // No stack is captured here: the original's is the one that matters, and capturing costs time on the path from
  // a precious worker's death to the registrant's throw.
  // A hostile worker's name or message need not be a string (structured clone keeps whatever it was).
  const name = typeof s.name === 'string' ? s.name : 'Error';
  const message = typeof s.message === 'string' ? s.message : '';
  const Ctor = errorClass(name);
  const err = withoutStack(() => new Ctor(s.message, cause));
  Object.defineProperty(err, 'name', { value: s.name, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(err, 'stack', { value: s.stack ?? (message ? `${name}: ${message}` : name), writable: true, configurable: true, enumerable: false });
  if (s.code !== undefined) (err as { code?: unknown }).code = s.code;
  return err;
}

/** The error of a worker that stopped without telling why (`worker <what>`, code ERR_WORKER_LOST). */
export function lostWorkerError(what: string): SerializedError {
  return { name: 'Error', message: `worker ${what}`, stack: undefined, code: 'ERR_WORKER_LOST', nonError: false };
}

type ErrorClass = new (message?: string, options?: { cause?: unknown }) => Error;
const NATIVE_ERRORS: Readonly<Record<string, ErrorClass>> = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };
/** Subclasses of Error named after the other names seen, so many (bounded: names come from worker code). */
const namedErrors = new Map<string, ErrorClass>();
const MAX_NAMED_ERRORS = 64;

function errorClass(name: string): ErrorClass {
  if (Object.hasOwn(NATIVE_ERRORS, name)) return NATIVE_ERRORS[name]!;
  let C = namedErrors.get(name);
  if (C === undefined) {
    if (namedErrors.size >= MAX_NAMED_ERRORS) return Error;
    C = class extends Error {};
    Object.defineProperty(C, 'name', { value: name });
    namedErrors.set(name, C);
  }
  return C;
}

/** Runs `make` with stack capture off (if the host lets us change `Error.stackTraceLimit`). */
function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = 0;
  } catch {
    return make(); // a frozen Error (a hardened realm): capture it is, then
  }
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function cloneableScalar(v: unknown): unknown {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : undefined;
}

function safeString(v: unknown): string {
  // A hostile toString must not turn error reporting into a second failure.
  try {
    return typeof v === 'string' ? JSON.stringify(v) : String(v);
  } catch {
    return 'a value that cannot be printed'; // a revoked Proxy, a throwing toString
  }
}
