/**
 * Found by the soak (issue 4): a slot reused before the registrant has applied its previous worker's 'stopped'
 * message. The supervisor frees a slot first and posts 'stopped' after (slots.ts invariant 1), so a register()
 * made in between claims the slot while the old worker's record is still live. G10: "A slot is reused only with
 * a new id, so a stale handle never reports another worker's state" — and the old handle must still settle.
 *
 * Decided by order alone: the registrant spins, without yielding (so its mailbox is not drained), until the old
 * worker's slot is free in shared memory (its handle reads `stopped`), then registers into that very slot.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Supervisor, WorkerHandle } from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor, type Runtime } from '../helpers.js';

const ECHO = fixture('echo.mjs');
const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
/** Hang detector only: the old handle's exit is already known to the supervisor when we wait for it. */
const HANG_MS = 3000;

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: never settled (waited ${HANG_MS} ms)`)), HANG_MS)));
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

/** Spins without yielding until `h`'s slot is free in shared memory; its 'stopped' message is not applied yet. */
function spinUntilSlotFree(h: WorkerHandle): void {
  const deadline = performance.now() + HANG_MS;
  while (h.state !== 'stopped') if (performance.now() > deadline) throw new Error(`worker ${h.name} never stopped`);
}

describe.each(RUNTIMES)('a slot reused before its previous stop was applied (%s runtime)', (runtime: Runtime) => {
  async function oneSlot(): Promise<Supervisor> {
    return startSupervisor({ maxWorkers: 1 });
  }

  it("the old handle's waitForShutdown() still settles with its own exit; the new one with its own", async () => {
    const sup = await oneSlot();
    const old = sup.register({ runtime, entry: ECHO, data: 'old' });
    spinUntilSlotFree(old);
    const next = sup.register({ runtime, entry: ECHO, data: 'next' }); // the only slot: the same one
    expect(old.id).not.toBe(next.id);
    expect(old.state).toBe('stopped'); // a stale handle never reports the new worker's state
    const [oldExit, nextExit] = await Promise.all([within(old.waitForShutdown(), 'old.waitForShutdown()'), within(next.waitForShutdown(), 'next.waitForShutdown()')]);
    expect(oldExit).toMatchObject({ reason: 'completed', result: 'old' });
    expect(nextExit).toMatchObject({ reason: 'completed', result: 'next' });
    expect(sup.metrics().exits.completed).toBe(2);
  });

  it('a scope whose ephemeral worker stopped that way still settles', async () => {
    const sup = await oneSlot();
    let next!: WorkerHandle;
    const value = within(
      sup.scope((scope) => {
        const old = scope.register({ runtime, entry: ECHO, data: 'old', ephemeral: true });
        spinUntilSlotFree(old);
        next = sup.register({ runtime, entry: ECHO, data: 'next' });
        return 'committed';
      }),
      'the scope',
    );
    await expect(value).resolves.toBe('committed');
    expect((await within(next.waitForShutdown(), 'next.waitForShutdown()')).result).toBe('next');
  });

  it('a registrant whose only pending work is the old exit stays alive for it (no exit 13 with work pending)', async () => {
    // A whole program: the supervisor keeps the process alive only while a worker is registered, so a lost record
    // lets the process exit with the old handle's waitForShutdown() still pending ("unsettled top-level await").
    const program = `
      import { Supervisor } from ${JSON.stringify(DIST)};
      const sup = await Supervisor.start({ logger: false, maxWorkers: 1 });
      const old = sup.register({ runtime: '${runtime}', entry: ${JSON.stringify(ECHO)}, data: 'old' });
      while (old.state !== 'stopped');
      const next = sup.register({ runtime: '${runtime}', entry: ${JSON.stringify(ECHO)}, data: 'next' });
      await next.waitForShutdown();
      console.log((await old.waitForShutdown()).result);
      await sup.shutdown();`;
    // (A file, not `--input-type=module -e`: workers inherit execArgv, and Node refuses --input-type in a worker.)
    const file = join(mkdtempSync(join(tmpdir(), 'bgw-reuse-')), 'registrant.mjs');
    writeFileSync(file, program);
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await within(new Promise<number | null>((resolve) => child.once('exit', resolve)), 'the child program');
    expect({ code, out: out.trim() }).toEqual({ code: 0, out: 'old' });
  });
});
