// The worker side of the ping-pong demo (main.mjs explains the whole protocol).
//
// Round i: wait until the registrant sets this worker's latch, reset it, then set the registrant's latch. The
// reset comes before the answer, so the registrant's next set (which follows the answer) is never wiped out.
// A termination request sets this latch too; checkForInterrupts() then throws before the answer goes out.
import { defineWorker } from 'bgworkers/worker';

/** Exit code of the deliberate crash (`--kill-worker-after`): any non-zero code makes it a crash. */
const CRASH_EXIT_CODE = 3;

export default defineWorker(async (ctx) => {
  const { iterations, killAfter, wait } = ctx.data;
  const sync = wait === 'sync';
  for (let i = 1; i <= iterations; i++) {
    // Neither wait needs a timeout: a termination request sets this latch.
    while (!ctx.latch.isSet) {
      if (sync) ctx.latch.waitSync();
      else await ctx.latch.wait();
    }
    ctx.latch.reset();
    ctx.checkForInterrupts(); // throws TerminationRequestedError when the scope ends early
    // A crash, not a throw: the worker dies mid-protocol, the way a real bug would kill it.
    if (i === killAfter) process.exit(CRASH_EXIT_CODE);
    ctx.registrantLatch.set();
  }
  return iterations;
});
