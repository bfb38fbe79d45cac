import {
  GUARDS_METADATA,
  HTTP_CODE_METADATA,
  METHOD_METADATA,
  PATH_METADATA,
  ROUTE_ARGS_METADATA,
} from "@nestjs/common/constants.js";
import { RequestMethod } from "@nestjs/common";
import { ModulesContainer } from "@nestjs/core";
import type { INestApplication } from "@nestjs/common";
import { AdminGuard, ApiKeyGuard, REQUIRED_PERMISSION } from "../auth/auth.guards.ts";
import type { Permission } from "../auth/principal.ts";
import { NoBody } from "../common/validation.ts";

/**
 * What the code already says about each handler, read from Nest's own metadata: who may call it
 * (its guards and permission), whether it is rate limited, its success status and the DTO
 * classes of its body and query. The document builder turns these into security requirements
 * and the errors they imply, so a new route is documented that far without anyone writing it.
 */
export interface RouteFacts {
  auth: "account" | "admin" | "none";
  /** One permission, or several of which any one will do. */
  permission?: Permission | readonly Permission[];
  rateLimited: boolean;
  successStatus: number;
  bodyType?: DtoClass;
  queryType?: DtoClass;
  /** `@Query("name")` parameters, each optional to the handler. */
  queryNames: string[];
  takesNoBody: boolean;
}

type DtoClass = abstract new (...args: never[]) => unknown;

// Nest's RouteParamtypes.BODY and .QUERY (keys of ROUTE_ARGS_METADATA are `${type}:${index}`).
const BODY_PARAM = 3;
const QUERY_PARAM = 4;

/** Facts per swagger operation id (`${Controller}_${method}`, the default id factory's form). */
export function collectRouteFacts(app: INestApplication): Map<string, RouteFacts> {
  const facts = new Map<string, RouteFacts>();
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => unknown) | null;
      if (!controller) continue;
      for (const name of Object.getOwnPropertyNames(controller.prototype)) {
        const handler = Object.getOwnPropertyDescriptor(controller.prototype, name)?.value;
        if (typeof handler !== "function" || !Reflect.hasMetadata(PATH_METADATA, handler)) {
          continue;
        }
        facts.set(`${controller.name}_${name}`, factsFor(controller, name, handler));
      }
    }
  }
  return facts;
}

function factsFor(controller: DtoClass, name: string, handler: object): RouteFacts {
  const guards = [
    ...(Reflect.getMetadata(GUARDS_METADATA, controller) ?? []),
    ...(Reflect.getMetadata(GUARDS_METADATA, handler) ?? []),
  ];
  const auth = guards.includes(AdminGuard)
    ? "admin"
    : guards.includes(ApiKeyGuard)
    ? "account"
    : "none";
  const permission = Reflect.getMetadata(REQUIRED_PERMISSION, handler) ??
    Reflect.getMetadata(REQUIRED_PERMISSION, controller);
  const method = Reflect.getMetadata(METHOD_METADATA, handler);
  const successStatus = Reflect.getMetadata(HTTP_CODE_METADATA, handler) ??
    (method === RequestMethod.POST ? 201 : 200);
  const args: Record<string, { index: number; data?: unknown }> =
    Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, name) ?? {};
  const parameterTypes: unknown[] =
    Reflect.getMetadata("design:paramtypes", controller.prototype, name) ?? [];
  const wholeArgument = (type: number) => {
    const entry = Object.entries(args).find(([key, value]) =>
      key.split(":")[0] === String(type) && value.data === undefined
    );
    const found = entry ? parameterTypes[entry[1].index] : undefined;
    return typeof found === "function" && found !== Object ? found as DtoClass : undefined;
  };
  const bodyType = wholeArgument(BODY_PARAM);
  return {
    auth,
    permission,
    rateLimited: !isThrottleSkipped(controller) && !isThrottleSkipped(handler),
    successStatus,
    bodyType: bodyType === NoBody ? undefined : bodyType,
    queryType: wholeArgument(QUERY_PARAM),
    queryNames: Object.entries(args)
      .filter(([key, value]) =>
        key.split(":")[0] === String(QUERY_PARAM) && typeof value.data === "string"
      )
      .sort(([, a], [, b]) => a.index - b.index)
      .map(([, value]) => value.data as string),
    takesNoBody: bodyType === NoBody,
  };
}

/** @nestjs/throttler's SkipThrottle stores `THROTTLER:SKIP<throttler name>` = true. */
function isThrottleSkipped(target: object): boolean {
  return Reflect.getMetadataKeys(target).some((key) =>
    typeof key === "string" && key.startsWith("THROTTLER:SKIP") &&
    Reflect.getMetadata(key, target) === true
  );
}
