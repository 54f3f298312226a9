#!/usr/bin/env node
// The `fastify-cred` command (package.json "bin"). Everything is in run.ts, which tests drive too.
import { runCli } from './run.js'

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd()
})
