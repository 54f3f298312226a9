import { ANONYMOUS, LoginDenied, SimpleRealm, defineInterface } from '../../lib/index.js'
import type { AvatarId } from '../../lib/index.js'

/** One stored message: a unique id that never changes (POP3's UIDL) and the raw RFC 5322 text, lines ending in CRLF. */
export interface StoredMessage {
  readonly uid: string
  readonly raw: string
}

/**
 * The POP3 avatar: a maildrop held for one session (RFC 1939). Message numbers count from 1 and do not change during
 * the session; `delete` only marks, `reset` unmarks, and nothing leaves the store until `commit` (the UPDATE state,
 * entered only by QUIT).
 */
export interface Maildrop {
  readonly owner: string
  /** The messages of this session, numbered from 1; a deleted one is `undefined`. */
  message (number: number): StoredMessage | undefined
  /** How many messages the session started with (deleted ones included: their numbers stay taken). */
  readonly count: number
  delete (number: number): boolean
  reset (): void
  /** Removes the messages marked deleted from the store. Called at QUIT only. */
  commit (): void
}
export const IMaildrop = defineInterface<Maildrop>('IMaildrop')

/** A message as the HTTP API shows it. */
export interface MessageSummary {
  readonly uid: string
  readonly from: string
  readonly subject: string
  readonly size: number
}

/** The HTTP avatar: "a slightly different view of the same mailbox", read-only and with no lock. */
export interface MessageList {
  readonly owner: string
  list (): MessageSummary[]
  read (uid: string): string | undefined
}
export const IMessageList = defineInterface<MessageList>('IMessageList')

/**
 * RFC 2449's `[IN-USE]`: the realm refuses a second POP3 session on a maildrop that another session holds. A
 * `LoginDenied`: the password was right, the realm said no.
 */
export class MaildropInUse extends LoginDenied {
  constructor (owner: string) {
    super(`The maildrop of ${owner} is in use by another session`)
  }
}

/** The octet size of a message as POP3 counts it (RFC 1939: CRLF line ends, before byte-stuffing). */
export function octets (raw: string): number {
  return Buffer.byteLength(raw, 'utf8')
}

function header (raw: string, name: string): string {
  const head = raw.split('\r\n\r\n', 1)[0] ?? ''
  const match = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head)
  return match?.[1]?.trim() ?? ''
}

function compose (from: string, to: string, subject: string, body: string): string {
  return [`From: ${from}`, `To: ${to}`, `Subject: ${subject}`, '', ...body.split('\n')].join('\r\n') + '\r\n'
}

/**
 * Every user's messages, in memory, and the locks of the POP3 sessions. A user the store has never seen (one of a
 * Django database, an htpasswd file, LDAP) gets a mailbox with one welcome message on first use.
 */
export class MailStore {
  readonly #messages = new Map<string, StoredMessage[]>()
  readonly #locked = new Set<string>()
  #nextUid = 1

  constructor (seed: Record<string, ReadonlyArray<{ from: string, subject: string, body: string }>> = {}) {
    for (const [owner, messages] of Object.entries(seed)) {
      for (const { from, subject, body } of messages) this.deliver(owner, from, subject, body)
    }
  }

  /** Adds a message to `owner`'s mailbox. */
  deliver (owner: string, from: string, subject: string, body: string): void {
    const raw = compose(from, owner, subject, body)
    const messages = this.#messages.get(owner) ?? []
    messages.push({ uid: `m${this.#nextUid++}`, raw })
    this.#messages.set(owner, messages)
  }

  /** True while a POP3 session holds `owner`'s maildrop. */
  isLocked (owner: string): boolean {
    return this.#locked.has(owner)
  }

  /**
   * Opens `owner`'s maildrop for one POP3 session, locking it (RFC 1939 §8: "exclusive-access lock").
   *
   * @throws MaildropInUse when another session holds it.
   */
  open (owner: string): Maildrop {
    if (this.#locked.has(owner)) throw new MaildropInUse(owner)
    this.#locked.add(owner)
    const snapshot = [...this.#mailbox(owner)]
    const deleted = new Set<number>()
    const store = this
    return {
      owner,
      count: snapshot.length,
      message: (number) => deleted.has(number) ? undefined : snapshot[number - 1],
      delete (number) {
        if (snapshot[number - 1] === undefined || deleted.has(number)) return false
        deleted.add(number)
        return true
      },
      reset () { deleted.clear() },
      commit () {
        const gone = new Set([...deleted].map((number) => snapshot[number - 1]?.uid))
        store.#messages.set(owner, store.#mailbox(owner).filter((message) => !gone.has(message.uid)))
        deleted.clear()
      }
    }
  }

  /** Releases `owner`'s maildrop: the POP3 session's logout. Deletions not committed are forgotten. */
  release (owner: string): void {
    this.#locked.delete(owner)
  }

  /** The read-only view the HTTP API serves. */
  view (owner: string): MessageList {
    return {
      owner,
      list: () => this.#mailbox(owner).map(({ uid, raw }) => ({ uid, from: header(raw, 'From'), subject: header(raw, 'Subject'), size: octets(raw) })),
      read: (uid) => this.#mailbox(owner).find((message) => message.uid === uid)?.raw
    }
  }

  #mailbox (owner: string): StoredMessage[] {
    let messages = this.#messages.get(owner)
    if (messages === undefined) {
      messages = [{ uid: `m${this.#nextUid++}`, raw: compose('postmaster@example.org', owner, 'Welcome', `Hello ${owner}, this mailbox is yours.`) }]
      this.#messages.set(owner, messages)
    }
    return messages
  }
}

function ownerOf (avatarId: AvatarId): string {
  if (avatarId === ANONYMOUS) throw new LoginDenied('Anonymous users have no mailbox')
  return avatarId
}

/**
 * One realm for both protocols: POP3 asks for `IMaildrop` (locked for the session, released by logout), HTTP for
 * `IMessageList` (a view of the same messages, no lock). The realm does not know how anyone logged in.
 *
 * @example
 * const store = new MailStore({ alice: [{ from: 'hatter@example.org', subject: 'Tea', body: 'Six o\'clock.' }] })
 * const portal = new Portal(mailRealm(store), [new MemoryChecker({ alice: 'wonderland' })])
 */
export function mailRealm (store: MailStore): SimpleRealm {
  return new SimpleRealm()
    .serve(IMaildrop, (avatarId) => store.open(ownerOf(avatarId)), (maildrop) => { store.release(maildrop.owner) })
    .serve(IMessageList, (avatarId) => store.view(ownerOf(avatarId)))
}
