import t from 'tap'
import { djangoServerSuite } from './helpers/django-server-suite.js'
import { loadDjangoIntoMariadb } from './helpers/django-fixtures.js'
import { mariadbProgram, startMariadb } from './helpers/mariadb.js'

// DjangoChecker on a real MariaDB started by this file, holding the database Django's `migrate` made there.
if (mariadbProgram.skip !== false) t.plan(0, mariadbProgram.skip)
else {
  const server = await startMariadb(t)
  await loadDjangoIntoMariadb(server.url(''))
  await djangoServerSuite(t, {
    server,
    databaseUrl: server.url('django'),
    caseInsensitive: true,
    sqlQuery: 'SELECT password, is_active AS active FROM auth_user WHERE username = ?'
  })
}
