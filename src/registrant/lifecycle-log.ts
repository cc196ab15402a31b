/**
 * The lifecycle log: a subscriber of the event stream (events.ts) that writes one line per worker event to the
 * worker's child logger (bindings: worker, name, kind, scope, runtime — registration.ts). Scope events are not
 * logged. Every error is logged under `err` as an Error (revived with its original name, message and stack), so
 * the user's pino prints its standard `{ type, message, stack }` shape; no field repeats a binding.
 *
 * | event             | level | message                                                            |
 * |-------------------|-------|--------------------------------------------------------------------|
 * | worker-registered | debug | worker registered                                                   |
 * | worker-started    | info  | worker started (`workerPid` for a process, `threadId` for a thread) |
 * | worker-restarting | warn  | worker stopped; restarting                                          |
 * | precious-death    | error | precious worker died; aborting its scope                            |
 * | worker-stopped    | warn  | worker did not stop within its graceful timeout; stopped by force (forced only) |
 * | worker-stopped    | warn for failed/crashed, else info | worker stopped                         |
 *
 * The worker's process id is `workerPid`, not `pid`: pino binds `pid` (the registrant's) itself, and a second
 * `pid` would be a duplicate key in the same JSON line.
 */
import type { WorkerExit } from '../shared/exit.js';
import type { LifecycleEvent } from './events.js';

export function logLifecycle(e: LifecycleEvent): void {
  if (!('worker' in e)) return;
  const log = e.worker.logger;
  if (log === undefined) return;
  switch (e.type) {
    case 'worker-registered':
      log.debug({ entry: e.worker.entry, ephemeral: e.worker.ephemeral, precious: e.worker.precious }, 'worker registered');
      return;
    case 'worker-started':
      log.info(e.pid ? { workerPid: e.pid } : { threadId: e.threadId }, 'worker started');
      return;
    case 'worker-stopping':
      return;
    case 'worker-restarting':
      log.warn({ ...exitFields(e.exit), delayMs: e.delayMs }, 'worker stopped; restarting');
      return;
    case 'precious-death':
      log.error(exitFields(e.exit), 'precious worker died; aborting its scope');
      return;
    case 'worker-stopped': {
      const fields = exitFields(e.exit);
      if (e.forced) log.warn(fields, 'worker did not stop within its graceful timeout; stopped by force');
      if (e.exit.reason === 'failed' || e.exit.reason === 'crashed') log.warn(fields, 'worker stopped');
      else log.info(fields, 'worker stopped');
      return;
    }
  }
}

function exitFields(exit: WorkerExit): { reason: WorkerExit['reason']; code: number | null; err?: Error } {
  return exit.error === undefined ? { reason: exit.reason, code: exit.code } : { reason: exit.reason, code: exit.code, err: exit.error };
}
