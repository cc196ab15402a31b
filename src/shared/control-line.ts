/**
 * The direct line to a process worker: `handle.latch.set()` writes CMD_LATCH into the child's control pipe from the
 * calling thread, instead of setting the slot's latch word for the supervisor thread to relay. The relay costs a
 * wake-up of the supervisor's event loop on every set; with the line, a latch ping-pong with a process worker wakes
 * two event loops per round trip (the child's watchdog and the supervisor, reading the child's answer), as a fork()
 * IPC echo does.
 *
 * ## Words (in the worker's slot, layout.ts)
 *
 * - RELAY_FD: the file descriptor of the supervisor's end of the child's control pipe, plus one; 0 = no line.
 * - RELAY_USERS: how many threads are inside a write now.
 *
 * ## States and who moves them
 *
 * ```
 * NONE ──attachLine (supervisor, after fork)──► OPEN ──retireLine (supervisor, before the pipe's fd is closed)──► NONE
 * ```
 *
 * The registrant zeroes RELAY_FD when it claims the slot; RELAY_USERS is balanced by every writer and never reset.
 * A runtime without a pipe file descriptor (Windows' named pipes) never opens the line, and every set then goes
 * through the word and the relay.
 *
 * ## The invariant: nothing is written to a closed (or reused) file descriptor
 *
 * A writer enters (RELAY_USERS + 1), then loads RELAY_FD, writes, and leaves (RELAY_USERS − 1). The supervisor
 * retires the line by storing 0 in RELAY_FD, then waiting until RELAY_USERS is 0, and only then lets the pipe's fd
 * close. With sequentially consistent atomics one of the two sees the other: a writer that entered before the store
 * is waited for; one that entered after it loads 0 and writes nothing. The supervisor wraps the pipe handle's
 * close(), so every way Node closes the pipe (our destroy at exit, the end of the stream, a write error) retires the
 * line first.
 *
 * Only the registrant thread writes (a handle does not leave its thread). A writer that never leaves — its thread
 * terminated between entering and leaving, which terminate() can do at any call — means the registrant is gone,
 * and its supervisor thread with it. Should the supervisor still be retiring a line then, it gives up after
 * RETIRE_WAIT_MS and never closes that fd: a writer that was only descheduled may still be about to write.
 *
 * ## What a write may meet
 *
 * The pipe is non-blocking. A full pipe (EAGAIN) holds unread sets already, and the child's watchdog reads them all
 * after this one would have landed, so a set lost to it is not a lost wake-up. A child that is gone (EPIPE) needs
 * none. `set()` never throws, so both are ignored.
 */
import { fs } from './builtins.js';
import { Atomics } from './intrinsics.js';
import { CTRL, LATCH, RELAY_FD, RELAY_USERS, type SlotTable } from './layout.js';
import { SharedLatch, type LatchHooks } from './latch.js';
import { CMD_LATCH } from './protocol.js';
import { genOf } from './slots.js';

const { writeSync } = fs();

/** How long the supervisor waits for writers inside the line before it keeps the fd open instead of closing it. */
export const RETIRE_WAIT_MS = 1000;

const LATCH_BYTE = Buffer.of(CMD_LATCH);

/** The part of a Node stream's pipe handle the line uses (an internal of net.Socket, stable since Node 0.x). */
interface PipeHandle {
  fd?: unknown;
  close?: (...args: unknown[]) => unknown;
  readStop?: () => unknown;
}

/**
 * Supervisor: opens the line into the stream's pipe, if the pipe has a file descriptor (not on Windows). The
 * handle's close() is wrapped so that the line is retired before the fd can close, however Node closes it (our
 * destroy at exit, the end of the stream, a write error); while a writer is still inside, the fd stays open.
 * Returns whether the line opened.
 */
export function attachLine(stream: object, i32: Int32Array, fdAt: number, usersAt: number, waitMs = RETIRE_WAIT_MS): boolean {
  const handle = (stream as { _handle?: PipeHandle })._handle;
  const fd = handle?.fd;
  const close = handle?.close;
  if (handle === undefined || typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0 || typeof close !== 'function') return false;
  handle.close = function closeAfterRetire(this: PipeHandle, ...args: unknown[]): unknown {
    if (retireLine(i32, fdAt, usersAt, waitMs)) return close.apply(this, args);
    this.readStop?.(); // a writer is still inside: the fd stays open, and libuv stops watching it
    return undefined;
  };
  Atomics.store(i32, fdAt, fd + 1);
  return true;
}

/**
 * Supervisor: no writer may use the line from now on. Returns true once no writer is inside (the fd may close), or
 * false if one still is after `waitMs` (the fd must then stay open). Idempotent.
 */
export function retireLine(i32: Int32Array, fdAt: number, usersAt: number, waitMs = RETIRE_WAIT_MS): boolean {
  Atomics.store(i32, fdAt, 0);
  const deadline = performance.now() + waitMs;
  for (;;) {
    const users = Atomics.load(i32, usersAt);
    if (users === 0) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    Atomics.wait(i32, usersAt, users, left);
  }
}

/**
 * Any thread: writes one CMD_LATCH into the line of generation `gen`'s run. Returns false when there is no line (the
 * caller sets the latch word instead, for the supervisor to relay). Never throws.
 *
 * The generation is read after the fd, inside the line: a line open while this writer is inside belongs to the
 * slot's current run (a run retires its line before its slot can be freed and claimed again), and the control word
 * says whose run that is. A stale handle's set therefore never reaches the next worker in the slot.
 */
export function writeLatch(i32: Int32Array, fdAt: number, usersAt: number, ctrlAt: number, gen: number): boolean {
  Atomics.add(i32, usersAt, 1);
  const fd1 = Atomics.load(i32, fdAt);
  if (fd1 !== 0 && genOf(Atomics.load(i32, ctrlAt)) === gen) {
    try {
      writeSync(fd1 - 1, LATCH_BYTE);
    } catch {
      // EAGAIN: the pipe holds unread sets; EPIPE: the child is gone (see the header).
    }
  }
  if (Atomics.sub(i32, usersAt, 1) === 1 && Atomics.load(i32, fdAt) === 0) Atomics.notify(i32, usersAt);
  return fd1 !== 0;
}

/**
 * `handle.latch` of a process worker: set() goes down the line while it is open, and through the slot's latch word
 * (relayed by the supervisor) before the line opens. Everything else is a SharedLatch's.
 */
export class LineLatch extends SharedLatch {
  readonly #i32: Int32Array;
  readonly #fdAt: number;
  readonly #usersAt: number;
  readonly #ctrlAt: number;
  readonly #gen: number;
  readonly #alive: () => boolean;

  constructor(table: SlotTable, slot: number, gen: number, hooks: LatchHooks & { alive: () => boolean }) {
    super(table.i32, table.at(slot, LATCH), hooks);
    this.#i32 = table.i32;
    this.#fdAt = table.at(slot, RELAY_FD);
    this.#usersAt = table.at(slot, RELAY_USERS);
    this.#ctrlAt = table.at(slot, CTRL);
    this.#gen = gen;
    this.#alive = hooks.alive;
  }

  override set(): void {
    if (!this.#alive()) return;
    if (!writeLatch(this.#i32, this.#fdAt, this.#usersAt, this.#ctrlAt, this.#gen)) super.set();
  }
}
