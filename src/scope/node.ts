/**
 * The scope state machine: a transaction-like unit of work, nestable like subtransactions. Lives only on the
 * registrant thread (scopes never cross threads); every transition below runs on that thread.
 *
 * ## States
 *
 * | state      | meaning                                                                                  |
 * |------------|------------------------------------------------------------------------------------------|
 * | active     | the function runs; workers and child scopes may be registered                            |
 * | committing | the function returned; teardown runs (children closed, ephemeral/precious workers stopped) |
 * | aborting   | aborted (reason set); teardown runs; the scope settles once the function has settled too   |
 * | committed  | settled: the promise resolved with the function's value                                  |
 * | aborted    | settled: the promise rejected with the abort reason (or PreciousWorkerOutlivedScopeError) |
 *
 * ## Transitions
 *
 * | from               | to         | event                                                                        |
 * |--------------------|------------|------------------------------------------------------------------------------|
 * | active             | committing | the function resolved                                                         |
 * | active, committing | aborting   | abort: scope.abort(), the function threw, options.signal, parent abort, precious death, shutdown |
 * | committing         | committed  | teardown done, no failure                                                    |
 * | committing         | aborted    | teardown done and a precious non-ephemeral worker outlived the commit (G5)     |
 * | aborting           | aborted    | teardown done and the function settled                                        |
 *
 * ## Invariants
 *
 * 1. The first abort reason wins; descendants are aborted with the same reason (G6).
 * 2. Teardown starts at the first of commit or abort, at once, without waiting for the function (G6b).
 * 3. A scope settles only after its function settled, its children settled and its ephemeral and precious
 *    workers stopped (G3, G6b). Children stop before their parent settles.
 * 4. Once a scope has left `active`, nothing new is registered in it and no child scope starts in it.
 * 5. Termination requests go out in reverse registration order, and every one is made even if one throws.
 * 6. The scope's AbortSignal exists once someone asks for it (`signal`), and only then: until then no one can
 *    listen to it, so an abort just records its reason, and a signal first asked for after the abort is made
 *    aborted with that reason. An abort of a scope whose signal nobody holds costs no dispatch (a precious
 *    death's path, and every child scope of a busy parent).
 */
import type { WorkerRef } from '../errors.js';
import { PreciousWorkerOutlivedScopeError, ScopeAbortedError, ScopeClosedError } from '../errors.js';
import { noteFrameAborted, type ScopeFrame } from './context.js';
import { wakeSelf } from './interrupts.js';
import { assertTransition, type TransitionTable } from '../shared/transitions.js';

export type ScopeState = 'active' | 'committing' | 'aborting' | 'committed' | 'aborted';

/**
 * What a scope owns: a worker, a pool (and, as they come, spawned tasks and poison guards). One contract, so
 * teardown is one loop and no resource pretends to be another.
 */
export interface ScopeResource {
  readonly ref: WorkerRef;
  /** The scope's end closes it and waits for it (ephemeral or precious workers, pools); an unflagged worker is left running. */
  readonly closesWithScope: boolean;
  /**
   * G5: a commit would leave it running though it may not outlive the scope (a precious, non-ephemeral worker
   * still running): the commit reports it (PreciousWorkerOutlivedScopeError) and closes it.
   */
  blocksCommit(): boolean;
  /**
   * Closes it: a worker is asked to stop (G2), a pool rejects what is pending and stops its workers. `reason` is
   * the scope's abort reason, or undefined on commit. Synchronous, idempotent, and not expected to throw; if it
   * does, teardown still closes every other resource and the scope rejects with the failure (invariant 5).
   */
  close(reason: unknown): void;
  /** Resolves once it is closed (a worker: stopped). Never rejects. */
  readonly closed: Promise<unknown>;
}

/** Callbacks a scope makes into its owner (the supervisor's core), which keeps the root list and the event stream. */
export interface ScopeOwner {
  scopeSettled(node: ScopeNode, committed: boolean): void;
  /**
   * Every transition, right after the state changed (before `scopeSettled` for a settling one). `reason` is the
   * abort reason for `aborting`, what the scope rejects with for `aborted`. Optional: a bare owner need not watch.
   */
  scopeMoved?(node: ScopeNode, to: ScopeState, reason: unknown): void;
}

const TRANSITIONS: TransitionTable<ScopeState> = {
  active: ['committing', 'aborting'],
  committing: ['aborting', 'committed', 'aborted'],
  aborting: ['aborted'],
  committed: [],
  aborted: [],
};

let nextScopeId = 1;

export class ScopeNode implements ScopeFrame {
  readonly id = nextScopeId++;
  readonly name: string | undefined;
  readonly parent: ScopeNode | undefined;
  readonly owner: ScopeOwner;
  #controller: AbortController | undefined = undefined;
  state: ScopeState = 'active';
  aborted = false;
  reason: unknown = undefined;
  readonly children = new Set<ScopeNode>();
  /**
   * The public Scope made for this node, opaque here so that node.ts never names scope.ts (no import ring). On
   * the node rather than in a WeakMap: a WeakMap's table keeps the size of its peak (10^6 short-lived child
   * scopes left it ~8 MB after GC), a field goes with its node.
   */
  facade: object | undefined = undefined;
  /** In registration order; a task leaves when it stops (a long-lived scope does not keep every task). */
  readonly members = new Set<ScopeResource>();
  #fnSettled = false;
  #fnValue: unknown;
  #teardown: Promise<void> | undefined;
  #teardownDone = false;
  #outlived: PreciousWorkerOutlivedScopeError | undefined;
  readonly #teardownErrors: unknown[] = [];
  readonly #settle: { resolve: (v: unknown) => void; reject: (e: unknown) => void };
  readonly settled: Promise<unknown>;

