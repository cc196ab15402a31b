/**
 * The lifecycle event stream (src/registrant/events.ts) and its engine subscribers, with no threads: delivery in
 * subscription order, events emitted during a delivery queued behind it (every subscriber sees one order), a
 * throwing subscriber isolated, precious-death detection once (precious.ts), the scope state machine's transitions
 * as events (scope/node.ts through ScopeOwner.scopeMoved), and the registry's counters as a subscriber.
 */
import { describe, expect, it } from 'vitest';
import { LifecycleEvents, type LifecycleEvent } from '../../src/registrant/events.js';
import { PreciousDeaths } from '../../src/registrant/precious.js';
import { Registry } from '../../src/registrant/registry.js';
import type { WorkerRecord } from '../../src/record.js';
import type { WorkerExit } from '../../src/shared/exit.js';
import { ScopeNode, type ScopeOwner, type ScopeState } from '../../src/scope/node.js';
import { SlotTable } from '../../src/shared/layout.js';

const noErrors = (err: unknown): void => {
  throw new Error(`unexpected subscriber error: ${String(err)}`);
};

/** A record as the stream's subscribers see it: only what they read. */
function fakeRecord(id: string, scope?: ScopeNode): WorkerRecord {
  return { id, ref: { id, name: `w${id}` }, precious: true, deathHandled: false, scope, logger: undefined, controlPort: undefined } as unknown as WorkerRecord;
}

const failed: WorkerExit = { reason: 'failed', code: 1, signal: null, error: new TypeError('boom') };

describe('LifecycleEvents', () => {
  it('delivers each event to every subscriber in subscription order; unsubscribe stops delivery', { timeout: 5000 }, () => {
    const events = new LifecycleEvents(noErrors);
    const seen: string[] = [];
    events.subscribe((e) => seen.push(`a:${e.type}`));
    const off = events.subscribe((e) => seen.push(`b:${e.type}`));
    const w = fakeRecord('1');
    events.emit({ type: 'worker-registered', worker: w });
    off();
    events.emit({ type: 'worker-stopping', worker: w });
    expect(seen).toEqual(['a:worker-registered', 'b:worker-registered', 'a:worker-stopping']);
  });

  it('an event emitted during a delivery is queued behind it: every subscriber sees the same order', { timeout: 5000 }, () => {
    const events = new LifecycleEvents(noErrors);
    const w = fakeRecord('1');
    const first: string[] = [];
    const last: string[] = [];
    events.subscribe((e) => {
      first.push(e.type);
      if (e.type === 'worker-stopped') events.emit({ type: 'worker-stopping', worker: w });
    });
    events.subscribe((e) => last.push(e.type));
    events.emit({ type: 'worker-stopped', worker: w, exit: failed, forced: false, requested: false, threadId: 0 });
    // emit() returned: the queued event has been delivered too.
    expect(first).toEqual(['worker-stopped', 'worker-stopping']);
    expect(last).toEqual(['worker-stopped', 'worker-stopping']);
  });

  it('a throwing subscriber goes to onError; the others and later events are still delivered', { timeout: 5000 }, () => {
    const errors: [unknown, string][] = [];
    const events = new LifecycleEvents((err, e) => errors.push([err, e.type]));
    const bad = new Error('subscriber bug');
    const seen: string[] = [];
    events.subscribe((e) => {
      if (e.type === 'worker-started') throw bad;
    });
    events.subscribe((e) => seen.push(e.type));
    const w = fakeRecord('1');
    expect(() => events.emit({ type: 'worker-started', worker: w, threadId: 3, pid: 0 })).not.toThrow();
    events.emit({ type: 'worker-stopping', worker: w });
    expect(errors).toEqual([[bad, 'worker-started']]);
    expect(seen).toEqual(['worker-started', 'worker-stopping']);
  });
});

