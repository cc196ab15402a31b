// Tenants: a small multi-tenant "server" that shuts ONE tenant down by label while the others keep serving.
//
//   node examples/tenants/main.mjs [--tenants acme,globex,initech] [--shut-down globex] [--poison initech]
//                                  [--complain-after-ms 300]
//
// How it works
//
// - One Supervisor, with a pino logger at info (log.mjs prints each record as a `tenants: log: ...` line), and
//   one scope, "server". Each tenant (tenant.mjs) gets three kinds of work, all labelled { tenant }: a compaction
//   worker thread (kind 'compaction', compaction.mjs), an in-thread flush task (scope.spawn, kind 'flush') and a
//   precious uploader task (kind 'upload'). A tenant's rows go ingest → memtable → flush → segment → upload, and
//   each flush wakes its compaction worker: one "round".
// - The story, each step waiting for the previous one's events (no sleeps):
//   1. every tenant serves a round; the running workers and tasks are listed per tenant (supervisor.workers()
//      and supervisor.tasks() with a { labels: { tenant } } filter);
//   2. the --poison tenant's second flush fails half-way: its memtable (a Poison) is left poisoned, the flush
//      task ends `failed`, and the next write to that tenant is refused with PoisonedError;
//   3. the --shut-down tenant is shut down with shutdownTasks() and shutdownWorkers() on its label, at once. Its
//      uploader is deliberately slow to stop (it finishes a last upload), so after --complain-after-ms the
//      supervisor logs "still waiting for upload/<tenant> to shut down", then "... shut down after N s";
//   4. the list again: the shut-down tenant has nothing left, the others are untouched;
//   5. every tenant that is neither shut down nor poisoned serves one more round;
//   6. the scope ends: its ephemeral tasks are cancelled and its ephemeral workers stopped before it settles.
// - At the end supervisor.workers() and supervisor.tasks() must be empty — right after the scope settled, and
//   after supervisor.shutdown() — or the program exits 70 (a bgworkers bug).
// - SIGINT/SIGTERM: the supervisor's handleSignals aborts the scope with ShutdownSignalError and stops everything;
//   exit 128 + the signal number; a second signal forces every worker.
//
// Output: the story on stdout, every line starting with `tenants: ` (README.md shows a run). Exit codes: 0 done,
// 1 failed, 2 bad arguments, 70 something outlived its scope or the supervisor, 130/143 SIGINT/SIGTERM.
import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import { PoisonedError, ShutdownSignalError, Supervisor } from 'bgworkers';
import { demoLogger } from './log.mjs';
import { Tenant } from './tenant.mjs';

const DEFAULTS = { tenants: 'acme,globex,initech', complainAfterMs: 300 };
/** Rows per round; the poisoned flush writes half of them. */
const ROWS = 10;
/** The --poison tenant's flush that fails half-way (its first round succeeds). */
const FAILING_FLUSH = 2;
const MAX_TENANTS = 8;
const TENANT_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** Grace for workers at supervisor.shutdown(); the scope has stopped them all before it is called. */
const SHUTDOWN_TIMEOUT_MS = 2000;

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
/** EX_SOFTWARE: a worker or task outlived its scope or the supervisor, which would be a bgworkers bug. */
const EXIT_LEAKED = 70;

const USAGE = `usage: node examples/tenants/main.mjs [--tenants a,b,c] [--shut-down NAME] [--poison NAME] [--complain-after-ms MS]
         (defaults: ${DEFAULTS.tenants}, the 2nd tenant, the 3rd tenant, ${DEFAULTS.complainAfterMs}; 3 to ${MAX_TENANTS} tenants)`;

class UsageError extends Error {}

const say = (line) => console.log(`tenants: ${line}`);

/** The command line, validated; throws UsageError. */
function parseCli(args) {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        tenants: { type: 'string', default: DEFAULTS.tenants },
        'shut-down': { type: 'string' },
        poison: { type: 'string' },
        'complain-after-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError(err.message.replace(/\s*\n\s*/g, ' '));
  }
  if (values.help) return { help: true };
  const tenants = values.tenants.split(',');
  const bad = tenants.find((t) => !TENANT_NAME.test(t));
  if (bad !== undefined) throw new UsageError(`expected --tenants to be names matching ${TENANT_NAME}, got "${bad}"`);
  if (new Set(tenants).size !== tenants.length) throw new UsageError(`expected --tenants to be distinct, got "${values.tenants}"`);
  if (tenants.length < 3 || tenants.length > MAX_TENANTS) throw new UsageError(`expected 3 to ${MAX_TENANTS} --tenants (one to shut down, one to poison, one that keeps serving), got ${tenants.length}`);
  const shutDown = values['shut-down'] ?? tenants[1];
  const poison = values.poison ?? tenants[2];
  for (const [flag, name] of [['shut-down', shutDown], ['poison', poison]]) {
    if (!tenants.includes(name)) throw new UsageError(`expected --${flag} to be one of the tenants (${tenants.join(', ')}), got "${name}"`);
  }
  if (shutDown === poison) throw new UsageError(`expected --shut-down and --poison to be different tenants, got "${poison}" for both`);
  const text = values['complain-after-ms'];
  const complainAfterMs = text === undefined ? DEFAULTS.complainAfterMs : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(complainAfterMs >= 1 && complainAfterMs <= 10_000)) throw new UsageError(`expected --complain-after-ms to be an integer from 1 to 10000, got "${text}"`);
  return { tenants, shutDown, poison, complainAfterMs };
}

/** One line per tenant: its workers and tasks that have not stopped. */
function listRunning(supervisor, when, names) {
  for (const tenant of names) {
    const filter = { labels: { tenant } };
    const running = [
      ...supervisor.workers(filter).map((w) => `worker ${w.name} (${w.state})`),
      ...supervisor.tasks(filter).map((t) => `task ${t.name} (${t.state})`),
    ];
    say(`${when}: tenant ${tenant}: ${running.length === 0 ? 'nothing running' : running.join(', ')}`);
  }
}

