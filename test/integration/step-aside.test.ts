/**
 * A precious thread worker that has reported its death steps aside (thread-host.ts, "Stepping aside"): its thread
 * drops to the lowest scheduling priority before its teardown, which would otherwise compete on 2 cores with the
 * registrant acting on the death (G12). Only there: a non-precious failure and a normal return keep the priority.
 * The fixture reads its own thread's nice value in a process 'exit' listener, which runs after the library's.
 */
import { describe, expect, it } from 'vitest';
import { PreciousWorkerDiedError, checkForInterrupts } from '../../dist/index.js';
import { fixture, startSupervisor } from '../helpers.js';

const LOWEST = 19;

async function lastPriority(how: 'throw' | 'exit', precious: boolean): Promise<{ before: number; last: number; error: unknown }> {
  const sup = await startSupervisor();
  const out = new Int32Array(new SharedArrayBuffer(8)).fill(-100);
  const error = await sup
    .scope(async (scope) => {
      const h = scope.register({ entry: fixture('step-aside.mjs'), data: { how, out: out.buffer }, precious });
      await h.waitForStartup();
      h.latch.set();
      await h.waitForShutdown();
      checkForInterrupts();
    })
    .then(() => undefined, (e: unknown) => e);
  return { before: out[1]!, last: out[0]!, error };
}

describe.runIf(process.platform === 'linux')('a dying precious thread worker steps aside', () => {
  for (const how of ['throw', 'exit'] as const) {
    it(`precious, death by ${how}: its thread ends at the lowest priority`, { timeout: 20_000 }, async () => {
      const { before, last, error } = await lastPriority(how, true);
      expect(error).toBeInstanceOf(PreciousWorkerDiedError);
      expect(before).toBeLessThan(LOWEST);
      expect(last).toBe(LOWEST);
    });

    it(`not precious, death by ${how}: its priority is left alone`, { timeout: 20_000 }, async () => {
      const { before, last, error } = await lastPriority(how, false);
      expect(error).toBeUndefined();
      expect(last).toBe(before);
    });
  }
});
