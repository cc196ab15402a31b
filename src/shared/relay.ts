/**
 * Signal relay (issue 13.3): the signals the supervisor can hand to every running worker, and the per-thread
 * listener list behind a thread worker's `ctx.onSignal()`. A process worker gets the real signal from the
 * supervisor (`child.kill`); its `ctx.onSignal()` listens on its own process for it while a listener exists.
 * SIGINT and SIGTERM are not relayable: the library uses them to stop workers.
 */
export const RELAYABLE: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'];

export type SignalListener = (signal: NodeJS.Signals) => void;

/** A thread worker's listeners; the bootstrap calls `deliver` for each 'signal' message from the supervisor. */
export class SignalListeners {
  #listeners: readonly SignalListener[] = [];

  add(listener: SignalListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** Calls every listener; one that throws does not keep the others from hearing it (it is rethrown later, as uncaught). */
  deliver(signal: NodeJS.Signals): void {
    for (const l of this.#listeners) {
      try {
        l(signal);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