  constructor(owner: ScopeOwner, parent: ScopeNode | undefined, name: string | undefined) {
    this.owner = owner;
    this.parent = parent;
    this.name = name;
    let settle!: { resolve: (v: unknown) => void; reject: (e: unknown) => void };
    this.settled = new Promise((resolve, reject) => (settle = { resolve, reject }));
    this.#settle = settle;
    parent?.children.add(this);
  }

  /** The function settled (fulfilled with value, or rejected with error). */
  functionSettled(ok: boolean, value: unknown): void {
    this.#fnSettled = true;
    if (ok) {
      this.#fnValue = value;
      if (this.state === 'active') {
        this.#move('committing', 'function resolved');
        this.#startTeardown(new ScopeClosedError(`scope ${this.#label()} committed while a child scope was still active`));
      }
    } else {
      this.abort(value);
    }
    this.#maybeSettle();
  }

  /** Aborts this scope and its active descendants with `reason` (invariant 1). No-op once aborting or settled. */
  abort(reason: unknown): void {
    if (this.state !== 'active' && this.state !== 'committing') return;
    // AbortController turns an undefined reason into a DOMException; use one reason everywhere instead.
    if (reason === undefined) reason = new ScopeAbortedError(undefined);
    noteFrameAborted(); // the interrupt checks look at frames from now on
    this.aborted = true;
    this.reason = reason;
    this.#move('aborting', 'abort', reason); // after the fields: the owner's event sees an aborted node
    this.#controller?.abort(reason); // invariant 6
    for (const child of this.children) child.abort(reason);
    wakeSelf(); // G7: an interrupt pending for this thread sets its latch
    this.#startTeardown(reason);
    this.#maybeSettle();
  }

  /** Aborts when this scope aborts, with its reason; made on first use (invariant 6), aborted already if the scope is. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }

  /** Throws ScopeClosedError unless the scope is active; for an aborted scope the abort reason is its `cause`. */
  assertActive(what: string): void {
    if (this.state === 'active') return;
    throw new ScopeClosedError(`${what}: scope ${this.#label()} is ${this.state}`, this.aborted ? this.reason : undefined);
  }

  #startTeardown(childReason: unknown): void {
    if (this.#teardown !== undefined) return; // invariant 2: once, at the first of commit or abort
    const committing = this.state === 'committing';
    const waits: Promise<unknown>[] = [];
    const outlived: WorkerRef[] = [];
    for (const child of this.children) {
      // On commit only children still active are aborted (G6); one already committing is awaited as it is.
      if (!committing || child.state === 'active') child.abort(childReason);
      waits.push(child.settled.then(ignore, ignore));
    }
    const members = [...this.members];
    for (let i = members.length - 1; i >= 0; i--) {
      const m = members[i]!;
      if (!m.closesWithScope) continue;
      if (committing && m.blocksCommit()) outlived.push(m.ref);
      try {
        m.close(committing ? undefined : this.reason);
      } catch (err) {
        this.#teardownErrors.push(err); // invariant 5: every resource is closed; failures are reported together
      }
      waits.push(m.closed);
    }
    if (outlived.length > 0) this.#outlived = new PreciousWorkerOutlivedScopeError(outlived);
    this.#teardown = Promise.all(waits).then(() => {
      this.#teardownDone = true;
      this.#maybeSettle();
    });
  }

  #maybeSettle(): void {
    if (!this.#fnSettled || !this.#teardownDone) return;
    if (this.state === 'committed' || this.state === 'aborted') return;
    this.parent?.children.delete(this);
    const errors = this.#teardownErrors;
    const teardownFailure = errors.length === 0 ? undefined : errors.length === 1 ? errors[0] : new AggregateError(errors, `scope ${this.#label()}: teardown failed`);
    const failure = this.aborted ? this.reason : (this.#outlived ?? teardownFailure);
    const committed = !this.aborted && failure === undefined;
    this.#move(committed ? 'committed' : 'aborted', 'teardown done', failure);
    this.owner.scopeSettled(this, committed);
    if (committed) this.#settle.resolve(this.#fnValue);
    else this.#settle.reject(failure);
  }

  #move(to: ScopeState, event: string, reason?: unknown): void {
    assertTransition('scope', TRANSITIONS, event, this.state, to);
    this.state = to;
    this.owner.scopeMoved?.(this, to, reason);
  }

  #label(): string {
    return this.name === undefined ? `#${this.id}` : `"${this.name}"`;
  }
}

function ignore(): void {}

/** The innermost scope in the chain that has not settled (async code can outlive its scope). */
export function nearestOpen(node: ScopeNode): ScopeNode | undefined {
  let n: ScopeNode | undefined = node;
  while (n !== undefined && (n.state === 'committed' || n.state === 'aborted')) n = n.parent;
  return n;
}
