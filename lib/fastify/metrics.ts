import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { CRED_CHANNELS, InvalidOption } from '../cred/index.js'
import type { LoginEventBase, LoginFailedEvent, LogoutEvent } from '../cred/index.js'
import { loadDriver } from '../drivers/index.js'

/**
 * Prometheus metrics of logins, built on the login events (`CRED_CHANNELS`): every login the process makes through a
 * Portal or the HTTP guard, whichever app or protocol made it, counted in a prom-client registry.
 */

/** A prom-client `Registry`, typed by what is used of it (prom-client is an optional peer dependency). */
export interface MetricsRegistry {
  /** The metric registered under `name`, if any: several apps counting into one registry share its metrics. */
  getSingleMetric (name: string): unknown
  /** The registry's metrics in Prometheus' text format, for a `/metrics` route. */
  metrics (): Promise<string>
}

/** Where `credMetrics` (and the plugin's `metrics` option) counts, and how its metrics are named. */
export interface CredMetricsOptions {
  /** Where the metrics are registered. Default: prom-client's global `register`. */
  registry?: MetricsRegistry
  /** Put before every metric's name. Default `'fastify_cred_'`. */
  prefix?: string
  /** The duration histogram's buckets, in seconds. Default: 1 ms to 10 s. */
  buckets?: readonly number[]
}

/** The subscription counting into one registry's metrics; `close` stops it (the metrics stay registered). */
export interface CredMetrics {
  /** Stops counting; idempotent. The metrics stay registered with the counts so far. */
  close (): void
}

type PromClient = typeof import('prom-client')
type Labels = Record<string, string>
interface CounterLike { inc (labels: Labels): void }
interface HistogramLike { observe (labels: Labels, value: number): void }

const DEFAULT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** One subscription per registry and prefix, shared: two apps counting into one registry count each login once. */
const active = new WeakMap<object, Map<string, { users: number, stop: () => void }>>()

/**
 * Counts logins into prom-client metrics: `<prefix>logins_total` and the histogram `<prefix>login_duration_seconds`
 * (labels `protocol`, `scheme`, `outcome`: `succeeded`, `failed`, `throttled`, `unavailable`),
 * `<prefix>login_failures_total` (labels `protocol`, `scheme`, `reason`) and `<prefix>logouts_total` (labels
 * `protocol`, `scheme`). A label the event leaves out is `'none'`. The plugin's `metrics` option calls it for you.
 *
 * @param options `registry` (default prom-client's global one), `prefix`, `buckets`.
 * @returns A handle whose `close()` stops counting.
 * @throws `MissingPeerDependency` when prom-client is not installed; `InvalidOption` for a bad prefix or registry.
 * @example
 * import { Registry } from 'prom-client'
 * import { credMetrics } from 'fastify-cred'
 * const registry = new Registry()
 * const metrics = await credMetrics({ registry })
 * app.get('/metrics', { config: { cred: false } }, async (request, reply) => reply.type(registry.contentType).send(await registry.metrics()))
 */
export async function credMetrics (options: CredMetricsOptions = {}): Promise<CredMetrics> {
  if (options === null || typeof options !== 'object') throw new InvalidOption('credMetrics: options must be an object: { registry, prefix, buckets }')
  const prefix = options.prefix ?? 'fastify_cred_'
  if (typeof prefix !== 'string' || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    throw new InvalidOption(`credMetrics: \`prefix\` must be a Prometheus metric name prefix (letters, digits, _ and :), got ${JSON.stringify(prefix)}`)
  }
  const buckets = options.buckets ?? DEFAULT_BUCKETS
  if (!Array.isArray(buckets) || buckets.length === 0 || !buckets.every((b) => typeof b === 'number' && b > 0 && Number.isFinite(b))) {
    throw new InvalidOption('credMetrics: `buckets` must be a non-empty array of positive numbers of seconds')
  }
  const prom = await loadDriver('prom-client', 'The `metrics` option (credMetrics)') as PromClient
  const registry = options.registry ?? prom.register
  if (registry === null || typeof registry !== 'object' || typeof registry.getSingleMetric !== 'function') {
    throw new InvalidOption('credMetrics: `registry` must be a prom-client Registry')
  }
  let byPrefix = active.get(registry)
  if (byPrefix === undefined) { byPrefix = new Map(); active.set(registry, byPrefix) }
  let shared = byPrefix.get(prefix)
  if (shared === undefined) {
    shared = { users: 0, stop: count(prom, registry, prefix, buckets) }
    byPrefix.set(prefix, shared)
  }
  const handle = shared
  const registryPrefixes = byPrefix
  handle.users++
  let closed = false
  return {
    close () {
      if (closed) return
      closed = true
      if (--handle.users > 0) return
      handle.stop()
      registryPrefixes.delete(prefix)
    }
  }
}

/** Makes (or finds) the metrics and subscribes to the channels; returns the unsubscribe. */
function count (prom: PromClient, registry: MetricsRegistry, prefix: string, buckets: readonly number[]): () => void {
  const registers = [registry as InstanceType<PromClient['Registry']>]
  const metric = <M>(name: string, make: () => M): M => (registry.getSingleMetric(name) as M | undefined) ?? make()
  const logins = metric<CounterLike>(`${prefix}logins_total`, () => new prom.Counter({
    name: `${prefix}logins_total`, help: 'Logins by protocol, scheme and outcome', labelNames: ['protocol', 'scheme', 'outcome'], registers
  }))
  const duration = metric<HistogramLike>(`${prefix}login_duration_seconds`, () => new prom.Histogram({
    name: `${prefix}login_duration_seconds`, help: 'Time from the start of a login to its outcome', labelNames: ['protocol', 'scheme', 'outcome'], buckets: [...buckets], registers
  }))
  const failures = metric<CounterLike>(`${prefix}login_failures_total`, () => new prom.Counter({
    name: `${prefix}login_failures_total`, help: 'Refused logins by reason', labelNames: ['protocol', 'scheme', 'reason'], registers
  }))
  const logouts = metric<CounterLike>(`${prefix}logouts_total`, () => new prom.Counter({
    name: `${prefix}logouts_total`, help: 'Logouts by protocol and scheme', labelNames: ['protocol', 'scheme'], registers
  }))
  const outcome = (name: string) => (message: unknown): void => {
    const event = message as LoginEventBase
    const labels = { protocol: event.protocol ?? 'none', scheme: event.scheme ?? 'none', outcome: name }
    logins.inc(labels)
    duration.observe(labels, event.durationMs / 1000)
  }
  const failed = outcome('failed')
  const handlers: Array<[string, (message: unknown) => void]> = [
    [CRED_CHANNELS.loginSucceeded, outcome('succeeded')],
    [CRED_CHANNELS.loginFailed, (message) => {
      failed(message)
      const event = message as LoginFailedEvent
      failures.inc({ protocol: event.protocol ?? 'none', scheme: event.scheme ?? 'none', reason: event.reason })
    }],
    [CRED_CHANNELS.loginThrottled, outcome('throttled')],
    [CRED_CHANNELS.storeUnavailable, outcome('unavailable')],
    [CRED_CHANNELS.logout, (message) => {
      const event = message as LogoutEvent
      logouts.inc({ protocol: event.protocol ?? 'none', scheme: event.scheme ?? 'none' })
    }]
  ]
  for (const [name, handler] of handlers) subscribe(name, handler)
  return () => { for (const [name, handler] of handlers) unsubscribe(name, handler) }
}
