import { ANONYMOUS, SimpleRealm, defineInterface } from '../lib/index.js'
import type { AvatarId } from '../lib/index.js'

/**
 * The seed's POP3 idea in HTTP form: after login a user *is* a mailbox. The realm hands out mailboxes; it does not
 * care how the user proved who they are (Basic, Digest, a POP3 `USER`/`PASS`).
 */
export interface Mailbox {
  readonly owner: string
  list (): ReadonlyArray<{ id: number, subject: string }>
  read (id: number): string | undefined
}
export const IMailbox = defineInterface<Mailbox>('IMailbox')

const messagesByOwner = new Map<string, Array<{ subject: string, body: string }>>([
  ['alice', [
    { subject: 'Welcome', body: 'Your avatar is a mailbox; the checker never knew.' },
    { subject: 'Tea party', body: 'Six o\'clock, as always.' }
  ]]
])

function openMailbox (avatarId: AvatarId): Mailbox {
  const owner = avatarId === ANONYMOUS ? 'anonymous' : avatarId
  const messages = messagesByOwner.get(owner) ?? []
  return {
    owner,
    list: () => messages.map((m, i) => ({ id: i + 1, subject: m.subject })),
    read: (id) => messages[id - 1]?.body
  }
}

/** Counts open sessions, so the demo can show that logout runs once per request. */
export const openSessions = { count: 0 }

export const mailboxRealm = new SimpleRealm()
  .serve(IMailbox, (avatarId) => { openSessions.count++; return openMailbox(avatarId) }, () => { openSessions.count-- })
