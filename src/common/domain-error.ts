/**
 * What domain code throws when a rule refuses a command: a stable code and a message for people.
 * Domain and background code never speak HTTP; the exception filter
 * (common/openai-exception.filter.ts) is the one place that turns a code into a status and the
 * OpenAI envelope. Modules subclass it (`LedgerRejected`, `DeploymentRejected`, `JobRejected`,
 * `AuthRuleViolation`, `ReadModelUnavailable`…) so `instanceof` still says whose rule it was.
 */
export class DomainError<Code extends string = string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    /** The request field the refusal is about, when there is one. */
    readonly param?: string,
    /** When retrying later can succeed: how long to wait. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export function isDomainError(error: unknown, code?: string): error is DomainError {
  return error instanceof DomainError && (code === undefined || error.code === code);
}
