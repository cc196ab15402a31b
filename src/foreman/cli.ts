#!/usr/bin/env node
/**
 * `bgworkers-foreman`, the Foreman's command line (package `bin`):
 *
 *   bgworkers-foreman run --queue ./jobs.db --handlers ./jobs.mjs [--concurrency N] [--delivery at-least-once|at-most-once]
 *   bgworkers-foreman enqueue --queue ./jobs.db NAME [JSON] [--run-at ISO] [--priority N] [--key K] [--max-attempts N]
 *   bgworkers-foreman status --queue ./jobs.db
 *
 * `run`'s states: running (a live status line on a TTY's stderr: queued, running, done/s, failed, dead, once a
 * second) ──SIGINT/SIGTERM──► stopping (Foreman.stop: grace, then force) ──► exited. Exit codes: 0 done, 1 the
 * queue or foreman failed (QueueError, ForemanRunningError...), 2 bad usage, 130 / 143 stopped by SIGINT / SIGTERM.
 * With `--until-drained` it stops by itself once nothing is queued, scheduled or running (exit 0). Without a TTY the
 * status is a plain log line every 5 s.
 * `--queue` takes a SQLite file or a `postgres://` URL (the PostgreSQL queue in its default schema, or
 * `--schema NAME`).
 */
import { parseArgs } from 'node:util';
import { Foreman } from './foreman.js';
import { PostgresQueue } from './postgres-queue.js';
import { SqliteQueue } from './sqlite-queue.js';
import type { Delivery, JobQueue } from './queue.js';

const USAGE = `usage:
  bgworkers-foreman run --queue FILE|URL --handlers MODULE [--concurrency N] [--delivery at-least-once|at-most-once] [--until-drained]
  bgworkers-foreman enqueue --queue FILE|URL NAME [JSON] [--run-at ISO] [--priority N] [--key K] [--max-attempts N]
  bgworkers-foreman status --queue FILE|URL
  (URL: postgres://…, with --schema NAME, default bgworkers)`;

/** Seconds between status lines when stderr is not a terminal. */
const PLAIN_STATUS_S = 5;

/** A usage mistake: exit code 2. */
class UsageError extends Error {}

