import { randomBytes, randomInt } from 'node:crypto'

/** The alphabet of crypt(3) salts and hashes. */
export const CRYPT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/** A random secret for decoys: no one knows it, so a decoy never verifies. */
export function randomSecret (): string {
  return randomBytes(18).toString('base64')
}

/** `length` random characters of the crypt(3) alphabet. */
export function cryptSalt (length: number): string {
  let salt = ''
  for (let i = 0; i < length; i++) salt += CRYPT_ALPHABET[randomInt(CRYPT_ALPHABET.length)]
  return salt
}

/**
 * The UTF-8 bytes of `text` as a string of code units 0-255. The apr1 and DES libraries read a password with
 * `charCodeAt`, one unit per byte; given `'ż'` they would see one unit of 380 instead of the two bytes Apache's
 * tools hash.
 */
export function utf8Units (text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1')
}

/** The URL of a package's entry point, for the worker threads that import it. */
export function moduleUrl (specifier: string): string {
  return import.meta.resolve(specifier)
}
