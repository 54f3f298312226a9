import { readFileSync } from 'node:fs'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// The fixtures made by Django itself (test/fixtures/django/make-fixtures.py), read by the tests without Django.

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/django/${name}`, import.meta.url))

/** Django's example database (made by `migrate`), to open read-only. */
export const DJANGO_SQLITE = fixture('db.sqlite3')

/**
 * A writable copy of Django's example database, `name` in a temporary folder of its own that goes at teardown.
 * Call it again with another `name` for a second copy in the same test (each in its own folder).
 */
export async function djangoSqliteCopy (t: { teardown (fn: () => Promise<void>): void }, name = 'db.sqlite3'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fastify-cred-django-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const path = join(dir, name)
  await copyFile(DJANGO_SQLITE, path)
  return path
}

export interface DjangoVector {
  readonly hasher: string | null
  readonly variant: string
  readonly password: string
  readonly encoded: string
  readonly wrong: string
  readonly madeBy: string
  readonly djangoAccepts?: boolean
  readonly djangoAcceptsWrong?: boolean
  readonly djangoAcceptsTruncated?: boolean
}

export interface DjangoFixtureUser {
  readonly id: number
  readonly username: string
  /** The plaintext, or null for an unusable password. */
  readonly password: string | null
  readonly hasher: string | null
  readonly encoded: string
  readonly email: string
  readonly first_name: string
  readonly last_name: string
  readonly is_staff: boolean
  readonly is_superuser: boolean
  readonly is_active: boolean
  readonly groups: readonly string[]
}

export const djangoVectors: readonly DjangoVector[] = (JSON.parse(readFileSync(fixture('vectors.json'), 'utf8')) as { vectors: DjangoVector[] }).vectors
export const djangoUsers: readonly DjangoFixtureUser[] = (JSON.parse(readFileSync(fixture('users.json'), 'utf8')) as { users: DjangoFixtureUser[] }).users

/** A fixture user by name. */
export function djangoUser (username: string): DjangoFixtureUser {
  const user = djangoUsers.find((u) => u.username === username)
  if (user === undefined) throw new Error(`no fixture user ${username}`)
  return user
}

/** The database Django's `migrate` made on PostgreSQL, as pg_dump wrote it (plain SQL, INSERTs). */
export const djangoPostgresDump = (): string => readFileSync(fixture('postgresql.sql'), 'utf8')
/** The database Django's `migrate` made on MariaDB, as mariadb-dump wrote it. */
export const djangoMariadbDump = (): string => readFileSync(fixture('mariadb.sql'), 'utf8')

/** Loads Django's database into a fresh `django` database of a private PostgreSQL (`url` is its maintenance db). */
export async function loadDjangoIntoPostgres (adminUrl: string, databaseUrl: string): Promise<void> {
  const { default: pg } = await import('pg')
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try { await admin.query('CREATE DATABASE django') } finally { await admin.end() }
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try { await client.query(djangoPostgresDump()) } finally { await client.end() }
}

/** Loads Django's database into a fresh `django` database (utf8mb4, MariaDB's default collation) of a private MariaDB. */
export async function loadDjangoIntoMariadb (serverUrl: string): Promise<void> {
  const mysql = await import('mysql2/promise')
  const connection = await mysql.createConnection({ uri: serverUrl, multipleStatements: true })
  try {
    await connection.query('CREATE DATABASE django CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci; USE django;')
    await connection.query(djangoMariadbDump())
  } finally { await connection.end() }
}