async function openQueue(location: string | undefined, schema: string | undefined): Promise<JobQueue> {
  if (location === undefined) throw new UsageError('--queue is required');
  if (/^postgres(ql)?:\/\//.test(location)) return PostgresQueue.connect(location, schema === undefined ? {} : { schema });
  if (schema !== undefined) throw new UsageError('--schema applies to a postgres:// queue only');
  return SqliteQueue.open(location);
}

function intOf(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw new UsageError(`${flag} must be an integer, got ${v}`);
  return Number(v);
}

/**
 * --until-drained: resolves once the queue has nothing queued, scheduled (retries waiting for their backoff) or
 * running. drained() says "nothing runnable now"; between its turns the scheduled retries come due.
 */
async function untilEmpty(foreman: Foreman, queue: JobQueue): Promise<void> {
  for (;;) {
    await foreman.drained();
    const q = await queue.stats();
    if (q.queued + q.scheduled + q.running === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function run(values: Record<string, string | boolean | undefined>): Promise<number> {
  const handlers = values['handlers'];
  if (typeof handlers !== 'string') throw new UsageError('--handlers is required');
  const delivery = (values['delivery'] ?? 'at-least-once') as string;
  if (delivery !== 'at-least-once' && delivery !== 'at-most-once') throw new UsageError(`--delivery must be at-least-once or at-most-once, got ${delivery}`);
  const concurrency = intOf(values['concurrency'] as string | undefined, '--concurrency');
  const queue = await openQueue(values['queue'] as string | undefined, values['schema'] as string | undefined);
  try {
    const foreman = await Foreman.start({ queue, handlers, delivery: delivery as Delivery, ...(concurrency === undefined ? {} : { concurrency }) });
    let signal: NodeJS.Signals | undefined;
    const stopped = new Promise<void>((resolve) => {
      const on = (s: NodeJS.Signals): void => {
        signal ??= s;
        void foreman.stop().then(resolve);
      };
      process.once('SIGINT', on);
      process.once('SIGTERM', on);
    });
    process.stderr.write(`foreman: running on ${queue.location} (pid ${process.pid})\n`);
    // A TTY gets one live line, rewritten every second; a log gets a plain line every PLAIN_STATUS_S seconds.
    const tty = process.stderr.isTTY === true;
    const everyS = tty ? 1 : PLAIN_STATUS_S;
    let last = foreman.stats().completed;
    const status = setInterval(() => {
      void queue.stats().then((q) => {
        const s = foreman.stats();
        const line = `queued ${q.queued}  running ${s.running}  done/s ${Math.round((s.completed - last) / everyS)}  failed ${s.failed}  dead ${q.dead}`;
        process.stderr.write(tty ? `\r${line}   ` : `foreman: ${line}\n`);
        last = s.completed;
      }, () => {});
    }, everyS * 1000);
    const done = values['until-drained'] === true ? untilEmpty(foreman, queue) : new Promise<never>(() => {});
    await Promise.race([stopped, done]);
    clearInterval(status);
    await foreman.stop();
    process.stderr.write(`${tty ? '\n' : ''}foreman: stopped (${signal ?? 'drained'}): ${JSON.stringify(foreman.stats())}\n`);
    return signal === undefined ? 0 : signal === 'SIGINT' ? 130 : 143;
  } finally {
    await queue.close();
  }
}

async function enqueue(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number> {
  const [name, json, ...rest] = positionals;
  if (name === undefined || rest.length > 0) throw new UsageError('enqueue takes NAME and an optional JSON payload');
  let payload: unknown;
  if (json !== undefined) {
    try {
      payload = JSON.parse(json);
    } catch {
      throw new UsageError(`the payload is not JSON: ${json}`);
    }
  }
  const runAtText = values['run-at'] as string | undefined;
  const runAt = runAtText === undefined ? undefined : new Date(runAtText);
  if (runAt !== undefined && Number.isNaN(runAt.getTime())) throw new UsageError(`--run-at must be a date, got ${runAtText}`);
  const priority = intOf(values['priority'] as string | undefined, '--priority');
  const maxAttempts = intOf(values['max-attempts'] as string | undefined, '--max-attempts');
  const key = values['key'] as string | undefined;
  const queue = await openQueue(values['queue'] as string | undefined, values['schema'] as string | undefined);
  try {
    const id = await queue.enqueue(name, payload, {
      ...(runAt === undefined ? {} : { runAt }), ...(priority === undefined ? {} : { priority }),
      ...(maxAttempts === undefined ? {} : { maxAttempts }), ...(key === undefined ? {} : { key }),
    });
    process.stdout.write(`${id}\n`);
    return 0;
  } finally {
    await queue.close();
  }
}

async function status(values: Record<string, string | boolean | undefined>): Promise<number> {
  const queue = await openQueue(values['queue'] as string | undefined, values['schema'] as string | undefined);
  try {
    process.stdout.write(`${JSON.stringify(await queue.stats())}\n`);
    return 0;
  } finally {
    await queue.close();
  }
}

/** Runs the command line `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        queue: { type: 'string' }, handlers: { type: 'string' }, concurrency: { type: 'string' }, delivery: { type: 'string' },
        'run-at': { type: 'string' }, priority: { type: 'string' }, key: { type: 'string' }, 'max-attempts': { type: 'string' },
        schema: { type: 'string' }, 'until-drained': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [command, ...rest] = positionals;
    if (values.help === true) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    switch (command) {
      case 'run':
        if (rest.length > 0) throw new UsageError('run takes no arguments');
        return await run(values);
      case 'enqueue':
        return await enqueue(values, rest);
      case 'status':
        if (rest.length > 0) throw new UsageError('status takes no arguments');
        return await status(values);
      default:
        throw new UsageError(command === undefined ? 'a command is required' : `unknown command: ${command}`);
    }
  } catch (err) {
    const usage = err instanceof UsageError || (err as { code?: unknown })?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (err as { code?: unknown })?.code === 'ERR_INVALID_WORKER_SPEC';
    process.stderr.write(`bgworkers-foreman: ${(err as Error)?.message ?? String(err)}\n${usage ? `${USAGE}\n` : ''}`);
    return usage ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
