/**
 * The supervisor thread's entry: wires the real dependencies of the supervisor loop (loop.ts) — the slot table
 * and the registrant's words from workerData, the mailbox, the thread and process runtimes, the real clock — and
 * starts it. It runs in its own worker thread so that a registrant that never yields cannot delay a start, a stop
 * or the detection of a death.
 *
 * Order: the thread runtime starts its spares first, then the loop listens to parentPort, then it posts 'ready'.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SlotTable, wordsOf } from '../shared/layout.js';
import { deliverInterrupt } from '../shared/latch.js';
import type { SupervisorInit, SupervisorRequest } from '../shared/protocol.js';
import { realClock } from './clock.js';
import { SupervisorLoop } from './loop.js';
import { ignoreInProcessWorkers, startProcess } from './runtimes/process.js';
import { ThreadRuntime } from './runtimes/thread.js';
import { SignalWatcher, canWatchSignals } from './signal-watcher.js';
import { UsageSampler } from './usage-sampler.js';

const init = workerData as SupervisorInit;
const mailbox = init.mailbox;
const threads = new ThreadRuntime(init.spareWorkers);
ignoreInProcessWorkers(init.childIgnoredSignals);
const registrant = wordsOf(init.registrant);
// A shutdown signal to the process group reaches the registrant even while it spins: message first, then interrupt.
const watcher = init.watchSignals.length > 0 && canWatchSignals()
  ? new SignalWatcher(init.watchSignals, (signal) => {
    mailbox.postMessage({ t: 'signal', signal });
    deliverInterrupt(registrant.i32, registrant.interrupt, registrant.latch);
  })
  : undefined;
const table = new SlotTable(init.table);
const loop = new SupervisorLoop({
  table,
  registrant,
  logLevel: init.logLevel,
  post: (msg, transfer) => mailbox.postMessage(msg, transfer),
  runtimes: {
    thread: (info, events) => threads.start(info, events),
    process: startProcess,
    close: () => threads.close(),
  },
  clock: realClock,
  close: () => {
    watcher?.close();
    sampler.close();
    mailbox.close();
    parentPort!.close();
  },
});

const sampler = new UsageSampler(table, (fn) => loop.forEachRunner(fn));

parentPort!.on('message', (req: SupervisorRequest) => loop.handle(req));
loop.start();
