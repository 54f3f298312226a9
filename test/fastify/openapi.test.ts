// The plugin's schemes in @fastify/swagger's document: securitySchemes, a `security` requirement on exactly the
// routes it protects (checked against what the server answers), whichever order the plugins are registered in, and
// a document the OpenAPI validator accepts (2.0, 3.0, 3.1).
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import { Validator } from '@seriousme/openapi-schema-validator'
import t from 'tap'
import type { Test as Tap } from 'tap'
import cred, { SimpleRealm } from '../../lib/index.js'
import type { CredPluginOptions } from '../../lib/index.js'
import { AnonymousChecker, ClientCertChecker, JwtChecker, MemoryChecker } from '../../lib/checkers/index.js'
import { ClientCertScheme } from '../../lib/http/index.js'
import { IUser } from '../helpers/app.js'
import { checkAtExit, watch } from '../helpers/hygiene.js'

type Json = Record<string, any>

const realm = new SimpleRealm().serve(IUser, (id) => ({ name: String(id) }))
const users = new MemoryChecker({ alice: 'wonderland' })

interface Setup {
  /** `@fastify/swagger`'s options; default OpenAPI 3.0 (swagger's default version). */
  swagger?: Record<string, unknown>
  cred?: Partial<CredPluginOptions>
  /** Register the plugin before @fastify/swagger instead of after it. */
  credFirst?: boolean
  routes?: (app: FastifyInstance) => void
}

async function build (setup: Setup = {}): Promise<FastifyInstance> {
  const app = Fastify()
  watch(app)
  checkAtExit()
  const options = { realm, checkers: [users], interfaces: [IUser], authenticationRealm: 'api', schemes: ['basic', 'digest'], ...setup.cred } as CredPluginOptions
  const registerSwagger = async (): Promise<void> => {
    await app.register(swagger, setup.swagger ?? { openapi: { info: { title: 'test', version: '1.0.0' } } })
  }
  if (setup.credFirst === true) { await app.register(cred, options); await registerSwagger() } else { await registerSwagger(); await app.register(cred, options) }
  if (setup.routes !== undefined) {
    setup.routes(app)
  } else {
    const shared = { response: { 200: { type: 'object', additionalProperties: true } } }
    app.get('/whoami', { schema: shared }, async (request) => ({ avatarId: request.avatarId }))
    app.get('/public', { schema: shared, config: { cred: false } }, async () => ({ public: true }))
    app.post('/items/:id', { schema: { params: { type: 'object', properties: { id: { type: 'string' } } }, body: { type: 'object' } } }, async () => ({ ok: true }))
  }
  await app.ready()
  t.teardown(async () => { await app.close() })
  return app
}

async function validate (document: unknown): Promise<{ valid: boolean, errors: unknown, version: string }> {
  const validator = new Validator()
  const result = await validator.validate(structuredClone(document) as Parameters<Validator['validate']>[0])
  return { valid: result.valid, errors: result.errors, version: validator.version }
}

/** Method and path of each operation of the document, with its `security`. */
function operations (document: Json): Array<{ method: string, path: string, security: unknown }> {
  const found = []
  for (const [path, item] of Object.entries(document.paths as Json)) {
    for (const [method, operation] of Object.entries(item as Json)) found.push({ method, path, security: (operation as Json).security })
  }
  return found
}

/** Each operation is marked exactly when the server refuses it without credentials. */
async function checkMarksMatchProtection (t: Tap, app: FastifyInstance, document: Json, requirement: unknown): Promise<void> {
  for (const { method, path, security } of operations(document)) {
    const url = path.replace(/\{[^}]+\}/g, '1')
    const response = await app.inject({ method: method.toUpperCase() as 'GET', url, ...(method === 'post' ? { payload: {} } : {}) })
    if (response.statusCode === 401) t.same(security, requirement, `${method} ${path}: protected (401), and marked so`)
    else t.equal(security, undefined, `${method} ${path}: public (${response.statusCode}), and no security`)
  }
}

