import t from 'tap'
import { djangoServerSuite } from '../helpers/django-server-suite.js'
import { djangoContract } from './checker-contract.js'
import { loadDjangoIntoPostgres } from '../helpers/django-fixtures.js'
import { postgresProgram, startPostgres } from '../helpers/postgres.js'

// DjangoChecker on a real PostgreSQL 15 started by this file, holding the database Django's `migrate` made there.
if (postgresProgram.skip !== false) t.plan(0, postgresProgram.skip)
else {
  const server = await startPostgres(t)
  await loadDjangoIntoPostgres(server.url('postgres'), server.url('django'))
  await djangoServerSuite(t, {
    server,
    databaseUrl: server.url('django'),
    caseInsensitive: false,
    sqlQuery: 'SELECT password, is_active AS active FROM auth_user WHERE username = $1'
  })
  await djangoContract(t, { database: server.url('django'), driver: 'pg', outage: server, sqlQuery: 'SELECT password, is_active AS active FROM auth_user WHERE username = $1' })
}
