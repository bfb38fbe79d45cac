import { DomainError } from "../../common/domain-error.ts";

export type OAuthRejectionCode =
  | "oauth_provider_not_configured"
  | "oauth_provider_unavailable"
  | "oauth_state_invalid"
  | "oauth_denied"
  | "oauth_failed"
  | "oauth_email_unverified";

/**
 * A sign-in through a provider that cannot go on. The callback turns the code into
 * `/login?error=<code>` for the console; `/start` of an unknown provider goes through the
 * exception filter like any domain refusal.
 */
export class OAuthRejected extends DomainError<OAuthRejectionCode> {}
