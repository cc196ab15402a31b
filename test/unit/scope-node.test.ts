/**
 * The scope state machine (src/scope/node.ts) with fake members and no threads: teardown on commit and abort,
 * reasons cascading to descendants (first reason wins), settling only after the function, the children and the
 * flagged members (invariant 3), precious workers outliving a commit (G5), and a fast-check property over random
 * trees of scopes. Order is decided by when the test stops members and settles functions, never by time.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PreciousWorkerOutlivedScopeError, ScopeClosedError } from '../../src/errors.js';
import { ScopeNode, type ScopeOwner, type ScopeResource } from '../../src/scope/node.js';

/** A worker as a scope sees it (a ScopeResource); the test decides when it stops. */
class FakeMember implements ScopeResource {
  readonly ref: { id: string; name: string };
  readonly ephemeral: boolean;
  readonly precious: boolean;
  live = true;
  terminationRequests = 0;
  readonly #stopped: Promise<void>;
  #resolve!: () => void;

  constructor(
    name: string,
    flags: { ephemeral?: boolean; precious?: boolean },
    readonly log: string[] = [],
    readonly onRequest: () => void = () => {},
  ) {
    this.ref = { id: name, name };
    this.ephemeral = flags.ephemeral ?? false;
    this.precious = flags.precious ?? false;
    this.#stopped = new Promise((resolve) => (this.#resolve = resolve));
  }
  get closesWithScope(): boolean {
    return this.ephemeral || this.precious;
  }
  blocksCommit(): boolean {
    return this.precious && !this.ephemeral && this.live;
  }
  close(): void {
    this.terminationRequests++;
    this.log.push(this.ref.name);
    this.onRequest();
  }
  get closed(): Promise<unknown> {
    return this.#stopped;
  }
  stop(): void {
    this.live = false;
    this.#resolve();
  }
}

class FakeOwner implements ScopeOwner {
  readonly calls: [ScopeNode, boolean][] = [];
  scopeSettled(node: ScopeNode, committed: boolean): void {
    this.calls.push([node, committed]);
  }
}

/** How a node's promise settled, observed from a handler attached at creation (so no rejection goes unhandled). */
interface Outcome {
  status: 'pending' | 'resolved' | 'rejected';
  value?: unknown;
}
function track(node: ScopeNode): Outcome {
  const o: Outcome = { status: 'pending' };
  node.settled.then(
    (value) => Object.assign(o, { status: 'resolved', value }),
    (value: unknown) => Object.assign(o, { status: 'rejected', value }),
  );
  return o;
}

/** Drains every pending promise reaction (one macrotask turn): whatever can settle now has settled after it. */
const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function scope(owner: ScopeOwner, parent?: ScopeNode, name?: string): { node: ScopeNode; out: Outcome } {
  const node = new ScopeNode(owner, parent, name);
  return { node, out: track(node) };
}

