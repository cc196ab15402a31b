/**
 * CommonJS users: `require('bgworkers')` in a registrant and `require('bgworkers/worker')` in a worker entry, on
 * both runtimes. The package ships one ESM build; Node (>= 20.19, >= 22.12) loads it for require() too
 * (require(esm)), so a CommonJS and an ESM user in one process share one copy of the library's state.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { RUNTIMES, fixture, startSupervisor } from '../helpers.js';

const run = promisify(execFile);

describe('CommonJS', () => {
  it.each(RUNTIMES)('a CommonJS worker entry (require bgworkers/worker) runs on the %s runtime', async (runtime) => {
    const sup = await startSupervisor();
    const h = sup.register({ entry: fixture('cjs-worker.cjs'), data: { n: 7 }, runtime });
    const exit = await h.waitForShutdown();
    expect(exit).toMatchObject({ reason: 'completed', code: 0, result: { data: { n: 7 }, commonjs: true } });
    const pid = (exit.result as { pid: number }).pid;
    if (runtime === 'process') expect(pid).not.toBe(process.pid);
    else expect(pid).toBe(process.pid);
  });

  it('a CommonJS registrant (require bgworkers) runs CommonJS workers on both runtimes, with one copy of the library', async () => {
    const { stdout, stderr } = await run(process.execPath, [fixture('cjs-registrant.cjs')], { timeout: 30_000 });
    expect(stderr).toBe(''); // no ExperimentalWarning, no error
    const out = JSON.parse(stdout) as {
      exits: Record<string, { reason: string; result: { data: unknown; commonjs: boolean; pid: number } }>;
      sameModule: boolean;
      sameScope: boolean;
      registrantPid: number;
    };
    for (const runtime of RUNTIMES) {
      expect(out.exits[runtime]).toMatchObject({ reason: 'completed', result: { data: { runtime }, commonjs: true } });
    }
    expect(out.exits['thread']!.result.pid).toBe(out.registrantPid);
    expect(out.exits['process']!.result.pid).not.toBe(out.registrantPid);
    expect(out.sameScope).toBe(true);
    expect(out.sameModule).toBe(true);
  }, 40_000);
});
