/**
 * node:diagnostics_channel (issue 13.6): the library's lifecycle, published for APM tools and tests. Every
 * channel is created once, here, at module load; a payload is built only when the channel has subscribers, so
 * with none the cost is one `hasSubscribers` read per event. docs/diagnostics.md lists every channel and payload.
 *
 * Worker and scope channels are fed by one subscriber of the lifecycle event stream (events.ts); task channels
 * by task/registry.ts; the `bgworkers:scope` TracingChannel wraps a scope's function in scope/run.ts.
 */
import dc from 'node:diagnostics_channel';
import type { WorkerExit } from '../shared/exit.js';
import type { LifecycleEvent } from './events.js';

export const workerRegister = dc.channel('bgworkers:worker:register');
export const workerStart = dc.channel('bgworkers:worker:start');
export const workerStop = dc.channel('bgworkers:worker:stop');
export const workerPreciousDeath = dc.channel('bgworkers:worker:precious-death');
export const scopeStart = dc.channel('bgworkers:scope:start');
export const scopeEnd = dc.channel('bgworkers:scope:end');
export const taskStart = dc.channel('bgworkers:task:start');
export const taskEnd = dc.channel('bgworkers:task:end');
/** start/end/asyncStart/asyncEnd/error around a scope's function; the context is `{ scopeId, name }`. */
export const scopeTrace = dc.tracingChannel<unknown, { scopeId: number; name: string | undefined }>('bgworkers:scope');

/** A worker as every worker payload names it. */
export interface WorkerPayload {
  id: string;
  name: string;
  kind: string | undefined;
  labels: Readonly<Record<string, string>>;
  runtime: 'thread' | 'process';
  ephemeral: boolean;
  precious: boolean;
  scopeId: number | undefined;
}

/** The lifecycle stream's subscriber that publishes worker and scope events. */
export function publishLifecycle(e: LifecycleEvent): void {
  switch (e.type) {
    case 'worker-registered':
      if (workerRegister.hasSubscribers) workerRegister.publish(worker(e.worker));
      return;
    case 'worker-started':
      if (workerStart.hasSubscribers) workerStart.publish({ ...worker(e.worker), threadId: e.threadId || undefined, pid: e.pid || undefined });
      return;
    case 'worker-stopped':
      if (workerStop.hasSubscribers) workerStop.publish({ ...worker(e.worker), exit: e.exit as WorkerExit, forced: e.forced, requested: e.requested });
      return;
    case 'precious-death':
      if (workerPreciousDeath.hasSubscribers) workerPreciousDeath.publish({ ...worker(e.worker), exit: e.exit, error: e.error });
      return;
    case 'scope-opened':
      if (scopeStart.hasSubscribers) scopeStart.publish({ scopeId: e.scope.id, name: e.scope.name, parentId: e.scope.parent?.id });
      return;
    case 'scope-committed':
      if (scopeEnd.hasSubscribers) scopeEnd.publish({ scopeId: e.scope.id, name: e.scope.name, state: 'committed' });
      return;
    case 'scope-aborted':
      if (scopeEnd.hasSubscribers) scopeEnd.publish({ scopeId: e.scope.id, name: e.scope.name, state: 'aborted', reason: e.reason });
      return;
    default:
      return;
  }
}

function worker(r: { id: string; name: string; kind: string | undefined; labels: Readonly<Record<string, string>>; runtime: 'thread' | 'process'; ephemeral: boolean; precious: boolean; scope: { id: number } | undefined }): WorkerPayload {
  return { id: r.id, name: r.name, kind: r.kind, labels: r.labels, runtime: r.runtime, ephemeral: r.ephemeral, precious: r.precious, scopeId: r.scope?.id };
}
