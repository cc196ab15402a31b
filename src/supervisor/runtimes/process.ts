/**
 * The process runtime: forks process workers (worker/process-bootstrap.ts) and stands in for them in the slot
 * table, which a child cannot map. Only the supervisor thread uses this module.
 *
 * What it relays (protocol.ts has the wire formats):
 * - commit: the child asks over IPC; this makes the CAS (PENDING → STARTING, refused when TERM is set) and
 *   answers. The child imports its entry only on a yes, so G2 holds exactly as for threads.
 * - outcome: decided here against TERM in the real control word (slots.ts invariant 3); a precious failure is
 *   reported to the registrant as a thread worker would (control port, then its interrupt word and latch).
 * - crash line on the signal pipe (process.exit in user code, uncaught exception): recorded as CRASHED at once,
 *   so a busy registrant sees a precious crash before the child is reaped.
 * - handle.latch.set(): the registrant writes CMD_LATCH into the control pipe itself, through the line this opens
 *   after the fork (control-line.ts: the pipe's fd in the slot, retired before the fd can close). Sets of the slot's
 *   latch word (a termination request's, or any before the line opens) are relayed: this thread sleeps on the
 *   word (counted as a sleeper, so set() notifies), consumes the set and sends CMD_LATCH down the pipe.
 *   `handle.latch.isSet` is therefore false, or true only until the set is relayed; the worker's own `ctx.latch`
 *   holds it.
 * - ctx.registrantLatch.set(): a line on the signal pipe; this sets the registrant's latch word.
 * - handle.port ↔ ctx.port: messages relayed between the MessagePort and IPC.
 * - termination: CMD_TERMINATE down the control pipe (the child's watchdog thread interrupts its main thread)
 *   and SIGTERM; SIGKILL after the grace timeout.
 *
 * Environment and arguments: `spec.env` (default: the registrant's process.env) and `spec.execArgv` (default:
 * the registrant's process.execArgv without -e/-p/--eval/--print/-i/-c/--test, which would make the child run
 * something else than its bootstrap); `resourceLimits.maxOldGenerationSizeMb` becomes --max-old-space-size.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CTRL, LATCH, LATCH_SLEEPERS, PID, RELAY_FD, RELAY_USERS, STARTED_AT } from '../../shared/layout.js';
import { attachLine } from '../../shared/control-line.js';
import { deliverInterrupt, setLatchWord } from '../../shared/latch.js';
import { processCpuMs, reportedElu } from '../../shared/usage.js';
import {
  CMD_LATCH,
  CMD_TERMINATE,
  FD_CONTROL,
  FD_SIGNALS,
  SIG_CRASH,
  SIG_REGISTRANT_LATCH,
  type DeathReport,
  type ProcessAssignment,
  type ProcessDown,
  type ProcessUp,
  type SerializedError,
  serializeError,
} from '../../shared/protocol.js';
import { O_COMPLETED, O_CRASHED, O_FAILED, O_NONE, RUNNING, STARTING, commit, reasonOf, reportOutcome, termRequested, transition, type Outcome } from '../../shared/slots.js';
import { isDeath } from '../../shared/exit.js';
import type { Runner, RunnerEvents, StartInfo } from '../runner.js';
import { inheritedExecArgv } from '../../shared/exec-argv.js';

const BOOTSTRAP_PATH = fileURLToPath(new URL('../../worker/process-bootstrap.js', import.meta.url));

function ignorePipeError(): void {}

const SIG_REGISTRANT_LATCH_BYTE = SIG_REGISTRANT_LATCH.charCodeAt(0);
const SIG_CRASH_BYTE = SIG_CRASH.charCodeAt(0);
const NEWLINE = 0x0a;

/**
 * Calls `line(buf, start, end)` for each complete line on the signal pipe, the newline excluded. Bytes, not text: the
 * registrant-latch line (one byte) is every round trip of a latch ping-pong, and readline's decoding and events
 * cost it more than the rest of its way through this thread.
 */
