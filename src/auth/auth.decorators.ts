import {
  applyDecorators,
  createParamDecorator,
  type ExecutionContext,
  SetMetadata,
  UseGuards,
} from "@nestjs/common";
import {
  AdminGuard,
  ApiKeyGuard,
  type AuthenticatedRequest,
  REQUIRED_PERMISSION,
} from "./auth.guards.ts";
import type { Permission, Principal } from "./principal.ts";

/**
 * On a controller class or handler: the caller must present an API key holding `permission`
 * (any one of them, when several are given), or a session of their own account (sessions hold
 * every permission). A handler-level permission overrides the class-level one.
 */
export function RequirePermission(
  ...permission: [Permission, ...Permission[]]
): ClassDecorator & MethodDecorator {
  return applyDecorators(
    SetMetadata(REQUIRED_PERMISSION, permission.length === 1 ? permission[0] : permission),
    UseGuards(ApiKeyGuard),
  );
}

/** The authenticated caller (set by RequirePermission's guard). */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal => {
    const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
    if (!principal) {
      throw new Error("@CurrentPrincipal() used on a route without @RequirePermission()");
    }
    return principal;
  },
);

/** Operators only: `Authorization: Bearer $ADMIN_API_KEY` (403 with how-to when it is unset). */
export function AdminOnly(): ClassDecorator & MethodDecorator {
  return applyDecorators(UseGuards(AdminGuard));
}
