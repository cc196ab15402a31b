/**
 * The takeover when the supervisor thread dies (not by our shutdown): its last duties fall to the registrant.
 * Every scope has already been aborted with SupervisorDiedError; here each worker still holding a slot is ended
 * and its slot freed, so its handle settles and nothing is left claimed.
 */
import type { SupervisorDiedError } from '../errors.js';
import type { WorkerRecord } from '../record.js';
import type { WorkerExit } from '../shared/exit.js';
import { CTRL, type SlotTable } from '../shared/layout.js';
import { FREE, PENDING, RUNNING, STARTING, transition } from '../shared/slots.js';

export function takeOver(table: SlotTable, records: readonly WorkerRecord[], reason: SupervisorDiedError, stopped: (r: WorkerRecord, exit: WorkerExit) => void): void {
  for (const r of records) {
    // A process worker would notice on its own (its control pipe closes with the thread), but we are its parent
    // and can end it now rather than in a few ms.
    const pid = r.pid;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // The registrant owns the table now (the exception to slots.ts invariant 1): free the slot as the supervisor
    // would have, by the same CAS. Its worker died with the supervisor, not of its own accord: this is not counted
    // or logged as a precious death.
    transition(table.i32, table.at(r.slot, CTRL), r.gen, [PENDING, STARTING, RUNNING], FREE, 'supervisor died');
    r.deathHandled = true;
    stopped(r, { reason: 'crashed', code: null, signal: null, error: reason });
  }
}
