// A worker module for the type tests (never run): data { n: number }, result number (main is async).
import { defineWorker } from 'bgworkers/worker';

export default defineWorker(async (ctx: { data: { n: number }; checkForInterrupts(): void }) => {
  let sum = 0;
  for (let i = 0; i < ctx.data.n; i++) sum += i;
  return sum;
});

/** Typed by its type arguments instead of its main's parameter. */
export const label = defineWorker<{ prefix: string }, string>((ctx) => `${ctx.data.prefix}!`);

/** No types given: data and result unknown. */
export const untyped = defineWorker(() => 1);
