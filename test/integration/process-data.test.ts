/**
 * `data` a process worker cannot be sent (the process channel writes v8.serialize, not a structured clone): a
 * SharedArrayBuffer, a MessagePort outside a transfer list, a function, a symbol. register() (and scope.pool()
 * with runtime 'process') throws InvalidWorkerSpecError naming `data`, and nothing is registered or started —
 * instead of a worker that starts and ends `failed`. A thread worker still takes a SharedArrayBuffer (shared).
 */
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { InvalidWorkerSpecError, type Supervisor } from '../../dist/index.js';
import { childPids, fixture, startSupervisor } from '../helpers.js';
import { thrownBy } from '../thrown.js';


function expectDataRejected(e: unknown): void {
  expect(e).toBeInstanceOf(InvalidWorkerSpecError);
  const err = e as InvalidWorkerSpecError;
  expect(err.code).toBe('ERR_INVALID_WORKER_SPEC');
  expect(err.field).toBe('data');
  expect(err.message).toContain('Expected `data` to be serializable for a process worker');
  expect(err.cause).toBeInstanceOf(Error); // v8.serialize's own error
}

function expectNothingStarted(sup: Supervisor, children: number[]): void {
  expect(sup.workers()).toEqual([]);
  expect(sup.metrics().slots.used).toBe(0);
  expect(childPids().filter((pid) => !children.includes(pid))).toEqual([]);
}

const unsendable: [string, () => unknown][] = [
  ['a SharedArrayBuffer', () => new SharedArrayBuffer(8)],
  ['a SharedArrayBuffer, nested', () => ({ deep: [{ memory: new SharedArrayBuffer(8) }] })],
  ['a MessagePort not transferred', () => ({ port: new MessageChannel().port1 })],
  ['a function', () => ({ f: () => 1 })],
  ['a symbol', () => [Symbol('s')]],
];

describe("process runtime: data that cannot be sent is rejected at register()", () => {
  for (const [what, data] of unsendable) {
    it(`${what}: InvalidWorkerSpecError naming data, nothing registered`, async () => {
      const sup = await startSupervisor();
      const children = childPids();
      const d = data();
      expectDataRejected(thrownBy(() => sup.register({ entry: fixture('echo.mjs'), runtime: 'process', data: d })));
      await sup.scope((scope) => {
        expectDataRejected(thrownBy(() => scope.register({ entry: fixture('echo.mjs'), runtime: 'process', data: d, ephemeral: true })));
        expectDataRejected(thrownBy(() => scope.pool({ entry: fixture('task-square.mjs'), maxWorkers: 1, runtime: 'process', data: d })));
      });
      expectNothingStarted(sup, children);
      for (const v of Object.values(d as object)) if (v instanceof MessageChannel) v.port1.close();
    });
  }

  it('what v8.serialize carries still goes: typed arrays, Map, Set, Date, Error, BigInt, nested', async () => {
    const sup = await startSupervisor();
    const data = { bytes: new Uint8Array([1, 2, 3]), map: new Map([['k', 1]]), set: new Set([1]), when: new Date(0), big: 10n, err: new Error('e'), deep: [{ a: [1] }] };
    const exit = await sup.register({ entry: fixture('echo.mjs'), runtime: 'process', data }).waitForShutdown();
    expect(exit.reason).toBe('completed');
    expect(exit.result).toEqual(data);
  });

  it('a typed array over a SharedArrayBuffer goes as a copy of its bytes (v8.serialize copies views): not shared', async () => {
    const sup = await startSupervisor();
    const words = new Int32Array(new SharedArrayBuffer(8));
    words[0] = 7;
    const exit = await sup.register({ entry: fixture('echo.mjs'), runtime: 'process', data: words }).waitForShutdown();
    expect(exit.reason).toBe('completed');
    const back = exit.result as Int32Array;
    expect(back).toBeInstanceOf(Int32Array);
    expect(back[0]).toBe(7);
    expect(back.buffer).not.toBeInstanceOf(SharedArrayBuffer);
  });

  it('a thread worker takes a SharedArrayBuffer (shared, not copied)', async () => {
    const sup = await startSupervisor();
    const words = new Int32Array(new SharedArrayBuffer(8));
    const exit = await sup.register({ entry: fixture('echo.mjs'), data: words }).waitForShutdown();
    expect(exit.reason).toBe('completed');
    const back = exit.result as Int32Array;
    Atomics.store(back, 0, 42); // the result came back over postMessage too: the same memory
    expect(Atomics.load(words, 0)).toBe(42);
  });
});