function onLines(input: Readable, line: (buf: Buffer, start: number, end: number) => void): void {
  let partial: Buffer | undefined;
  input.on('data', (chunk: Buffer) => {
    let buf = chunk;
    if (partial !== undefined) {
      buf = Buffer.concat([partial, chunk]);
      partial = undefined;
    }
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(NEWLINE, start);
      if (nl < 0) break;
      line(buf, start, nl);
      start = nl + 1;
    }
    if (start < buf.length) partial = buf.subarray(start);
  });
}

/** Shutdown signals process workers ignore (set once by the supervisor thread from handleSignals). */
let childIgnored: NodeJS.Signals[] = [];

/** With handleSignals, the registrant alone decides what a shutdown signal to the process group means. */
export function ignoreInProcessWorkers(signals: readonly NodeJS.Signals[]): void {
  childIgnored = [...signals];
}

export function startProcess(info: StartInfo, events: RunnerEvents): Runner {
  const { request: req, table, registrant, userPort, controlPort } = info;
  const i32 = table.i32;
  const ctrlAt = table.at(req.slot, CTRL);
  const latchAt = table.at(req.slot, LATCH);
  const sleepersAt = table.at(req.slot, LATCH_SLEEPERS);
  const execArgv = req.execArgv === undefined ? inheritedExecArgv(process.execArgv) : [...req.execArgv];
  if (info.resourceLimits?.maxOldGenerationSizeMb) execArgv.push(`--max-old-space-size=${info.resourceLimits.maxOldGenerationSizeMb}`);
  const child: ChildProcess = fork(BOOTSTRAP_PATH, [], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc', 'pipe', 'pipe'],
    serialization: 'advanced',
    env: req.env ?? process.env,
    execArgv,
  });
  const stdio = child.stdio as unknown as (Readable | Writable)[];
  const control = stdio[FD_CONTROL] as Writable;
  const signals = stdio[FD_SIGNALS] as Readable;
  // Errors on the pipes (EPIPE, ECONNRESET) only mean the child is gone; its 'exit' event is the authority on that,
  // and an unheard stream 'error' would take the whole supervisor thread down.
  control.on('error', ignorePipeError);
  signals.on('error', ignorePipeError);
  attachLine(control, i32, table.at(req.slot, RELAY_FD), table.at(req.slot, RELAY_USERS));
  let gone = false;
  /** The child's last event-loop report (usage-sampler.ts reads it through usage()). */
  let elu: { active: number; idle: number; at: number } | undefined;
  Atomics.store(i32, table.at(req.slot, PID), child.pid ?? 0);

  const send = (m: ProcessDown): void => {
    if (!gone && child.connected) child.send(m);
  };
  /** Records an outcome against TERM; a precious failure goes to the registrant first. Returns what was decided. */
  const decide = (outcome: Outcome, code: number, error: SerializedError | undefined): Outcome => {
    const decided = reportOutcome(i32, ctrlAt, req.gen, outcome);
    const reason = decided === O_NONE ? undefined : reasonOf(decided);
    if (req.precious && reason !== undefined && isDeath(reason)) {
      const death: DeathReport = { t: 'death', reason, code, ...(error ? { error } : {}), at: performance.timeOrigin + performance.now() };
      controlPort?.postMessage(death);
      deliverInterrupt(registrant.i32, registrant.interrupt, registrant.latch);
    }
    return decided;
  };

  child.on('message', (raw: unknown) => {
    // User code in the child can send too: only the bootstrap's messages carry this run's nonce.
    if (typeof raw !== 'object' || raw === null || (raw as { nonce?: unknown }).nonce !== req.nonce) return;
    const m = raw as ProcessUp;
    switch (m.t) {
      case 'commit?': {
        table.f64[table.atF64(req.slot, STARTED_AT)] = Date.now();
        send({ t: 'commit', ok: commit(i32, ctrlAt, req.gen) });
        return;
      }
      case 'running?': {
        // The entry loaded; main may run unless termination was requested meanwhile (read in the real word, so
        // a request that has not reached the child yet still counts).
        const ok = !termRequested(Atomics.load(i32, ctrlAt));
        if (ok) {
          transition(i32, ctrlAt, req.gen, [STARTING], RUNNING, 'entry loaded');
          events.report({ t: 'running' });
        }
        send({ t: 'run', ok });
        return;
      }
      case 'outcome': {
        const decided = decide(m.reason === 'completed' ? O_COMPLETED : O_FAILED, m.code, m.error);
        if (decided === O_NONE) return;
        events.report({ t: 'outcome', reason: reasonOf(decided), code: m.code, ...(m.result !== undefined ? { result: m.result } : {}), ...(m.error ? { error: m.error } : {}) });
        return;
      }
      case 'port':
        userPort.postMessage(m.value);
        return;
      case 'log':
        events.report({ t: 'log', line: m.line });
        return;
      case 'usage':
        elu = { active: m.active, idle: m.idle, at: performance.now() };
        return;
    }
  });
  userPort.on('message', (value: unknown) => send({ t: 'port', value }));

  onLines(signals, (line, start, end) => {
    if (end - start === 1 && line[start] === SIG_REGISTRANT_LATCH_BYTE) {
      setLatchWord(registrant.i32, registrant.latch);
    } else if (line[start] === SIG_CRASH_BYTE) {
      const text = line.toString('utf8', start, end);
      const space = text.indexOf(' ');
      const code = Number(text.slice(1, space < 0 ? undefined : space));
      const json = space < 0 ? '' : text.slice(space + 1);
      const error = json ? (JSON.parse(json) as SerializedError) : undefined;
      if (error) events.error(error);
      decide(O_CRASHED, code, error);
    }
  });

  // Relay handle.latch.set(): sleep on the slot's latch word as a counted sleeper; consume each set. A termination
  // request sets TERM before it sets the latch, so TERM is checked first and relayed ahead of the wake-up: the
  // child must never see the latch of a request without the request.
  let termSent = false;
  const sendTerm = (): void => {
    if (termSent || gone) return;
    termSent = true;
    control.write(Buffer.of(CMD_TERMINATE));
  };
  const relayLatch = (): void => {
    if (gone) return;
    if (Atomics.exchange(i32, latchAt, 0) === 1) {
      if (termRequested(Atomics.load(i32, ctrlAt))) sendTerm();
      control.write(Buffer.of(CMD_LATCH));
    }
    Atomics.add(i32, sleepersAt, 1);
    const r = Atomics.waitAsync(i32, latchAt, 0);
    const after = (): void => {
      Atomics.sub(i32, sleepersAt, 1);
      relayLatch();
    };
    if (r.async) void r.value.then(after);
    else after();
  };
  relayLatch();

  child.on('error', (err) => {
    events.error(serializeError(err));
    if (child.pid === undefined) finish(null, null); // never spawned: no 'exit' will follow
  });
  child.once('exit', (code, signal) => finish(code, signal));
  function finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (gone) return;
    gone = true;
    Atomics.notify(i32, latchAt); // ends relayLatch's pending wait
    userPort.close();
    control.destroy(); // retires the registrant's line first (attachLine wraps the handle's close)
    signals.destroy();
    events.exit(code, signal);
  }

  const assignment: ProcessAssignment = { t: 'assign', nonce: req.nonce, id: req.id, name: req.name, entry: req.entry, data: req.data, precious: req.precious, logLevel: info.logLevel, ignoreSignals: childIgnored };
  try {
    child.send(assignment);
  } catch (err) {
    // Data that advanced serialization cannot carry (structured clone accepted it): a failure to start.
    events.error(serializeError(err));
    child.kill('SIGKILL');
  }

  return {
    threadId: 0,
    pid: child.pid ?? 0,
    requestStop: () => {
      if (gone) return;
      sendTerm();
      child.kill('SIGTERM');
    },
    forceStop: () => {
      if (!gone) child.kill('SIGKILL');
    },
    signal: (sig) => {
      if (!gone) child.kill(sig);
    },
    // The OS reports the process's CPU time; the child reports its event loop.
    usage: () => ({
      elu: gone || elu === undefined ? NaN : reportedElu(elu.active, elu.idle, performance.now() - elu.at),
      cpuMs: gone ? NaN : processCpuMs(child.pid ?? 0),
    }),
  };
}

