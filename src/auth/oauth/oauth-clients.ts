import { Inject, Injectable } from "@nestjs/common";
import type * as OpenIdClient from "openid-client";
import { logger } from "../../common/json-logger.ts";
import { APP_CONFIG, type AppConfig } from "../../config/config.ts";
import { fetchGitHubIdentity } from "./github-identity.ts";
import { OAuthRejected } from "./oauth-rejected.ts";
import {
  configuredProviders,
  isLoopbackHttp,
  type OAuthProviderId,
  type OAuthProviderSettings,
} from "./oauth-providers.ts";
import type { OAuthPending } from "./oauth-state.ts";

/** Who the provider says signed in. */
export interface ExternalIdentity {
  provider: OAuthProviderId;
  /** The provider's stable user id: `sub`, or GitHub's numeric id. */
  subject: string;
  /** Set only when the provider vouches the address is the user's (verified). */
  verifiedEmail?: string;
}

/** Seconds any one call to a provider may take (discovery, token exchange, user info). */
const PROVIDER_TIMEOUT_SECONDS = 10;

let openIdClient: Promise<typeof OpenIdClient> | undefined;

/** openid-client (with jose and oauth4webapi) loads at the first sign-in, not at every start. */
function loadOpenIdClient(): Promise<typeof OpenIdClient> {
  return openIdClient ??= import("openid-client");
}

/**
 * openid-client configurations per provider and the two halves of the authorization code flow
 * (with PKCE, state and, for OpenID Connect, a nonce). Discovery runs on first use and is cached;
 * a failed discovery is forgotten so the next sign-in tries again.
 */