describe('commit', () => {
  it('waits for its ephemeral members to stop, and neither terminates nor waits for unflagged ones', async () => {
    const owner = new FakeOwner();
    const { node, out } = scope(owner);
    const eph = new FakeMember('eph', { ephemeral: true });
    const plain = new FakeMember('plain', {});
    for (const m of [eph, plain]) node.members.add(m);
    node.functionSettled(true, 'value');
    expect(node.state).toBe('committing');
    expect([eph.terminationRequests, plain.terminationRequests]).toEqual([1, 0]);
    await drain();
    expect(out.status).toBe('pending');
    eph.stop();
    await drain();
    expect(out).toEqual({ status: 'resolved', value: 'value' });
    expect(node.state).toBe('committed');
    expect(owner.calls).toEqual([[node, true]]);
  });

  it('with nothing to tear down still settles asynchronously, after the call returns', async () => {
    const owner = new FakeOwner();
    const { node, out } = scope(owner);
    node.functionSettled(true, 1);
    expect(out.status).toBe('pending');
    await drain();
    expect(out).toEqual({ status: 'resolved', value: 1 });
  });

  it('a live precious, non-ephemeral member is terminated and the scope rejects with PreciousWorkerOutlivedScopeError (G5)', async () => {
    const owner = new FakeOwner();
    const { node, out } = scope(owner);
    const precious = new FakeMember('keeper', { precious: true });
    for (const m of [precious]) node.members.add(m);
    node.functionSettled(true, 'value');
    expect(precious.terminationRequests).toBe(1);
    await drain();
    expect(out.status).toBe('pending'); // still waits for it to stop
    precious.stop();
    await drain();
    expect(out.status).toBe('rejected');
    expect(out.value).toBeInstanceOf(PreciousWorkerOutlivedScopeError);
    expect((out.value as PreciousWorkerOutlivedScopeError).workers).toEqual([precious.ref]);
    expect(node.state).toBe('aborted');
    expect(owner.calls).toEqual([[node, false]]);
  });

  it('a precious member that is also ephemeral, or no longer live, does not fail the commit', async () => {
    for (const member of [new FakeMember('both', { precious: true, ephemeral: true }), new FakeMember('done', { precious: true })]) {
      const { node, out } = scope(new FakeOwner());
      if (member.ref.name === 'done') member.stop();
      for (const m of [member]) node.members.add(m);
      node.functionSettled(true, 'value');
      expect(member.terminationRequests).toBe(1);
      member.stop();
      await drain();
      expect(out).toEqual({ status: 'resolved', value: 'value' });
    }
  });

  it('terminates flagged members in reverse registration order (invariant 5)', () => {
    const log: string[] = [];
    const { node } = scope(new FakeOwner());
    for (const m of [
      new FakeMember('a', { ephemeral: true }, log),
      new FakeMember('b', { precious: true }, log),
      new FakeMember('c', {}, log),
      new FakeMember('d', { ephemeral: true, precious: true }, log),
    ]) node.members.add(m);
    node.functionSettled(true, undefined);
    expect(log).toEqual(['d', 'b', 'a']);
  });

  it('makes every termination request even if one throws (invariant 5)', async () => {
    const log: string[] = [];
    const { node, out } = scope(new FakeOwner());
    const a = new FakeMember('a', { ephemeral: true }, log);
    const b = new FakeMember('b', { ephemeral: true }, log, () => {
      throw new Error('request failed');
    });
    const c = new FakeMember('c', { ephemeral: true }, log);
    for (const m of [a, b, c]) node.members.add(m);
    try {
      node.abort(new Error('stop'));
    } catch {
      // whether abort() reports the failure is not what this test is about
    }
    expect(log).toEqual(['c', 'b', 'a']);
    node.functionSettled(true, undefined);
    [a, b, c].forEach((m) => m.stop());
    await drain();
    expect(out.status).toBe('rejected');
  });

  it('a committing parent aborts its active children with ScopeClosedError and settles only after them', async () => {
    const owner = new FakeOwner();
    const { node: parent, out: parentOut } = scope(owner, undefined, 'parent');
    const { node: child, out: childOut } = scope(owner, parent, 'child');
    const { node: grandchild } = scope(owner, child, 'grandchild');
    parent.functionSettled(true, 'parent value');
    expect(child.reason).toBeInstanceOf(ScopeClosedError);
    expect((child.reason as ScopeClosedError).code).toBe('ERR_SCOPE_CLOSED');
    expect(grandchild.reason).toBe(child.reason);
    expect(child.signal.reason).toBe(child.reason);
    grandchild.functionSettled(true, undefined);
    await drain();
    expect([parentOut.status, childOut.status]).toEqual(['pending', 'pending']); // child's function still runs
    child.functionSettled(true, 'child value');
    await drain();
    expect(childOut).toEqual({ status: 'rejected', value: child.reason });
    expect(parentOut).toEqual({ status: 'resolved', value: 'parent value' });
    expect(owner.calls.map(([n, c]) => [n.name, c])).toEqual([
      ['grandchild', false],
      ['child', false],
      ['parent', true],
    ]);
    expect(parent.children.size).toBe(0);
  });

  it('a child whose function already returned is awaited, not aborted, when its parent commits', async () => {
    // G6: "any child scope still *active* is aborted". A committing child is waiting for its ephemeral workers.
    const owner = new FakeOwner();
    const { node: parent, out: parentOut } = scope(owner);
    const { node: child, out: childOut } = scope(owner, parent);
    const eph = new FakeMember('eph', { ephemeral: true });
    for (const m of [eph]) child.members.add(m);
    child.functionSettled(true, 'child value');
    expect(child.state).toBe('committing');
    parent.functionSettled(true, 'parent value');
    eph.stop();
    await drain();
    expect(childOut).toEqual({ status: 'resolved', value: 'child value' });
    expect(parentOut).toEqual({ status: 'resolved', value: 'parent value' });
  });

  it('a child that settled before its parent ends is left alone', async () => {
    const owner = new FakeOwner();
    const { node: parent, out: parentOut } = scope(owner);
    const { node: child, out: childOut } = scope(owner, parent);
    child.functionSettled(true, 'c');
    await drain();
    expect(parent.children.has(child)).toBe(false);
    parent.functionSettled(true, 'p');
    await drain();
    expect([childOut, parentOut]).toEqual([
      { status: 'resolved', value: 'c' },
      { status: 'resolved', value: 'p' },
    ]);
    expect(child.aborted).toBe(false);
  });
});