t.test('OpenAPI 3.0: Basic and Digest declared, protected routes marked, public ones not; the document is valid', async (t) => {
  const app = await build()
  const document = app.swagger() as Json
  t.equal(document.openapi, '3.0.3')
  t.same(document.components.securitySchemes, {
    basicAuth: { type: 'http', scheme: 'basic', description: 'HTTP Basic (RFC 7617), realm "api"' },
    digestAuth: { type: 'http', scheme: 'digest', description: 'HTTP Digest (RFC 7616), realm "api"' }
  })
  const requirement = [{ basicAuth: [] }, { digestAuth: [] }]
  t.same(document.paths['/whoami'].get.security, requirement)
  t.same(document.paths['/items/{id}'].post.security, requirement)
  t.equal(document.paths['/public'].get.security, undefined, 'the public route sharing the schema object stays unmarked')
  await checkMarksMatchProtection(t, app, document, requirement)
  t.notMatch(JSON.stringify(document), /x-fastify-cred/, 'the marks are gone from the document')
  t.equal(app.swagger(), document, 'swagger() still answers its cached document')
  const result = await validate(document)
  t.ok(result.valid, `valid OpenAPI ${result.version}: ${JSON.stringify(result.errors)}`)
  t.equal(result.version, '3.0')
  const yaml = app.swagger({ yaml: true }) as string
  t.same(JSON.parse(yaml), document, 'the YAML form (JSON text, which YAML 1.2 reads) says the same')
})

t.test('OpenAPI 3.1 with client certificates: mutualTLS, and bearer; 3.0 cannot say mutualTLS and leaves it out', async (t) => {
  const schemes: CredPluginOptions['schemes'] = ['basic', 'bearer', new ClientCertScheme()]
  const checkers = [users, new JwtChecker({ secret: 'x'.repeat(32) }), new ClientCertChecker({ by: 'cn' })]
  const app31 = await build({ swagger: { openapi: { openapi: '3.1.0', info: { title: 'test', version: '1.0.0' } } }, cred: { schemes, checkers } })
  const document = app31.swagger() as Json
  t.equal(document.openapi, '3.1.0')
  t.same(Object.keys(document.components.securitySchemes), ['basicAuth', 'bearerAuth', 'mutualTLS'])
  t.same(document.components.securitySchemes.mutualTLS, { type: 'mutualTLS', description: 'A TLS client certificate' })
  t.same(document.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', description: 'Bearer token (RFC 6750), realm "api"' })
  const requirement = [{ basicAuth: [] }, { bearerAuth: [] }, { mutualTLS: [] }]
  await checkMarksMatchProtection(t, app31, document, requirement)
  const result = await validate(document)
  t.ok(result.valid, `valid OpenAPI ${result.version}: ${JSON.stringify(result.errors)}`)
  t.equal(result.version, '3.1')

  const app30 = await build({ cred: { schemes, checkers } })
  const document30 = app30.swagger() as Json
  t.same(Object.keys(document30.components.securitySchemes), ['basicAuth', 'bearerAuth'])
  t.same(document30.paths['/whoami'].get.security, [{ basicAuth: [] }, { bearerAuth: [] }])
  t.ok((await validate(document30)).valid, 'valid OpenAPI 3.0')
})

t.test('the plugin registered before @fastify/swagger: the same document', async (t) => {
  const after = (await build()).swagger() as Json
  const before = (await build({ credFirst: true })).swagger() as Json
  t.same(before, after)
  t.ok(before.paths['/whoami'].get.security, 'marked')
})

t.test('on-demand marks exactly the routes it protects: config.cred, and credAuthenticate as a hook', async (t) => {
  const app = await build({
    cred: { mode: 'on-demand' },
    routes: (app) => {
      const handler = async (): Promise<object> => ({ ok: true })
      app.get('/config', { config: { cred: true } }, handler)
      app.get('/on-request', { onRequest: app.credAuthenticate }, handler)
      app.get('/pre-handler', { preHandler: [app.credAuthenticate] }, handler)
      app.get('/open', handler)
    }
  })
  const document = app.swagger() as Json
  const requirement = [{ basicAuth: [] }, { digestAuth: [] }]
  t.same(operations(document).filter((o) => o.security !== undefined).map((o) => o.path).sort(), ['/config', '/on-request', '/pre-handler'])
  await checkMarksMatchProtection(t, app, document, requirement)
  t.ok((await validate(document)).valid)
})

t.test("a route's own security is the app's; anonymous access adds the empty requirement", async (t) => {
  const app = await build({
    swagger: { openapi: { info: { title: 'test', version: '1.0.0' }, components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } } } },
    cred: { checkers: [users, new AnonymousChecker()] },
    routes: (app) => {
      app.get('/own', { schema: { security: [{ apiKey: [] }] } as object }, async () => ({}))
      app.get('/maybe', async (request) => ({ avatarId: String(request.avatarId) }))
    }
  })
  const document = app.swagger() as Json
  t.same(document.paths['/own'].get.security, [{ apiKey: [] }])
  t.same(document.paths['/maybe'].get.security, [{ basicAuth: [] }, { digestAuth: [] }, {}], 'credentials optional')
  t.same(Object.keys(document.components.securitySchemes), ['apiKey', 'basicAuth', 'digestAuth'], "the app's scheme is kept")
  t.equal((await app.inject('/maybe')).statusCode, 200, 'served without credentials')
  t.ok((await validate(document)).valid)
})

