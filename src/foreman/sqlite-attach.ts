/**
 * Taking ownership of a SQLite queue file: one foreman per file (G19), a dead one taken over.
 *
 * In one `BEGIN IMMEDIATE` transaction (so two foremen attaching at once are serialised by the write lock):
 * 1. Read the active owner row (`bgworkers_owners.active = 1`). If its process is alive — by pid and start time,
 *    src/foreman/owner.ts — or cannot be checked (another host): ForemanRunningError with its pid. Nothing changed.
 * 2. Otherwise the file is free. For every owner of a running job (the dead active one, or earlier ones that
 *    detached, i.e. gave the file up, while claims were still held):
 *    - dead (or unknown to the table): its at-least-once jobs become queued now, the attempt not counted, fence
 *      unchanged until the next claim increments it (`released`); its at-most-once jobs become dead with reason
 *      'lost' (`lost`) — invariant 2 of sqlite-sql.ts: they are never made runnable again.
 *    - alive, or on another host: a detached foreman still finishing its claims. Its at-least-once jobs whose lease
 *      expired are released; the rest are left alone (a job that outruns its lease while its foreman lives is never
 *      run twice while the lease is renewed).
 * 3. Forget owners that are gone and hold nothing; write the new active owner row.
 *
 * Why ownership is a row checked by pid and start time and not a lock held by the connection: a SIGKILLed foreman
 * leaves its row behind, and the next attach sees its pid dead (or reused: another start time) and takes over.
 */
import { ForemanRunningError } from '../errors.js';
import type { SerializedError } from '../shared/protocol.js';
import { ownerState } from './owner.js';
import type { AttachOptions, AttachReport } from './queue.js';
import { immediate, prepared, type Db } from './sqlite-db.js';
import { SQL } from './sqlite-sql.js';

interface OwnerRow {
  id: string;
  pid: number;
  start_time: number;
  host: string;
}

interface RunningRow {
  id: number;
  name: string;
  delivery: string;
  lease_expires_at: number | null;
}

/** Takes ownership of the file for `options.owner`; throws ForemanRunningError when a live foreman holds it. */
export function takeOwnership(db: Db, location: string, options: AttachOptions): AttachReport {
  const { owner, logger } = options;
  const now = Date.now();
  const lostJobs: { id: string; name: string; owner: { pid: number; host: string } }[] = [];
  const report = immediate(db, (): AttachReport => {
    const active = prepared<[], OwnerRow>(db, SQL.activeOwner).get();
    if (active && ownerState(toOwner(active)) !== 'dead') throw new ForemanRunningError(location, active.pid);
    let released = 0;
    const takeBack = prepared(db, SQL.takeBack);
    const lose = prepared(db, SQL.lose);
    const findOwner = prepared<[string], OwnerRow>(db, SQL.owner);
    const runningOf = prepared<[string | null], RunningRow>(db, SQL.runningOf);
    for (const { owner: ownerId } of prepared<[], { owner: string | null }>(db, SQL.ownersOfRunning).all()) {
      const row = ownerId === null ? undefined : findOwner.get(ownerId);
      const gone = row === undefined || ownerState(toOwner(row)) === 'dead';
      // One statement per job: the key rule (invariant 1) must see the jobs released before it.
      for (const job of runningOf.all(ownerId)) {
        if (job.delivery === 'at-most-once') {
          if (!gone) continue;
          const error = lostError(row);
          lose.run({ id: job.id, error: JSON.stringify(error), now });
          lostJobs.push({ id: String(job.id), name: job.name, owner: { pid: row?.pid ?? 0, host: row?.host ?? '' } });
        } else if (gone || (job.lease_expires_at !== null && job.lease_expires_at <= now)) {
          takeBack.run({ id: job.id, now });
          released++;
        }
      }
    }
    prepared(db, SQL.deactivateOwners).run();
    prepared(db, SQL.dropIdleOwners).run();
    prepared(db, SQL.addOwner).run({ id: owner.id, pid: owner.pid, startTime: owner.startTime, host: owner.host, now });
    const tookOverFrom = active ? { pid: active.pid, host: active.host } : undefined;
    return tookOverFrom ? { tookOverFrom, released, lost: lostJobs.length } : { released, lost: lostJobs.length };
  });
  if (report.tookOverFrom) {
    logger.warn({ pid: report.tookOverFrom.pid, host: report.tookOverFrom.host, released: report.released, lost: report.lost, queue: location }, 'took over the queue from a dead foreman');
  }
  if (lostJobs.length > 0) {
    logger.warn({ queue: location, lost: lostJobs.length, jobs: lostJobs.map(({ id, name }) => ({ id, name })) }, 'at-most-once jobs lost: their foreman died before they finished');
  } else if (report.released > 0 && !report.tookOverFrom) {
    logger.info({ queue: location, released: report.released }, 'released the jobs of a foreman that is gone');
  }
  return report;
}

/** Gives the file up if `ownerId` still holds it. */
export function giveUpOwnership(db: Db, ownerId: string): void {
  prepared(db, SQL.detach).run(ownerId);
}

function toOwner(row: OwnerRow): { pid: number; startTime: number; host: string } {
  return { pid: row.pid, startTime: row.start_time, host: row.host };
}

/** The last error of a lost at-most-once job, as JobFailedError's cause will show it. */
function lostError(owner: OwnerRow | undefined): SerializedError {
  const who = owner ? `pid ${owner.pid} on ${owner.host}` : 'an unknown foreman';
  return {
    name: 'Error',
    message: `lost: claimed at-most-once by a foreman that died before it finished (${who}); not run again`,
    stack: undefined,
    code: 'ERR_JOB_LOST',
    nonError: false,
  };
}