describe('abort', () => {
  it('cascades to every active descendant with the same reason', async () => {
    const owner = new FakeOwner();
    const root = scope(owner, undefined, 'root');
    const a = scope(owner, root.node, 'a');
    const b = scope(owner, root.node, 'b');
    const a1 = scope(owner, a.node, 'a1');
    const reason = new Error('stop everything');
    root.node.abort(reason);
    for (const s of [root, a, b, a1]) {
      expect([s.node.state, s.node.aborted, s.node.reason, s.node.signal.reason]).toEqual(['aborting', true, reason, reason]);
    }
    for (const s of [a1, b, a, root]) s.node.functionSettled(true, 'swallowed');
    await drain();
    for (const s of [root, a, b, a1]) expect(s.out).toEqual({ status: 'rejected', value: reason });
    const order = owner.calls.map(([n]) => n.name);
    expect(order.indexOf('a1')).toBeLessThan(order.indexOf('a'));
    expect(order.indexOf('root')).toBe(3);
    expect(owner.calls.every(([, committed]) => !committed)).toBe(true);
  });

  it('the first reason wins: later aborts and a throwing function change nothing', async () => {
    const { node, out } = scope(new FakeOwner());
    const { node: child, out: childOut } = scope(new FakeOwner(), node);
    const first = new Error('first');
    node.abort(first);
    node.abort(new Error('second'));
    child.abort(new Error('child second'));
    child.functionSettled(false, new Error('child threw'));
    node.functionSettled(false, new Error('parent threw'));
    await drain();
    expect(out).toEqual({ status: 'rejected', value: first });
    expect(childOut).toEqual({ status: 'rejected', value: first });
    expect(node.signal.reason).toBe(first);
    expect(child.reason).toBe(first);
  });

  it('aborting a child does not abort its parent or siblings', async () => {
    const owner = new FakeOwner();
    const parent = scope(owner);
    const child = scope(owner, parent.node);
    const sibling = scope(owner, parent.node);
    child.node.abort(new Error('child only'));
    expect([parent.node.state, sibling.node.state]).toEqual(['active', 'active']);
    child.node.functionSettled(true, undefined);
    sibling.node.functionSettled(true, 's');
    await drain(); // the children settle before the parent's function returns
    parent.node.functionSettled(true, 'p');
    await drain();
    expect([parent.out.status, sibling.out.status, child.out.status]).toEqual(['resolved', 'resolved', 'rejected']);
  });

  it('while the function still runs: teardown starts at once, the scope settles only after functionSettled (G6b)', async () => {
    const owner = new FakeOwner();
    const { node, out } = scope(owner);
    const eph = new FakeMember('eph', { ephemeral: true });
    const precious = new FakeMember('keeper', { precious: true });
    for (const m of [eph, precious]) node.members.add(m);
    const reason = new Error('precious died elsewhere');
    node.abort(reason);
    expect([eph.terminationRequests, precious.terminationRequests]).toEqual([1, 1]);
    eph.stop();
    precious.stop();
    await drain();
    expect(out.status).toBe('pending');
    expect(owner.calls).toEqual([]);
    node.functionSettled(true, 'caught it and returned'); // an abort cannot be swallowed (G6)
    await drain();
    expect(out).toEqual({ status: 'rejected', value: reason });
    expect(owner.calls).toEqual([[node, false]]);
  });

  it('an abort during commit teardown wins over the commit, and over PreciousWorkerOutlivedScopeError', async () => {
    const { node, out } = scope(new FakeOwner());
    const precious = new FakeMember('keeper', { precious: true });
    for (const m of [precious]) node.members.add(m);
    node.functionSettled(true, 'value');
    const reason = new Error('shutdown');
    node.abort(reason);
    expect(node.state).toBe('aborting');
    expect(precious.terminationRequests).toBe(1); // teardown is not started twice
    precious.stop();
    await drain();
    expect(out).toEqual({ status: 'rejected', value: reason });
  });

  it('after the scope settled, abort is a no-op', async () => {
    const owner = new FakeOwner();
    const { node, out } = scope(owner);
    node.functionSettled(true, 'v');
    await drain();
    node.abort(new Error('late'));
    await drain();
    expect([node.state, node.aborted, out.status]).toEqual(['committed', false, 'resolved']);
    expect(owner.calls).toHaveLength(1);
  });
});

