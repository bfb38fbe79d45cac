import { type CanActivate, type ExecutionContext, Inject, Injectable } from "@nestjs/common";
import { Reflector } from "@nestjs/core";
import { ApiError } from "../common/api-error.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { CredentialBudgets } from "./credential-budgets.ts";
import { bearerToken, CredentialVerifier } from "./credential-verifier.ts";
import { ADMIN_ACTOR, type Permission, type Principal } from "./principal.ts";
import { digestsEqual, sha256Hex } from "./secrets.ts";
import { CSRF_HEADER, csrfTokenFor, readCookie, SESSION_COOKIE } from "./session-cookie.ts";

export const REQUIRED_PERMISSION = "modelpilot:required-permission";

export interface AuthenticatedRequest {
  headers: Record<string, unknown>;
  method?: string;
  principal?: Principal;
  /** The principal came from the console's session cookie (not an Authorization header). */
  viaSessionCookie?: boolean;
  adminActor?: string;
}

/** Methods that change nothing, so a cookie-authenticated one needs no CSRF token. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * API key or session bearer; else the console's session cookie, whose changes must carry the
 * CSRF token (403 csrf_token_invalid). Any Authorization header, even a wrong one, means the
 * cookie is ignored, so API clients behave exactly as without cookies.
 */
async function authenticateRequest(
  verifier: CredentialVerifier,
  request: AuthenticatedRequest,
): Promise<Principal> {
  const authorization = request.headers.authorization;
  const cookieToken = authorization === undefined
    ? readCookie(request.headers.cookie, SESSION_COOKIE)
    : undefined;
  if (cookieToken === undefined) return await verifier.authenticate(authorization);
  if (!SAFE_METHODS.has(request.method ?? "GET")) {
    const presented = request.headers[CSRF_HEADER];
    // Hashing both sides first makes the comparison constant-time whatever the lengths.
    if (
      typeof presented !== "string" ||
      !digestsEqual(sha256Hex(presented), sha256Hex(csrfTokenFor(cookieToken)))
    ) {
      throw ApiError.forbidden(
        "Missing or invalid CSRF token. Send the mp_csrf cookie's value in the X-CSRF-Token " +
          "header with every request that changes something.",
        "csrf_token_invalid",
      );
    }
  }
  const principal = await verifier.authenticateSessionCookie(cookieToken);
  request.viaSessionCookie = true;
  return principal;
}

/**
 * API key, session bearer or session cookie; then its per-key and per-account budgets; then the
 * permission named by @RequirePermission.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  /** The permission each route requires (metadata never changes once the app is built). */
  private readonly required = new WeakMap<object, Map<object, readonly Permission[] | undefined>>();

  constructor(
    @Inject(CredentialVerifier) private readonly verifier: CredentialVerifier,
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(CredentialBudgets) private readonly budgets: CredentialBudgets,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    // Class- and handler-level decorators both attach this guard: authenticate (and charge) once.
    if (!request.principal) {
      const principal = await authenticateRequest(this.verifier, request);
      await this.budgets.charge(principal);
      request.principal = principal;
    }
    const required = this.requiredPermission(context);
    const held = request.principal.permissions;
    if (required && !required.some((permission) => held.includes(permission))) {
      throw ApiError.forbidden(
        `This API key does not have the '${
          required.join("' or '")
        }' permission required for this request.`,
      );
    }
    return true;
  }

  /** Any one of these will do (RequirePermission may name several). */
  private requiredPermission(context: ExecutionContext): readonly Permission[] | undefined {
    const handler = context.getHandler();
    const controller = context.getClass();
    let byController = this.required.get(handler);
    if (!byController) this.required.set(handler, byController = new Map());
    if (!byController.has(controller)) {
      const required = this.reflector.getAllAndOverride<
        Permission | readonly Permission[] | undefined
      >(REQUIRED_PERMISSION, [handler, controller]);
      byController.set(controller, typeof required === "string" ? [required] : required);
    }
    return byController.get(controller);
  }
}

/** `Authorization: Bearer $ADMIN_API_KEY`, compared in constant time. */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly adminKeyHash?: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.adminKeyHash = config.adminApiKey ? sha256Hex(config.adminApiKey) : undefined;
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (!this.adminKeyHash) {
      throw ApiError.forbidden(
        "The admin API is disabled. Set the ADMIN_API_KEY environment variable (at least 16 " +
          "characters) and restart to enable it, then send 'Authorization: Bearer $ADMIN_API_KEY'.",
        "admin_api_disabled",
      );
    }
    const token = bearerToken(request.headers.authorization);
    if (!token) {
      throw ApiError.unauthorized(
        "You didn't provide the admin API key. Send 'Authorization: Bearer $ADMIN_API_KEY'.",
      );
    }
    // Hashing first makes both sides equal length, so timingSafeEqual leaks nothing, not even length.
    if (!digestsEqual(sha256Hex(token), this.adminKeyHash)) {
      throw ApiError.unauthorized("Incorrect admin API key provided.");
    }
    request.adminActor = ADMIN_ACTOR;
    return true;
  }
}
