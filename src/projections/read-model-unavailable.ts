import { DomainError } from "../common/domain-error.ts";

export type ReadModelUnavailableCode = "projection_lagging" | "projection_failed" | "shutting_down";

/**
 * A read model cannot answer now: it is behind, its projection failed, or the service is
 * stopping. The exception filter's DOMAIN_ERRORS table gives each code its status (503).
 */
export class ReadModelUnavailable extends DomainError<ReadModelUnavailableCode> {
  constructor(code: ReadModelUnavailableCode, message: string, retryAfterSeconds?: number) {
    super(code, message, undefined, retryAfterSeconds);
  }

  static lagging(): ReadModelUnavailable {
    return new ReadModelUnavailable(
      "projection_lagging",
      "Read model is behind; try again shortly.",
      1,
    );
  }

  static failed(projectionName: string): ReadModelUnavailable {
    return new ReadModelUnavailable(
      "projection_failed",
      `Read model '${projectionName}' is unavailable.`,
    );
  }

  static shuttingDown(): ReadModelUnavailable {
    return new ReadModelUnavailable("shutting_down", "The service is shutting down.");
  }
}
