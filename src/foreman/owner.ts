/**
 * A foreman's identity, and whether the process behind another one still lives.
 *
 * A pid alone is not an identity: after a crash the pid may be reused by an unrelated process, and a queue that
 * trusts `kill(pid, 0)` would then wait for ever on a stranger. So an owner is (pid, start time, host): on Linux
 * the start time is field 22 of /proc/<pid>/stat (clock ticks since boot), which a reused pid does not share.
 * Elsewhere it is 0 and only `kill(pid, 0)` is checked. An owner on another host cannot be checked from here:
 * `ownerState` says 'unknown' and the caller falls back to the lease (PostgreSQL uses its advisory locks instead).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { QueueOwner } from './queue.js';

/**
 * The start time of process `pid` (Linux clock ticks since boot), 0 if it cannot be read, null if no such process
 * (or a zombie: a killed child not yet reaped by its parent is dead for us).
 */
export function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is parenthesised and may contain spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && process.platform === 'linux') return null;
    return 0;
  }
}

/** A new identity for this process's foreman run. */
export function newOwner(): QueueOwner {
  return { id: randomUUID(), pid: process.pid, startTime: processStartTime(process.pid) ?? 0, host: hostname() };
}

/** Whether `owner`'s process still runs: checked by pid and start time on this host, 'unknown' on another. */
export function ownerState(owner: Pick<QueueOwner, 'pid' | 'startTime' | 'host'>): 'alive' | 'dead' | 'unknown' {
  if (owner.host !== hostname()) return 'unknown';
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    // EPERM: a process we may not signal exists under that pid.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return 'dead';
  }
  const now = processStartTime(owner.pid);
  if (now === null) return 'dead';
  return owner.startTime === 0 || now === 0 || now === owner.startTime ? 'alive' : 'dead';
}
