/**
 * Type test (compiled by `npm run typecheck`, never run): a worker module's `defineWorker` types flow into
 * `register()`. Each `@ts-expect-error` line must be an error: if the types get looser, the directive itself fails
 * the compile ("Unused '@ts-expect-error' directive").
 */
import type { Scope, Supervisor, WorkerData, WorkerHandle, WorkerResult } from 'bgworkers';

/** Compiles only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

type Sum = typeof import('./sum-worker.js').default;
type Label = typeof import('./sum-worker.js').label;
type Untyped = typeof import('./sum-worker.js').untyped;

assertType<Equal<WorkerData<Sum>, { n: number }>>();
assertType<Equal<WorkerResult<Sum>, number>>(); // main is async: the result is awaited
assertType<Equal<WorkerData<Label>, { prefix: string }>>();
assertType<Equal<WorkerResult<Label>, string>>();
assertType<Equal<WorkerData<Untyped>, unknown>>();
assertType<Equal<WorkerResult<Untyped>, number>>();

export async function fromTheWorkerModule(sup: Supervisor, scope: Scope, entry: URL): Promise<void> {
  const h = sup.register<Sum>({ entry, data: { n: 10 } });
  assertType<Equal<typeof h, WorkerHandle<number>>>();
  const exit = await h.waitForShutdown();
  const total: number | undefined = exit.result;
  // @ts-expect-error the result is a number, not a string
  const wrong: string | undefined = exit.result;

  // @ts-expect-error data must be { n: number }
  sup.register<Sum>({ entry, data: { n: 'ten' } });
  // @ts-expect-error data must be { n: number }: a missing field
  sup.register<Sum>({ entry, data: {} });
  // @ts-expect-error a type argument that is not a worker definition (nor a data type) and a spec that does not fit it
  sup.register<Sum>({ entry, data: { prefix: 'x' } });

  const s = scope.register<Label>({ entry, data: { prefix: 'a' }, ephemeral: true });
  assertType<Equal<typeof s, WorkerHandle<string>>>();
  // @ts-expect-error a scope checks data too
  scope.register<Label>({ entry, data: { prefix: 1 }, precious: true });
  const t = scope.tryRegister<Label>({ entry, data: { prefix: 'a' } });
  assertType<Equal<typeof t, WorkerHandle<string> | undefined>>();
  // @ts-expect-error tryRegister checks data too
  scope.tryRegister<Label>({ entry, data: 5 });
  void total;
  void wrong;
}

export function theOlderStyleStillCompiles(sup: Supervisor, scope: Scope, entry: URL): void {
  const a = sup.register<unknown, number>({ entry, data: 'anything' });
  assertType<Equal<typeof a, WorkerHandle<number>>>();
  const b = sup.register<{ n: number }>({ entry, data: { n: 1 } });
  assertType<Equal<typeof b, WorkerHandle<unknown>>>();
  // @ts-expect-error <D> still checks data
  sup.register<{ n: number }>({ entry, data: { n: '1' } });
  const c = scope.register<{ n: number }, string>({ entry, data: { n: 1 } });
  assertType<Equal<typeof c, WorkerHandle<string>>>();
  // No type argument: data is unknown (anything goes) and the result unknown, as before.
  const d = sup.register({ entry, data: { whatever: [1] } });
  assertType<Equal<typeof d, WorkerHandle<unknown>>>();
  const e = sup.register({ entry });
  assertType<Equal<typeof e, WorkerHandle<unknown>>>();
}