const describe = (exit) => `${exit.reason}${exit.result === undefined ? '' : ` (result ${exit.result})`}`;

/** The scope's function: the story of the header, steps 1 to 5. */
async function serve(scope, o, complainedAbout) {
  const { supervisor } = scope;
  const tenants = o.tenants.map(
    (name) => new Tenant(name, { failFlushAt: name === o.poison ? FAILING_FLUSH : undefined, slowLastUpload: name === o.shutDown, complainedAbout }),
  );
  const byName = (name) => tenants.find((t) => t.name === name);
  for (const t of tenants) t.start(scope);

  // 1. Every tenant serves.
  const rounds = await Promise.all(tenants.map((t) => t.round(ROWS)));
  tenants.forEach((t, i) => say(`${t.name}: round 1: flush ${rounds[i].flushes}, upload ${rounds[i].uploads}, compaction ${rounds[i].compactions}`));
  listRunning(supervisor, 'serving', o.tenants);

  // 2. A flush fails half-way: the memtable is poisoned.
  const victim = byName(o.poison);
  victim.ingest(ROWS);
  const flushed = await Promise.race([victim.flush.result(), victim.next('flushed').then(() => ({ reason: 'a successful flush' }))]);
  if (flushed.reason !== 'failed') throw new Error(`expected ${victim.flush.name} to fail, it ended with ${flushed.reason}`);
  say(`${victim.name}: task ${victim.flush.name} failed half-way: ${flushed.error.message}`);
  try {
    victim.ingest(1);
    throw new Error(`expected the poisoned memtable of ${victim.name} to refuse a write`);
  } catch (err) {
    if (!(err instanceof PoisonedError)) throw err;
    say(`${victim.name}: memtable poisoned: next write refused: ${err.code}: ${err.message}`);
  }

  // 3. One tenant is shut down, its tasks and workers at once.
  const filter = { labels: { tenant: o.shutDown } };
  const options = { complainAfterMs: o.complainAfterMs };
  say(`shutting down tenant ${o.shutDown}: shutdownTasks() and shutdownWorkers() with ${JSON.stringify(filter)}, complainAfterMs ${o.complainAfterMs}`);
  const [taskExits, workerExits] = await Promise.all([supervisor.shutdownTasks(filter, options), supervisor.shutdownWorkers(filter, options)]);
  const gone = byName(o.shutDown);
  say(`tenant ${o.shutDown} shut down: ${taskExits.length} task(s), ${workerExits.length} worker(s)`);
  say(`${o.shutDown}: worker ${gone.compaction.name} ${describe(await gone.compaction.waitForShutdown())}`);
  for (const task of [gone.flush, gone.upload]) say(`${o.shutDown}: task ${task.name} ${describe(await task.result())}`);

  // 4. The others are untouched.
  listRunning(supervisor, `after shutting down ${o.shutDown}`, o.tenants);

  // 5. ... and keep serving.
  for (const t of tenants.filter((t) => t.name !== o.shutDown && t.name !== o.poison)) {
    const r = await t.round(ROWS);
    say(`${t.name}: still serving after ${o.shutDown} was shut down: round 2: flush ${r.flushes}, upload ${r.uploads}, compaction ${r.compactions}`);
  }
  say('stopping the server: its scope ends, its ephemeral tasks are cancelled and its ephemeral workers stopped');
}

/** What is still alive, as a sentence; undefined when nothing is. */
function leftovers(supervisor) {
  const names = [...supervisor.workers().map((w) => `worker ${w.name}`), ...supervisor.tasks().map((t) => `task ${t.name}`)];
  if (names.length === 0 && supervisor.metrics().slots.used === 0) return undefined;
  return `${names.join(', ') || 'no names'}; ${supervisor.metrics().slots.used} slot(s) used`;
}

async function main() {
  let options;
  try {
    options = parseCli(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`tenants: ${err.message}\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }

  const { logger, complainedAbout } = demoLogger();
  // SIGINT/SIGTERM abort the scope with ShutdownSignalError and shut the supervisor down; a second one forces every
  // worker. The exit code is this program's own (128 + the signal's number), so `exit` is off.
  const supervisor = await Supervisor.start({ logger, handleSignals: { exit: false, metrics: null, relay: [] } });
  let code = 0;
  let leaked;
  try {
    await supervisor.scope((scope) => serve(scope, options, complainedAbout), { name: 'server' });
  } catch (err) {
    if (err instanceof ShutdownSignalError) {
      console.error(`tenants: stopped: received ${err.signal}`);
      code = 128 + constants.signals[err.signal];
    } else {
      console.error('tenants: failed:', err);
      code = EXIT_FAILED;
    }
  } finally {
    // The scope settled: it must have stopped everything it started by itself, before any shutdown.
    const inScope = leftovers(supervisor);
    await supervisor.shutdown({ timeoutMs: SHUTDOWN_TIMEOUT_MS });
    const afterShutdown = leftovers(supervisor);
    if (inScope !== undefined) leaked = `still running after the scope settled: ${inScope}`;
    else if (afterShutdown !== undefined) leaked = `still running after shutdown: ${afterShutdown}`;
  }
  if (leaked !== undefined) {
    console.error(`tenants: bug: ${leaked}`);
    return EXIT_LEAKED;
  }
  if (code === 0) say('stopped: supervisor.workers() and supervisor.tasks() are empty');
  return code;
}

// Exit by draining the event loop, not process.exit(): a thread or handle left behind would hang the process
// instead of hiding it.
process.exitCode = await main();
