import { type CanActivate, type ExecutionContext, Inject, Injectable } from "@nestjs/common";
import { Reflector } from "@nestjs/core";
import { ApiError } from "../common/api-error.ts";
import { APP_CONFIG, type AppConfig } from "../config/config.ts";
import { CredentialBudgets } from "./credential-budgets.ts";
import { bearerToken, CredentialVerifier } from "./credential-verifier.ts";
import { ADMIN_ACTOR, type Permission, type Principal } from "./principal.ts";
import { digestsEqual, sha256Hex } from "./secrets.ts";

export const REQUIRED_PERMISSION = "modelpilot:required-permission";

export interface AuthenticatedRequest {
  headers: Record<string, unknown>;
  principal?: Principal;
  adminActor?: string;
}

/**
 * API key or session bearer; then its per-key and per-account budgets; then the permission
 * named by @RequirePermission.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  /** The permission each route requires (metadata never changes once the app is built). */
  private readonly required = new WeakMap<object, Map<object, Permission | undefined>>();

  constructor(
    @Inject(CredentialVerifier) private readonly verifier: CredentialVerifier,
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(CredentialBudgets) private readonly budgets: CredentialBudgets,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    // Class- and handler-level decorators both attach this guard: authenticate (and charge) once.
    if (!request.principal) {
      const principal = await this.verifier.authenticate(request.headers.authorization);
      await this.budgets.charge(principal);
      request.principal = principal;
    }
    const required = this.requiredPermission(context);
    if (required && !request.principal.permissions.includes(required)) {
      throw ApiError.forbidden(
        `This API key does not have the '${required}' permission required for this request.`,
      );
    }
    return true;
  }

  private requiredPermission(context: ExecutionContext): Permission | undefined {
    const handler = context.getHandler();
    const controller = context.getClass();
    let byController = this.required.get(handler);
    if (!byController) this.required.set(handler, byController = new Map());
    if (!byController.has(controller)) {
      byController.set(
        controller,
        this.reflector.getAllAndOverride<Permission | undefined>(REQUIRED_PERMISSION, [
          handler,
          controller,
        ]),
      );
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
