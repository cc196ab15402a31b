/**
 * G18, a busy registrant (issue 13.2): a registrant spinning on checkForInterrupts() in one synchronous loop that
 * never yields sees a shutdown signal sent to its process group (what Ctrl-C does) — the check throws
 * ShutdownSignalError inside the loop — because the supervisor thread's signal watcher delivers it. The controls
 * show the limits: with `busy: false`, and for a signal sent to the pid alone, the loop runs to its end (the
 * fixture's cap) and the signal is handled only once it yields. The child is its own process-group leader
 * (detached), so `kill(-pid)` reaches only it and its helpers. Signals are sent on the child's "ready" line.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('../fixtures/busy-signal-registrant.mjs', import.meta.url));
const TIMEOUT = 20_000;
/** How long the fixture spins at most: far longer than a delivered signal takes, short enough for the controls. */
const CAP_MS = 2500;

async function run(target: 'group' | 'pid', sig: NodeJS.Signals, flag = ''): Promise<{ code: number | null; lines: Record<string, unknown>[] }> {
  const proc = spawn(process.execPath, [FIXTURE, String(CAP_MS), flag], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const lines: Record<string, unknown>[] = [];
  const kill = setTimeout(() => proc.kill('SIGKILL'), TIMEOUT - 2000);
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    const l = JSON.parse(text) as Record<string, unknown>;
    lines.push(l);
    if (l['ready'] === true) process.kill(target === 'group' ? -proc.pid! : proc.pid!, sig);
  });
  const [code] = (await once(proc, 'exit')) as [number | null];
  clearTimeout(kill);
  return { code, lines };
}

describe('handleSignals reaches a registrant busy in a synchronous loop', () => {
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${sig} to the process group: checkForInterrupts() throws ShutdownSignalError inside the loop; exit ${code}`, async () => {
      const r = await run('group', sig);
      expect(r.lines.find((l) => 'thrown' in l || 'spun' in l)).toMatchObject({ thrown: 'ERR_SHUTDOWN_SIGNAL', signal: sig });
      expect(r.lines).toContainEqual({ scope: 'ERR_SHUTDOWN_SIGNAL', signal: sig });
      expect(r.code).toBe(code);
    }, TIMEOUT);
  }

  it('control: with busy: false the loop runs to its end; the signal is handled when it yields', async () => {
    const r = await run('group', 'SIGINT', 'busy-off');
    expect(r.lines.find((l) => 'thrown' in l || 'spun' in l)).toMatchObject({ spun: true });
    expect(r.lines).toContainEqual({ scope: 'ERR_SHUTDOWN_SIGNAL', signal: 'SIGINT' });
    expect(r.code).toBe(130);
  }, TIMEOUT);

  it('limit: a signal sent to the pid alone reaches only the main thread, so it waits for the loop to yield', async () => {
    const r = await run('pid', 'SIGTERM');
    expect(r.lines.find((l) => 'thrown' in l || 'spun' in l)).toMatchObject({ spun: true });
    expect(r.lines).toContainEqual({ scope: 'ERR_SHUTDOWN_SIGNAL', signal: 'SIGTERM' });
    expect(r.code).toBe(143);
  }, TIMEOUT);
});
