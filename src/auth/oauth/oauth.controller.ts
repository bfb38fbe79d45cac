import { ApiOperation, ApiResponse, ApiTags } from "@nestjs/swagger";
import { ApiErrors } from "../../api-docs/api-docs.decorators.ts";
import type { Buffer } from "node:buffer";
import { Controller, Get, Inject, Param, Req, Res } from "@nestjs/common";
import type { FastifyReply, FastifyRequest } from "fastify";
import { CLOCK, type Clock } from "../../common/clock.ts";
import { isDomainError } from "../../common/domain-error.ts";
import { logger } from "../../common/json-logger.ts";
import { publicOrigin } from "../../common/public-origin.ts";
import { APP_CONFIG, type AppConfig } from "../../config/config.ts";
import { RateLimit } from "../../rate-limit/rate-limit.decorators.ts";
import { readCookie, setSessionCookies } from "../session-cookie.ts";
import { OAuthClients } from "./oauth-clients.ts";
import { OAuthRejected } from "./oauth-rejected.ts";
import { OAuthSignIn } from "./oauth-sign-in.ts";
import {
  OAUTH_STATE_COOKIE,
  OAUTH_STATE_TTL_SECONDS,
  openPending,
  pendingCookie,
  sealPending,
} from "./oauth-state.ts";

/** The HMAC key of the pending sign-in cookie (derived from the secrets key, oauth.module.ts). */
export const OAUTH_STATE_KEY = Symbol("OAUTH_STATE_KEY");

/** Where the console lands after a sign-in, and where it shows why one failed. */
const SIGNED_IN_PAGE = "/overview";
const LOGIN_PAGE = "/login";

/** Refusals the login page may name; anything else reads as `oauth_failed`. */
const SHOWN_CODES = new Set([
  "oauth_provider_unavailable",
  "oauth_state_invalid",
  "oauth_denied",
  "oauth_failed",
  "oauth_email_unverified",
  "account_disabled",
  "email_taken",
  "account_conflict",
]);

/**
 * Sign-in with GitHub, Google or the operator's OpenID Connect issuer. The browser navigates
 * here, so outcomes are redirects: to the provider, then to the console's overview with the
 * session cookies set, or to its login page with `?error=<code>`.
 */
@Controller("api/auth")
@ApiTags("Auth")
export class OAuthController {
  constructor(
    @Inject(OAuthClients) private readonly clients: OAuthClients,
    @Inject(OAuthSignIn) private readonly signIn: OAuthSignIn,
    @Inject(OAUTH_STATE_KEY) private readonly stateKey: Buffer,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** The login page shows a button per configured provider. */
  @Get("providers")
  @ApiOperation({ summary: "The sign-in providers configured on this gateway" })
  providers() {
    return { data: this.clients.list() };
  }

  @Get("oauth/:provider/start")
  @ApiOperation({ summary: "Start signing in with a provider (redirects to it)" })
  @ApiResponse({ status: 302, description: "To the provider's authorization page." })
  @ApiErrors([404, "`oauth_provider_not_configured`: unknown or unconfigured provider."])
  @RateLimit("auth", (perMinute) => Math.max(1, Math.floor(perMinute / 10)))
  async start(
    @Param("provider") provider: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    // An unknown provider is a bad link: a 404 in the envelope (exception filter).
    const settings = this.clients.settings(provider);
    const redirectUri = `${
      publicOrigin(request, this.config)
    }/api/auth/oauth/${settings.id}/callback`;
    let target: URL;
    let cookie: string;
    try {
      const { url, pending } = await this.clients.begin(settings.id, redirectUri);
      const expiresAt = this.clock.now().getTime() + OAUTH_STATE_TTL_SECONDS * 1000;
      target = url;
      cookie = sealPending(this.stateKey, { ...pending, expiresAt });
    } catch (error) {
      return this.failed(reply, request, error);
    }
    reply.header("cache-control", "no-store");
    reply.header("set-cookie", pendingCookie(cookie, OAUTH_STATE_TTL_SECONDS, isHttps(request)));
    await reply.redirect(target.href, 302);
  }

  @Get("oauth/:provider/callback")
  @ApiOperation({ summary: "The provider's redirect back; signs in and redirects to the console" })
  @ApiResponse({
    status: 302,
    description: "To `/overview` with the session cookies set, or to `/login?error=<code>`.",
  })
  @RateLimit("auth", (perMinute) => Math.max(1, Math.floor(perMinute / 10)))
  async callback(
    @Param("provider") provider: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    try {
      const pending = openPending(
        this.stateKey,
        readCookie(request.headers.cookie, OAUTH_STATE_COOKIE),
        this.clock.now().getTime(),
      );
      const query = request.query as Record<string, unknown>;
      // The cookie proves this browser started this sign-in: a callback link someone else
      // started (login CSRF), a replayed or a forged state ends here.
      if (!pending || pending.provider !== provider || query.state !== pending.state) {
        throw new OAuthRejected(
          "oauth_state_invalid",
          "The sign-in expired or was not started here.",
        );
      }
      // The URL the provider redirected to, as the library must see it (redirect_uri included).
      const callbackUrl = new URL(pending.redirectUri);
      const queryStart = request.url.indexOf("?");
      callbackUrl.search = queryStart >= 0 ? request.url.slice(queryStart) : "";
      const identity = await this.clients.finish(pending, callbackUrl);
      const session = await this.signIn.signIn(identity, { requestId: request.id });
      reply.header("cache-control", "no-store");
      reply.header("set-cookie", pendingCookie("", 0, isHttps(request)));
      setSessionCookies(reply, request, session.token, this.config.sessionTtlSeconds);
      await reply.redirect(SIGNED_IN_PAGE, 302);
    } catch (error) {
      await this.failed(reply, request, error);
    }
  }

  /** Back to the login page with a code it can explain; never a stack or a provider's text. */
  private async failed(reply: FastifyReply, request: FastifyRequest, error: unknown) {
    const code = isDomainError(error) && SHOWN_CODES.has(error.code) ? error.code : "oauth_failed";
    if (!isDomainError(error)) {
      logger.write("error", "oauth sign-in failed", {
        requestId: request.id,
        error: error instanceof Error ? error.message : String(error),
        stack: error instanceof Error ? error.stack : undefined,
      });
    }
    reply.header("cache-control", "no-store");
    reply.header("set-cookie", pendingCookie("", 0, isHttps(request)));
    await reply.redirect(`${LOGIN_PAGE}?error=${code}`, 302);
  }
}

function isHttps(request: FastifyRequest): boolean {
  return request.protocol === "https";
}
