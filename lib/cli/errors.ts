/**
 * Exit codes of the `fastify-cred` command (documented in docs/guides/cli.md and in `fastify-cred --help`).
 */
export const EXIT = Object.freeze({
  /** Done (a server stopped by SIGINT/SIGTERM also exits 0). */
  OK: 0,
  /** A failure while running: a file cannot be read or written, a store or an upstream cannot be reached, the port is taken. */
  FAILURE: 1,
  /** The command line is wrong: an unknown option, a missing argument, a bad `--auth` spec. */
  USAGE: 2,
  /** `passwd --verify`: wrong password or no such user; `passwd --delete`: no such user. */
  NOT_VERIFIED: 3,
  /** Interrupted at a password prompt (Ctrl-C). */
  INTERRUPTED: 130
})

/** An error the command reports as one line and exits with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: number
  constructor (message: string, exitCode: number = EXIT.FAILURE) {
    super(message)
    this.exitCode = exitCode
  }
}

/** A mistake on the command line (exit 2). */
export class UsageError extends CliError {
  constructor (message: string) {
    super(message, EXIT.USAGE)
  }
}
