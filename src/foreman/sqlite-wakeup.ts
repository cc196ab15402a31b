/**
 * Wake-ups across processes for a SQLite queue: a foreman learns within a millisecond that any process enqueued,
 * without polling the table.
 *
 * How: next to the queue file lies `<file>-wakeup`, a one-byte file. A producer writes its byte *after* its
 * transaction committed ({@link WakeBell.ring}); the foreman's {@link WakeWatcher} watches the file (inotify on
 * Linux, FSEvents/kqueue elsewhere) and calls its listeners. Because the write follows the commit, a listener that
 * then claims always sees the job.
 *
 * Why not watch `<file>-wal` instead: every commit writes it, but the watcher's event can arrive between the WAL
 * frames and the wal-index update that makes them visible, so the claim that follows may miss the job and wait for
 * the safety poll; and the foreman's own writes would wake it too.
 *
 * Safety poll: file events can be lost (a network file system, an overflowing inotify queue), so every
 * `safetyPollMs` (default {@link SAFETY_POLL_MS}) the watcher also reads `PRAGMA data_version`, which changes when another connection
 * committed, and wakes the listeners if it did.
 *
 * States of a WakeWatcher: open → closed (close(), by its session's detach or the queue's close). Listeners are
 * called asynchronously (never during ring()), coalesced: many rings before the callback runs are one call.
 * The watcher and timer are unref'd: they never keep a process alive by themselves.
 */
import { closeSync, openSync, watch, writeSync, type FSWatcher } from 'node:fs';
import type { Db } from './sqlite-db.js';

/** The default safety poll of `PRAGMA data_version` behind the file watch (ms): bounds the wait if a file event is lost. */
export const SAFETY_POLL_MS = 1000;

const BYTE = Buffer.from('1');

/** The wake-up file of queue file `path`. */
export function wakePath(path: string): string {
  return `${path}-wakeup`;
}

/** A producer's side: rings the bell after a commit that made a job runnable. */
export class WakeBell {
  readonly #fd: number;
  constructor(path: string) {
    this.#fd = openSync(wakePath(path), 'a');
  }
  /** Writes the byte: every watcher of the file wakes. */
  ring(): void {
    try {
      writeSync(this.#fd, BYTE, 0, 1, 0);
    } catch {
      // The job is committed already: failing the enqueue now would make its producer enqueue it twice. The
      // foreman's safety poll (data_version) finds it within SAFETY_POLL_MS.
    }
  }
  close(): void {
    closeSync(this.#fd);
  }
}

/** A foreman's side: calls listeners when a bell rang or the safety poll saw another connection's commit. */
export class WakeWatcher {
  readonly #listeners = new Set<() => void>();
  readonly #watcher: FSWatcher;
  readonly #timer: NodeJS.Timeout;
  readonly #db: Db;
  #dataVersion: number;
  #pending = false;
  #closed = false;

  constructor(path: string, db: Db, pollMs: number) {
    this.#db = db;
    this.#dataVersion = this.#readDataVersion();
    this.#watcher = watch(wakePath(path), { persistent: false }, () => this.notify());
    this.#watcher.on('error', () => {
      // The file vanished or the watch broke: the safety poll still runs.
    });
    this.#timer = setInterval(() => this.#poll(), pollMs);
    this.#timer.unref();
  }

  /** Adds a listener; returns its remover. */
  add(listener: () => void): () => void {
    // A listener added twice must be removable twice: wrap it.
    const entry = (): void => listener();
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Wakes the listeners soon (coalesced): a bell, a poll that saw a change, or an enqueue on this very connection. */
  notify(): void {
    if (this.#closed || this.#pending) return;
    this.#pending = true;
    setImmediate(() => {
      this.#pending = false;
      if (this.#closed) return;
      for (const l of [...this.#listeners]) l();
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher.close();
    clearInterval(this.#timer);
    this.#listeners.clear();
  }

  #poll(): void {
    if (!this.#db.open) return;
    const v = this.#readDataVersion();
    if (v !== this.#dataVersion) {
      this.#dataVersion = v;
      this.notify();
    }
  }

  #readDataVersion(): number {
    return this.#db.pragma('data_version', { simple: true }) as number;
  }
}
