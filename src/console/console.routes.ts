/**
 * The pages the console's router handles besides `/` (console/src/router.ts lists the same):
 * each answers index.html. They are single path segments that no API route uses, so nothing
 * under /api, /v1 or /admin is shadowed.
 */
export const CONSOLE_PAGES = [
  "login",
  "signup",
  "overview",
  "keys",
  "billing",
  "deployments",
  "playground",
  "jobs",
  "settings",
  "admin",
] as const;
