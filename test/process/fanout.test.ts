/**
 * The fan-out example as a whole program: a query over shards succeeds, and a shard worker that crashes aborts
 * the query at once (ERR_PRECIOUS_WORKER_DIED, exit 1) with nothing left running.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RUN_TIMEOUT_MS = 15_000;

function fanout(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['examples/fanout/main.mjs', ...args], { cwd: ROOT, encoding: 'utf8', timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.each(['thread', 'process'])('fanout example, --runtime %s', { timeout: 20_000 }, (runtime) => {
  it('answers the query with the top hits', () => {
    const r = fanout(['--runtime', runtime, '--shards', '6', '--docs-per-shard', '1000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/over 6 shards x 1000 docs on 2 \w+ workers: \d+ matches/);
    expect(r.stdout.trim().split('\n')).toHaveLength(11);
  });

  it('a crashing shard worker aborts the whole query', () => {
    const r = fanout(['--runtime', runtime, '--shards', '6', '--docs-per-shard', '1000', '--crash-shard', '3']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('ERR_PRECIOUS_WORKER_DIED');
    expect(r.stdout).toBe('');
  });
});
