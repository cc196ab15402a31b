/**
 * `move()`: a task returns a value whose buffers or ports are moved (transferred) to the caller instead of
 * copied, like piscina's `move()`. The value is returned unchanged; the pool worker looks it up when it posts
 * the result. After the post, the moved buffers are detached in the worker (their byteLength is 0).
 */
import type { MessagePort, Transferable } from 'node:worker_threads';
import { invalidOption } from '../errors.js';

const moved = new WeakMap<object, readonly Transferable[]>();

/**
 * Marks a task's result to be moved to the caller: an ArrayBuffer, a typed array or DataView (its buffer moves),
 * a MessagePort, or any object with the list of what to move inside it given as `transfer`. In a process pool
 * nothing can move between processes: the value is copied.
 *
 * @example
 * ```ts
 * // ones.ts (a pool entry module)
 * import { defineTask, move } from 'bgworkers/worker';
 *
 * export default defineTask((n: number) => move(new Float64Array(n).fill(1)));
 * ```
 */
export function move<T extends object>(value: T, transfer?: readonly Transferable[]): T {
  if (typeof value !== 'object' || value === null) throw invalidOption('value', 'an object (an ArrayBuffer, a typed array, a MessagePort, or an object with `transfer`)', value);
  let list: readonly Transferable[];
  if (transfer !== undefined) {
    if (!Array.isArray(transfer)) throw invalidOption('transfer', 'an array of ArrayBuffers or MessagePorts', transfer);
    list = [...transfer];
  } else if (value instanceof ArrayBuffer) list = [value];
  else if (ArrayBuffer.isView(value)) list = [value.buffer as ArrayBuffer];
  else if (isPort(value)) list = [value];
  else throw invalidOption('transfer', 'given for an object that is not an ArrayBuffer, a typed array or a MessagePort', undefined);
  moved.set(value, list);
  return value;
}

/** What to move for a result, if it was marked by move(). */
export function transferOf(value: unknown): readonly Transferable[] | undefined {
  return typeof value === 'object' && value !== null ? moved.get(value) : undefined;
}

function isPort(v: object): v is MessagePort {
  return typeof (v as MessagePort).postMessage === 'function' && typeof (v as MessagePort).close === 'function';
}
