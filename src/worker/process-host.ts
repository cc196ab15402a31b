/**
 * A process worker's host, started by process-bootstrap.ts (the main module of every process worker:
 * child_process.fork, advanced serialization).
 * A child cannot map the slot table, so it keeps a local copy of a slot's words (control word, latch, interrupt
 * counter) in its own SharedArrayBuffer, and the supervisor stands in for it in the real table:
 *
 * - commit: asked over IPC; the supervisor makes the CAS (PENDING → STARTING, refused when TERM is set) and
 *   answers; the entry is imported only on a yes (run.ts invariant). Likewise main runs only if the supervisor,
 *   reading TERM in the real control word, says yes once the entry has loaded.
 * - termination request: a byte on the control pipe, read by the watchdog thread (watchdog.ts), which sets TERM
 *   in the local word and delivers the interrupt — visible to checkForInterrupts() even in a loop that never
 *   yields. SIGTERM does the same (for native code and users that send it). SIGINT is ignored: a terminal's
 *   Ctrl-C reaches the whole process group, and the registrant decides what it means.
 * - outcome: sent over IPC; the supervisor decides it against TERM in the real control word.
 * - crash (process.exit in user code, uncaught exception): one line on the signal pipe, written synchronously
 *   from the 'exit' hook, where IPC would be lost.
 * - registrant latch: one line on the signal pipe; the supervisor sets the registrant's latch word.
 *
 * Parent death: the watchdog reads EOF on the control pipe and SIGKILLs this process at once; an IPC
 * 'disconnect' (seen when the event loop is free) does the same.
 */
import { fs } from '../shared/builtins.js';
import { Worker } from 'node:worker_threads';
import { RemoteLatchError } from '../errors.js';
import { CTRL, INTERRUPT, LATCH, SLOT_INTS } from '../shared/layout.js';
import { deliverInterrupt, type Latch, type WaitResult } from '../shared/latch.js';
import { FD_CONTROL, FD_SIGNALS, SIG_CRASH, SIG_REGISTRANT_LATCH, serializeError, type ProcessAssignment, type ProcessDown, type ProcessUp } from '../shared/protocol.js';
import { RUNNING, TERM, pack } from '../shared/slots.js';
import { installWorker, myLatch, releaseWaits } from '../scope/interrupts.js';
import { runWorker, type WorkerHost } from './run.js';
import type { WatchdogInit } from './watchdog.js';
import { IpcChannel } from './ipc-channel.js';
import { USAGE_SAMPLE_MS } from '../shared/usage.js';
import { Atomics, exitProcess } from '../shared/intrinsics.js';
import { RELAYABLE, SignalListeners, type SignalListener } from '../shared/relay.js';

const { writeSync } = fs();

/** The local words; the generation is always 0 here (one run per process). */
const local = new Int32Array(new SharedArrayBuffer(SLOT_INTS * 4));
local[CTRL] = pack(RUNNING, 0);

/** The run's nonce, set from the assignment: every message up carries it (protocol.ts RunIdentity). */
let nonce = '';
type Up = ProcessUp extends infer U ? (U extends unknown ? Omit<U, 'nonce'> : never) : never;
const send = (m: Up): void => void process.send!({ ...m, nonce });
const sendAndFlush = (m: Up): Promise<void> =>
  new Promise((resolve) => {
    // A synchronous throw (uncloneable value) propagates to the caller; a send that fails later means the
    // supervisor is gone, and the watchdog ends this process.
    process.send!({ ...m, nonce }, undefined, {}, () => resolve());
  });

/** One line on the signal pipe, synchronously (usable in the 'exit' hook). Retries a full non-blocking pipe. */
function signalLine(line: string): void {
  writeLine(Buffer.from(`${line}\n`));
}

/** The registrant-latch line, made once: it is written on every ctx.registrantLatch.set(). */
const REGISTRANT_LATCH_LINE = Buffer.from(`${SIG_REGISTRANT_LATCH}\n`);

function writeLine(buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(FD_SIGNALS, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return; // the supervisor is gone; the watchdog ends us
    }
  }
}

/** ctx.registrantLatch of a process worker: set() is relayed; there is nothing local to reset or wait on. */
const registrantLatch: Latch = {
  set: () => writeLine(REGISTRANT_LATCH_LINE),
  reset: () => {},
  get isSet(): boolean {
    return false;
  },
  wait: (): Promise<WaitResult> => Promise.reject(new RemoteLatchError('wait')),
  waitSync: (): WaitResult => {
    throw new RemoteLatchError('waitSync');
  },
};

function ignoreSignal(): void {}

function requestTerminationLocally(): void {
  Atomics.or(local, CTRL, TERM);
  deliverInterrupt(local, INTERRUPT, LATCH);
}

