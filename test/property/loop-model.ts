/**
 * The model of test/property/restart-policy.model.test.ts: what the supervisor loop should do, written from the headers
 * of src/supervisor/lifecycle.ts (phases, `classify`) and src/supervisor/restart-policy.ts (each decision), on plain
 * data; and check(), which compares a real LoopHarness with it after every command.
 */
import { expect } from 'vitest';
import { INTERRUPT } from '../../src/shared/layout.js';
import type { MailboxMessage } from '../../src/shared/protocol.js';
import { FREE, PENDING, RUNNING, genOf, stateOf, termRequested } from '../../src/shared/slots.js';
import type { LoopHarness } from '../unit/loop-harness.js';

export type Phase = 'free' | 'spawning' | 'running' | 'restart-wait';
export type Reason = 'completed' | 'failed' | 'crashed' | 'terminated' | 'never-started';
export interface Slot {
  phase: Phase;
  gen: number;
  term: boolean;
  committed: boolean;
  outcome: 'none' | 'completed' | 'failed' | 'terminated';
  restartDelayMs: number;
  graceMs: number;
  precious: boolean;
  ranBefore: boolean;
  restartAt: number;
  stopping: boolean;
  deadline: number;
  forceFired: boolean;
  forced: boolean;
  runners: number;
  stops: number;
  forces: number;
  workerInterrupts: number;
  /** When the slot's armed timer (restart or grace) was set, for the clock's order among timers due together. */
  timerSeq: number;
}
export interface Model {
  t: number;
  shuttingDown: boolean;
  shutdownGraceMs: number;
  slots: Slot[];
  /** Expected messages, as normalised by norm(). */
  posted: string[];
  registrantInterrupts: number;
  seq: number;
}
export interface Real {
  h: LoopHarness;
}

export const reached = new Set<string>();

export const norm = (m: MailboxMessage): string => {
  switch (m.t) {
    case 'stopped':
      return `${m.slot} stopped ${m.exit.reason}${m.exit.error ? '+error' : ''}${m.forced ? ' forced' : ''}${m.requested ? ' requested' : ''}`;
    case 'restarting':
      return `${m.slot} restarting ${m.exit.reason} ${m.delayMs}`;
    case 'ready':
    case 'shutdown-done':
      return m.t;
    case 'signal':
      return `signal ${m.signal}`;
    default:
      return `${m.slot} ${m.t}`;
  }
};

export const newSlot = (): Slot => ({
  phase: 'free', gen: 0, term: false, committed: false, outcome: 'none', restartDelayMs: -1, graceMs: 0, precious: false, ranBefore: false,
  restartAt: Infinity, stopping: false, deadline: Infinity, forceFired: false, forced: false, runners: 0, stops: 0, forces: 0, workerInterrupts: 0, timerSeq: 0,
});

/** lifecycle.ts `classify` and restart-policy.ts, from their headers. */
export function finish(m: Model, i: number, reason: Reason, hasError: boolean): void {
  const s = m.slots[i]!;
  if (reason === 'never-started' && s.ranBefore) {
    reached.add('never-started after a failure is terminated');
    [reason, hasError] = ['terminated', true];
  }
  m.posted.push(`${i} stopped ${reason}${hasError ? '+error' : ''}${s.forced ? ' forced' : ''}${s.term ? ' requested' : ''}`);
  if (s.precious && (reason === 'failed' || reason === 'crashed')) m.registrantInterrupts++;
  Object.assign(s, { phase: 'free', term: false, committed: false, outcome: 'none', ranBefore: false, restartAt: Infinity, stopping: false, deadline: Infinity });
}

export function start(m: Model, i: number): void {
  const s = m.slots[i]!;
  if (s.term) return finish(m, i, 'never-started', false);
  m.posted.push(`${i} port`);
  Object.assign(s, { phase: 'spawning', restartAt: Infinity, stopping: false, deadline: Infinity, forceFired: false, forced: false, runners: s.runners + 1, stops: 0, forces: 0 });
}

export function beginStopping(m: Model, i: number): void {
  const s = m.slots[i]!;
  const deadline = m.t + Math.min(s.graceMs, m.shutdownGraceMs);
  if (s.stopping && deadline >= s.deadline) return;
  if (s.stopping) reached.add('forced stop brought forward');
  if (!s.stopping) s.stops++;
  Object.assign(s, { stopping: true, deadline, timerSeq: m.seq++ });
}

export function exit(m: Model, i: number): void {
  const s = m.slots[i]!;
  let reason: Reason;
  if (!s.committed) reason = s.term ? 'never-started' : 'crashed';
  else if (s.outcome === 'none') reason = s.term ? 'terminated' : 'crashed';
  else reason = s.outcome;
  const hasError = reason === 'failed' || reason === 'crashed';
  if (s.restartDelayMs >= 0 && hasError) {
    if (!m.shuttingDown && !s.term) {
      reached.add(s.committed ? 'restart' : 'restart of a run that never committed');
      m.posted.push(`${i} restarting ${reason} ${s.restartDelayMs}`);
      Object.assign(s, { phase: 'restart-wait', committed: false, outcome: 'none', ranBefore: true, restartAt: m.t + s.restartDelayMs, stopping: false, deadline: Infinity, timerSeq: m.seq++ });
      return;
    }
    if (s.term) return finish(m, i, 'terminated', true);
  }
  finish(m, i, reason, hasError);
}

/** After every command, the real loop equals the model. */
export function check(m: Model, r: Real): void {
  const { h } = r;
  expect(h.posted.map(norm)).toEqual(m.posted);
  expect(h.startsUnderTerm).toBe(0); // lifecycle invariant 1
  expect(h.registrantInterrupts).toBe(m.registrantInterrupts);
  let timers = 0;
  m.slots.forEach((s, i) => {
    const w = h.word(i);
    expect(genOf(w)).toBe(s.gen);
    expect(stateOf(w)).toBe(s.phase === 'free' ? FREE : s.committed ? RUNNING : PENDING);
    expect(termRequested(w)).toBe(s.term);
    expect(h.runners.filter((x) => x.info.request.slot === i).length).toBe(s.runners);
    if (s.runners > 0) expect([h.runnerOf(i).stops, h.runnerOf(i).forces]).toEqual([s.stops, s.forces]);
    expect(Atomics.load(h.table.i32, h.table.at(i, INTERRUPT))).toBe(s.workerInterrupts);
    if (s.phase === 'restart-wait' || (s.stopping && !s.forceFired)) timers++;
  });
  expect(h.clock.pending).toBe(timers);
  const free = m.slots.every((s) => s.phase === 'free');
  expect(h.loop.state).toBe(!m.shuttingDown ? 'serving' : free ? 'finishing' : 'shutting-down');
  if (m.shuttingDown && free) reached.add('shutdown finishing');
}
