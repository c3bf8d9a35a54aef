/** The `careline` command's exit codes (sysexits.h where one fits), and the error that means a bad command line. */
export const EXIT = {
  ok: 0,
  /** The operation failed (its error code is printed). */
  failure: 1,
  /** Bad command line: unknown command or option, missing argument. */
  usage: 64,
  /** Internal failure: storage can no longer write (a supervisor restarts the server). */
  software: 70,
  /** Bad configuration: a profile or env var is invalid. Restarting does not help. */
  config: 78,
} as const;

/** A bad command line: printed with the command's usage line, exit 64. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly command: string;
  constructor(command: string, message: string) {
    super(message);
    this.command = command;
  }
}