function processHost(a: ProcessAssignment): WorkerHost {
  nonce = a.nonce;
  // Signal handlers before the commit request: the supervisor answers a termination request of a committed worker
  // with SIGTERM as well, and one that arrived while the default disposition stood would kill this process before
  // its entry is imported — a committed run must import its entry (run.ts), and ends terminated only after that.
  // SIGTERM is a local termination request, unless the registrant handles it (handleSignals): then a SIGTERM to
  // the process group (systemd, a container runtime) is the registrant's to decide, like Ctrl-C below.
  process.on('SIGTERM', a.ignoreSignals.includes('SIGTERM') ? ignoreSignal : requestTerminationLocally);
  for (const sig of a.ignoreSignals) if (sig !== 'SIGTERM' && sig !== 'SIGINT') process.on(sig, ignoreSignal);
  // A terminal's Ctrl-C reaches the whole foreground process group, workers included. The registrant decides
  // what it means (abort a scope, shut down, or die — and then this child follows through the control pipe),
  // so the worker itself ignores it rather than dying as a crash under its supervisor.
  process.on('SIGINT', ignoreSignal);
  // Ask for the commit next: the supervisor's answer is on its way while the rest is set up (synchronously, so
  // before the answer can be read). Nothing of the user's runs before the answer (run.ts).
  let answer: ((ok: boolean) => void) | undefined; // the pending commit or run request
  const committed = new Promise<boolean>((resolve) => (answer = resolve));
  send({ t: 'commit?' });
  const controller = new AbortController();
  let exiting = false;
  let uncaught: unknown;
  installWorker({ i32: local, latch: LATCH, interrupt: INTERRUPT }, { ctrl: local, ctrlAt: CTRL, gen: 0, name: a.name, controller });
  const watchdog: WatchdogInit = { words: local.buffer as SharedArrayBuffer, fd: FD_CONTROL, ctrlAt: CTRL, latchAt: LATCH, interruptAt: INTERRUPT };
  // Started while the commit's answer is on its way (`new Worker()` costs this thread a few ms), and before any
  // user code runs.
  new Worker(new URL('./watchdog.js', import.meta.url), { workerData: watchdog, name: 'bgworkers-watchdog' }).unref();
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));

  const port = new IpcChannel(send);
  process.on('message', (m: ProcessDown) => {
    if (m.t === 'commit' || m.t === 'run') answer?.(m.ok);
    else if (m.t === 'port') port.dispatch(m.value);
  });
  // The supervisor cannot see this process's event loop: report it while the loop turns (unref'd: holds nothing).
  // The first report goes now: a main that spins from its first line never lets the interval run, and the
  // supervisor then counts the time since this report as a blocked loop.
  const report = (): void => {
    const u = performance.eventLoopUtilization();
    send({ t: 'usage', active: u.active, idle: u.idle });
  };
  report();
  setInterval(report, USAGE_SAMPLE_MS).unref();
  process.on('uncaughtExceptionMonitor', (err) => (uncaught = err));
  process.on('exit', (code) => {
    if (!exiting) signalLine(`${SIG_CRASH}${code} ${uncaught === undefined ? '' : JSON.stringify(serializeError(uncaught))}`);
    releaseWaits(); // the watchdog thread notifies these words: leave it no waiter of an exiting thread
  });
  const exit = (code: number): never => {
    exiting = true;
    exitProcess(code);
  };

  return {
    identity: a,
    signal: controller.signal,
    latch: myLatch(),
    registrantLatch,
    port,
    commit: () => committed,
    neverStarted: () => exit(0),
    running: () =>
      new Promise<boolean>((resolve) => {
        answer = resolve;
        send({ t: 'running?' });
      }),
    complete: async (result) => {
      await sendAndFlush({ t: 'outcome', reason: 'completed', code: 0, result });
      return exit(0);
    },
    fail: async (error) => {
      await sendAndFlush({ t: 'outcome', reason: 'failed', code: 1, error: serializeError(error) });
      return exit(1);
    },
    log: (line) => send({ t: 'log', line }),
    onSignal: (listener) => onProcessSignal(listener),
  };
}

/** Runs this process as a worker once its assignment arrives. */
export function startProcessWorker(): void {
  process.once('message', (a: ProcessAssignment) => void runWorker(processHost(a)));
}

/** A process worker's ctx.onSignal(): the real relayable signals on its own process, while it has listeners. */
const processListeners = new SignalListeners();
let listening = 0;
const handlers = new Map<NodeJS.Signals, () => void>();
function onProcessSignal(listener: SignalListener): () => void {
  const remove = processListeners.add(listener);
  if (listening++ === 0) {
    for (const sig of RELAYABLE) {
      const h = (): void => processListeners.deliver(sig);
      handlers.set(sig, h);
      process.on(sig, h);
    }
  }
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    remove();
    if (--listening === 0) for (const [sig, h] of handlers) process.off(sig, h);
  };
}
