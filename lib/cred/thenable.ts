/** True for promises and other thenables: the one test the synchronous fast path needs. */
export function isThenable<T> (value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

/**
 * `promise`, or a rejection with `timeoutError()` once `ms` have passed; `ms` 0 means no deadline. `onLate` gets a
 * value that arrives after the deadline, so that what it holds can be released. `unref`: the timer alone does not
 * keep the process alive (for housekeeping, not for requests).
 */
export function withinDeadline<T> (
  promise: PromiseLike<T>, ms: number, timeoutError: () => Error, options: { onLate?: (value: T) => void, unref?: boolean } = {}
): Promise<T> {
  if (ms === 0) return Promise.resolve(promise)
  return new Promise<T>((resolve, reject) => {
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      reject(timeoutError())
    }, ms)
    if (options.unref === true) timer.unref()
    promise.then((value) => {
      if (timedOut) options.onLate?.(value)
      else { clearTimeout(timer); resolve(value) }
    }, (err: unknown) => {
      if (!timedOut) { clearTimeout(timer); reject(err) }
    })
  })
}
