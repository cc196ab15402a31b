// Ping-pong: the main thread and one worker take turns setting each other's latches, N times.
//
//   node examples/pingpong/main.mjs [--iterations N] [--wait sync|async] [--kill-worker-after K] ...
//
// How it works
//
// - The main thread starts a Supervisor and opens a scope. In it, it registers one worker (worker.mjs) that is
//   ephemeral (it goes away when the scope ends, however it ends) and precious (its death aborts the scope).
// - The latches are the whole protocol: main resets its own latch (`myLatch()`), then sets the worker's
//   (`handle.latch`) and waits for its own; the worker waits for its latch (`ctx.latch`), resets it, then sets
//   main's (`ctx.registrantLatch`). The turns strictly alternate and each side resets its own latch before it
//   wakes the other, so no set is ever lost or merged with the next: a latch is a flag, not a queue, and this
//   works because at most one wake-up is ever outstanding. (With more in flight, keep a record of the work to do
//   next to the latch, and use the latch only to say "look again".) The same code runs on both runtimes: for a
//   process worker the supervisor relays both latches.
// - Both sides call checkForInterrupts() in their loops: in main it throws PreciousWorkerDiedError once the
//   worker died (`--kill-worker-after`) or the abort reason once a signal aborted the scope; in the worker it
//   throws TerminationRequestedError once the scope ended.
// - Signals: the supervisor's `handleSignals` does it all. SIGINT/SIGTERM abort the scope with
//   ShutdownSignalError, the scope stops the worker, the supervisor shuts down, and main exits with 128 + the
//   signal number (130, 143); a second signal forces the worker at once. Main never yields to the event loop in
//   --wait sync: Ctrl-C (a signal to the process group) still reaches its busy loop, because the supervisor
//   thread sees it and interrupts main, so checkForInterrupts() throws. A signal sent to the pid alone
//   (`kill <pid>`) is run by the main thread's own handler, which waits for the event loop: in --wait sync that
//   is the end of the run, so send it to the group (`kill -INT -<pgid>`), or use --wait async.
//
// Output: progress on stderr (`pingpong: progress: ...`, every --progress-ms), and one summary line on stdout:
//   100000 round trips in 0.421 s: 237529 round trips/s
// Exit codes: 0 done, 1 failed (e.g. the worker died), 2 bad arguments, 130/143 SIGINT/SIGTERM.
import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import { Supervisor, myLatch } from 'bgworkers';

/** Rounds are counted in a JS number; this keeps the CLI's bounds simple and the run finite. */
const MAX_ROUNDS = 2 ** 31 - 1;
const DEFAULTS = { iterations: 100_000, wait: 'sync', progressMs: 1000 };

/**
 * Main does its round trips in bursts of at most BURST_MS, between which it prints progress when due. In
 * --wait sync it never yields to the event loop (handleSignals reaches it anyway, see above); a burst is only
 * the progress report's turn.
 */
const BURST_MS = 10;
/** Sync waits give up after a burst's length too, so a silent worker cannot hold the progress report back. */
const WAIT_SLICE = { timeoutMs: BURST_MS };
/** Rounds between clock reads inside a burst: performance.now() would cost more than a fast round trip. */
const CLOCK_EVERY = 64;
/** Grace for the worker to stop at shutdown; it answers a termination request within one round trip. */
const SHUTDOWN_TIMEOUT_MS = 2000;

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
/** EX_SOFTWARE: a worker survived shutdown, which would be a bgworkers bug. */
const EXIT_LEAKED = 70;

const USAGE = `usage: node examples/pingpong/main.mjs [--iterations N] [--kill-worker-after K] [--runtime thread|process]
         [--wait sync|async] [--progress-ms MS]   (defaults: ${DEFAULTS.iterations}, none, thread, ${DEFAULTS.wait}, ${DEFAULTS.progressMs}; 0 = no progress)`;

class UsageError extends Error {}

/** The command line, validated; throws UsageError. */
function parseCli(args) {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        iterations: { type: 'string' },
        'kill-worker-after': { type: 'string' },
        runtime: { type: 'string', default: 'thread' },
        wait: { type: 'string', default: DEFAULTS.wait },
        'progress-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError(err.message.replace(/\s*\n\s*/g, ' ')); // parseArgs's messages span lines; keep one
  }
  if (values.help) return { help: true };
  if (values.runtime !== 'thread' && values.runtime !== 'process') throw new UsageError(`expected --runtime to be thread or process, got "${values.runtime}"`);
  if (values.wait !== 'sync' && values.wait !== 'async') throw new UsageError(`expected --wait to be sync or async, got "${values.wait}"`);
  const iterations = integer('iterations', values.iterations, 1) ?? DEFAULTS.iterations;
  const killAfter = integer('kill-worker-after', values['kill-worker-after'], 1, iterations);
  const progressMs = integer('progress-ms', values['progress-ms'], 0) ?? DEFAULTS.progressMs;
  return { iterations, killAfter, wait: values.wait, progressMs, runtime: values.runtime };
}

