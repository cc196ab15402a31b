/**
 * ctx.port of a process worker: a WorkerChannel over the IPC channel. The supervisor relays between it and the
 * registrant's handle.port (a MessagePort). Values are cloned with advanced serialization; transfer lists are not
 * supported across processes (a value with transferables is cloned where possible, else the post throws).
 */
import type { WorkerChannel } from '../channel.js';


type Listener = (value: unknown) => void;

export class IpcChannel implements WorkerChannel {
  readonly #send: (m: { t: 'port'; value: unknown }) => void;
  readonly #listeners = new Set<Listener>();
  readonly #held: unknown[] = [];
  #closed = false;

  constructor(send: (m: { t: 'port'; value: unknown }) => void) {
    this.#send = send;
  }

  /**
   * A message from the registrant, relayed by the supervisor. Held until the first listener attaches, as a
   * MessagePort holds messages until it is started, so nothing sent before the worker listens is lost.
   */
  dispatch(value: unknown): void {
    if (this.#closed) return;
    if (this.#listeners.size === 0) {
      this.#held.push(value);
      return;
    }
    for (const l of this.#listeners) l(value);
  }

  postMessage(value: unknown): void {
    if (!this.#closed) this.#send({ t: 'port', value });
  }

  on(event: 'message', listener: Listener): this {
    if (event !== 'message') return this;
    this.#listeners.add(listener);
    if (this.#held.length > 0) {
      const held = this.#held.splice(0);
      queueMicrotask(() => held.forEach((v) => this.dispatch(v)));
    }
    return this;
  }

  off(event: 'message', listener: Listener): this {
    if (event === 'message') this.#listeners.delete(listener);
    return this;
  }

  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    this.#held.length = 0;
  }
}
