/**
 * Type test (compiled by `npm run typecheck`, never run): error codes are literal types, so a misspelt code is an
 * error and a test of `code` narrows to the error's class.
 */
import { BgWorkersError, isBgWorkersError, WorkerCapacityError, type BgWorkersErrorCode } from 'bgworkers';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

export function narrowing(err: unknown): number | string | undefined {
  if (isBgWorkersError(err)) {
    if (err.code === 'ERR_WORKER_CAPACITY') {
      assertType<Equal<typeof err, WorkerCapacityError>>();
      return err.capacity;
    }
    if (err.code === 'ERR_INVALID_WORKER_SPEC') return err.field;
    // @ts-expect-error a misspelt code has no overlap with the codes
    if (err.code === 'ERR_WORKER_CAPACTY') return 0;
    // @ts-expect-error only an InvalidWorkerSpecError has `field`
    return err.field;
  }
  if (err instanceof BgWorkersError) {
    assertType<Equal<typeof err.code, BgWorkersErrorCode>>();
    // @ts-expect-error the base class's code is the union of the codes, not any string
    if (err.code === 'ERR_SOMETHING_ELSE') return 1;
  }
  if (err instanceof WorkerCapacityError) {
    assertType<Equal<typeof err.code, 'ERR_WORKER_CAPACITY'>>();
  }
  return undefined;
}
