/**
 * A registrant started with `node -e '…'`: its process workers must not inherit `-e` (the child would run the
 * registrant's script again instead of its bootstrap, and fork again for every process worker it registers).
 * The child runs its entry once and its result comes back; exactly one child process ever ran.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { inheritedExecArgv } from '../../src/shared/exec-argv.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = fileURLToPath(new URL('../fixtures/process-info.mjs', import.meta.url));

describe('a registrant run with node -e', () => {
  it('inheritedExecArgv drops what would replace the bootstrap, and keeps the rest', () => {
    expect(inheritedExecArgv(['--no-warnings', '-e', 'code()', '--max-old-space-size=64'])).toEqual(['--no-warnings', '--max-old-space-size=64']);
    expect(inheritedExecArgv(['--eval=code()', '-p', 'x', '--input-type', 'module', '--enable-source-maps'])).toEqual(['--enable-source-maps']);
    expect(inheritedExecArgv(['--input-type=module', '--print', 'y', '-i', '-c', '--test'])).toEqual([]);
  });

  it('a process worker registered from `node -e` runs its entry, once', async () => {
    const script = `
      import { Supervisor } from 'bgworkers';
      const sup = await Supervisor.start({ logger: false });
      const h = sup.register({ entry: ${JSON.stringify(ENTRY)}, runtime: 'process' });
      const exit = await h.waitForShutdown();
      console.log(JSON.stringify({ reason: exit.reason, pid: typeof exit.result?.pid }));
      await sup.shutdown();
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, timeout: 15_000 });
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1); // a child that ran the script again would print a line of its own
    expect(JSON.parse(lines[0]!)).toEqual({ reason: 'completed', pid: 'number' });
  }, 20_000);
});
