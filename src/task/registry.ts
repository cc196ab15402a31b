/**
 * The in-thread tasks of one supervisor's scopes that have not stopped: spawn, list by filter, and shut down by
 * filter (G13, G14). A task leaves when it stops, so the set holds only live ones.
 */
import type { Logger } from 'pino';
import { cancelTasks, validateFilteredShutdownOptions } from '../registrant/filtered-shutdown.js';
import type { ScopeNode } from '../scope/node.js';
import { taskEnd, taskStart } from '../registrant/diagnostics.js';
import { taskMatcher, type TaskFilter } from './filter.js';
import { TaskCore, TaskHandle, type SpawnOptions, type SpawnedTask, type TaskExit, type TaskInfo } from './task.js';

export class TaskRegistry {
  readonly #live = new Set<TaskCore>();

  /** scope.spawn(): the scope must be active (ScopeClosedError otherwise); the task joins its members. */
  spawn<T>(node: ScopeNode, fn: (task: SpawnedTask) => T | PromiseLike<T>, options: SpawnOptions | undefined): TaskHandle<T> {
    node.assertActive('spawn');
    const core = new TaskCore<T>(node, fn, options, (t) => {
      this.#live.delete(t as TaskCore);
      if (taskEnd.hasSubscribers) taskEnd.publish({ ...payload(t as TaskCore), exit: t.exit });
    });
    this.#live.add(core as TaskCore);
    node.members.add(core);
    if (taskStart.hasSubscribers) taskStart.publish(payload(core as TaskCore));
    return new TaskHandle<T>(core);
  }

  list(filter: TaskFilter | undefined): TaskInfo[] {
    const match = taskMatcher(filter);
    const out: TaskInfo[] = [];
    for (const t of this.#live) {
      const info = t.info();
      if (match(info)) out.push(info);
    }
    return out;
  }

  /** shutdownTasks(): every task that matches now, cancelled at once (filtered-shutdown.ts). */
  shutdown(filter: TaskFilter, options: unknown, logger: Logger | undefined): Promise<TaskExit<unknown>[]> {
    const o = validateFilteredShutdownOptions(options);
    const match = taskMatcher(filter);
    return cancelTasks([...this.#live].filter((t) => match(t.info())), o, logger);
  }
}

function payload(t: TaskCore): { id: string; name: string; kind: string | undefined; labels: Readonly<Record<string, string>>; ephemeral: boolean; precious: boolean; scopeId: number } {
  return { id: t.id, name: t.name, kind: t.kind, labels: t.labels, ephemeral: t.ephemeral, precious: t.precious, scopeId: t.scopeId };
}
