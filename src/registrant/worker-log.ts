/**
 * Worker log lines on the registrant: a worker's ctx.logger writes pino JSON lines (worker/run.ts) that travel
 * to the supervisor (parentPort or IPC) and on to the registrant's mailbox as 'log' messages; here each becomes
 * one call on the worker's child logger, so it reaches the user's logger — its destination, level, serializers
 * and redaction — with the worker's bindings (worker, name, kind, scope, runtime; registration.ts) and, for a
 * process worker, `workerPid` (not `pid`: pino binds the registrant's own `pid`, and a key must not repeat).
 *
 * The line's `level` picks the method (its label in the user's logger; `info` if that has no such method); `msg`
 * is the message; `err`, which the worker's pino serialized as `{ type, message, stack, …}`, is revived into an
 * Error of that type, so the user's serializer prints the same shape as for the registrant's own errors. The time
 * is the registrant's, when it logs the line. Lines are forwarded only for workers the registry still holds.
 */
import type { Logger } from 'pino';
import type { WorkerRecord } from '../record.js';
import { reviveError } from '../shared/protocol.js';

type LogMethod = (this: Logger, obj: object, msg?: string) => void;

export function forwardWorkerLog(r: WorkerRecord, line: string): void {
  const log = r.logger;
  if (log === undefined) return;
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return; // written by the worker's own pino, so never; but a bad line must not break the mailbox
  }
  const { level, msg, ...fields } = rec;
  if (isSerializedErr(fields['err'])) fields['err'] = reviveLogged(fields['err']);
  const label = typeof level === 'number' ? log.levels.labels[level] : undefined;
  const named = label === undefined ? undefined : (log as unknown as Record<string, unknown>)[label];
  const method = (typeof named === 'function' ? named : log.info) as LogMethod;
  const obj = r.runtime === 'process' && r.pid !== undefined ? { workerPid: r.pid, ...fields } : fields;
  method.call(log, obj, typeof msg === 'string' ? msg : undefined);
}

interface LoggedErr {
  type: string;
  message: string;
  stack?: string;
  [key: string]: unknown;
}

function isSerializedErr(v: unknown): v is LoggedErr {
  return typeof v === 'object' && v !== null && typeof (v as LoggedErr).type === 'string' && typeof (v as LoggedErr).message === 'string';
}

/** pino's `err` shape back into an Error of the same type, message and stack, with its other fields (code, …). */
function reviveLogged(e: LoggedErr): Error {
  const { type, message, stack, ...rest } = e;
  const err = reviveError({ name: type, message, stack: typeof stack === 'string' ? stack : undefined, code: undefined, nonError: false });
  Object.assign(err, rest);
  return err;
}
