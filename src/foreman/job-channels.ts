/**
 * The Foreman's diagnostics_channel channels (docs/diagnostics.md), created once at module load; the Foreman
 * builds a payload only when a channel has subscribers. No state.
 */
import dc from 'node:diagnostics_channel';

/** A job was claimed: `{ id, name, attempt, fence, queue }`. */
export const jobClaim = dc.channel('bgworkers:job:claim');
/**
 * A job's run ended and its outcome was recorded: `{ id, name, attempt, queue, outcome, reason?, error?, durationMs }`,
 * outcome one of 'completed', 'retry', 'dead', 'released', 'lost'.
 */
export const jobEnd = dc.channel('bgworkers:job:end');
