/**
 * A SupervisorLoop (src/supervisor/loop.ts) on a real slot table with a fake clock and fake runtimes, and the
 * other threads' moves (the registrant's claim and TERM, the worker's commit and outcome, the runner's exit)
 * as plain calls, so a test decides every order. Used by test/unit/loop.test.ts and
 * test/property/restart-policy.model.test.ts.
 */
import { CTRL, SlotTable, T_INTERRUPT, createThreadWords, type ThreadWords } from '../../src/shared/layout.js';
import type { MailboxMessage, RegisterRequest, RestartBackoff, SerializedError } from '../../src/shared/protocol.js';
import { O_FAILED, PENDING, RUNNING, STARTING, claim, commit, reportOutcome, requestTermination, termRequested, transition, type Outcome } from '../../src/shared/slots.js';
import type { Clock, Timer } from '../../src/supervisor/clock.js';
import { SupervisorLoop } from '../../src/supervisor/loop.js';
import type { Runner, RunnerEvents, StartInfo } from '../../src/supervisor/runner.js';

/** Timers fire only in advance(), in deadline order (ties: the order they were set), each at its own time. */
export class FakeClock implements Clock {
  t = 0;
  #seq = 0;
  readonly #timers = new Map<Timer, { at: number; seq: number; fn: () => void }>();
  now = (): number => this.t;
  setTimeout = (fn: () => void, ms: number): Timer => {
    const timer = {};
    this.#timers.set(timer, { at: this.t + ms, seq: this.#seq++, fn });
    return timer;
  };
  clearTimeout = (timer: Timer | undefined): void => {
    if (timer !== undefined) this.#timers.delete(timer);
  };
  get pending(): number {
    return this.#timers.size;
  }
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      let next: [Timer, { at: number; seq: number; fn: () => void }] | undefined;
      for (const e of this.#timers) if (e[1].at <= until && (next === undefined || e[1].at < next[1].at || (e[1].at === next[1].at && e[1].seq < next[1].seq))) next = e;
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = until;
  }
}

export class FakeRunner implements Runner {
  readonly threadId: number;
  readonly pid = 0;
  stops = 0;
  forces = 0;
  constructor(
    readonly info: StartInfo,
    readonly events: RunnerEvents,
    id: number,
  ) {
    this.threadId = id;
  }
  requestStop(): void {
    this.stops++;
  }
  usage(): { elu: number; cpuMs: number } {
    return { elu: NaN, cpuMs: NaN };
  }
  forceStop(): void {
    this.forces++;
  }
  /** Signals relayed to this runner, in order. */
  readonly signals: NodeJS.Signals[] = [];
  signal(sig: NodeJS.Signals): void {
    this.signals.push(sig);
  }
}

export interface RegisterOptions {
  restartDelayMs?: number;
  /** Backoff and intensity (default: a constant delay, no limit). */
  restartBackoff?: Partial<RestartBackoff>;
  gracefulTimeoutMs?: number;
  precious?: boolean;
  /** The registrant terminates the handle between its claim and the request reaching the loop. */
  termBeforeRequest?: boolean;
}

export class LoopHarness {
  readonly table: SlotTable;
  readonly registrant: ThreadWords = createThreadWords();
  readonly clock = new FakeClock();
  readonly posted: MailboxMessage[] = [];
  /** Every runner started, in order. */
  readonly runners: FakeRunner[] = [];
  /** Set to make the next start throw, as a runtime that rejects resource limits does. */
  failNextStart = false;
  /** Starts attempted with TERM set in the word: lifecycle invariant 1 says there are none. */
  startsUnderTerm = 0;
  closed = 0;
  readonly loop: SupervisorLoop;

  constructor(slots = 4) {
    this.table = SlotTable.create(slots);
    const start = (info: StartInfo, events: RunnerEvents): Runner => {
      if (termRequested(this.word(info.request.slot))) this.startsUnderTerm++;
      info.userPort.close();
      if (this.failNextStart) {
        this.failNextStart = false;
        throw new Error('spawn refused');
      }
      const runner = new FakeRunner(info, events, this.runners.length + 1);
      this.runners.push(runner);
      return runner;
    };
    this.loop = new SupervisorLoop({
      table: this.table,
      registrant: this.registrant,
      logLevel: 'silent',
      post: (msg) => {
        if (msg.t === 'port') msg.port.close();
        this.posted.push(msg);
      },
      runtimes: { thread: start, process: start, close: async () => {} },
      clock: this.clock,
      close: () => this.closed++,
    });
  }

