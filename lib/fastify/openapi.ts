import type { FastifyInstance, RouteOptions } from 'fastify'
import { Anonymous } from '../cred/index.js'
import type { HttpAuthGuard } from '../http/guard.js'

/**
 * The plugin's schemes in `@fastify/swagger`'s document: `components.securitySchemes` (Swagger 2.0:
 * `securityDefinitions`) and a `security` requirement on each operation of a route the plugin protects.
 *
 * How, given that `@fastify/swagger` has no hook for another plugin: each protected route's schema gets a vendor
 * extension naming this plugin instance (`@fastify/swagger` copies `x-` keys of a route schema onto its operations,
 * after the app's `transform`, whatever path it gives the route), and `swagger()` is wrapped so that each document
 * it builds gets the schemes and, on each operation carrying the extension, the requirement in its place. A route
 * schema's own `security` is the app's word and is kept. The wrapper is installed when the server is ready, so
 * `@fastify/swagger` may be registered before or after this plugin, in the same scope or a parent one.
 */

/** The vendor extension marking an operation this plugin protects; removed from the document it builds. */
const EXTENSION = 'x-fastify-cred'
const ANONYMOUS_CREDENTIALS = Object.freeze(new Anonymous())
/** `@fastify/swagger`'s decorator, as it names it by default. */
const DECORATOR = 'swagger'
/** Each plugin instance marks its own routes: several may share one document. */
let instances = 0

type Json = Record<string, unknown>
type SwaggerFunction = (this: unknown, options?: { yaml?: boolean }) => unknown
interface SwaggerOwner { swagger: SwaggerFunction }

/** A security scheme as OpenAPI 3 declares it, and its Swagger 2.0 form where 2.0 has one. */
interface DeclaredScheme {
  readonly name: string
  readonly v3: Json | undefined
  readonly v31: Json | undefined
  readonly v2: Json | undefined
}

/** What one plugin instance declares, and the routes it marked. */
export class OpenApiDeclaration {
  readonly #id = `fastify-cred-${++instances}`
  readonly #schemes: readonly DeclaredScheme[]
  readonly #guard: HttpAuthGuard<unknown>
  /** The objects holding a `swagger` decorator that the plugin's routes see. */
  readonly #owners = new Set<SwaggerOwner>()
  readonly #done = new WeakSet<object>()

  constructor (guard: HttpAuthGuard<unknown>, authenticationRealm: string) {
    this.#guard = guard
    // In proxy mode the credentials go in Proxy-Authorization, which no OpenAPI security scheme describes.
    this.#schemes = guard.proxy ? [] : guard.schemes.map((scheme) => declaredScheme(scheme.name, authenticationRealm))
  }