describe('the abort signal (invariant 6)', () => {
  it('one held before the abort fires once, with the reason, before the children abort', () => {
    const owner = new FakeOwner();
    const { node: parent } = scope(owner);
    const { node: child } = scope(owner, parent);
    const seen: unknown[] = [];
    const signal = parent.signal;
    signal.addEventListener('abort', () => seen.push([signal.reason, child.aborted]));
    const reason = new Error('stop');
    parent.abort(reason);
    parent.abort(new Error('second'));
    expect(seen).toEqual([[reason, false]]);
    expect(parent.signal).toBe(signal);
  });

  it('one first asked for after the abort is aborted already, with the reason, and stays the same object', () => {
    const owner = new FakeOwner();
    const { node: parent } = scope(owner);
    const { node: child } = scope(owner, parent);
    const reason = new Error('stop');
    parent.abort(reason);
    const signal = child.signal;
    expect([signal.aborted, signal.reason]).toEqual([true, reason]);
    expect(child.signal).toBe(signal);
  });

  it('one asked for while the scope is active is not aborted, and a commit never aborts it', async () => {
    const owner = new FakeOwner();
    const { node, out } = scope(owner);
    const signal = node.signal;
    expect(signal.aborted).toBe(false);
    node.functionSettled(true, 'value');
    await drain();
    expect(out.status).toBe('resolved');
    expect([signal.aborted, node.signal.aborted]).toEqual([false, false]);
  });
});

describe('the function', () => {
  it('functionSettled(false, e) aborts with e: signal, reason and rejection', async () => {
    const owner = new FakeOwner();
    const { node, out } = scope(owner);
    const e = new Error('fn threw');
    node.functionSettled(false, e);
    expect([node.aborted, node.reason, node.signal.reason]).toEqual([true, e, e]);
    await drain();
    expect(out).toEqual({ status: 'rejected', value: e });
    expect(node.state).toBe('aborted');
    expect(owner.calls).toEqual([[node, false]]);
  });

  it('a function that rejects with undefined: scope.signal.reason is what the scope rejects with', async () => {
    const { node, out } = scope(new FakeOwner());
    node.functionSettled(false, undefined);
    await drain();
    expect(out.status).toBe('rejected');
    expect(node.signal.reason).toBe(out.value);
  });
});

describe('assertActive', () => {
  it('passes while active; throws ScopeClosedError once aborted (the reason as cause) or committing', () => {
    const a = scope(new FakeOwner()).node;
    expect(() => a.assertActive('register()')).not.toThrow();
    const reason = new Error('aborted');
    a.abort(reason);
    let aborted: unknown;
    try {
      a.assertActive('register()');
    } catch (err) {
      aborted = err;
    }
    expect(aborted).toBeInstanceOf(ScopeClosedError);
    expect((aborted as ScopeClosedError).cause).toBe(reason);
    const c = scope(new FakeOwner()).node;
    for (const m of [new FakeMember('eph', { ephemeral: true })]) c.members.add(m);
    c.functionSettled(true, undefined);
    let e: unknown;
    try {
      c.assertActive('register()');
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(ScopeClosedError);
  });
});

/** The property: random trees of scopes with flagged members, random aborts, function settlements and stops. */
type Event = { kind: 'abort'; node: number } | { kind: 'fn'; node: number; ok: boolean } | { kind: 'stop'; member: number } | { kind: 'drain' };

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ kind: fc.constant('abort' as const), node: fc.nat() }),
  fc.record({ kind: fc.constant('fn' as const), node: fc.nat(), ok: fc.boolean() }),
  fc.record({ kind: fc.constant('stop' as const), member: fc.nat() }),
  fc.record({ kind: fc.constant('drain' as const) }),
);
const flagsArb = fc.record({ ephemeral: fc.boolean(), precious: fc.boolean() });
const treeArb = fc.record({
  parents: fc.array(fc.nat(), { maxLength: 9 }), // node i + 1's parent is parents[i] % (i + 1): a tree rooted at 0
  members: fc.array(fc.array(flagsArb, { maxLength: 2 }), { minLength: 10, maxLength: 10 }),
  events: fc.array(eventArb, { maxLength: 40 }),
  endOrder: fc.array(fc.nat(), { minLength: 10, maxLength: 10 }),
});

