/**
 * The ping-pong demo as a whole program: the real CLI in a child process, its exit codes and output, signals.
 * A run's own timeout kills the child before the test's, so a hang fails the test and leaves nothing behind; a
 * worker that outlived shutdown would show as a hang (the CLI exits by draining its event loop) or as exit 70
 * (the CLI checks `supervisor.workers()` itself).
 */
import { describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../cli.js';

const CLI = 'examples/pingpong/main.mjs';
/** A run is killed (SIGKILL) after this: well below the test timeout, so the kill always happens in the test. */
const RUN_TIMEOUT_MS = 15_000;
const TEST_TIMEOUT_MS = 20_000;
/** Far more rounds than any test waits for: the run is still going when the signal arrives. */
const ENDLESS = String(2 ** 31 - 1);
/** Progress every 20 ms, so a signal test gets its cue early. */
const FAST_PROGRESS = ['--progress-ms', '20'];
/** The first progress line with at least one round trip done: the run is mid-way. */
const MID_RUN = /^pingpong: progress: [1-9]\d*\//m;
const SUMMARY = /^(\d+) round trips in (\d+\.\d+) s: (\d+) round trips\/s$/;

type Run = CliRun;

/** Runs the CLI; with `send`, sends that signal once stderr matches `when` (an event, not a sleep). */
function run(args: string[], send?: { signal: NodeJS.Signals; when: RegExp; group?: boolean }): Promise<Run> {
  return runCli(CLI, args, send && { ...send, on: 'stderr' }, RUN_TIMEOUT_MS);
}

describe.each(['thread', 'process'])('pingpong CLI, --runtime %s', { timeout: TEST_TIMEOUT_MS }, (runtime) => {
  const pingpong = (args: string[], send?: { signal: NodeJS.Signals; when: RegExp; group?: boolean }): Promise<Run> => run(['--runtime', runtime, ...args], send);

  it('completes 2000 round trips (sync) and prints the summary with a positive rate', async () => {
    const r = await pingpong(['--iterations', '2000']);
    expect(r.code, r.stderr).toBe(0);
    const m = SUMMARY.exec(r.stdout.trim());
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBe(2000);
    expect(Number(m![3])).toBeGreaterThan(0);
  });

  it('completes 500 round trips with --wait async', async () => {
    const r = await pingpong(['--wait', 'async', '--iterations', '500']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(SUMMARY);
  });

  for (const wait of ['sync', 'async']) {
    it(`--wait ${wait}: a worker killed at round 50 aborts the run with ERR_PRECIOUS_WORKER_DIED`, async () => {
      const r = await pingpong(['--wait', wait, '--kill-worker-after', '50', '--iterations', '100000']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('ERR_PRECIOUS_WORKER_DIED');
      expect(r.stdout).toBe('');
    });
  }

  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    for (const wait of ['sync', 'async']) {
      // To the process group, as Ctrl-C sends it: in --wait sync main never yields, and still sees it.
      it(`--wait ${wait}: ${signal} to the process group mid-run stops the worker and exits with ${code}`, async () => {
        const r = await pingpong(['--wait', wait, '--iterations', ENDLESS, ...FAST_PROGRESS], { signal, when: MID_RUN, group: true });
        expect({ code: r.code, signal: r.signal }, r.stderr).toEqual({ code, signal: null });
        expect(r.stderr).toContain(`stopped: received ${signal}`);
        expect(r.stdout).toBe('');
      });
    }
  }

  it('--wait async: SIGTERM to the pid alone stops it too (wait() lets the main thread\'s handler run)', async () => {
    const r = await pingpong(['--wait', 'async', '--iterations', ENDLESS, ...FAST_PROGRESS], { signal: 'SIGTERM', when: MID_RUN });
    expect({ code: r.code, signal: r.signal }, r.stderr).toEqual({ code: 143, signal: null });
    expect(r.stderr).toContain('stopped: received SIGTERM');
  });

  const badArgs = [
    ['--bogus'],
    ['stray-positional'],
    ['--iterations', 'abc'],
    ['--iterations', '0'],
    ['--iterations', '1e5'],
    ['--iterations', String(2 ** 31)],
    ['--wait', 'sometimes'],
    ['--runtime', 'fiber'],
    ['--kill-worker-after', '10', '--iterations', '5'],
    ['--progress-ms', '-1'],
    ['--progress-ms=-1'],
  ];
  for (const args of badArgs) {
    it(`rejects ${args.join(' ')} with exit code 2 and a usage message`, async () => {
      const r = await pingpong(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^pingpong: .+\nusage: /);
      expect(r.stdout).toBe('');
    });
  }
});
