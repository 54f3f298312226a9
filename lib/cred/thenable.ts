/** True for promises and other thenables: the one test the synchronous fast path needs. */
export function isThenable<T> (value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}
