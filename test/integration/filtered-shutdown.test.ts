/**
 * G14 end to end: shutdownWorkers/shutdownTasks stop exactly what matches when called (others untouched, later
 * registrations not included), all at once, and name stragglers in "still waiting" lines. Orders are decided by
 * the log lines themselves (the test releases a straggler only after its complaint is logged) and by latches.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { InvalidWorkerSpecError, type TaskHandle } from '../../dist/index.js';
import { fixture, startSupervisor, until } from '../helpers.js';
import { memoryDestination } from '../json-lines.js';

function logged() {
  const { stream, lines } = memoryDestination();
  const logger = pino({ level: 'info' }, stream);
  const msgs = (): string[] => lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  return { logger, msgs };
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
}

describe('G14 shutdownTasks', () => {
  it("cancels exactly one tenant's tasks, at once; the others keep running", async () => {
    const { logger } = logged();
    const sup = await startSupervisor({ logger });
    await sup.scope(async (scope) => {
      const a1 = scope.spawn((t) => aborted(t.signal), { name: 'a-flush', kind: 'flush', labels: { tenant: 'a' } });
      const a2 = scope.spawn((t) => aborted(t.signal), { name: 'a-compact', kind: 'compact', labels: { tenant: 'a', timeline: '1' } });
      const b1 = scope.spawn((t) => aborted(t.signal), { name: 'b-flush', kind: 'flush', labels: { tenant: 'b' } });
      await Promise.resolve();
      const exits = await sup.shutdownTasks({ labels: { tenant: 'a' } }, { complainAfterMs: 60_000 });
      expect(exits.map((e) => e.reason)).toEqual(['cancelled', 'cancelled']);
      expect((exits[0]!.error as Error).message).toContain('shutdownTasks');
      expect([a1.state, a2.state, b1.state]).toEqual(['stopped', 'stopped', 'running']);
      expect(sup.tasks().map((t) => t.name)).toEqual(['b-flush']);
      // by kind and name too; a filter that matches nothing resolves with nothing
      expect(await sup.shutdownTasks({ kind: 'compact' })).toEqual([]);
      expect(await sup.shutdownTasks({ name: 'b-flush' }, { complainAfterMs: 60_000 })).toHaveLength(1);
    });
  });

  it('names a task that ignores its cancel: "still waiting", then "shut down after"; resolves once it stops', async () => {
    const { logger, msgs } = logged();
    const sup = await startSupervisor({ logger });
    let release!: () => void;
    await sup.scope(async (scope) => {
      scope.spawn(() => new Promise<void>((r) => (release = r)), { name: 'stubborn', labels: { tenant: 'a' } });
      await Promise.resolve();
      const done = sup.shutdownTasks({ labels: { tenant: 'a' } }, { complainAfterMs: 0, complainEveryMs: 60_000 });
      await until(() => msgs().includes('still waiting for stubborn to shut down'), 'the complaint');
      release();
      const exits = await done;
      expect(exits).toEqual([{ reason: 'completed', result: undefined }]);
      expect(msgs().filter((m) => m.startsWith('stubborn shut down after'))).toHaveLength(1);
    });
  });

  it('timeoutMs: a task that never stops is reported stillRunning (tasks cannot be forced)', async () => {
    const sup = await startSupervisor();
    let h!: TaskHandle;
    let release!: () => void;
    await sup.scope(async (scope) => {
      h = scope.spawn(() => new Promise<void>((r) => (release = r)), { kind: 'stuck' });
      await Promise.resolve();
      const [exit] = await sup.shutdownTasks({ kind: 'stuck' }, { timeoutMs: 20, complainAfterMs: 60_000 });
      expect(exit).toMatchObject({ reason: 'cancelled', stillRunning: true });
      expect((exit!.error as Error).message).toContain('cannot be forced');
      expect(h.state).toBe('cancelling');
      release();
    });
  });

  it('bad filters and options are typed errors', async () => {
    const sup = await startSupervisor();
    await expect(sup.shutdownTasks({ tenant: 'a' } as never)).rejects.toBeInstanceOf(InvalidWorkerSpecError);
    await expect(sup.shutdownTasks({}, { complainAfterMs: -1 })).rejects.toBeInstanceOf(InvalidWorkerSpecError);
    await expect(sup.shutdownWorkers({ scopeId: 1.5 })).rejects.toBeInstanceOf(InvalidWorkerSpecError);
  });
});

describe('G14 shutdownWorkers', () => {
  it('terminates exactly the matching workers, all at once; others and later registrations are untouched', async () => {
    const sup = await startSupervisor();
    const entry = fixture('wait-forever.mjs');
    const a = [0, 1, 2].map((i) => sup.register({ entry, kind: 'compactor', labels: { tenant: 'a' }, name: `a${i}` }));
    const b = sup.register({ entry, kind: 'compactor', labels: { tenant: 'b' }, name: 'b0' });
    await Promise.all([...a, b].map((h) => h.waitForStartup()));
    const done = sup.shutdownWorkers({ labels: { tenant: 'a' } }, { complainAfterMs: 60_000 });
    // All at once: every match has its termination requested before anything is awaited.
    expect(a.map((h) => h.state)).toEqual(['stopping', 'stopping', 'stopping']);
    const late = sup.register({ entry, kind: 'compactor', labels: { tenant: 'a' }, name: 'late' });
    const exits = await done;
    expect(exits.map((e) => e.reason)).toEqual(['terminated', 'terminated', 'terminated']);
    expect(b.state).toBe('running');
    await late.waitForStartup();
    expect(late.state).toBe('running');
    expect(sup.workers().map((w) => w.name).sort()).toEqual(['b0', 'late']);
  });

  it('timeoutMs forces the ones that ignore their stop; the cooperative one stops gracefully', async () => {
    const sup = await startSupervisor({ gracefulTimeoutMs: 60_000 });
    const stubborn = sup.register({ entry: fixture('ignore-signal.mjs'), kind: 'k' });
    const polite = sup.register({ entry: fixture('wait-forever.mjs'), kind: 'k' });
    await Promise.all([stubborn.waitForStartup(), polite.waitForStartup()]);
    const exits = await sup.shutdownWorkers({ kind: 'k' }, { timeoutMs: 50, complainAfterMs: 60_000 });
    expect(exits.map((e) => e.reason)).toEqual(['terminated', 'terminated']);
    expect(sup.metrics().terminations).toMatchObject({ forced: 1, graceful: 1 });
  });

  it('complains about a worker still stopping, by name', async () => {
    const { logger, msgs } = logged();
    const sup = await startSupervisor({ logger, gracefulTimeoutMs: 60_000 });
    const h = sup.register({ entry: fixture('ignore-signal.mjs'), name: 'slow-uploader' });
    await h.waitForStartup();
    const done = sup.shutdownWorkers({ name: 'slow-uploader' }, { complainAfterMs: 0, complainEveryMs: 60_000 });
    await until(() => msgs().includes('still waiting for slow-uploader to shut down'), 'the complaint');
    await sup.shutdown({ timeoutMs: 0 }); // forces it: the filtered shutdown resolves with its exit
    const [exit] = await done;
    expect(exit?.reason).toBe('terminated');
    expect(msgs().some((m) => m.startsWith('slow-uploader shut down after'))).toBe(true);
  });
});
