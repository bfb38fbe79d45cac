/**
 * What the CLI's exit status means, so scripts and cron jobs can tell a finding from a typo
 * from an outage without parsing output.
 */
export const EXIT = {
  /** The command ran and found nothing wrong. */
  OK: 0,
  /** The command ran and found a problem (a broken invariant, a drifted read model, …). */
  FINDING: 1,
  /** Bad arguments or an unknown command. */
  USAGE: 2,
  /** The store, the read-model database or the configuration could not be used. */
  UNAVAILABLE: 3,
} as const;

export type ExitCode = typeof EXIT[keyof typeof EXIT];

/** Thrown by a command to stop with a message on stderr and a chosen exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: ExitCode) {
    super(message);
  }
}

/** Bad arguments: exit 2 with the usage hint. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.USAGE);
  }
}
