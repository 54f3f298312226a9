// The parts of autocannon 8 the load generator uses (the package ships no types).
declare module 'autocannon' {
  /** What `setupRequest` receives and returns (a copy of the request object, with the request's own properties). */
  export interface RequestParams {
    method: string
    path: string
    headers: Record<string, string>
    [key: string]: unknown
  }

  /**
   * One entry of `requests`. Each connection deep-copies the options, so extra properties of this object (and the
   * objects they hold) are per connection; `onResponse` is called with `this` set to that connection's copy.
   */
  export interface Request {
    method?: string
    path?: string
    headers?: Record<string, string>
    setupRequest?: (request: RequestParams, context: Record<string, unknown>) => RequestParams | undefined
    onResponse?: (this: Request, status: number, body: string, context: Record<string, unknown>, headers: Record<string, string | string[]>) => void
    [key: string]: unknown
  }

  export interface Options {
    url: string
    connections?: number
    duration?: number
    amount?: number
    pipelining?: number
    timeout?: number
    headers?: Record<string, string>
    method?: string
    requests?: Request[]
  }

  export interface Histogram {
    average: number
    mean: number
    stddev: number
    min: number
    max: number
    total: number
    p50: number
    p90: number
    p97_5: number
    p99: number
    sent?: number
  }

  export interface Result {
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    resets: number
    mismatches: number
    statusCodeStats: Record<string, { count: number }>
    latency: Histogram
    requests: Histogram
    throughput: Histogram
  }

  function autocannon (options: Options): Promise<Result>
  export default autocannon
}
