// Loaded into every test process before its test file (package.json: tap's node-arg). Every Fastify app any test
// builds, not only those of helpers/app.ts, has its log lines, its response bodies and the Authorization headers it
// receives recorded; at exit a test password or an Authorization value found in a log line or a body fails that
// test file.
import { subscribe } from 'node:diagnostics_channel'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { checkAtExit, recordLog, watch } from './hygiene.js'

interface LogStream { write: (chunk: unknown, ...rest: unknown[]) => unknown }
const tapped = new WeakSet<object>()

/** Records every line an app's logger writes, whatever stream it writes to (child loggers share it). */
function tapLog (app: FastifyInstance): void {
  const stream = (app.log as unknown as Record<symbol, LogStream | undefined>)[pino.symbols.streamSym]
  if (stream === undefined || typeof stream.write !== 'function' || tapped.has(stream)) return
  tapped.add(stream)
  const write = stream.write.bind(stream)
  stream.write = (chunk: unknown, ...rest: unknown[]) => {
    recordLog(String(chunk))
    return write(chunk, ...rest)
  }
}

// Fastify announces each new instance on this channel (fastify.js, `fastify.initialization`).
subscribe('fastify.initialization', (message) => {
  const app = (message as { fastify: FastifyInstance }).fastify
  watch(app)
  tapLog(app)
})
checkAtExit()
