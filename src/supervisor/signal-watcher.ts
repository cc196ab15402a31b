/**
 * Sees the shutdown signals a busy registrant's own handler cannot run for (G18, issue 13.2).
 *
 * Node runs a `process.on('SIGINT')` handler only when the main thread's event loop turns, and worker threads
 * never receive OS signals. So a registrant spinning on checkForInterrupts() would see Ctrl-C only when it yields.
 * The way around it: a tiny helper process (`/bin/sh` with a trap per signal, a few hundred kB) started by the
 * supervisor thread. It inherits the process group, so a signal sent to the group — Ctrl-C in a terminal, or
 * `kill -INT -<pgid>` — reaches it too; its trap writes the signal's name on its stdout, which the supervisor
 * thread reads (its event loop is never blocked by the registrant) and forwards: a mailbox message, then an
 * interrupt, so the registrant's next checkForInterrupts() aborts every scope with ShutdownSignalError.
 *
 * What it cannot see: a signal sent to the pid alone (`kill -TERM <pid>`, what most process managers send) goes
 * to the main thread only; that one is handled when the registrant next yields. Measured numbers: docs/guide.md.
 *
 * States: starting → watching → closed. The supervisor thread's close() (shutdown) kills the helper; if this
 * process dies without closing, the helper notices within a second (`kill -0 $PPID`) and exits. The child and
 * its pipe are unref'd: the watcher never keeps the supervisor thread alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

const SHELL = '/bin/sh';

/** True where the helper can run (a POSIX shell). */
export function canWatchSignals(): boolean {
  return process.platform !== 'win32' && existsSync(SHELL);
}

/** A running helper; `close()` stops it. */
export class SignalWatcher {
  readonly #child: ChildProcess;
  #closed = false;

  /** Starts the helper for `signals`; `onSignal` runs on this thread for each one the process group receives. */
  constructor(signals: readonly NodeJS.Signals[], onSignal: (signal: NodeJS.Signals) => void) {
    const traps = signals.map((s) => `trap 'echo ${s}' ${s.slice(3)}`).join('\n');
    // `wait` on a background sleep returns at once when a trapped signal arrives, so the trap runs within ~1 ms.
    const script = `${traps}\nwhile kill -0 $PPID 2>/dev/null; do sleep 1 & wait $!; done\n`;
    this.#child = spawn(SHELL, ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'], detached: false });
    this.#child.on('error', () => {}); // no shell after all: the main thread's handler still works
    let pending = '';
    this.#child.stdout!.setEncoding('utf8');
    this.#child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!this.#closed && (signals as readonly string[]).includes(line)) onSignal(line as NodeJS.Signals);
      }
    });
    this.#child.unref();
    (this.#child.stdout as unknown as { unref?: () => void }).unref?.();
  }

  /** Stops the helper (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#child.kill('SIGKILL');
  }
}
