/**
 * ctx.port of a process worker: a WorkerChannel over the IPC channel. The supervisor relays between it and the
 * registrant's handle.port (a MessagePort). Values are cloned with advanced serialization; transfer lists are not
 * supported across processes (a value with transferables is cloned where possible, else the post throws).
 */
import type { WorkerChannel } from '../channel.js';
import type { ProcessUp } from '../shared/protocol.js';

type Listener = (value: unknown) => void;

export class IpcChannel implements WorkerChannel {
  readonly #send: (m: ProcessUp) => void;
  readonly #listeners = new Set<Listener>();
  #closed = false;

  constructor(send: (m: ProcessUp) => void) {
    this.#send = send;
  }

  /** A message from the registrant, relayed by the supervisor. */
  dispatch(value: unknown): void {
    if (this.#closed) return;
    for (const l of this.#listeners) l(value);
  }

  postMessage(value: unknown): void {
    if (!this.#closed) this.#send({ t: 'port', value });
  }

  on(event: 'message', listener: Listener): this {
    if (event === 'message') this.#listeners.add(listener);
    return this;
  }

  off(event: 'message', listener: Listener): this {
    if (event === 'message') this.#listeners.delete(listener);
    return this;
  }

  close(): void {
    this.#closed = true;
    this.#listeners.clear();
  }
}
