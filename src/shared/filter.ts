/**
 * The part of a filter that workers and tasks share (supervisor.workers(), tasks(), shutdownWorkers(),
 * shutdownTasks()): kind, every given label, scopeId, name. Validated once, when the predicate is made: an unknown
 * key or a bad value throws InvalidWorkerSpecError naming it.
 */
import { invalidOption, unknownOption } from '../errors.js';

export interface IdentityFilter {
  kind?: string;
  /** Every listed label must be present with this value. */
  labels?: Record<string, string>;
  scopeId?: number;
  name?: string;
}

export interface Identity {
  readonly kind: string | undefined;
  readonly name: string;
  readonly scopeId: number | undefined;
  readonly labels: Readonly<Record<string, string>>;
}

/** `filter` checked against `keys` (the identity keys plus the caller's own); the identity part as a predicate. */
export function identityMatcher(filter: IdentityFilter, where: string, keys: readonly string[]): (x: Identity) => boolean {
  if (typeof filter !== 'object' || filter === null) throw invalidOption('filter', 'an object', filter);
  for (const key of Object.keys(filter)) if (!keys.includes(key)) throw unknownOption(key, where, keys);
  if (filter.labels !== undefined && (typeof filter.labels !== 'object' || filter.labels === null)) throw invalidOption('labels', 'an object of strings', filter.labels);
  if (filter.scopeId !== undefined && !Number.isInteger(filter.scopeId)) throw invalidOption('scopeId', 'an integer', filter.scopeId);
  const labels = Object.entries(filter.labels ?? {});
  return (x) =>
    (filter.kind === undefined || x.kind === filter.kind) &&
    (filter.name === undefined || x.name === filter.name) &&
    (filter.scopeId === undefined || x.scopeId === filter.scopeId) &&
    labels.every(([k, v]) => x.labels[k] === v);
}
