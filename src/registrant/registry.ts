/**
 * The registrant's registry of live workers (registered, not yet stopped) and the supervisor's counters:
 * what `supervisor.workers()` and `supervisor.metrics()` report. The records are added and removed by core.ts;
 * the counters follow the lifecycle event stream (`observe`, a subscriber of events.ts).
 */
import { invalidOption } from '../errors.js';
import type { WorkerRecord, WorkerState } from '../record.js';
import type { WorkerExit } from '../shared/exit.js';
import { FREE, stateOf } from '../shared/slots.js';
import { CPU_MS, CTRL, ELU, type SlotTable } from '../shared/layout.js';
import type { LifecycleEvent } from './events.js';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { summary, type HistogramSummary } from '../pool/stats.js';
import { identityMatcher, type IdentityFilter } from '../shared/filter.js';

/** Selects workers in `supervisor.workers()` and `shutdownWorkers()`: every given criterion must match. */
export interface WorkerFilter extends IdentityFilter {
  state?: WorkerState | WorkerState[];
}

/** A registry entry: a snapshot of one worker that holds a slot. */
export interface WorkerInfo {
  id: string;
  name: string;
  kind: string | undefined;
  labels: Readonly<Record<string, string>>;
  runtime: 'thread' | 'process';
  state: WorkerState;
  ephemeral: boolean;
  precious: boolean;
  /** The registering scope's id; undefined for unscoped workers. */
  scopeId: number | undefined;
  pid: number | undefined;
  threadId: number | undefined;
  /** ms since epoch. */
  registeredAt: number;
  /** ms since epoch when its entry started loading (the current run, for a restarted worker). */
  startedAt: number | undefined;
  /**
   * Event-loop utilisation (0–1) of the current run so far, sampled by the supervisor thread every 250 ms (a
   * process worker reports its own; time since an overdue report counts as busy); undefined before the first sample.
   */
  elu: number | undefined;
  /** CPU time (ms) of the current run's thread or process, sampled likewise; undefined before the first sample and off Linux. */
  cpuMs: number | undefined;
}

/** Counters since the supervisor started, plus current gauges. */
export interface SupervisorMetrics {
  uptimeMs: number;
  /** Worker slots (`maxWorkers`) and how many hold a worker now. */
  slots: { total: number; used: number };
  /** Workers in each state now; `stopped` counts every worker that has stopped since start. */
  workers: Record<WorkerState, number>;
  /** Runs ended, by reason (a restarted worker counts each run). */
  exits: Record<WorkerExit['reason'], number>;
  /** Scopes running now, and settled since start. */
  scopes: { active: number; committed: number; aborted: number };
  /** Precious deaths that aborted a scope (or would have: unscoped precious workers do not exist). */
  preciousDeaths: number;
  /** Stops after a termination request: within the grace period, or by force. */
  terminations: { graceful: number; forced: number };
  /** Restarts scheduled (a failed or crashed run of a restartable worker). */
  restarts: number;
  /** Latency distributions in ms, since start or the last `metrics({ reset: true })`. */
  latency: {
    /** register() → the worker's first run reached running (what the supervisor, a spare and the entry's import cost). */
    registerToRunning: HistogramSummary;
    /**
     * A precious worker's death → the registrant saw it (the death applied, its scope aborted): for a busy
     * registrant, the checkForInterrupts() that threw. Measured from the worker's own death report, or from the
     * supervisor thread seeing the run end when that came first.
     */
    deathToSeen: HistogramSummary;
  };
}

const STATES: readonly WorkerState[] = ['pending', 'starting', 'running', 'stopping', 'stopped'];
const FILTER_KEYS = ['kind', 'labels', 'state', 'scopeId', 'name'] as const;

export class Registry {
  readonly #table: SlotTable;
  /**
   * By slot and generation, not by slot alone: the supervisor frees a slot before it posts that worker's 'stopped'
   * (slots.ts invariant 1), so a register() in between reuses the slot while the old record still awaits its stop.
   */
  readonly #records = new Map<string, WorkerRecord>();
  readonly startedAt = Date.now();
  stopped = 0;
  exits: Record<WorkerExit['reason'], number> = { completed: 0, failed: 0, crashed: 0, terminated: 0, 'never-started': 0 };
  scopes = { active: 0, committed: 0, aborted: 0 };
  preciousDeaths = 0;
  restarts = 0;
  /** register→running, in µs; the start time of each worker that has not reached running yet. */
  readonly #registerToRunning: RecordableHistogram = createHistogram();
  readonly #deathToSeen: RecordableHistogram = createHistogram();
  readonly #registeredAt = new Map<WorkerRecord, number>();
  terminations = { graceful: 0, forced: 0 };

  constructor(table: SlotTable) {
    this.#table = table;
  }

