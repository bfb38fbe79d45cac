import type { AppConfig } from "../../config/config.ts";

/**
 * The sign-in providers an operator can configure. GitHub is plain OAuth 2 (no ID token: the
 * identity comes from its REST API); Google and the operator's issuer are OpenID Connect, set up
 * by discovery.
 */
export const OAUTH_PROVIDER_IDS = ["github", "google", "oidc"] as const;
export type OAuthProviderId = typeof OAUTH_PROVIDER_IDS[number];

export interface OAuthProviderSettings {
  id: OAuthProviderId;
  /** What the login page's button says. */
  name: string;
  protocol: "oauth2-github" | "oidc";
  /** OIDC: the issuer to discover. GitHub: its web origin (authorize and token endpoints). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  /** GitHub only: its REST API origin, for `GET /user` and `GET /user/emails`. */
  apiUrl?: string;
}

/** The configured providers, in the order the login page shows them. */
export function configuredProviders(config: AppConfig): OAuthProviderSettings[] {
  const providers: OAuthProviderSettings[] = [];
  if (config.githubClientId && config.githubClientSecret) {
    providers.push({
      id: "github",
      name: "GitHub",
      protocol: "oauth2-github",
      issuer: config.githubOauthUrl,
      clientId: config.githubClientId,
      clientSecret: config.githubClientSecret,
      // read:user for the profile (its numeric id), user:email for the verified addresses.
      scope: "read:user user:email",
      apiUrl: config.githubApiUrl,
    });
  }
  if (config.googleClientId && config.googleClientSecret) {
    providers.push({
      id: "google",
      name: "Google",
      protocol: "oidc",
      issuer: config.googleIssuer,
      clientId: config.googleClientId,
      clientSecret: config.googleClientSecret,
      scope: "openid email profile",
    });
  }
  if (config.oidcIssuer && config.oidcClientId && config.oidcClientSecret) {
    providers.push({
      id: "oidc",
      name: config.oidcName,
      protocol: "oidc",
      issuer: config.oidcIssuer,
      clientId: config.oidcClientId,
      clientSecret: config.oidcClientSecret,
      scope: "openid email profile",
    });
  }
  return providers;
}

/**
 * Plain http is allowed only for a loopback issuer (a test or local issuer); config.ts already
 * refuses any other http URL, and this second check keeps openid-client's HTTPS-only rule on for
 * everything else even if that validation changes.
 */
export function isLoopbackHttp(url: string): boolean {
  const parsed = new URL(url);
  return parsed.protocol === "http:" &&
    ["127.0.0.1", "localhost", "[::1]"].includes(parsed.hostname);
}
