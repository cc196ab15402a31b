/**
 * The direct registrant ↔ worker channel. For a worker that runs once it is a real MessagePort (the other end
 * is `ctx.port`). A restartable worker gets a RelayChannel instead: one object across restarts, re-attached to
 * each run's fresh port; messages posted while no run is connected are dropped (docs/guide.md, "Ports").
 */
import type { MessagePort, Transferable } from 'node:worker_threads';

/** A message channel to the other side (`handle.port` ↔ `ctx.port`). */
export interface WorkerChannel {
  /** Posts a structured-cloneable value to the other side. */
  postMessage(value: unknown, transfer?: readonly Transferable[]): void;
  on(event: 'message', listener: (value: unknown) => void): this;
  off(event: 'message', listener: (value: unknown) => void): this;
  /** Closes the channel; the other side's port closes too. */
  close(): void;
}

type Listener = (value: unknown) => void;

/** A WorkerChannel that survives restarts by switching the underlying MessagePort. */
export class RelayChannel implements WorkerChannel {
  #port: MessagePort | undefined;
  #closed = false;
  readonly #listeners = new Set<Listener>();
  readonly #dispatch = (value: unknown): void => {
    for (const l of this.#listeners) l(value);
  };

  /** Connects the channel to a new run's port (the previous one is closed). */
  attach(port: MessagePort): void {
    this.detach();
    if (this.#closed) {
      port.close();
      return;
    }
    this.#port = port;
    if (this.#listeners.size > 0) port.on('message', this.#dispatch);
  }

  /** Disconnects from the current run (its worker stopped). */
  detach(): void {
    const port = this.#port;
    this.#port = undefined;
    if (port !== undefined) {
      port.off('message', this.#dispatch);
      port.close();
    }
  }

  postMessage(value: unknown, transfer?: readonly Transferable[]): void {
    this.#port?.postMessage(value, transfer);
  }

  on(event: 'message', listener: Listener): this {
    if (event !== 'message') return this;
    if (this.#listeners.size === 0) this.#port?.on('message', this.#dispatch);
    this.#listeners.add(listener);
    return this;
  }

  off(event: 'message', listener: Listener): this {
    if (event !== 'message') return this;
    this.#listeners.delete(listener);
    if (this.#listeners.size === 0) this.#port?.off('message', this.#dispatch);
    return this;
  }

  close(): void {
    this.#closed = true;
    this.detach();
  }
}
