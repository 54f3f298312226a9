// How user stores decide that two typed names are the same user, as functions from a typed name to one key per
// user. The portal counts failed logins per key (a checker's `throttleKey`), so a store that matches names loosely
// cannot be guessed at N times over by spelling one name N ways; the checkers also use them where the store gives
// no stored spelling to answer as the avatar id.

/** RFC 4518 section 2.2: control and format characters (but the spaces below) map to nothing. */
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B\uFE00-\uFE0F\uFFFC]|(?![\t\n\v\f\r\u0085])[\p{Cc}\p{Cf}]/gu
/** RFC 4518 section 2.2: these controls and every separator (Zs, Zl, Zp) map to SPACE. */
const MAPPED_TO_SPACE = /[\t\n\v\f\r\u0085\p{Z}]/gu

/**
 * A user name as an LDAP directory compares it with `caseIgnoreMatch` (`uid`, `cn`, `sAMAccountName` in AD), after
 * RFC 4518's string preparation: characters mapped to nothing or to a space, case folded, NFKC, and insignificant
 * spaces dropped (leading and trailing ones, and runs of inner ones count as one). `" alice"`, `"alice "` and
 * `"ALICE"` are one user to slapd, and one key here.
 *
 * @example
 * ldapNameKey('  Alice  Liddell ') // 'alice liddell'
 */
export function ldapNameKey (username: string): string {
  return username.replace(MAPPED_TO_NOTHING, '').replace(MAPPED_TO_SPACE, ' ').toLowerCase().normalize('NFKC')
    .replace(/ +/g, ' ').trim()
}

/**
 * A user name as MySQL and MariaDB compare it under their default collations (`utf8mb4_general_ci` on MariaDB,
 * `utf8mb4_unicode_ci`, `utf8mb4_0900_ai_ci` on MySQL 8): case and accents folded (`Alíce`, `àlice`, `ålice` are
 * `alice`), and, in the PAD SPACE collations, trailing spaces ignored (`alice ` is `alice`). Leading spaces count.
 * It may fold a little more than a given collation does; the throttle then counts two users as one, never one as two.
 *
 * @example
 * mysqlNameKey('ÀLÏCE  ') // 'alice'
 */
export function mysqlNameKey (username: string): string {
  return username.toLowerCase().normalize('NFKD').replace(/\p{M}/gu, '').replace(/ +$/, '')
}

/** A name matched exactly (PostgreSQL's and SQLite's `=` on Django's schema): its own key. */
export function exactNameKey (username: string): string {
  return username
}
