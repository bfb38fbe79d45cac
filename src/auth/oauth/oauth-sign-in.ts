import { Inject, Injectable } from "@nestjs/common";
import { isDomainError } from "../../common/domain-error.ts";
import type { EventMetadata } from "../../event-store/event-store.port.ts";
import { AccountCommandHandler, type StartedSession } from "../account.handler.ts";
import { AccountsQueries } from "../accounts.queries.ts";
import type { ExternalIdentity } from "./oauth-clients.ts";
import { OAuthRejected } from "./oauth-rejected.ts";

/**
 * Which account a provider identity signs in to, in this order:
 * 1. the account this (provider, subject) is already linked to;
 * 2. the account whose email is the identity's verified email, which it is then linked to;
 * 3. a new account registered from the verified email (origin `oauth`).
 * An identity without a verified email can only use an existing link: an unverified address
 * proves nothing, so it neither links to nor creates an account with that address.
 */
@Injectable()
export class OAuthSignIn {
  constructor(
    @Inject(AccountCommandHandler) private readonly commands: AccountCommandHandler,
    @Inject(AccountsQueries) private readonly accounts: AccountsQueries,
  ) {}

  async signIn(identity: ExternalIdentity, metadata: EventMetadata): Promise<StartedSession> {
    const accountId = await this.accountFor(identity, metadata);
    return await this.commands.startSessionFor(accountId, metadata);
  }

  private async accountFor(identity: ExternalIdentity, metadata: EventMetadata): Promise<string> {
    const method = { provider: identity.provider, subject: identity.subject };
    const linked = await this.accounts.accountIdByLoginMethod(method.provider, method.subject);
    if (linked) return linked;
    const email = identity.verifiedEmail;
    if (!email) {
      throw new OAuthRejected(
        "oauth_email_unverified",
        "The provider did not confirm a verified email address for this login.",
      );
    }
    const existing = await this.accounts.accountIdByEmail(email);
    if (existing) {
      await this.commands.linkLoginMethod(existing, { ...method, email }, metadata);
      return existing;
    }
    try {
      return (await this.commands.registerWithProvider(email, method, metadata)).accountId;
    } catch (error) {
      // Someone registered the address between the lookup and the claim: link to them instead.
      if (!isDomainError(error, "email_taken")) throw error;
      const winner = await this.accounts.accountIdByEmail(email);
      if (!winner) throw error;
      await this.commands.linkLoginMethod(winner, { ...method, email }, metadata);
      return winner;
    }
  }
}