  /** The counters' subscriber of the lifecycle event stream. */
  observe(e: LifecycleEvent): void {
    switch (e.type) {
      case 'worker-registered':
        this.#registeredAt.set(e.worker, performance.now());
        return;
      case 'worker-started': {
        const t0 = this.#registeredAt.get(e.worker);
        if (t0 === undefined) return; // a restarted run: register→running is the first run's
        this.#registeredAt.delete(e.worker);
        this.#registerToRunning.record(Math.max(1, Math.round((performance.now() - t0) * 1000)));
        return;
      }
      case 'worker-restarting':
        this.exits[e.exit.reason]++;
        this.restarts++;
        return;
      case 'worker-stopped':
        this.#registeredAt.delete(e.worker);
        this.exits[e.exit.reason]++;
        this.stopped++;
        if (e.forced) this.terminations.forced++;
        else if (e.requested && e.exit.reason !== 'never-started') this.terminations.graceful++;
        return;
      case 'precious-death':
        this.preciousDeaths++;
        this.#deathToSeen.record(Math.max(1, Math.round((performance.timeOrigin + performance.now() - e.diedAt) * 1000)));
        return;
      case 'scope-opened':
        this.scopes.active++;
        return;
      case 'scope-committed':
      case 'scope-aborted':
        this.scopes.active--;
        this.scopes[e.type === 'scope-committed' ? 'committed' : 'aborted']++;
        return;
      default:
        return;
    }
  }

  add(record: WorkerRecord): void {
    this.#records.set(keyOf(record.slot, record.gen), record);
  }

  /** The live record for (slot, gen), if any. */
  get(slot: number, gen: number): WorkerRecord | undefined {
    return this.#records.get(keyOf(slot, gen));
  }

  remove(record: WorkerRecord): void {
    const key = keyOf(record.slot, record.gen);
    if (this.#records.get(key) === record) this.#records.delete(key);
  }

  get size(): number {
    return this.#records.size;
  }

  all(): IterableIterator<WorkerRecord> {
    return this.#records.values();
  }

  /** The records of workers that have not stopped and match `filter` (validated first). */
  matching(filter: WorkerFilter | undefined): WorkerRecord[] {
    const match = matcher(filter);
    const out: WorkerRecord[] = [];
    for (const r of this.#records.values()) {
      const info = infoOf(r);
      if (info.state !== 'stopped' && match(info)) out.push(r);
    }
    return out;
  }

  list(filter?: WorkerFilter): WorkerInfo[] {
    const match = matcher(filter);
    const out: WorkerInfo[] = [];
    for (const r of this.#records.values()) {
      const info = infoOf(r);
      if (info.state !== 'stopped' && match(info)) out.push(info);
    }
    return out;
  }

  /** `reset`: the latency histograms start again after this reading. */
  metrics(reset = false): SupervisorMetrics {
    const workers = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<WorkerState, number>;
    for (const r of this.#records.values()) {
      const s = r.state;
      if (s !== 'stopped') workers[s]++;
    }
    workers.stopped = this.stopped;
    let used = 0;
    for (let slot = 0; slot < this.#table.size; slot++) {
      if (stateOf(Atomics.load(this.#table.i32, this.#table.at(slot, CTRL))) !== FREE) used++;
    }
    return {
      uptimeMs: Date.now() - this.startedAt,
      slots: { total: this.#table.size, used },
      workers,
      exits: { ...this.exits },
      scopes: { ...this.scopes },
      preciousDeaths: this.preciousDeaths,
      terminations: { ...this.terminations },
      restarts: this.restarts,
      latency: { registerToRunning: latency(this.#registerToRunning, reset), deathToSeen: latency(this.#deathToSeen, reset) },
    };
  }
}

/** A histogram's summary in ms; `reset` starts it again after this reading. */
function latency(h: RecordableHistogram, reset: boolean): HistogramSummary {
  const s = summary(h);
  if (reset) h.reset();
  return s;
}

function keyOf(slot: number, gen: number): string {
  return `${slot}:${gen}`;
}

function infoOf(r: WorkerRecord): WorkerInfo {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    labels: r.labels,
    runtime: r.runtime,
    state: r.state,
    ephemeral: r.ephemeral,
    precious: r.precious,
    scopeId: r.scope?.id,
    pid: r.pid,
    threadId: r.threadId,
    registeredAt: r.registeredAt,
    startedAt: r.startedAt,
    elu: sample(r, ELU),
    cpuMs: sample(r, CPU_MS),
  };
}

/** A usage field of a worker's slot: only a started worker's, and NaN (not known) as undefined. */
function sample(r: WorkerRecord, field: number): number | undefined {
  if (r.startedAt === undefined || r.state === 'stopped') return undefined;
  const v = r.table.f64[r.table.atF64(r.slot, field)]!;
  return Number.isNaN(v) ? undefined : field === ELU ? Math.round(v * 1e4) / 1e4 : Math.round(v * 100) / 100;
}

function matcher(filter: WorkerFilter | undefined): (info: WorkerInfo) => boolean {
  if (filter === undefined) return () => true;
  const identity = identityMatcher(filter, 'worker filter', FILTER_KEYS);
  const states = filter.state === undefined ? undefined : Array.isArray(filter.state) ? filter.state : [filter.state];
  for (const s of states ?? []) if (!STATES.includes(s)) throw invalidOption('state', `one of ${STATES.join(', ')}`, s);
  return (info) => identity(info) && (states === undefined || states.includes(info.state));
}
