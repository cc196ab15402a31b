/**
 * The watchdog: a thread inside every process worker that reads the supervisor's control pipe on its own event
 * loop, so commands reach the child even while its main thread is stuck in synchronous code, and that kills the
 * child the moment its registrant process is gone.
 *
 * - CMD_TERMINATE: sets TERM in the child's local control word, bumps its interrupt counter and sets its latch —
 *   checkForInterrupts() in the main thread sees it on its next call (one Atomics.load), as in a thread worker.
 * - CMD_LATCH: sets the child's latch (the registrant called handle.latch.set()).
 * - EOF or an error on the pipe: its write end lived only in the registrant process, so that process is gone
 *   (even SIGKILL closes it). SIGKILL ourselves at once: no user code runs after the parent died (G10).
 */
import { fs } from '../shared/builtins.js';
import { Socket, type SocketConstructorOpts } from 'node:net';
import { workerData } from 'node:worker_threads';
import { CMD_LATCH, CMD_TERMINATE } from '../shared/protocol.js';
import { deliverInterrupt, setLatchWord } from '../shared/latch.js';
import { TERM } from '../shared/slots.js';
import { Atomics } from '../shared/intrinsics.js';

const { writeSync } = fs();

export interface WatchdogInit {
  words: SharedArrayBuffer;
  fd: number;
  ctrlAt: number;
  latchAt: number;
  interruptAt: number;
}

const w = workerData as WatchdogInit;
const i32 = new Int32Array(w.words);

function parentGone(why: string): void {
  writeSync(2, `bgworkers: process worker ${process.pid}: registrant process gone (${why}); exiting\n`);
  process.kill(process.pid, 'SIGKILL');
}

/** Commands arrive a byte or a few at a time: one small buffer, read into directly (no stream buffering). */
const commands = Buffer.alloc(256);

function onCommands(n: number, buf: Buffer): void {
  for (let k = 0; k < n; k++) {
    const byte = buf[k];
    if (byte === CMD_TERMINATE) {
      Atomics.or(i32, w.ctrlAt, TERM);
      deliverInterrupt(i32, w.interruptAt, w.latchAt);
    } else if (byte === CMD_LATCH) {
      setLatchWord(i32, w.latchAt);
    }
  }
}

// `onread` (Node >= 12) is in Socket's constructor options, though not in @types/node's SocketConstructorOpts.
const pipe = new Socket({ fd: w.fd, readable: true, writable: false, onread: { buffer: commands, callback: onCommands } } as SocketConstructorOpts);
pipe.on('end', () => parentGone('control pipe closed'));
pipe.on('error', (err) => parentGone(err.message));
