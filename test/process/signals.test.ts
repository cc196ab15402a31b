/**
 * handleSignals (G18) with real signals, on a registrant in a child process: SIGINT → every scope aborted with
 * ShutdownSignalError, exit 130; SIGTERM → 143; a second signal forces a worker that ignores termination; SIGUSR2
 * logs exactly one metrics line and changes nothing. Signals are sent on the child's own output cues ("ready",
 * the shutdown log line), never after a sleep. In process: handlers are installed only when asked and all removed
 * at shutdown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InvalidWorkerSpecError, Supervisor } from '../../dist/index.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/signal-registrant.mjs', import.meta.url));
const TIMEOUT = 20_000;

interface Child {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  /** Resolves with the first line matching `pred` (already seen or to come). */
  line(pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(mode: 'polite' | 'stubborn' | 'relay'): Child {
  const proc = spawn(process.execPath, [FIXTURE, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    const l = JSON.parse(text) as Record<string, unknown>;
    lines.push(l);
    for (const w of [...waiters]) if (w.pred(l)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(l));
  });
  const kill = setTimeout(() => proc.kill('SIGKILL'), TIMEOUT - 2000);
  const exit = once(proc, 'exit').then(([code, signal]) => (clearTimeout(kill), { code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const line = (pred: (l: Record<string, unknown>) => boolean) => {
    const seen = lines.find(pred);
    return seen !== undefined ? Promise.resolve(seen) : new Promise<Record<string, unknown>>((resolve) => waiters.push({ pred, resolve }));
  };
  return { proc, lines, line, exit };
}

describe('handleSignals, real signals', () => {
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${sig}: every scope aborts with ShutdownSignalError, the worker stops, exit ${code}`, async () => {
      const c = start('polite');
      await c.line((l) => l['ready'] === true);
      c.proc.kill(sig);
      expect(await c.exit).toEqual({ code, signal: null });
      expect(c.lines).toContainEqual({ scope: 'ERR_SHUTDOWN_SIGNAL', signal: sig });
      expect(c.lines.some((l) => l['msg'] === 'shutdown signal: aborting every scope and stopping every worker')).toBe(true);
      expect(c.lines.some((l) => l['msg'] === 'worker did not stop within its graceful timeout; stopped by force')).toBe(false);
    }, TIMEOUT);
  }

  it('a second signal forces a worker that ignores termination (its grace is 60 s)', async () => {
    const c = start('stubborn');
    await c.line((l) => l['ready'] === true);
    c.proc.kill('SIGTERM');
    await c.line((l) => l['msg'] === 'shutdown signal: aborting every scope and stopping every worker');
    c.proc.kill('SIGTERM');
    expect(await c.exit).toEqual({ code: 143, signal: null });
    expect(c.lines.some((l) => l['msg'] === 'second shutdown signal: stopping every worker by force')).toBe(true);
  }, TIMEOUT);

  it('SIGHUP is relayed to a thread and a process worker, once each', async () => {
    const c = start('relay');
    await c.line((l) => l['ready'] === true);
    c.proc.kill('SIGHUP');
    await c.line((l) => l['runtime'] === 'thread' && l['signal'] === 'SIGHUP');
    await c.line((l) => l['runtime'] === 'process' && l['signal'] === 'SIGHUP');
    c.proc.kill('SIGTERM');
    expect(await c.exit).toEqual({ code: 143, signal: null });
    const hups = c.lines.filter((l) => l['signal'] === 'SIGHUP');
    expect(hups).toHaveLength(2); // once each
    expect(hups).toEqual(expect.arrayContaining([{ runtime: 'thread', signal: 'SIGHUP' }, { runtime: 'process', signal: 'SIGHUP' }]));
  }, TIMEOUT);

  it('SIGUSR2 logs exactly one metrics line and changes nothing', async () => {
    const c = start('polite');
    await c.line((l) => l['ready'] === true);
    c.proc.kill('SIGUSR2');
    const m = await c.line((l) => l['msg'] === 'metrics');
    expect(m).toMatchObject({ level: 30, pid: c.proc.pid, workers: { running: 1 }, slots: { used: 1 } });
    c.proc.kill('SIGTERM'); // still running: ends the normal way
    expect(await c.exit).toEqual({ code: 143, signal: null });
    expect(c.lines.filter((l) => l['msg'] === 'metrics')).toHaveLength(1);
  }, TIMEOUT);
});

describe('handleSignals, in process', () => {
  const count = () => ['SIGINT', 'SIGTERM', 'SIGUSR2'].map((s) => process.listenerCount(s));

  it('installs nothing unless asked; installs one handler per signal when asked; removes every one at shutdown', async () => {
    const before = count();
    const hup = process.listenerCount('SIGHUP');
    const quiet = await Supervisor.start({ logger: false });
    expect(count()).toEqual(before);
    await quiet.shutdown();
    const sup = await Supervisor.start({ logger: false, handleSignals: true });
    expect(count()).toEqual(before.map((n) => n + 1));
    expect(process.listenerCount('SIGHUP')).toBe(hup + 1); // the relay
    await sup.shutdown();
    expect(count()).toEqual(before);
    expect(process.listenerCount('SIGHUP')).toBe(hup);
  });

  it('bad handleSignals options name the field', async () => {
    for (const [v, field] of [[{ shutdown: ['SIGKILL'] }, 'handleSignals.shutdown[0]'], [{ metrics: 'NOPE' }, 'handleSignals.metrics'], [{ relay: ['SIGTERM'] }, 'handleSignals.relay[0]'], [{ nope: 1 }, 'handleSignals.nope'], [{ exit: 1 }, 'handleSignals.exit'], ['yes', 'handleSignals']] as const) {
      const err = await Supervisor.start({ logger: false, handleSignals: v as never }).then(
        async (s) => (await s.shutdown(), undefined),
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(v)).toBeInstanceOf(InvalidWorkerSpecError);
      expect((err as InvalidWorkerSpecError).field).toBe(field);
    }
  });
});
