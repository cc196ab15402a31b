/**
 * G7 latches across threads: handle.latch ↔ ctx.latch, ctx.registrantLatch ↔ myLatch(); interrupts set latches.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { myLatch, type Supervisor, type WorkerHandle } from '../../dist/index.js';
import { kCore } from '../../dist/registrant/client.js';
import { LATCH_SLEEPERS } from '../../dist/shared/layout.js';
import { fixture, RUNTIMES, startSupervisor, until } from '../helpers.js';

/**
 * Resolves once the worker is asleep on its latch. A thread worker counts itself in its slot's sleeper word just
 * before Atomics.wait (latch.ts); a process worker's latch is local to the child, so there the cue is the
 * child's main thread blocked in a futex wait (Linux /proc), which it enters only in Atomics.wait.
 */
async function untilAsleep(sup: Supervisor, h: WorkerHandle): Promise<void> {
  if (h.pid === undefined) {
    const core = sup[kCore];
    const record = [...core.registry.all()].find((r) => r.id === h.id)!;
    const at = core.table.at(record.slot, LATCH_SLEEPERS);
    await until(() => Atomics.load(core.table.i32, at) > 0, 'the worker to sleep on its latch');
  } else {
    const wchan = (): string => readFileSync(`/proc/${h.pid}/task/${h.pid}/wchan`, 'utf8');
    await until(() => wchan().startsWith('futex'), 'the child to sleep on its latch');
  }
}

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

    it('a termination request wakes a worker asleep on its latch, before its grace runs out', async () => {
      // The worker's wait has a 10 s timeout and its grace is 5 s: only the latch set by the request ends the wait
      // before the forced stop. A wake-up that is lost shows as a forced stop, not as a slow test.
      const sup = await startSupervisor({ gracefulTimeoutMs: 5000 });
      const h = sup.register({ runtime, entry: fixture('latch-pong.mjs'), data: { rounds: 1, sync: true } });
      await h.waitForStartup();
      await untilAsleep(sup, h);
      h.terminate();
      const exit = await h.waitForShutdown();
      expect(exit.reason).toBe('terminated');
      expect(sup.metrics().terminations).toEqual({ graceful: 1, forced: 0 });
    });

    it('a set made before the worker starts is kept for it (a process worker: relayed once the child is forked)', async () => {
      // register() returns before the supervisor thread has even forked the child, so this set finds no line into
      // the child's pipe and goes through the slot's latch word. The worker waits for one set only: a set lost
      // on the way leaves it waiting, and the registrant's wait below times out.
      const sup = await startSupervisor();
      const me = myLatch();
      me.reset();
      const h = sup.register({ runtime, entry: fixture('latch-pong.mjs'), data: { rounds: 1, sync: true } });
      h.latch.set();
      expect(me.waitSync({ timeoutMs: 8000 }).latchSet).toBe(true);
      expect((await h.waitForShutdown()).reason).toBe('completed');
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
