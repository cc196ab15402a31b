// The worker side of the quickstart: sums the integers in [from, to) and returns the sum.
import { defineWorker } from 'bgworkers/worker';

export default defineWorker((ctx) => {
  const { from, to } = ctx.data;
  let sum = 0;
  for (let i = from; i < to; i++) {
    if ((i & 0xffff) === 0) ctx.checkForInterrupts(); // throws TerminationRequestedError once asked to stop
    sum += i;
  }
  return sum;
});
