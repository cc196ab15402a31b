/**
 * The registrant's lifecycle event stream: every worker and scope transition the registrant learns of is one
 * typed event (a discriminated union on `type`), delivered synchronously to every subscriber. The registry's
 * counters (registry.ts), the lifecycle log (lifecycle-log.ts) and precious-death handling (precious.ts) are
 * subscribers; later metrics histograms and node:diagnostics_channel hang on it the same way:
 *
 * ```ts
 * const off = core.events.subscribe((e) => { if (e.type === 'worker-stopped') histogram.record(...) });
 * ```
 *
 * ## Worker events, in the order one worker goes through them (who emits each)
 *
 * | event              | transition                                                  | emitted by (registrant thread)            |
 * |--------------------|-------------------------------------------------------------|-------------------------------------------|
 * | worker-registered  | (none) → pending: the request was posted                     | core.registerIn                           |
 * | worker-started     | → running: the entry loaded and main is called               | core, on the mailbox's 'started'          |
 * | worker-stopping    | a termination request reached a live worker (handle.terminate(), scope teardown) | record.requestTermination (via core) |
 * | worker-restarting  | a failed/crashed run of a restartable worker ended; it will run again | core, on the mailbox's 'restarting' |
 * | precious-death     | a precious worker failed or crashed: its scope is to abort (G4) | precious.ts, at the first of the worker's death report or 'stopped' |
 * | worker-stopped     | → stopped: the run is over, the slot free, with the exit's reason | core, on the mailbox's 'stopped' (or the takeover) |
 *
 * STARTING (the commit, then the entry's import) is visible in the slot word only: no message reports it, and
 * adding one would add a mailbox hop to every start. Requests made by the supervisor thread itself (shutdown)
 * have no 'worker-stopping'. A precious death comes before its worker's 'worker-stopped', on either path.
 *
 * ## Scope events (emitted by core, called by scope/run.ts and scope/node.ts at each transition)
 *
 * scope-opened → scope-committing → scope-committed | scope-aborted, or … → scope-aborting → scope-aborted;
 * `reason` on scope-aborting and scope-aborted is what the scope rejects (or will reject) with.
 *
 * ## Delivery
 *
 * 1. Subscribers run synchronously, in subscription order, and must be cheap.
 * 2. An event emitted while another is being delivered (a subscriber that aborts a scope) is queued and
 *    delivered after it: every subscriber sees the same order, and `emit` returns once the queue is empty.
 * 3. A subscriber that throws does not stop the engine or the other subscribers: the error goes to `onError`
 *    (the core logs it) and delivery goes on.
 */
import type { WorkerRecord } from '../record.js';
import type { WorkerExit } from '../shared/exit.js';
import type { ScopeNode } from '../scope/node.js';
import type { PreciousWorkerDiedError } from '../errors.js';

export type WorkerEvent =
  | { type: 'worker-registered'; worker: WorkerRecord }
  | { type: 'worker-started'; worker: WorkerRecord; threadId: number; pid: number }
  | { type: 'worker-stopping'; worker: WorkerRecord }
  /** threadId (restarting, stopped): the ended run's thread worker; 0 for none or a process worker. */
  | { type: 'worker-restarting'; worker: WorkerRecord; exit: WorkerExit; delayMs: number; threadId: number }
  // diedAt: when it died (or was seen to end by the supervisor thread), ms since the epoch, fractional.
  | { type: 'precious-death'; worker: WorkerRecord; exit: WorkerExit; error: PreciousWorkerDiedError; diedAt: number }
  | { type: 'worker-stopped'; worker: WorkerRecord; exit: WorkerExit; forced: boolean; requested: boolean; threadId: number };

export type ScopeEvent =
  | { type: 'scope-opened'; scope: ScopeNode }
  | { type: 'scope-committing'; scope: ScopeNode }
  | { type: 'scope-committed'; scope: ScopeNode }
  | { type: 'scope-aborting'; scope: ScopeNode; reason: unknown }
  | { type: 'scope-aborted'; scope: ScopeNode; reason: unknown };

export type LifecycleEvent = WorkerEvent | ScopeEvent;
export type LifecycleEventType = LifecycleEvent['type'];
export type Subscriber = (event: LifecycleEvent) => void;

export class LifecycleEvents {
  /** Replaced, never mutated, on (un)subscribe: a delivery iterates the list as it was when it began, copy-free. */
  #subscribers: readonly Subscriber[] = [];
  readonly #queue: LifecycleEvent[] = [];
  readonly #onError: (err: unknown, event: LifecycleEvent) => void;
  #delivering = false;

  /** `onError` gets what a subscriber threw (delivery rule 3); it must not throw itself. */
  constructor(onError: (err: unknown, event: LifecycleEvent) => void) {
    this.#onError = onError;
  }

  /** Adds a subscriber (after the existing ones); returns the function that removes it. */
  subscribe(subscriber: Subscriber): () => void {
    this.#subscribers = [...this.#subscribers, subscriber];
    return () => {
      const i = this.#subscribers.indexOf(subscriber);
      if (i >= 0) this.#subscribers = [...this.#subscribers.slice(0, i), ...this.#subscribers.slice(i + 1)];
    };
  }

  emit(event: LifecycleEvent): void {
    this.#queue.push(event);
    if (this.#delivering) return; // rule 2: the delivery in progress takes it next
    this.#delivering = true;
    try {
      for (let e = this.#queue.shift(); e !== undefined; e = this.#queue.shift()) {
        for (const s of this.#subscribers) {
          try {
            s(e);
          } catch (err) {
            this.#onError(err, e); // rule 3
          }
        }
      }
    } finally {
      this.#delivering = false;
    }
  }
}
