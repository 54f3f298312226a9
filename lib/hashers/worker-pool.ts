import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

/**
 * Runs the pure-JavaScript password formats (apr1-MD5, DES crypt, SHA-crypt) off the main thread. Their libraries
 * are synchronous: an apr1 check costs about 1 ms of CPU, a SHA-crypt one 6 ms at the default 5,000 rounds and
 * grows with `rounds=`; on the main thread that time would delay every other request. Each task names a module and
 * one of its exports; the worker imports the module once and calls the export with the arguments.
 *
 * The worker's code is evaluated from a string so that it needs no file of its own: it runs the same way from
 * `dist/` and under a TypeScript test loader.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const loaded = new Map()
parentPort.on('message', (task) => {
  let module = loaded.get(task.module)
  if (module === undefined) {
    module = import(task.module)
    loaded.set(task.module, module)
  }
  module.then((m) => m[task.exportName](...task.args)).then(
    (result) => { parentPort.postMessage({ id: task.id, result }) },
    (error) => { parentPort.postMessage({ id: task.id, error: String((error && error.message) || error) }) })
})
`

interface Task {
  readonly id: number
  readonly module: string
  readonly exportName: string
  readonly args: readonly unknown[]
  readonly resolve: (value: unknown) => void
  readonly reject: (reason: Error) => void
}

interface Answer { id: number, result?: unknown, error?: string }

interface PooledWorker {
  readonly worker: Worker
  task: Task | undefined
}

/**
 * A fixed-size pool of worker threads, created lazily. A worker holds the process open only while it has work,
 * so an idle pool never keeps a server (or a script) from exiting.
 */
export class HashWorkerPool {
  readonly size: number
  readonly #workers: PooledWorker[] = []
  readonly #queue: Task[] = []
  #nextId = 0

  constructor (size: number) {
    this.size = Math.max(1, Math.floor(size))
  }

  /** Calls `exportName(...args)` of `module` (a URL, as `import.meta.resolve` gives) in a worker. */
  run<T> (module: string, exportName: string, args: readonly unknown[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, module, exportName, args, resolve: resolve as (value: unknown) => void, reject })
      this.#dispatch()
    })
  }

  /** Ends every worker (tests, or a process that wants to exit while idle workers exist). */
  async close (): Promise<void> {
    const workers = this.#workers.splice(0)
    await Promise.all(workers.map(async (w) => await w.worker.terminate()))
  }

  #dispatch (): void {
    while (this.#queue.length > 0) {
      let pooled = this.#workers.find((w) => w.task === undefined)
      if (pooled === undefined && this.#workers.length < this.size) pooled = this.#spawn()
      if (pooled === undefined) return
      const task = this.#queue.shift() as Task
      pooled.task = task
      pooled.worker.ref()
      pooled.worker.postMessage({ id: task.id, module: task.module, exportName: task.exportName, args: task.args })
    }
  }

  #spawn (): PooledWorker {
    const worker = new Worker(WORKER_SOURCE, { eval: true })
    const pooled: PooledWorker = { worker, task: undefined }
    worker.unref()
    worker.on('message', (answer: Answer) => {
      const task = pooled.task
      if (task === undefined || task.id !== answer.id) return
      pooled.task = undefined
      worker.unref()
      if (answer.error !== undefined) task.reject(new Error(answer.error))
      else task.resolve(answer.result)
      this.#dispatch()
    })
    const fail = (err: Error): void => {
      const index = this.#workers.indexOf(pooled)
      if (index >= 0) this.#workers.splice(index, 1)
      pooled.task?.reject(err)
      pooled.task = undefined
      this.#dispatch()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => { fail(new Error(`password hashing worker exited with code ${code}`)) })
    this.#workers.push(pooled)
    return pooled
  }
}

/**
 * The pool every pure-JavaScript format shares: one worker per core but one (which the event loop keeps), at most
 * four. bcrypt does not use it: the native `bcrypt` package already hashes on libuv's threadpool.
 */
export const hashWorkers = new HashWorkerPool(Math.min(4, availableParallelism() - 1))
