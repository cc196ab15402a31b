/** Selecting tasks in `supervisor.tasks()` and `shutdownTasks()`: every given criterion must match. */
import { identityMatcher, type IdentityFilter } from '../shared/filter.js';
import type { TaskInfo } from './task.js';

export type TaskFilter = IdentityFilter;

const TASK_FILTER_KEYS = ['kind', 'labels', 'scopeId', 'name'] as const;

/** A predicate for `filter`, validated first (an unknown key or a bad value throws InvalidWorkerSpecError). */
export function taskMatcher(filter: TaskFilter | undefined): (t: TaskInfo) => boolean {
  return filter === undefined ? () => true : identityMatcher(filter, 'task filter', TASK_FILTER_KEYS);
}