  word(slot: number): number {
    return Atomics.load(this.table.i32, this.table.at(slot, CTRL));
  }
  /** The registrant's interrupt counter: bumped once per precious death. */
  get registrantInterrupts(): number {
    return Atomics.load(this.registrant.i32, T_INTERRUPT);
  }
  /** The registrant: claim `slot` and send the register request. Returns the generation. */
  register(slot: number, o: RegisterOptions = {}): number {
    const gen = claim(this.table.i32, this.table.at(slot, CTRL));
    if (gen < 0) throw new Error(`slot ${slot} is taken`);
    const req: RegisterRequest = {
      t: 'register',
      nonce: 'n',
      slot,
      gen,
      id: `w${slot}`,
      name: `w${slot}`,
      entry: 'file:///w.mjs',
      data: undefined,
      precious: o.precious ?? false,
      ephemeral: true,
      scopeId: 0,
      restartDelayMs: o.restartDelayMs ?? -1,
      restartBackoff: { maxDelayMs: o.restartDelayMs ?? 0, factor: 1, maxRestarts: Infinity, withinMs: 60_000, ...o.restartBackoff },
      gracefulTimeoutMs: o.gracefulTimeoutMs ?? 1000,
      runtime: 'thread',
      env: undefined,
      execArgv: undefined,
      resourceLimits: undefined,
      userPort: undefined,
      controlPort: undefined,
    };
    if (o.termBeforeRequest) requestTermination(this.table.i32, this.table.at(slot, CTRL), gen);
    this.loop.handle(req);
    return gen;
  }
  /** The registrant: set TERM and send the terminate request. */
  terminate(slot: number, gen: number): void {
    requestTermination(this.table.i32, this.table.at(slot, CTRL), gen);
    this.loop.handle({ t: 'terminate', slot, gen });
  }
  shutdown(timeoutMs: number): void {
    this.loop.handle({ t: 'shutdown', timeoutMs });
  }
  /** The worker of the slot's latest runner: commit, load the entry, report 'running'. False if it could not commit. */
  run(slot: number): boolean {
    const r = this.runnerOf(slot);
    const at = this.table.at(slot, CTRL);
    if (!commit(this.table.i32, at, r.info.request.gen)) return false;
    transition(this.table.i32, at, r.info.request.gen, [STARTING], RUNNING, 'running');
    r.events.report({ t: 'running' });
    return true;
  }
  /** The worker records its outcome (FAILED becomes TERMINATED under TERM) and reports it. */
  outcome(slot: number, outcome: Outcome, error?: SerializedError): Outcome {
    const r = this.runnerOf(slot);
    const o = reportOutcome(this.table.i32, this.table.at(slot, CTRL), r.info.request.gen, outcome);
    r.events.report({ t: 'outcome', reason: outcome === O_FAILED ? 'failed' : 'completed', code: 0, ...(error ? { error } : {}) });
    return o;
  }
  /** The slot's latest runner exits. */
  exit(slot: number, code: number | null = 0, signal: string | null = null): void {
    this.runnerOf(slot).events.exit(code, signal);
  }
  runnerOf(slot: number): FakeRunner {
    const r = this.runners.findLast((x) => x.info.request.slot === slot);
    if (r === undefined) throw new Error(`no runner for slot ${slot}`);
    return r;
  }
  /** The messages posted for a slot, by type, in order. */
  kinds(slot: number): string[] {
    return this.posted.filter((m) => 'slot' in m && m.slot === slot).map((m) => m.t);
  }
  stopped(slot: number): Extract<MailboxMessage, { t: 'stopped' }> | undefined {
    return this.posted.findLast((m): m is Extract<MailboxMessage, { t: 'stopped' }> => m.t === 'stopped' && m.slot === slot);
  }
  isPending(slot: number): boolean {
    return (this.word(slot) & 7) === PENDING;
  }
}