describe('PreciousDeaths', () => {
  it('emits one precious-death per record, whichever path calls first, and aborts the scope with its error', { timeout: 5000 }, async () => {
    const events = new LifecycleEvents(noErrors);
    const precious = new PreciousDeaths(events);
    const owner: ScopeOwner = { scopeSettled: () => {} };
    const node = new ScopeNode(owner, undefined, 's');
    const w = fakeRecord('1', node);
    const seen: LifecycleEvent[] = [];
    events.subscribe((e) => seen.push(e));
    precious.died(w, failed, 0);
    precious.died(w, { ...failed, reason: "crashed" }, 0); // the second path: already handled
    expect(seen.map((e) => e.type)).toEqual(['precious-death']);
    const death = seen[0] as Extract<LifecycleEvent, { type: 'precious-death' }>;
    expect(death.exit).toBe(failed);
    expect(death.error).toMatchObject({ code: 'ERR_PRECIOUS_WORKER_DIED', exit: failed });
    expect(node.state).toBe('aborting');
    expect(node.reason).toBe(death.error);
    node.functionSettled(true, undefined);
    await expect(node.settled).rejects.toBe(death.error);
  });

  it('a record whose death the takeover handled is not a precious death', { timeout: 5000 }, () => {
    const events = new LifecycleEvents(noErrors);
    const precious = new PreciousDeaths(events);
    const w = fakeRecord('1');
    (w as { deathHandled: boolean }).deathHandled = true;
    const seen: string[] = [];
    events.subscribe((e) => seen.push(e.type));
    precious.died(w, failed, 0);
    expect(seen).toEqual([]);
  });
});

describe('scope transitions as events', () => {
  /** An owner that reports transitions as the core does. */
  function recorder(): { owner: ScopeOwner; seen: [number, ScopeState, unknown][] } {
    const seen: [number, ScopeState, unknown][] = [];
    return { seen, owner: { scopeSettled: () => {}, scopeMoved: (n, to, reason) => seen.push([n.id, to, reason]) } };
  }

  it('commit: committing, then committed', { timeout: 5000 }, async () => {
    const { owner, seen } = recorder();
    const node = new ScopeNode(owner, undefined, undefined);
    node.functionSettled(true, 42);
    await node.settled;
    expect(seen).toEqual([
      [node.id, 'committing', undefined],
      [node.id, 'committed', undefined],
    ]);
  });

  it('abort: the parent is aborting before its child, each with the reason; aborted once settled', { timeout: 5000 }, async () => {
    const { owner, seen } = recorder();
    const parent = new ScopeNode(owner, undefined, 'p');
    const child = new ScopeNode(owner, parent, 'c');
    const reason = new Error('stop');
    parent.abort(reason);
    child.functionSettled(true, undefined);
    parent.functionSettled(true, undefined);
    await expect(parent.settled).rejects.toBe(reason);
    expect(seen).toEqual([
      [parent.id, 'aborting', reason],
      [child.id, 'aborting', reason],
      [child.id, 'aborted', reason],
      [parent.id, 'aborted', reason],
    ]);
  });
});

describe('Registry counters follow the stream', () => {
  it('counts exits, stops, terminations, precious deaths and scopes from events alone', { timeout: 5000 }, () => {
    const registry = new Registry(SlotTable.create(1));
    const w = fakeRecord('1');
    const scope = {} as ScopeNode;
    const feed: LifecycleEvent[] = [
      { type: 'scope-opened', scope },
      { type: 'worker-registered', worker: w },
      { type: 'worker-restarting', worker: w, exit: failed, delayMs: 0, threadId: 0 },
      { type: "precious-death", worker: w, exit: failed, error: {} as never, diedAt: 0 },
      { type: 'worker-stopped', worker: w, exit: { reason: 'terminated', code: 1, signal: null }, forced: false, requested: true, threadId: 0 },
      { type: 'worker-stopped', worker: w, exit: { reason: 'crashed', code: null, signal: 'SIGKILL' }, forced: true, requested: true, threadId: 0 },
      { type: 'worker-stopped', worker: w, exit: { reason: 'never-started', code: null, signal: null }, forced: false, requested: true, threadId: 0 },
      { type: 'scope-aborting', scope, reason: failed.error },
      { type: 'scope-aborted', scope, reason: failed.error },
      { type: 'scope-opened', scope },
      { type: 'scope-committing', scope },
      { type: 'scope-committed', scope },
    ];
    for (const e of feed) registry.observe(e);
    const m = registry.metrics();
    expect(m.exits).toEqual({ completed: 0, failed: 1, crashed: 1, terminated: 1, 'never-started': 1 });
    expect(m.workers.stopped).toBe(3);
    expect(m.terminations).toEqual({ graceful: 1, forced: 1 });
    expect(m.preciousDeaths).toBe(1);
    expect(m.scopes).toEqual({ active: 0, committed: 1, aborted: 1 });
  });
});
