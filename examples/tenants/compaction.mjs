// A tenant's compaction worker (a worker thread; main.mjs explains the whole demo).
//
// One compaction per wake-up: the registrant sets this worker's latch after each flush; the worker resets it,
// "compacts" the tenant's segments and posts `{ compactions }` on its port. Several sets before a wake-up count
// as one (a latch is a flag, not a queue), which is what compaction wants anyway. A termination request
// (shutdownWorkers(), or the scope's end: the worker is ephemeral) sets the latch too; the worker then returns
// how many compactions it did, so its exit is `completed` with that result.
import { defineWorker } from 'bgworkers/worker';

export default defineWorker(async (ctx) => {
  let compactions = 0;
  for (;;) {
    await ctx.latch.wait(); // no timeout needed: a termination request sets the latch
    ctx.latch.reset();
    if (ctx.signal.aborted) return compactions;
    compactions++;
    ctx.port.postMessage({ compactions });
  }
});
