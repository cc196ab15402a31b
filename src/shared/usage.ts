/**
 * Per-worker resource use as the OS reports it (issue 13.5): CPU time of one thread or one process, read from
 * /proc on Linux (elsewhere: NaN, "not known"). Shared by the worker bootstrap (which learns its own OS thread
 * id, something only the thread itself can see) and the supervisor thread's sampler (which reads the rest).
 */
import { fs } from './builtins.js';

const { readFileSync, readlinkSync } = fs();

/** How often usage is sampled (ms): by the supervisor's sampler, and by a process worker reporting its event loop. */
export const USAGE_SAMPLE_MS = 250;

/**
 * A process worker's event-loop utilisation from its last report (`active`/`idle` ms since it started, sent every
 * USAGE_SAMPLE_MS when its loop turns), `agoMs` after it. A report that is overdue means the loop has not turned
 * since: that time is counted as active, so a child spinning in synchronous code shows as busy, not as idle.
 */
export function reportedElu(active: number, idle: number, agoMs: number): number {
  const blocked = agoMs > 2 * USAGE_SAMPLE_MS ? agoMs : 0;
  const total = active + idle + blocked;
  return total > 0 ? (active + blocked) / total : NaN;
}

/** The calling thread's OS thread id (Linux: /proc/thread-self → "<pid>/task/<tid>"); 0 where unknown. */
export function ownThreadId(): number {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) ? tid : 0;
  } catch {
    return 0;
  }
}

/** CPU time (ms, user + system, ns resolution) of OS thread `tid` of this process; NaN where unknown. */
export function threadCpuMs(tid: number): number {
  if (tid <= 0) return NaN;
  try {
    // schedstat: time on CPU (ns), time waiting (ns), timeslices.
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on every Linux Node runs on). */
const USER_HZ = 100;

/** CPU time (ms, user + system of every thread, 10 ms resolution) of process `pid`; NaN where unknown. */
export function processCpuMs(pid: number): number {
  if (pid <= 0) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the comm field: state is [0], utime [11], stime [12].
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return NaN;
  }
}
