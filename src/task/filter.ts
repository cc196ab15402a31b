/** Selecting tasks in `supervisor.tasks()` and `shutdownTasks()`: every given criterion must match. */
import { invalidOption, unknownOption } from '../errors.js';
import type { TaskInfo } from './task.js';

export interface TaskFilter {
  kind?: string;
  /** Every listed label must be present with this value. */
  labels?: Record<string, string>;
  scopeId?: number;
  name?: string;
}

const TASK_FILTER_KEYS = ['kind', 'labels', 'scopeId', 'name'] as const;

/** A predicate for `filter`, validated first (an unknown key or a bad value throws InvalidWorkerSpecError). */
export function taskMatcher(filter: TaskFilter | undefined): (t: TaskInfo) => boolean {
  if (filter === undefined) return () => true;
  if (typeof filter !== 'object' || filter === null) throw invalidOption('filter', 'an object', filter);
  for (const key of Object.keys(filter)) if (!(TASK_FILTER_KEYS as readonly string[]).includes(key)) throw unknownOption(key, 'task filter', TASK_FILTER_KEYS);
  if (filter.labels !== undefined && (typeof filter.labels !== 'object' || filter.labels === null)) throw invalidOption('labels', 'an object of strings', filter.labels);
  if (filter.scopeId !== undefined && !Number.isInteger(filter.scopeId)) throw invalidOption('scopeId', 'an integer', filter.scopeId);
  const labels = Object.entries(filter.labels ?? {});
  return (t) =>
    (filter.kind === undefined || t.kind === filter.kind) &&
    (filter.name === undefined || t.name === filter.name) &&
    (filter.scopeId === undefined || t.scopeId === filter.scopeId) &&
    labels.every(([k, v]) => t.labels[k] === v);
}
