/**
 * The direct line into a process worker's control pipe (src/shared/control-line.ts): handle.latch.set() writes
 * CMD_LATCH into the pipe itself while the line is open, sets the slot's latch word (for the supervisor's relay)
 * while it is not, and never writes to a file descriptor after the line was retired — the supervisor retires it,
 * waiting for a writer inside, before the fd can close, whichever way Node closes the pipe.
 *
 * A file stands in for the pipe where only the bytes written matter (a write to it is as synchronous); a Unix
 * socket pair stands in where a Node stream's handle closes the fd.
 */
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LineLatch, attachLine, retireLine, writeLatch } from '../../src/shared/control-line.js';
import { CTRL, LATCH, RELAY_FD, RELAY_USERS, SlotTable } from '../../src/shared/layout.js';
import { CMD_LATCH } from '../../src/shared/protocol.js';
import { RUNNING, pack } from '../../src/shared/slots.js';

const SLOT = 1;
const GEN = 7;

let dir: string;
let table: SlotTable;
const fds: number[] = [];
const workers: Worker[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bgw-line-'));
  table = SlotTable.create(4);
  Atomics.store(table.i32, table.at(SLOT, CTRL), pack(RUNNING, GEN));
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
  for (const fd of fds.splice(0)) closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

const at = (field: number): number => table.at(SLOT, field);
/** A file opened for writing, with its fd given to the line as the pipe's. */
function fileLine(): { path: string; fd: number } {
  const path = join(dir, `pipe-${fds.length}`);
  const fd = openSync(path, 'w');
  fds.push(fd);
  Atomics.store(table.i32, at(RELAY_FD), fd + 1);
  return { path, fd };
}
const latch = (gen = GEN): LineLatch => new LineLatch(table, SLOT, gen, { alive: () => true });

describe('writeLatch and LineLatch.set()', () => {
  it('with the line open, a set writes one CMD_LATCH into the pipe and leaves the latch word alone', () => {
    const { path } = fileLine();
    latch().set();
    latch().set();
    expect([...readFileSync(path)]).toEqual([CMD_LATCH, CMD_LATCH]);
    expect(Atomics.load(table.i32, at(LATCH))).toBe(0);
    expect(Atomics.load(table.i32, at(RELAY_USERS))).toBe(0);
  });

  it('with no line (not yet open, or retired), a set falls back to the latch word, for the supervisor to relay', () => {
    expect(writeLatch(table.i32, at(RELAY_FD), at(RELAY_USERS), at(CTRL), GEN)).toBe(false);
    latch().set();
    expect(Atomics.load(table.i32, at(LATCH))).toBe(1);
    const { path } = fileLine();
    expect(retireLine(table.i32, at(RELAY_FD), at(RELAY_USERS))).toBe(true);
    Atomics.store(table.i32, at(LATCH), 0);
    latch().set();
    expect(readFileSync(path).length).toBe(0); // nothing reaches the fd after the retire
    expect(Atomics.load(table.i32, at(LATCH))).toBe(1);
  });

  it("a stale generation's set writes nothing and does not touch the word: the line and the word are the next run's", () => {
    const { path } = fileLine();
    expect(writeLatch(table.i32, at(RELAY_FD), at(RELAY_USERS), at(CTRL), GEN - 1)).toBe(true);
    latch(GEN - 1).set();
    expect(readFileSync(path).length).toBe(0);
    expect(Atomics.load(table.i32, at(LATCH))).toBe(0);
  });

  it('a set of a latch whose worker stopped (alive() false) does nothing at all', () => {
    const { path } = fileLine();
    new LineLatch(table, SLOT, GEN, { alive: () => false }).set();
    expect(readFileSync(path).length).toBe(0);
    expect(Atomics.load(table.i32, at(LATCH))).toBe(0);
  });

  it('a write that fails (an fd not open for writing: EBADF) is swallowed: set() never throws', () => {
    const { path } = fileLine();
    const readOnly = openSync(path, 'r');
    fds.push(readOnly);
    Atomics.store(table.i32, at(RELAY_FD), readOnly + 1);
    expect(() => latch().set()).not.toThrow();
    expect(readFileSync(path).length).toBe(0);
    expect(Atomics.load(table.i32, at(RELAY_USERS))).toBe(0);
  });
});

describe('retireLine', () => {
  it('waits for a writer inside the line, and returns once it has left', async () => {
    fileLine();
    // A thread plays a writer inside (RELAY_USERS held). It leaves once it has seen the retire start (RELAY_FD 0)
    // and then seen, for 200 ms, that the retire has not returned: a retire that did not wait returns within
    // microseconds of its store, and the writer reports that.
    const flags = new Int32Array(new SharedArrayBuffer(8)); // [0]: the retire returned
    const w = new Worker(
      `const { workerData: { i32, fdAt, usersAt, flags }, parentPort } = require('node:worker_threads');
       Atomics.add(i32, usersAt, 1);
       parentPort.postMessage('inside');
       while (Atomics.load(i32, fdAt) !== 0);
       const early = Atomics.wait(flags, 0, 0, 200) !== 'timed-out' || Atomics.load(flags, 0) !== 0;
       Atomics.sub(i32, usersAt, 1);
       Atomics.notify(i32, usersAt);
       parentPort.postMessage(early ? 'the retire returned while I was inside' : 'left');`,
      { eval: true, workerData: { i32: table.i32, fdAt: at(RELAY_FD), usersAt: at(RELAY_USERS), flags } },
    );
    workers.push(w);
    const messages: string[] = [];
    w.on('message', (m: string) => messages.push(m));
    await once(w, 'message');
    const returned = retireLine(table.i32, at(RELAY_FD), at(RELAY_USERS));
    Atomics.store(flags, 0, 1);
    Atomics.notify(flags, 0);
    expect(returned).toBe(true);
    await once(w, 'message');
    expect(messages).toEqual(['inside', 'left']);
  });

  it('gives up after its wait when a writer never leaves, and says so (the fd must then stay open)', () => {
    fileLine();
    Atomics.add(table.i32, at(RELAY_USERS), 1);
    expect(retireLine(table.i32, at(RELAY_FD), at(RELAY_USERS), 20)).toBe(false);
    expect(Atomics.load(table.i32, at(RELAY_FD))).toBe(0);
  });
});

describe('attachLine on a Node stream', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  /** A connected Unix socket pair: ours (a net.Socket with a pipe handle, like a child's stdio pipe) and the peer. */
  async function socketPair(): Promise<{ ours: Socket; peer: Socket }> {
    const path = join(dir, 'sock');
    server = createServer();
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    server.listen(path);
    await once(server, 'listening');
    const ours = connect(path);
    await once(ours, 'connect');
    const [peer] = await accepted;
    return { ours, peer };
  }
  const isOpen = (fd: number): boolean => {
    try {
      fstatSync(fd);
      return true;
    } catch {
      return false;
    }
  };

  it('publishes the fd; a set reaches the peer; destroy() retires the line before the fd closes', async () => {
    const { ours, peer } = await socketPair();
    expect(attachLine(ours, table.i32, at(RELAY_FD), at(RELAY_USERS))).toBe(true);
    const fd = Atomics.load(table.i32, at(RELAY_FD)) - 1;
    expect(fd).toBe((ours as unknown as { _handle: { fd: number } })._handle.fd);
    const got = once(peer, 'data') as Promise<[Buffer]>;
    latch().set();
    expect([...(await got)[0]]).toEqual([CMD_LATCH]);
    ours.destroy();
    expect(Atomics.load(table.i32, at(RELAY_FD))).toBe(0); // retired synchronously, inside the handle's close()
    await once(ours, 'close');
    expect(isOpen(fd)).toBe(false);
    peer.destroy();
  });

  it('the end of the stream (the peer closed it: the child exited) also retires the line before Node closes the fd', async () => {
    const { ours, peer } = await socketPair();
    attachLine(ours, table.i32, at(RELAY_FD), at(RELAY_USERS));
    const closed = once(ours, 'close');
    peer.destroy();
    await closed;
    expect(Atomics.load(table.i32, at(RELAY_FD))).toBe(0);
  });

  it('with a writer stuck inside, the fd is kept open rather than closed under it', async () => {
    const { ours, peer } = await socketPair();
    attachLine(ours, table.i32, at(RELAY_FD), at(RELAY_USERS), 20);
    const fd = Atomics.load(table.i32, at(RELAY_FD)) - 1;
    const handle = (ours as unknown as { _handle: { close: () => void } })._handle;
    Atomics.add(table.i32, at(RELAY_USERS), 1);
    ours.destroy();
    expect(Atomics.load(table.i32, at(RELAY_FD))).toBe(0);
    expect(isOpen(fd)).toBe(true);
    // The test's own cleanup of what the library deliberately kept: the writer leaves, the handle closes the fd.
    Atomics.sub(table.i32, at(RELAY_USERS), 1);
    handle.close();
    peer.destroy();
  });

  it('a stream without a pipe fd (no _handle) opens no line', () => {
    expect(attachLine({}, table.i32, at(RELAY_FD), at(RELAY_USERS))).toBe(false);
    expect(Atomics.load(table.i32, at(RELAY_FD))).toBe(0);
  });
});
