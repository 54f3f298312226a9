import { createHash } from 'node:crypto'
import { isIPv4, isIPv6 } from 'node:net'
import { InvalidOption } from '../cred/index.js'
import type { LoginAttempt } from '../cred/index.js'

/** The back-off policy both throttles share. Every duration is in milliseconds. */
export interface ThrottleOptions {
  /** Failures per user name before back-off starts. Default 5. */
  userThreshold?: number
  /**
   * Failures per client address before back-off starts. Default 20: higher than per user, because one address may
   * front many people (NAT, a company proxy).
   */
  addressThreshold?: number
  /** The wait after the failure that reaches a threshold; each further failure doubles it. Default 1000 (1 s). */
  baseDelay?: number
  /** The longest wait. Default 900 000 (15 min). */
  maxDelay?: number
  /**
   * Failures are forgotten after this long without a new one. Default 3 600 000 (1 h); at least `maxDelay`.
   */
  forgetAfter?: number
  /**
   * IPv6 addresses are counted by network: the first `ipv6PrefixLength` bits (default 64, one customer's subnet, since
   * a client is usually given a whole /64 and can pick any address in it). IPv4-mapped IPv6 addresses
   * (`::ffff:192.0.2.1`) count as their IPv4 address.
   */
  ipv6PrefixLength?: number
  /** The clock, in ms since the epoch. Default `Date.now`. Tests inject one to step through the back-off. */
  now?: () => number
}

/** Options resolved to their values. @internal */
export interface ThrottlePolicy {
  readonly userThreshold: number
  readonly addressThreshold: number
  readonly baseDelay: number
  readonly maxDelay: number
  readonly forgetAfter: number
  readonly ipv6PrefixLength: number
  readonly now: () => number
}

const positiveInteger = (owner: string, name: string, value: unknown, fallback: number, min = 1): number => {
  const v = value ?? fallback
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new InvalidOption(`${owner}: \`${name}\` must be an integer of at least ${min}, got ${String(v)}`)
  }
  return v
}

/** @internal */
export function resolvePolicy (owner: string, options: ThrottleOptions): ThrottlePolicy {
  if (options === null || typeof options !== 'object') throw new InvalidOption(`${owner}: options must be an object`)
  const maxDelay = positiveInteger(owner, 'maxDelay', options.maxDelay, 900_000)
  const policy: ThrottlePolicy = {
    userThreshold: positiveInteger(owner, 'userThreshold', options.userThreshold, 5),
    addressThreshold: positiveInteger(owner, 'addressThreshold', options.addressThreshold, 20),
    baseDelay: positiveInteger(owner, 'baseDelay', options.baseDelay, 1000),
    maxDelay,
    forgetAfter: positiveInteger(owner, 'forgetAfter', options.forgetAfter, Math.max(3_600_000, maxDelay)),
    ipv6PrefixLength: positiveInteger(owner, 'ipv6PrefixLength', options.ipv6PrefixLength, 64, 0),
    now: options.now ?? Date.now
  }
  if (policy.ipv6PrefixLength > 128) throw new InvalidOption(`${owner}: \`ipv6PrefixLength\` must be from 0 to 128`)
  if (policy.baseDelay > maxDelay) throw new InvalidOption(`${owner}: \`baseDelay\` must not exceed \`maxDelay\``)
  // A count forgotten while its wait still runs would end the wait early.
  if (policy.forgetAfter < maxDelay) throw new InvalidOption(`${owner}: \`forgetAfter\` must be at least \`maxDelay\``)
  if (typeof policy.now !== 'function') throw new InvalidOption(`${owner}: \`now\` must be a function answering ms since the epoch`)
  return policy
}

/** How long to wait after `failures` failures, counted against `threshold`: 0 below it, then doubling. @internal */
export function backOff (policy: ThrottlePolicy, failures: number, threshold: number): number {
  if (failures < threshold) return 0
  return Math.min(policy.maxDelay, policy.baseDelay * 2 ** Math.min(failures - threshold, 52))
}

/** Keys longer than this are hashed, so one entry's size is bounded whatever a client sends. */
const MAX_KEY = 200
const bounded = (key: string): string =>
  key.length <= MAX_KEY ? key : `#${createHash('sha256').update(key).digest('base64url')}`

/**
 * The key a user name is counted under. Case-folded and NFKC-normalised: a store that matches names without case
 * (LDAP, many SQL collations) must not let `Alice`, `ALICE` and `alice` be three counts.
 * @internal
 */
export function userKey (username: string): string {
  return bounded(`u:${username.normalize('NFKC').toLowerCase()}`)
}

/**
 * The network an address is counted under: IPv4 as it is, an IPv4-mapped IPv6 address as its IPv4 address, IPv6 by
 * its first `prefixLength` bits (written `2001:db8:0:0:0:0:0:0/64`, zone dropped); anything else as it is.
 *
 * @example
 * addressGroup('::ffff:192.0.2.1', 64) // '192.0.2.1'
 * addressGroup('2001:db8::1', 64) // '2001:db8:0:0:0:0:0:0/64'
 */
export function addressGroup (address: string, prefixLength: number): string {
  if (isIPv4(address)) return address
  const zone = address.indexOf('%')
  const bare = zone === -1 ? address : address.slice(0, zone)
  if (!isIPv6(bare)) return address
  const groups = ipv6Groups(bare)
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    const hi = groups[6] as number
    const lo = groups[7] as number
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
  }
  const masked = groups.map((group, i) => {
    const bits = Math.max(0, Math.min(16, prefixLength - i * 16))
    return bits === 0 ? 0 : group & (0xffff << (16 - bits)) & 0xffff
  })
  return `${masked.map((g) => g.toString(16)).join(':')}/${prefixLength}`
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted IPv4 part converted). */
function ipv6Groups (address: string): number[] {
  let text = address.toLowerCase()
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const parse = (part: string): number[] => part === '' ? [] : part.split(':').map((g) => parseInt(g, 16))
  const left = parse(head)
  if (tail === undefined) return left
  const right = parse(tail)
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
}

/** The keys an attempt is counted under, with the threshold of each. @internal */
export function attemptKeys (policy: ThrottlePolicy, attempt: LoginAttempt): { user: string | undefined, address: string | undefined } {
  const username = attempt?.username
  const address = attempt?.address
  return {
    user: typeof username === 'string' ? userKey(username) : undefined,
    address: typeof address === 'string' && address !== '' ? bounded(`a:${addressGroup(address, policy.ipv6PrefixLength)}`) : undefined
  }
}

/** The error message: names neither the user nor the address (it may be logged). @internal */
export const TOO_MANY = 'Too many failed login attempts for this user name or client address'
