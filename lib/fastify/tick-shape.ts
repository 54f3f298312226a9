import { executionAsyncResource } from 'node:async_hooks'

/**
 * Keeps one of Node's own `process.nextTick` objects alive for the life of the process, so that a garbage collection
 * cannot leave `nextTick` slower for good (docs/reference/performance.md, "Why a process stayed a fifth slower").
 *
 * Why: `nextTick` builds each tick as `{ [async_id_symbol]: …, [trigger_async_id_symbol]: …, callback, args }`. V8
 * remembers, for each of those property definitions, the object's hidden class (map) it saw first, and holds it
 * weakly. Between requests no tick object is alive, so a full collection at such a moment frees those maps and
 * clears the weak references; V8 (11.3, Node 20) then takes the cleared entry for another map and marks three of the
 * four definitions megamorphic, for good: every tick goes through V8's runtime from then on, 10–17 % of
 * a server's time. Whether a process is hit depends on when its first full collection comes, so it hit some fresh
 * processes and not their twins, on every route (also public ones). A live tick object holds its map, and through
 * the maps' back pointers the other three: the weak references are never cleared.
 *
 * Inside a tick's callback, `executionAsyncResource()` is that tick's object (no async hook involved). One small
 * object per process; a no-op after the first call, and harmless on a Node whose ticks are built another way.
 */
let pinned: object | undefined

export function pinNextTickShape (): void {
  if (pinned !== undefined) return
  pinned = pinNextTickShape
  process.nextTick(() => { pinned = executionAsyncResource() })
}
