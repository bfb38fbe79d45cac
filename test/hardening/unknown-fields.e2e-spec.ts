import { routeTable } from "../../src/app.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { createAccountWithKey, randomEmail, signUp } from "../support/accounts.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

/**
 * Every non-OpenAI route that takes a body refuses a field it does not know with a 400 naming
 * it, even when the rest of the body is valid (a typo must surface, and a body meant for
 * another route must not be half-understood). The table below must classify every body-capable
 * route the application registers, so a new route fails here until someone says how it takes
 * its body.
 */

type Who = "none" | "admin" | "session" | "key";

interface BodyRoute {
  who: Who;
  /** A valid body for the route; the spec adds one unknown field to it. */
  body: (context: { email: string }) => Record<string, unknown>;
}

const UNKNOWN = "zzz_unknown_field";

/** Routes whose body is validated field by field. */
const BODY_ROUTES: Record<string, BodyRoute> = {
  "POST /api/auth/signup": {
    who: "none",
    body: () => ({ email: randomEmail("signup"), password: "a good password" }),
  },
  "POST /api/auth/login": {
    who: "none",
    body: ({ email }) => ({ email, password: "a good password" }),
  },
  "POST /api/keys": {
    who: "session",
    body: () => ({ name: "k", permissions: ["read"] }),
  },
  "POST /api/keys/:id/rotate": { who: "session", body: () => ({ grace_period_s: 60 }) },
  "POST /api/auth/password": {
    who: "session",
    body: () => ({ current_password: "a good password", new_password: "another good password" }),
  },
  "POST /admin/accounts": { who: "admin", body: () => ({ email: randomEmail("admin") }) },
  "POST /admin/accounts/:id/api-keys": {
    who: "admin",
    body: () => ({ name: "k", permissions: ["read"] }),
  },
  "POST /admin/accounts/:id/credits": {
    who: "admin",
    body: () => ({ amount_usd: 1, reason: "test" }),
  },
  "POST /api/billing/checkout": { who: "key", body: () => ({ amount_usd: 5 }) },
  "POST /api/v1/generate/image": {
    who: "key",
    body: () => ({ model: "flux-dev", prompt: "a cat" }),
  },
  "POST /api/v1/generate/audio": { who: "key", body: () => ({ model: "kokoro", text: "hello" }) },
  "POST /api/v1/generate/video": {
    who: "key",
    body: () => ({ model: "wan-t2v", prompt: "a cat" }),
  },
  "POST /api/v1/generate/text": {
    who: "key",
    body: () => ({ model: "qwen3-8b", prompt: "hello" }),
  },
  "POST /api/deployments": {
    who: "key",
    body: () => ({ model: "llama3.2:3b" }),
  },
  "PUT /api/deployments/:id/api-key": { who: "key", body: () => ({ api_key: "sk-new" }) },
  "PATCH /api/deployments/:id": { who: "key", body: () => ({ idle_timeout_s: 300 }) },
  "POST /api/model-groups": {
    who: "key",
    body: () => ({ name: "g", members: ["qwen3-8b"], strategy: "fallback" }),
  },
};

/** Routes that take no body: any field in one is refused the same way. */
const NO_BODY_ROUTES: Record<string, Who> = {
  "POST /api/jobs/:id/cancel": "key",
  "POST /api/deployments/:id/stop": "key",
  "POST /api/deployments/:id/start": "key",
  "DELETE /api/deployments/:id": "key",
  "DELETE /api/model-groups/:id": "key",
  "DELETE /api/keys/:id": "key",
  "POST /api/auth/logout": "session",
  "DELETE /api/auth/sessions/:id": "session",
  "POST /api/auth/sessions/revoke-others": "session",
  "POST /admin/accounts/:id/disable": "admin",
  "POST /admin/accounts/:id/enable": "admin",
  "DELETE /admin/accounts/:id/api-keys/:keyId": "admin",
  "POST /admin/projections/:name/rebuild": "admin",
};

/** Body-capable routes whose body is not ours to shape, and why. */
const OTHER_ROUTES: Record<string, string> = {
  "POST /api/billing/stripe/webhook": "Stripe's own event schema, authenticated by signature",
};

/** The OpenAI-compatible routes pass extra sampling parameters through, as OpenAI clients expect. */
const OPENAI_ROUTE = /^POST \/(api\/)?v1\/(chat\/completions|completions|embeddings|responses)$/;

describe("unknown fields on non-OpenAI routes", () => {
  let app: TestApp;
  let accountId: string;
  const tokens: Record<Who, string | undefined> = {
    none: undefined,
    admin: TEST_ADMIN_KEY,
    session: undefined,
    key: undefined,
  };
  const email = randomEmail("known");

  beforeAll(async () => {
    app = await startTestApp();
    const signedUp = await signUp(app.url, email, "a good password");
    tokens.session = signedUp.token;
    accountId = signedUp.accountId;
    tokens.key = (await createAccountWithKey(app.url, randomEmail("key"))).key;
  });
  afterAll(async () => await app.close());

  it("classifies every body-capable route the application registers", () => {
    const unclassified = routeTable(app.app)
      .filter((route) => !["GET", "HEAD", "OPTIONS"].includes(route.method))
      .map((route) => `${route.method} ${route.url}`)
      .filter((route) =>
        !OPENAI_ROUTE.test(route) && !(route in BODY_ROUTES) && !(route in NO_BODY_ROUTES) &&
        !(route in OTHER_ROUTES)
      );
    expect(unclassified).toEqual([]);
  });

  it.each(Object.keys(BODY_ROUTES))(
    "%s refuses an unknown field with a 400 naming it",
    async (route) => {
      const [method, pattern] = route.split(" ");
      const spec = BODY_ROUTES[route];
      const store = app.app.get<EventStore>(EVENT_STORE);
      const before = await store.headPosition();
      const response = await api(app.url, method, pattern.replace(":id", accountId), {
        token: tokens[spec.who],
        body: { ...spec.body({ email }), [UNKNOWN]: 1 },
      });
      expect(response.status).toBe(400);
      expect(response.body.error.param).toBe(UNKNOWN);
      expect(response.body.error.message).toContain(UNKNOWN);
      expect(await store.headPosition()).toBe(before);
    },
  );

  it.each(Object.keys(NO_BODY_ROUTES))(
    "%s, which takes no body, refuses a field with a 400 naming it",
    async (route) => {
      const [method, pattern] = route.split(" ");
      const store = app.app.get<EventStore>(EVENT_STORE);
      const before = await store.headPosition();
      const path = pattern.replace(":id", accountId).replace(/:[A-Za-z]+/g, "x");
      const response = await api(app.url, method, path, {
        token: tokens[NO_BODY_ROUTES[route]],
        body: { [UNKNOWN]: 1 },
      });
      expect(response.status).toBe(400);
      expect(response.body.error.param).toBe(UNKNOWN);
      expect(await store.headPosition()).toBe(before);
    },
  );
});