function integer(flag, text, min, max = MAX_ROUNDS) {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`expected --${flag} to be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

/** Main's side of the table: bursts of round trips that return how many rounds are done so far. */
function player(scope, worker, iterations) {
  const latch = myLatch();
  // Round i is sent once; a timed-out wait (a burst's slice) just waits again.
  const ping = () => {
    latch.reset(); // before waking the worker: its answer must not be wiped out
    worker.latch.set();
  };
  // checkForInterrupts() throws when the worker died or a signal came; then the latch says whether it answered.
  const answered = () => {
    scope.checkForInterrupts();
    return latch.isSet;
  };
  let waiting = false; // a round sent in an earlier burst and not answered yet
  return {
    sync(done, deadline) {
      while (done < iterations) {
        if (!waiting) ping();
        waiting = true;
        while (!answered()) if (latch.waitSync(WAIT_SLICE).timedOut) return done;
        waiting = false;
        done++;
        if (done % CLOCK_EVERY === 0 && performance.now() >= deadline) break;
      }
      return done;
    },
    async async(done, deadline) {
      while (done < iterations) {
        ping();
        while (!answered()) await latch.wait(); // no timeout needed: wait() leaves the event loop free
        done++;
        if (done % CLOCK_EVERY === 0 && performance.now() >= deadline) break;
      }
      return done;
    },
  };
}

/** The scope's function: registers the worker, plays every round, returns the time it took. */
async function pingPong(scope, { iterations, killAfter, wait, progressMs, runtime }) {
  const worker = scope.register({
    runtime,
    entry: new URL('./worker.mjs', import.meta.url),
    name: 'pong',
    ephemeral: true,
    precious: true,
    data: { iterations, killAfter, wait },
  });
  await worker.waitForStartup();
  const where = runtime === 'process' ? `process ${worker.pid}` : `thread ${worker.threadId}`;
  console.error(`pingpong: running: worker "${worker.name}" (${where}), ${iterations} round trips, --wait ${wait}`);
  const burst = player(scope, worker, iterations)[wait];
  const started = performance.now();
  let nextProgress = progressMs > 0 ? started + progressMs : Infinity;
  let done = 0;
  while (done < iterations) {
    done = wait === 'sync' ? burst(done, performance.now() + BURST_MS) : await burst(done, performance.now() + BURST_MS);
    const now = performance.now();
    if (now >= nextProgress) {
      console.error(`pingpong: progress: ${done}/${iterations} round trips, ${((now - started) / 1000).toFixed(1)} s`);
      nextProgress = now + progressMs;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const exit = await worker.waitForShutdown();
  if (exit.result !== iterations) throw new Error(`worker "${worker.name}" ended with ${exit.reason}, result ${exit.result}`);
  return seconds;
}

async function main() {
  let options;
  try {
    options = parseCli(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`pingpong: ${err.message}\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }

  // SIGINT/SIGTERM: every scope aborts with ShutdownSignalError; a second one forces the worker.
  const supervisor = await Supervisor.start({ logger: false, handleSignals: { exit: false, metrics: null, relay: [] } });
  let code = 0;
  try {
    const seconds = await supervisor.scope((scope) => pingPong(scope, options), { name: 'pingpong' });
    const rate = Math.round(options.iterations / seconds);
    console.log(`${options.iterations} round trips in ${seconds.toFixed(3)} s: ${rate} round trips/s`);
  } catch (err) {
    code = EXIT_FAILED;
    if (err?.code === 'ERR_SHUTDOWN_SIGNAL') {
      console.error(`pingpong: stopped: received ${err.signal}`);
      code = 128 + constants.signals[err.signal];
    } else if (err?.code === 'ERR_PRECIOUS_WORKER_DIED') console.error(`pingpong: ${err.code}: ${err.message}`);
    else console.error('pingpong: failed:', err);
  } finally {
    await supervisor.shutdown({ timeoutMs: SHUTDOWN_TIMEOUT_MS });
  }
  // The scope already waited for its worker; this proves nothing outlived shutdown either.
  const left = supervisor.workers();
  if (left.length > 0 || supervisor.metrics().slots.used > 0) {
    console.error(`pingpong: bug: ${left.length} worker(s) survived shutdown: ${left.map((w) => w.name).join(', ')}`);
    return EXIT_LEAKED;
  }
  return code;
}

// Exit by draining the event loop, not process.exit(): if a thread or handle were left behind, the process
// would hang instead of hiding it.
process.exitCode = await main();
