/**
 * The one transition check of the library's three state machines: a slot's state (shared/slots.ts), a supervisor
 * run's phase (supervisor/lifecycle.ts) and a scope's state (scope/node.ts). Each machine keeps its table next to
 * the header that lists its states, transitions and who makes each; this checks a move against that table and
 * throws the one error for an illegal move. An illegal move is a bug in this library, never a user error, so the
 * error is internal (not exported from the package) and its message starts with `internal:`.
 */

/** A machine's legal moves: `table[from]` lists the states `from` may move to. */
export type TransitionTable<S extends string | number> = Readonly<Record<S, readonly S[]>>;

/** An illegal state transition: a bug in this library. `machine`, `event`, `from` and `to` say which. */
export class IllegalTransitionError extends Error {
  readonly code = 'ERR_ILLEGAL_TRANSITION';
  readonly machine: string;
  readonly event: string;
  readonly from: string;
  readonly to: string;
  constructor(machine: string, event: string, from: string, to: string, allowed: readonly string[]) {
    super(`internal: illegal ${machine} transition on ${event}: ${from} -> ${to} (allowed: ${allowed.join(', ') || 'none'})`);
    this.name = 'IllegalTransitionError';
    this.machine = machine;
    this.event = event;
    this.from = from;
    this.to = to;
  }
}

/** Throws IllegalTransitionError unless `table` allows `from` → `to`. `name` spells a state (numeric states need one). */
export function assertTransition<S extends string | number>(machine: string, table: TransitionTable<S>, event: string, from: S, to: S, name: (s: S) => string = String): void {
  const allowed = table[from];
  if (!allowed.includes(to)) throw new IllegalTransitionError(machine, event, name(from), name(to), allowed.map(name));
}
