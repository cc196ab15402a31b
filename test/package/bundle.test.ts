/**
 * The worker-side bundle (scripts/bundle-worker-side.mjs), on this worktree's dist/:
 * - one instance per thread: `bgworkers`, `bgworkers/worker` and a deep import of a bundled module give the very
 *   same functions and classes (a second copy would have its own channels, latches and worker context);
 * - the main modules of worker threads and processes import nothing of the library but the bundle, so a fresh
 *   worker loads two modules before its entry, not the worker side's module graph;
 * - stacks still point at src/: a worker's failure, in a registrant run with --enable-source-maps, names the
 *   src/ file of the bundled code that called main.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as registrantSide from '../../dist/index.js';
import * as workerSide from '../../dist/worker.js';
import * as interrupts from '../../dist/scope/interrupts.js';
import * as errors from '../../dist/errors.js';
import { fixture } from '../helpers.js';

const run = promisify(execFile);
const dist = (path: string): string => fileURLToPath(new URL(`../../dist/${path}`, import.meta.url));

/** The library modules a dist/ file imports statically, each once (node: built-ins and packages left out). */
function libraryImports(path: string): string[] {
  const text = readFileSync(dist(path), 'utf8');
  const specifiers = [...text.matchAll(/^(?:import|export)\b[^;]*?from\s*"([^"]+)"|^import\s*"([^"]+)"/gm)].map((m) => m[1] ?? m[2]!);
  return [...new Set(specifiers.filter((s) => s.startsWith('.')))];
}

describe('the worker-side bundle', () => {
  it('is one instance whatever the import path', () => {
    expect(workerSide.checkForInterrupts).toBe(registrantSide.checkForInterrupts);
    expect(workerSide.myLatch).toBe(registrantSide.myLatch);
    expect(workerSide.holdInterrupts).toBe(registrantSide.holdInterrupts);
    expect(workerSide.Poison).toBe(registrantSide.Poison);
    expect(workerSide.SharedPoison).toBe(registrantSide.SharedPoison);
    expect(workerSide.TerminationRequestedError).toBe(registrantSide.TerminationRequestedError);
    expect(interrupts.checkForInterrupts).toBe(registrantSide.checkForInterrupts);
    expect(errors.PreciousWorkerDiedError).toBe(registrantSide.PreciousWorkerDiedError);
  });

  it('is all that the thread and process main modules load of the library', () => {
    expect(libraryImports('worker/bootstrap.js')).toEqual(['../worker-side.js']);
    expect(libraryImports('worker/process-bootstrap.js')).toEqual(['../worker-side.js']);
    expect(libraryImports('worker.js')).toEqual(['./worker-side.js']);
  });

  it('maps a worker failure stack back to src/ under --enable-source-maps', async () => {
    const script = `
      const { Supervisor } = await import(${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)});
      const sup = await Supervisor.start({ logger: false });
      const exit = await sup.register({ entry: ${JSON.stringify(fixture('throws.mjs'))} }).waitForShutdown();
      await sup.shutdown();
      process.stdout.write(exit.error.stack);`;
    const { stdout } = await run(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', script], { timeout: 30_000 });
    expect(stdout).toContain('boom');
    expect(stdout).toMatch(/src\/worker\/run\.ts:\d+/);
  }, 40_000);
});
