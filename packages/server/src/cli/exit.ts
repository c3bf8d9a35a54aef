/** The `careline` command's exit codes (sysexits.h where one fits). */
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
