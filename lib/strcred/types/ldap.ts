import { readFile } from 'node:fs/promises'
import { InvalidOption } from '../../cred/index.js'
import type { CheckerFactory } from '../factory.js'
import { count, defineOptions, duration, secret, text, yesNo } from './options.js'
import { PASSWORD_INTERFACES, given } from './shared.js'

const { options, values } = defineOptions({
  'base-dn': text({ help: 'search users under this DN, then bind as the entry found', required: 'unless user-dn is given', example: 'ou=people,dc=example,dc=com' }),
  filter: text({ help: 'with base-dn: the search filter, {username} escaped into it', default: '(uid={username})', example: '(sAMAccountName={username})' }),
  scope: text({ help: 'with base-dn: how deep to search', values: 'base, one or sub', default: 'sub' }),
  'bind-dn': text({ help: 'with base-dn: the entry to search as (with bind-password)', default: 'an anonymous search', example: 'cn=reader,dc=example,dc=com' }),
  'bind-password': secret({ help: 'the password of bind-dn' }),
  'user-dn': text({ help: 'instead of base-dn: bind directly as this DN, {username} replaced', required: 'unless base-dn is given', example: 'uid={username},ou=people,dc=example,dc=com' }),
  'avatar-id-attribute': text({ help: 'answer this attribute of the user\'s entry as the avatar id, instead of the name as typed', example: 'uid' }),
  ca: text({ help: 'a PEM file of the CA that signed the server\'s certificate (ldaps:// or starttls)', example: '/etc/ssl/ldap-ca.pem' }),
  starttls: yesNo({ help: 'upgrade an ldap:// connection with StartTLS', default: 'no' }),
  timeout: duration({ help: 'how long to wait for the server', default: '5s' }),
  'pool-size': count({ help: 'connections for users\' binds', default: '4' })
})

/** `ldap:<ldap[s]://host[:port]>;base-dn=…`: users of an LDAP directory, verified by binding as them. */
export const ldapFactory: CheckerFactory = {
  authType: 'ldap',
  argStringFormat: '<ldap[s]://host[:port]>;base-dn=… (or ;user-dn=…)',
  authHelp: `
Users of an LDAP directory (OpenLDAP, Active Directory), checked by binding as the user: either found first under
base-dn (search, then bind), or bound directly as user-dn. Empty passwords are refused (LDAP servers take them as
an anonymous bind).
  ldap:ldaps://ldap.example.com;base-dn=ou=people,dc=example,dc=com;ca=/etc/ssl/ldap-ca.pem
  ldap:ldap://127.0.0.1:389;base-dn=dc=example,dc=com;bind-dn=cn=reader,dc=example,dc=com;bind-password-env=LDAP_PW
  ldap:ldap://dc.corp.example.com;starttls=yes;user-dn={username}@corp.example.com`,
  credentialInterfaces: PASSWORD_INTERFACES,
  options,
  async generateChecker (_argString, args) {
    const option = values(args)
    const url = args.argument
    if (!/^ldaps?:\/\/[^/;?#\s]+\/?$/i.test(url)) args.fail('the argument is an ldap:// or ldaps:// URL with no path')
    const baseDn = option['base-dn']
    const userDn = option['user-dn']
    if ((baseDn === undefined) === (userDn === undefined)) args.fail('give base-dn (search, then bind) or user-dn (direct bind)')
    const searchOnly = (['filter', 'scope', 'bind-dn', 'bind-password'] as const).filter((o) => option[o] !== undefined)
    if (userDn !== undefined && searchOnly.length > 0) args.fail(`${searchOnly.join(', ')} go with base-dn, not with user-dn`)
    if (userDn !== undefined && !userDn.includes('{username}')) args.fail('user-dn must contain {username}')
    const scope = option.scope
    if (scope !== undefined && !['base', 'one', 'sub'].includes(scope)) args.fail('scope is base, one or sub')
    if ((option['bind-dn'] !== undefined) !== (option['bind-password'] !== undefined)) args.fail('bind-dn and bind-password go together')
    const caFile = option.ca
    let ca: string | undefined
    if (caFile !== undefined) {
      try { ca = await readFile(caFile, 'utf8') } catch (err) {
        throw new InvalidOption(`Auth type "ldap": cannot read the CA file ${JSON.stringify(caFile)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err })
      }
    }
    const options = {
      url,
      ...given({
        startTLS: option.starttls,
        tls: ca === undefined ? undefined : { ca },
        userDn,
        search: baseDn === undefined
          ? undefined
          : given({
            base: baseDn,
            filter: option.filter ?? '(uid={username})',
            scope,
            bindDn: option['bind-dn'],
            bindPassword: option['bind-password']
          }) as { base: string, filter: string },
        avatarIdAttribute: option['avatar-id-attribute'],
        timeout: option.timeout,
        poolSize: option['pool-size']
      })
    }
    const { LdapChecker } = await import('../../checkers/ldap.js')
    return new LdapChecker(options)
  }
}
