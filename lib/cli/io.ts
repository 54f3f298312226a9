/** What the command reads and writes: the process's streams, or a test's. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream
  readonly stderr: NodeJS.WritableStream
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean, setRawMode?: (mode: boolean) => unknown }
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
}