@Injectable()
export class OAuthClients {
  private readonly providers: Map<OAuthProviderId, OAuthProviderSettings>;
  private readonly configurations = new Map<OAuthProviderId, Promise<OpenIdClient.Configuration>>();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.providers = new Map(
      configuredProviders(config).map((provider) => [provider.id, provider]),
    );
  }

  list(): Array<{ id: OAuthProviderId; name: string }> {
    return [...this.providers.values()].map(({ id, name }) => ({ id, name }));
  }

  /** The provider's settings; refuses a provider that is unknown or not configured. */
  settings(id: string): OAuthProviderSettings {
    const provider = this.providers.get(id as OAuthProviderId);
    if (!provider) {
      throw new OAuthRejected(
        "oauth_provider_not_configured",
        "This sign-in provider is not configured.",
        "provider",
      );
    }
    return provider;
  }

  /** Where to send the browser, and what the callback must remember to finish. */
  async begin(
    id: string,
    redirectUri: string,
  ): Promise<{ url: URL; pending: Omit<OAuthPending, "expiresAt"> }> {
    const provider = this.settings(id);
    const configuration = await this.configuration(provider);
    const client = await loadOpenIdClient();
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = provider.protocol === "oidc" ? client.randomNonce() : undefined;
    const parameters: Record<string, string> = {
      redirect_uri: redirectUri,
      scope: provider.scope,
      state,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: "S256",
      ...(nonce ? { nonce } : {}),
    };
    return {
      url: client.buildAuthorizationUrl(configuration, parameters),
      pending: { provider: provider.id, state, codeVerifier, nonce, redirectUri },
    };
  }

  /**
   * Exchanges the code (checking state, PKCE, and for OIDC the ID token's issuer, audience,
   * signature and nonce) and reads who signed in.
   */
  async finish(pending: OAuthPending, callbackUrl: URL): Promise<ExternalIdentity> {
    const provider = this.settings(pending.provider);
    const configuration = await this.configuration(provider);
    const client = await loadOpenIdClient();
    let tokens: Awaited<ReturnType<typeof OpenIdClient.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: provider.protocol === "oidc",
      });
    } catch (error) {
      // The user said no at the provider (or closed the consent): not a fault worth a warning.
      if (error instanceof client.AuthorizationResponseError && error.error === "access_denied") {
        throw new OAuthRejected("oauth_denied", "The sign-in was cancelled at the provider.");
      }
      throw providerFailure(provider, "token exchange", error);
    }
    try {
      if (provider.protocol === "oauth2-github") {
        return await fetchGitHubIdentity(
          provider.apiUrl!,
          tokens.access_token,
          PROVIDER_TIMEOUT_SECONDS * 1000,
        );
      }
      return await this.oidcIdentity(provider, configuration, tokens);
    } catch (error) {
      if (error instanceof OAuthRejected) throw error;
      throw providerFailure(provider, "user info", error);
    }
  }

  private async oidcIdentity(
    provider: OAuthProviderSettings,
    configuration: OpenIdClient.Configuration,
    tokens: OpenIdClient.TokenEndpointResponse & OpenIdClient.TokenEndpointResponseHelpers,
  ): Promise<ExternalIdentity> {
    const client = await loadOpenIdClient();
    const claims = tokens.claims();
    if (!claims) throw new Error("no ID token");
    // Many issuers put email claims only in UserInfo; its `sub` must match the ID token's.
    const userInfo = configuration.serverMetadata().userinfo_endpoint
      ? await client.fetchUserInfo(configuration, tokens.access_token, claims.sub)
      : undefined;
    // Address and its verified flag come from the same document, never one from each.
    const source = typeof userInfo?.email === "string" ? userInfo : claims;
    const email = typeof source.email === "string" ? source.email : undefined;
    const verified = source.email_verified === true || source.email_verified === "true";
    return {
      provider: provider.id,
      subject: claims.sub,
      verifiedEmail: email && verified ? email : undefined,
    };
  }

  private configuration(provider: OAuthProviderSettings): Promise<OpenIdClient.Configuration> {
    let configuration = this.configurations.get(provider.id);
    if (!configuration) {
      configuration = this.createConfiguration(provider);
      this.configurations.set(provider.id, configuration);
      configuration.catch(() => this.configurations.delete(provider.id));
    }
    return configuration.catch((error) => {
      logger.write("warn", "oauth provider discovery failed", {
        provider: provider.id,
        error: error instanceof Error ? error.message : String(error),
      });
      throw new OAuthRejected(
        "oauth_provider_unavailable",
        "The sign-in provider cannot be reached; try again later.",
      );
    });
  }

  private async createConfiguration(
    provider: OAuthProviderSettings,
  ): Promise<OpenIdClient.Configuration> {
    const client = await loadOpenIdClient();
    const insecure = isLoopbackHttp(provider.issuer);
    if (provider.protocol === "oauth2-github") {
      // GitHub publishes no discovery document: its documented web flow endpoints.
      const origin = provider.issuer.replace(/\/+$/, "");
      const configuration = new client.Configuration(
        {
          issuer: origin,
          authorization_endpoint: `${origin}/login/oauth/authorize`,
          token_endpoint: `${origin}/login/oauth/access_token`,
        },
        provider.clientId,
        provider.clientSecret,
      );
      configuration.timeout = PROVIDER_TIMEOUT_SECONDS;
      if (insecure) client.allowInsecureRequests(configuration);
      return configuration;
    }
    return await client.discovery(
      new URL(provider.issuer),
      provider.clientId,
      provider.clientSecret,
      undefined,
      {
        timeout: PROVIDER_TIMEOUT_SECONDS,
        execute: insecure ? [client.allowInsecureRequests] : [],
      },
    );
  }
}

/** Logged with the reason for the operator; the user only learns that the provider failed. */
function providerFailure(
  provider: OAuthProviderSettings,
  step: string,
  error: unknown,
): OAuthRejected {
  logger.write("warn", `oauth ${step} failed`, {
    provider: provider.id,
    error: error instanceof Error ? error.message : String(error),
  });
  return new OAuthRejected("oauth_failed", "The sign-in provider did not confirm the sign-in.");
}
