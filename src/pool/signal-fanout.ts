/**
 * One 'abort' listener per AbortSignal, however many pending calls share it. A user who passes one signal to
 * many concurrent run()s would otherwise add a listener per call, and Node warns (MaxListenersExceededWarning) at
 * 11. Calls join when they are submitted and leave when they settle; the listener goes when the last one leaves.
 */
export class SignalFanout<C> {
  readonly #bySignal = new Map<AbortSignal, { calls: Set<C>; listener: () => void }>();
  readonly #onAbort: (call: C, reason: unknown) => void;

  constructor(onAbort: (call: C, reason: unknown) => void) {
    this.#onAbort = onAbort;
  }

  join(signal: AbortSignal, call: C): void {
    let entry = this.#bySignal.get(signal);
    if (entry === undefined) {
      const calls = new Set<C>();
      const listener = (): void => {
        this.#bySignal.delete(signal);
        for (const c of [...calls]) this.#onAbort(c, signal.reason);
      };
      entry = { calls, listener };
      this.#bySignal.set(signal, entry);
      signal.addEventListener('abort', listener, { once: true });
    }
    entry.calls.add(call);
  }

  leave(signal: AbortSignal, call: C): void {
    const entry = this.#bySignal.get(signal);
    if (entry === undefined || !entry.calls.delete(call) || entry.calls.size > 0) return;
    this.#bySignal.delete(signal);
    signal.removeEventListener('abort', entry.listener);
  }

  /** Signals listened on now (for tests). */
  get size(): number {
    return this.#bySignal.size;
  }
}
