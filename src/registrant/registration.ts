/**
 * The register path (G1, G2): validate the spec, claim a free slot by CAS, fill the slot's words, post the
 * register request to the supervisor thread, and build the worker's record. It starts nothing: the supervisor
 * thread does, after it has checked the slot's TERM bit (slots.ts invariant 1). If the post fails (data that
 * cannot be cloned), the claim is rolled back and nothing is left behind.
 *
 * Who writes what: the registrant writes a claimed slot's LATCH, INTERRUPT, THREAD_ID, PID and STARTED_AT
 * before posting the request (layout.ts); the supervisor thread publishes the run's state after.
 */
import { MessageChannel, type MessagePort, type Transferable } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { RelayChannel, type WorkerChannel } from '../channel.js';
import { invalidOption } from '../errors.js';
import { defaultName, validateSpec, type ResolvedSupervisorOptions, type ScopedWorkerSpec } from '../options.js';
import { WorkerRecord } from '../record.js';
import { interruptPending } from '../scope/interrupts.js';
import type { ScopeNode } from '../scope/node.js';
import { CPU_MS, CTRL, ELU, INTERRUPT, LATCH, OS_TID, PID, RELAY_FD, STARTED_AT, THREAD_ID, type SlotTable } from '../shared/layout.js';
import type { RegisterRequest } from '../shared/protocol.js';
import { FREE, PENDING, claim, transition } from '../shared/slots.js';

/** What the register path needs from the supervisor's registrant side. */
export interface RegistrationHost {
  readonly table: SlotTable;
  readonly options: ResolvedSupervisorOptions;
  readonly logger: Logger | undefined;
  /** Posts a request to the supervisor thread. */
  post(request: RegisterRequest, transfer: Transferable[]): void;
  /** Wakes the supervisor thread for a termination request of (slot, gen). */
  wake(slot: number, gen: number): void;
  /** A termination request reached a live worker (record.ts `stopping`). */
  stopping(record: WorkerRecord): void;
}

/** Claims slots round-robin from a moving hint, so a freed slot is not reused at once (fewer stale handles). */
export class Registration {
  readonly host: RegistrationHost;
  #nextId = 0;
  #hint = 0;

  constructor(host: RegistrationHost) {
    this.host = host;
  }

  nextId(): string {
    return String(++this.#nextId);
  }

  claim(): { slot: number; gen: number } | undefined {
    const table = this.host.table;
    const size = table.size;
    for (let i = 0; i < size; i++) {
      const slot = (this.#hint + i) % size;
      const gen = claim(table.i32, table.at(slot, CTRL));
      if (gen >= 0) {
        this.#hint = (slot + 1) % size;
        return { slot, gen };
      }
    }
    return undefined;
  }
}

/**
 * Registers a worker: the record of a worker the supervisor thread was asked to start, or undefined when no slot
 * is free (the caller decides whether that is a WorkerCapacityError). Throws InvalidWorkerSpecError (bad spec,
 * data that cannot be cloned) or ScopeClosedError (scope not active); in every such case nothing is left claimed.
 */
export function tryRegisterWorker(reg: Registration, node: ScopeNode | undefined, spec: ScopedWorkerSpec): WorkerRecord | undefined {
  const { table, options, logger } = reg.host;
  const s = validateSpec(spec, node !== undefined);
  node?.assertActive('register');
  const claimed = reg.claim();
  if (claimed === undefined) return undefined;
  const { slot, gen } = claimed;
  const id = reg.nextId();
  const name = s.name ?? defaultName(s.entryPath, id);
  const i32 = table.i32;
  Atomics.store(i32, table.at(slot, LATCH), 0);
  Atomics.store(i32, table.at(slot, INTERRUPT), 0);
  Atomics.store(i32, table.at(slot, THREAD_ID), 0);
  Atomics.store(i32, table.at(slot, PID), 0);
  Atomics.store(i32, table.at(slot, RELAY_FD), 0);
  table.f64[table.atF64(slot, STARTED_AT)] = 0;
  table.f64[table.atF64(slot, OS_TID)] = 0;
  table.f64[table.atF64(slot, ELU)] = NaN;
  table.f64[table.atF64(slot, CPU_MS)] = NaN;

  const restartable = s.restartDelayMs >= 0;
  let port: WorkerChannel;
  let userPort: MessagePort | undefined;
  if (restartable) {
    port = new RelayChannel();
  } else {
    const ch = new MessageChannel();
    port = ch.port1;
    userPort = ch.port2;
  }
  const control = s.precious ? new MessageChannel() : undefined;
  const request: RegisterRequest = {
    t: 'register',
    nonce: randomUUID(),
    slot,
    gen,
    id,
    name,
    entry: s.entry,
    data: s.data,
    precious: s.precious,
    ephemeral: s.ephemeral,
    scopeId: node?.id ?? 0,
    restartDelayMs: s.restartDelayMs,
    restartBackoff: s.restartBackoff,
    gracefulTimeoutMs: s.gracefulTimeoutMs ?? options.gracefulTimeoutMs,
    runtime: s.runtime,
    env: s.env,
    execArgv: s.execArgv,
    resourceLimits: s.resourceLimits,
    userPort,
    controlPort: control?.port2,
  };
  const transfer: Transferable[] = [];
  if (userPort) transfer.push(userPort);
  if (control) transfer.push(control.port2);
  try {
    reg.host.post(request, transfer);
  } catch (err) {
    // Nothing was sent: roll the claim back (invariant 1 of slots.ts allows it) and leave nothing behind (G1).
    transition(i32, table.at(slot, CTRL), gen, [PENDING], FREE, 'rollback');
    port.close();
    userPort?.close();
    control?.port1.close();
    control?.port2.close();
    throw invalidOption('data', 'structured-cloneable (no functions, symbols or non-transferable objects)', s.data, err);
  }
  const record = new WorkerRecord({
    table,
    slot,
    gen,
    id,
    name,
    entry: s.entry,
    kind: s.kind,
    labels: s.labels,
    runtime: s.runtime,
    ephemeral: s.ephemeral,
    precious: s.precious,
    scope: node,
    port,
    controlPort: control?.port1,
    logger: logger?.child({ worker: id, name, kind: s.kind, scope: node?.id, runtime: s.runtime }),
    wakeSupervisor: (slot, gen) => reg.host.wake(slot, gen),
    stopping: () => reg.host.stopping(record),
    interrupted: interruptPending,
  });
  return record;
}