  /**
   * Marks a route the plugin protects, when a `@fastify/swagger` document can list it (call from `onRoute`).
   * The route's schema is replaced by a copy: a schema object shared with a public route stays unmarked.
   */
  markRoute (route: RouteOptions, instance: FastifyInstance): void {
    if (this.#schemes.length === 0) return
    const owner = swaggerOwner(instance)
    if (owner === undefined) return
    this.#owners.add(owner)
    const schema = route.schema as Json | undefined
    if (schema?.security !== undefined) return
    route.schema = { ...schema, [EXTENSION]: this.#id } as RouteOptions['schema']
  }

  /** Wraps the `swagger` decorators the marked routes see (call once the server is ready). */
  install (instance: FastifyInstance): void {
    const own = swaggerOwner(instance)
    if (own !== undefined) this.#owners.add(own)
    for (const owner of this.#owners) {
      const original = owner.swagger
      const declare = (document: unknown): unknown => { this.#declare(document); return document }
      owner.swagger = function (this: unknown, options?: { yaml?: boolean }): unknown {
        // The YAML text is built apart from the object, with no hook to change it: the declared object is sent as
        // JSON, which is YAML too (YAML 1.2 is a superset of JSON).
        if (options?.yaml === true) return JSON.stringify(owner.swagger.call(this), null, 2) + '\n'
        return declare(original.call(this, options))
      }
    }
  }

  /** Adds the schemes and the requirements to a document `@fastify/swagger` built (its cached object: once). */
  #declare (document: unknown): void {
    if (typeof document !== 'object' || document === null || this.#done.has(document)) return
    this.#done.add(document)
    const doc = document as Json
    const version = typeof doc.openapi === 'string' ? doc.openapi : doc.swagger === '2.0' ? '2.0' : undefined
    if (version === undefined) return
    const v2 = version === '2.0'
    const v31 = !v2 && !version.startsWith('3.0')
    const declared = this.#schemes.flatMap((scheme) => {
      const object = v2 ? scheme.v2 : v31 ? scheme.v31 : scheme.v3
      return object === undefined ? [] : [[scheme.name, object] as const]
    })
    const requirement: Json[] = declared.map(([name]) => ({ [name]: [] }))
    // With anonymous access, a request without credentials is served too: the empty requirement says so.
    if (this.#guard.portal.checkerFor(ANONYMOUS_CREDENTIALS) !== undefined) requirement.push({})
    let marked = false
    for (const operation of operations(doc)) {
      if (operation[EXTENSION] !== this.#id) continue
      delete operation[EXTENSION]
      // An operation shared by several methods of one route is seen once per method.
      if (declared.length > 0 && operation.security === undefined) operation.security = requirement.map((r) => ({ ...r }))
      marked = true
    }
    if (!marked || declared.length === 0) return
    const holder = v2 ? doc : (doc.components ??= {}) as Json
    const key = v2 ? 'securityDefinitions' : 'securitySchemes'
    const schemes = (holder[key] ??= {}) as Json
    // A scheme the app declared under the same name is the app's word.
    for (const [name, object] of declared) schemes[name] ??= object
  }
}

/** Whether a route runs `credAuthenticate` itself (`on-demand` mode, or composed with `@fastify/auth` by hand). */
export function runsCredAuthenticate (route: RouteOptions, credAuthenticate: unknown): boolean {
  for (const hooks of [route.onRequest, route.preParsing, route.preValidation, route.preHandler] as unknown[]) {
    if (hooks === credAuthenticate || (Array.isArray(hooks) && hooks.includes(credAuthenticate))) return true
  }
  return false
}

/** The object in the instance's prototype chain that holds the `swagger` decorator (its own property). */
function swaggerOwner (instance: FastifyInstance): SwaggerOwner | undefined {
  for (let object: object | null = instance; object !== null; object = Object.getPrototypeOf(object) as object | null) {
    if (Object.hasOwn(object, DECORATOR)) {
      return typeof (object as Json)[DECORATOR] === 'function' ? object as SwaggerOwner : undefined
    }
  }
  return undefined
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace', 'query']

/** Every operation of the document's paths (OpenAPI 3.2's `additionalOperations` included). */
function * operations (doc: Json): Generator<Json> {
  const paths = doc.paths
  if (typeof paths !== 'object' || paths === null) return
  for (const item of Object.values(paths as Json)) {
    if (typeof item !== 'object' || item === null) continue
    const pathItem = item as Json
    const extra = pathItem.additionalOperations
    const candidates = [...METHODS.map((method) => pathItem[method]),
      ...(typeof extra === 'object' && extra !== null ? Object.values(extra) : [])]
    for (const operation of candidates) {
      if (typeof operation === 'object' && operation !== null) yield operation as Json
    }
  }
}

/**
 * A scheme's declaration. HTTP schemes are `type: http` with their IANA name; client certificates are
 * `mutualTLS`, which OpenAPI has from 3.1 on (3.0 and Swagger 2.0 cannot say it). Swagger 2.0 knows only Basic
 * among HTTP schemes; a bearer token is described there as an `apiKey` in `Authorization`.
 */
function declaredScheme (name: string, realm: string): DeclaredScheme {
  const space = `realm ${JSON.stringify(realm)}`
  switch (name) {
    case 'basic': {
      const description = `HTTP Basic (RFC 7617), ${space}`
      return { name: 'basicAuth', v3: { type: 'http', scheme: 'basic', description }, v31: { type: 'http', scheme: 'basic', description }, v2: { type: 'basic', description } }
    }
    case 'digest': {
      const description = `HTTP Digest (RFC 7616), ${space}`
      return { name: 'digestAuth', v3: { type: 'http', scheme: 'digest', description }, v31: { type: 'http', scheme: 'digest', description }, v2: undefined }
    }
    case 'bearer': {
      const description = `Bearer token (RFC 6750), ${space}`
      return {
        name: 'bearerAuth',
        v3: { type: 'http', scheme: 'bearer', description },
        v31: { type: 'http', scheme: 'bearer', description },
        v2: { type: 'apiKey', in: 'header', name: 'Authorization', description: `${description}: send "Bearer <token>"` }
      }
    }
    case 'client-cert': {
      const description = 'A TLS client certificate'
      return { name: 'mutualTLS', v3: undefined, v31: { type: 'mutualTLS', description }, v2: undefined }
    }
    default: {
      const description = `HTTP ${name} authentication, ${space}`
      return { name: `${name}Auth`, v3: { type: 'http', scheme: name, description }, v31: { type: 'http', scheme: name, description }, v2: undefined }
    }
  }
}
