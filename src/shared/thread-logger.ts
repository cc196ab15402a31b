/**
 * The logger of the thread's library code that has no supervisor at hand (a poison guard dropped without
 * disarm() warns through it). The registrant sets it when a supervisor starts (the newest one wins, and
 * clears it at its shutdown); a worker sets it to ctx.logger before main runs. A source that gives no logger
 * (a supervisor started with `logger: false`) means silence, as the user asked; with no source at all, the
 * warning goes to process.emitWarning, so it is never lost by accident.
 */
import type { Logger } from 'pino';

let source: (() => Logger | undefined) | undefined;
let owner: unknown;

/** Makes `get` this thread's logger source; `by` identifies the setter, for clearThreadLogger. */
export function setThreadLogger(by: unknown, get: () => Logger | undefined): void {
  owner = by;
  source = get;
}

/** Clears the source if `by` set it last. */
export function clearThreadLogger(by: unknown): void {
  if (owner !== by) return;
  owner = undefined;
  source = undefined;
}

/** Logs a warning: through the thread's logger if there is one, else as a process warning. */
export function warnThread(fields: Record<string, unknown>, msg: string): void {
  if (source === undefined) {
    process.emitWarning(`${msg}: ${JSON.stringify(fields)}`, { code: 'BGWORKERS_WARNING' });
    return;
  }
  let logger: Logger | undefined;
  try {
    logger = source();
  } catch {
    logger = undefined;
  }
  logger?.warn(fields, msg);
}