describe('random trees of scopes', () => {
  it('every node settles exactly once, after its function, its flagged members and its children; reasons cascade', async () => {
    await fc.assert(
      fc.asyncProperty(treeArb, async ({ parents, members, events, endOrder }) => {
        const violations: string[] = [];
        const n = parents.length + 1;
        const fnDone: boolean[] = Array.from({ length: n }, () => false);
        const settledOrder: number[] = [];
        const nodes: ScopeNode[] = [];
        const owner: ScopeOwner = {
          scopeSettled(node, committed) {
            const i = nodes.indexOf(node);
            settledOrder.push(i);
            // invariant 3, at the moment it settles
            if (!fnDone[i]) violations.push(`node ${i} settled before its function`);
            if ([...node.members].some((m) => m.closesWithScope && (m as FakeMember).live)) violations.push(`node ${i} settled before its flagged members stopped`);
            for (let c = 0; c < n; c++) if (parentOf(c) === i && !settledOrder.includes(c)) violations.push(`node ${i} settled before child ${c}`);
            if (committed !== (node.state === 'committed')) violations.push(`node ${i}: committed ${committed} but state ${node.state}`);
          },
        };
        const parentOf = (i: number): number | undefined => (i === 0 ? undefined : parents[i - 1]! % i);
        for (let i = 0; i < n; i++) {
          const p = parentOf(i);
          nodes.push(new ScopeNode(owner, p === undefined ? undefined : nodes[p], `n${i}`));
        }
        const outs = nodes.map(track);
        const all: FakeMember[] = [];
        nodes.forEach((node, i) =>
          members[i]!.forEach((flags, k) => {
            const m = new FakeMember(`n${i}m${k}`, flags);
            node.members.add(m);
            all.push(m);
          }),
        );
        const descendants = (i: number): number[] => nodes.flatMap((_, c) => (c !== i && isUnder(c, i) ? [c] : []));
        const isUnder = (c: number, i: number): boolean => {
          for (let p = parentOf(c); p !== undefined; p = parentOf(p)) if (p === i) return true;
          return false;
        };
        const reasons = new Map<number, unknown>();

        for (const [k, ev] of events.entries()) {
          const before = nodes.map((node) => node.state);
          if (ev.kind === 'abort') {
            const i = ev.node % n;
            const reason = new Error(`abort #${k}`);
            nodes[i]!.abort(reason);
            for (const c of [i, ...descendants(i)]) {
              if ((before[c] === 'active' || before[c] === 'committing') && nodes[c]!.reason !== reason) violations.push(`abort #${k} of ${i}: node ${c} has another reason`);
            }
          } else if (ev.kind === 'fn') {
            const i = ev.node % n;
            if (fnDone[i]) continue; // a function settles once
            fnDone[i] = true;
            nodes[i]!.functionSettled(ev.ok, ev.ok ? `value ${i}` : new Error(`fn ${i} threw`));
            if (ev.ok && before[i] === 'active') {
              for (let c = 0; c < n; c++) {
                if (parentOf(c) !== i || before[c] !== 'active') continue;
                if (!(nodes[c]!.reason instanceof ScopeClosedError)) violations.push(`commit of ${i}: active child ${c} not closed`);
                for (const d of descendants(c)) {
                  if ((before[d] === 'active' || before[d] === 'committing') && nodes[d]!.reason !== nodes[c]!.reason) violations.push(`commit of ${i}: ${d} has another reason than ${c}`);
                }
              }
            }
          } else if (ev.kind === 'stop') {
            if (all.length > 0) all[ev.member % all.length]!.stop();
          } else {
            await drain();
          }
          // invariant 1: once set, a reason never changes
          nodes.forEach((node, i) => {
            if (!node.aborted) return;
            if (reasons.has(i) && reasons.get(i) !== node.reason) violations.push(`node ${i}: reason changed`);
            reasons.set(i, node.reason);
          });
        }

        // Let every function finish and every member stop, in a random order.
        const rest = nodes.map((_, i) => i).sort((x, y) => endOrder[x]! - endOrder[y]! || x - y);
        for (const i of rest) {
          if (!fnDone[i]) {
            fnDone[i] = true;
            nodes[i]!.functionSettled(true, `value ${i}`);
          }
        }
        all.forEach((m) => m.stop());
        await drain();

        expect(violations).toEqual([]);
        expect([...settledOrder].sort((x, y) => x - y)).toEqual(nodes.map((_, i) => i)); // each exactly once
        nodes.forEach((node, i) => {
          const out = outs[i]!;
          expect(['committed', 'aborted']).toContain(node.state);
          expect(out.status).toBe(node.state === 'committed' ? 'resolved' : 'rejected');
          if (node.aborted) expect(out.value).toBe(node.reason);
          else if (out.status === 'rejected') expect(out.value).toBeInstanceOf(PreciousWorkerOutlivedScopeError);
          for (const m of node.members) expect(m.closesWithScope ? (m as FakeMember).terminationRequests > 0 : (m as FakeMember).terminationRequests === 0).toBe(true);
          expect(node.children.size).toBe(0);
        });
      }),
      { seed: 424242, numRuns: 300 },
    );
  });
});
