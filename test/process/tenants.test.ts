/**
 * The tenants demo as a whole program: the real CLI in a child process, asserted on its own output lines. The
 * demo orders itself by events (its slow uploader stops only once the supervisor complained about it), so every
 * assertion here is about which lines come out and in what order, never about how long anything took. A run's
 * own timeout kills the child before the test's; a worker or task that outlived the scope or the supervisor
 * shows as exit 70 (the CLI checks `supervisor.workers()` and `supervisor.tasks()` itself) or as a hang.
 */
import { describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../cli.js';

const CLI = 'examples/tenants/main.mjs';
/** A run is killed (SIGKILL) after this: well below the test timeout, so the kill always happens in the test. */
const RUN_TIMEOUT_MS = 15_000;
const TEST_TIMEOUT_MS = 20_000;

interface Run extends CliRun {
  lines: string[];
}

/** Runs the CLI; with `send`, sends that signal once a stdout line matches `when` (an event, not a sleep). */
async function run(args: string[], send?: { signal: NodeJS.Signals; when: RegExp }): Promise<Run> {
  const r = await runCli(CLI, args, send && { ...send, on: 'stdout' }, RUN_TIMEOUT_MS);
  return { ...r, lines: r.stdout.split('\n').filter((l) => l !== '') };
}

/** The index of the one line equal to `line` (or matching it); fails if there is none or more than one. */
function lineOf(r: Run, line: string | RegExp): number {
  const hits = r.lines.flatMap((l, i) => ((typeof line === 'string' ? l === line : line.test(l)) ? [i] : []));
  expect(hits, `exactly one line ${String(line)} in:\n${r.lines.join('\n')}`).toHaveLength(1);
  return hits[0]!;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const ALL_THREE = (t: string): string => `worker compaction/${t} (running), task flush/${t} (running), task upload/${t} (running)`;

describe('tenants CLI', { timeout: TEST_TIMEOUT_MS }, () => {
  it('shuts one tenant down by label while the others keep serving, complains about its slow uploader, reports the poisoned memtable, exits 0', async () => {
    const r = await run([]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');

    // Before: every tenant has its three kinds of work.
    for (const t of ['acme', 'globex', 'initech']) lineOf(r, `tenants: serving: tenant ${t}: ${ALL_THREE(t)}`);

    // The poisoned memtable: the flush failed half-way, the guard warned, the next write was refused.
    const failed = lineOf(r, 'tenants: initech: task flush/initech failed half-way: disk full writing segment 2: 5 of 10 rows written');
    const warned = r.lines[lineOf(r, /^tenants: log: warn poison guard dropped without disarm\(\); the value is poisoned what=tenant initech memtable at=/)]!;
    const refused = lineOf(r, /^tenants: initech: memtable poisoned: next write refused: ERR_POISONED: poison "tenant initech memtable": poisoned at \S+ \(a holder left it half-updated\)$/);
    const at = / at=(\S+)$/.exec(warned)![1]!;
    expect(r.lines[refused]).toContain(`poisoned at ${at} `); // the same moment in the warning and in the error
    expect(failed).toBeLessThan(refused);

    // The shutdown of globex: the complaint about its slow uploader, then its "shut down after", then the result.
    const start = lineOf(r, 'tenants: shutting down tenant globex: shutdownTasks() and shutdownWorkers() with {"labels":{"tenant":"globex"}}, complainAfterMs 300');
    const waiting = lineOf(r, /^tenants: log: info still waiting for upload\/globex to shut down name=upload\/globex kind=upload labels=\{"tenant":"globex"\} ageMs=\d+$/);
    const after = lineOf(r, /^tenants: log: info upload\/globex shut down after \d+\.\d s name=upload\/globex kind=upload labels=\{"tenant":"globex"\}$/);
    const done = lineOf(r, 'tenants: tenant globex shut down: 2 task(s), 1 worker(s)');
    expect([start, waiting, after, done]).toEqual([...[start, waiting, after, done]].sort((a, b) => a - b));
    // Nothing but globex's work is waited for (its compaction worker too, if a loaded machine made it slow).
    for (const l of r.lines.filter((l) => l.includes('still waiting for'))) expect(l).toMatch(/still waiting for \w+\/globex to shut down/);
    lineOf(r, 'tenants: globex: task flush/globex cancelled');
    lineOf(r, 'tenants: globex: task upload/globex completed (result 1)');
    lineOf(r, 'tenants: globex: worker compaction/globex completed (result 1)');

    // After: globex has nothing left; the others are untouched (initech's flush had failed before).
    lineOf(r, 'tenants: after shutting down globex: tenant globex: nothing running');
    lineOf(r, `tenants: after shutting down globex: tenant acme: ${ALL_THREE('acme')}`);
    lineOf(r, 'tenants: after shutting down globex: tenant initech: worker compaction/initech (running), task upload/initech (running)');
    const serving = lineOf(r, 'tenants: acme: still serving after globex was shut down: round 2: flush 2, upload 2, compaction 2');
    expect(serving).toBeGreaterThan(done);

    // The end: nothing left running, checked by the program itself.
    expect(r.lines.at(-1)).toBe('tenants: stopped: supervisor.workers() and supervisor.tasks() are empty');
  });

  it('takes the tenants and the roles from the command line', async () => {
    const r = await run(['--tenants', 'a,b,c,d', '--shut-down', 'd', '--poison', 'a', '--complain-after-ms', '50']);
    expect(r.code, r.stderr).toBe(0);
    lineOf(r, /^tenants: a: memtable poisoned: next write refused: ERR_POISONED: poison "tenant a memtable"/);
    lineOf(r, /^tenants: log: info still waiting for upload\/d to shut down /);
    lineOf(r, /^tenants: log: info upload\/d shut down after \d+\.\d s /);
    lineOf(r, 'tenants: after shutting down d: tenant d: nothing running');
    for (const t of ['b', 'c']) {
      lineOf(r, `tenants: after shutting down d: tenant ${t}: ${ALL_THREE(t)}`);
      lineOf(r, `tenants: ${t}: still serving after d was shut down: round 2: flush 2, upload 2, compaction 2`);
    }
    expect(r.lines.filter((l) => /still serving/.test(l))).toHaveLength(2);
    expect(r.lines.at(-1)).toBe('tenants: stopped: supervisor.workers() and supervisor.tasks() are empty');
  });

  it('SIGINT while the slow uploader holds up the shutdown: everything stops, exit 130', async () => {
    // complainAfterMs 10 s: the complaint cannot come before the signal, so the uploader is still finishing.
    const r = await run(['--complain-after-ms', '10000'], { signal: 'SIGINT', when: new RegExp(`^${escape('tenants: shutting down tenant globex:')}`) });
    expect({ code: r.code, signal: r.signal }, r.stderr).toEqual({ code: 130, signal: null });
    expect(r.stderr).toBe('tenants: stopped: received SIGINT\n');
    expect(r.lines.some((l) => l.includes('still waiting for'))).toBe(false);
    expect(r.lines.some((l) => l.startsWith('tenants: stopped:'))).toBe(false);
  });

  const badArgs: [string[], RegExp][] = [
    [['--bogus'], /Unknown option '--bogus'/],
    [['--tenants', 'a,b'], /expected 3 to 8 --tenants/],
    [['--tenants', 'a,b,a'], /expected --tenants to be distinct/],
    [['--shut-down', 'umbrella'], /expected --shut-down to be one of the tenants \(acme, globex, initech\), got "umbrella"/],
    [['--poison', 'globex'], /expected --shut-down and --poison to be different tenants, got "globex" for both/],
    [['--complain-after-ms', '1e3'], /expected --complain-after-ms to be an integer from 1 to 10000, got "1e3"/],
  ];
  // Concurrent (with the test's own expect): each is a process start and a usage message, sharing nothing.
  for (const [args, message] of badArgs) {
    it.concurrent(`rejects ${args.join(' ')} with exit code 2 and a usage message`, async ({ expect }) => {
      const r = await run(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^tenants: .*${message.source}.*\\nusage: `));
      expect(r.lines).toEqual([]);
    });
  }
});
