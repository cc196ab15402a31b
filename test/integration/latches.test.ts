/**
 * G7 latches across threads: handle.latch ↔ ctx.latch, ctx.registrantLatch ↔ myLatch(); interrupts set latches.
 */
import { describe, expect, it } from 'vitest';
import { myLatch } from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor } from '../helpers.js';

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  describe('G7 latches', () => {
    for (const sync of [true, false]) {
      it(`ping-pong over latches (${sync ? 'waitSync' : 'wait'}) completes every round`, async () => {
        const sup = await startSupervisor();
        const rounds = 2000;
        const me = myLatch();
        me.reset();
        const h = sup.register<unknown, { rounds: number; own: boolean }>({ runtime, entry: fixture('latch-pong.mjs'), data: { rounds, sync } });
        await h.waitForStartup();
        for (let i = 0; i < rounds; i++) {
          h.latch.set();
          const r = sync ? me.waitSync({ timeoutMs: 10_000 }) : await me.wait({ timeoutMs: 10_000 });
          expect(r.latchSet).toBe(true);
          me.reset();
        }
        const exit = await h.waitForShutdown();
        expect(exit.result).toEqual({ rounds, own: true });
      });
    }

    it('a termination request wakes a worker asleep on its latch', async () => {
      const sup = await startSupervisor();
      const h = sup.register({ runtime, entry: fixture('latch-pong.mjs'), data: { rounds: 1, sync: true } });
      await h.waitForStartup();
      h.terminate(); // the worker is in waitSync with a 10 s timeout: only the latch set by the request wakes it early
      const t0 = performance.now();
      const exit = await h.waitForShutdown();
      expect(exit.reason).toBe('terminated');
      expect(performance.now() - t0).toBeLessThan(5000);
    });

    it("a stopped worker's latch is inert", async () => {
      const sup = await startSupervisor();
      const h = sup.register({ runtime, entry: fixture('echo.mjs') });
      await h.waitForShutdown();
      h.latch.set();
      expect(h.latch.isSet).toBe(false);
      expect(h.latch.waitSync({ timeoutMs: 1000 })).toEqual({ latchSet: false, timedOut: false, interrupted: false });
    });
  });
});
