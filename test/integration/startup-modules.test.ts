/**
 * The worker side's start-up path loads no built-in module that a bare `new Worker()` does not
 * (src/shared/builtins.ts): a fresh thread worker, by the time its main runs, has loaded a subset of what a bare
 * ES module worker has loaded by its first line. An ES `import` of a built-in from the worker side builds the
 * module's namespace and loads its lazy parts (node:util's parseArgs and MIMEType, node:fs's streams, node:module's
 * source maps), and a module only a rare path needs (node:os) belongs on that path: each costs a cold start
 * 0.1-0.3 ms. Both lists come from the same Node, so the comparison holds across versions.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { fixture, startSupervisor } from '../helpers.js';

async function bareList(): Promise<string[]> {
  const w = new Worker(fixture('bare-module-list.mjs'));
  try {
    return await new Promise<string[]>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  } finally {
    await w.terminate();
  }
}

describe('start-up modules', () => {
  it('a thread worker has loaded no built-in module a bare Worker has not, when its main runs', { timeout: 20_000 }, async () => {
    const bare = new Set(await bareList());
    const sup = await startSupervisor();
    const h = sup.register({ entry: fixture('module-list.mjs') });
    const ours = await new Promise<string[]>((resolve) => h.port.on('message', (list) => resolve(list as string[])));
    h.terminate();
    expect((await h.waitForShutdown()).reason).toBe('terminated');
    expect(ours.length).toBeGreaterThan(50); // a real list (Node's bootstrap alone loads many)
    expect(ours.filter((m) => !bare.has(m))).toEqual([]);
  });
});