t.test('Swagger 2.0: Basic in securityDefinitions (Digest cannot be said there)', async (t) => {
  const app = await build({ swagger: { swagger: { info: { title: 'test', version: '1.0.0' } } } })
  const document = app.swagger() as Json
  t.equal(document.swagger, '2.0')
  t.same(document.securityDefinitions, { basicAuth: { type: 'basic', description: 'HTTP Basic (RFC 7617), realm "api"' } })
  await checkMarksMatchProtection(t, app, document, [{ basicAuth: [] }])
  const result = await validate(document)
  t.ok(result.valid, `valid Swagger ${result.version}: ${JSON.stringify(result.errors)}`)
})

t.test('openapi: false and proxy mode leave the document and the route schemas alone', async (t) => {
  for (const options of [{ openapi: false }, { proxy: true }] as Array<Partial<CredPluginOptions>>) {
    let schema: unknown = 'not seen'
    const app = await build({
      cred: options,
      routes: (app) => {
        app.addHook('onRoute', (route) => { if (route.url === '/whoami') schema = route.schema })
        app.get('/whoami', async () => ({}))
      }
    })
    const document = app.swagger() as Json
    t.equal(schema, undefined, `${JSON.stringify(options)}: the route schema is not touched`)
    t.equal(document.components.securitySchemes, undefined, `${JSON.stringify(options)}: no schemes`)
    t.equal(document.paths['/whoami'].get.security, undefined)
    t.ok([401, 407].includes((await app.inject('/whoami')).statusCode), 'the route is still protected')
  }
})

t.test('two plugin instances in two scopes share one document, each marking its own routes', async (t) => {
  const app = Fastify()
  await app.register(swagger, { openapi: { info: { title: 'test', version: '1.0.0' } } })
  await app.register(async (scope) => {
    await scope.register(cred, { realm, checkers: [users], interfaces: [IUser], schemes: ['basic'] })
    scope.get('/a', async () => ({}))
  })
  await app.register(async (scope) => {
    await scope.register(cred, { realm, checkers: [new JwtChecker({ secret: 'y'.repeat(32) })], interfaces: [IUser], schemes: ['bearer'] })
    scope.get('/b', async () => ({}))
  })
  await app.ready()
  t.teardown(async () => { await app.close() })
  const document = app.swagger() as Json
  t.same(document.paths['/a'].get.security, [{ basicAuth: [] }])
  t.same(document.paths['/b'].get.security, [{ bearerAuth: [] }])
  t.same(Object.keys(document.components.securitySchemes).sort(), ['basicAuth', 'bearerAuth'])
  t.ok((await validate(document)).valid)
})

t.test('openapi must be a boolean', async (t) => {
  const app = Fastify()
  await t.rejects(async () => { await app.register(cred, { realm, checkers: [users], interfaces: [IUser], openapi: 'yes' as unknown as boolean }) }, { code: 'ERR_CRED_INVALID_OPTION', message: /`openapi` must be true or false/ })
})
