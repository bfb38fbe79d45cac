import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local stand-in for GitHub's OAuth web application flow, written from GitHub's documentation
 * ("Authorizing OAuth apps" and the REST API's users/emails pages), laid out like GitHub
 * Enterprise Server: the web flow under `/login/oauth/…` and the REST API under `/api/v3`.
 *
 * - `GET /login/oauth/authorize` (client_id, redirect_uri, scope, state, code_challenge,
 *   code_challenge_method): the signed-in user (`user`) approves, or denies when `deny` is set,
 *   and is redirected to redirect_uri with `code` and `state` (or `error=access_denied`).
 *   A redirect_uri other than the registered callback URL gets `error=redirect_uri_mismatch`.
 * - `POST /login/oauth/access_token` (client_id, client_secret, code, redirect_uri,
 *   code_verifier; form or JSON body): answers JSON for `Accept: application/json`, XML for
 *   `application/xml`, else form-encoded. Failures answer 200 with `error` (GitHub's way):
 *   `incorrect_client_credentials`, `redirect_uri_mismatch`, `bad_verification_code`. Codes are
 *   single-use and last ten minutes.
 * - `GET /api/v3/user` and `GET /api/v3/user/emails` with `Authorization: Bearer|token <token>`:
 *   401 "Bad credentials" without a valid token, 403 without a User-Agent, and `/user/emails`
 *   needs the `user:email` (or `user`) scope.
 */
export interface GitHubUser {
  id: number;
  login: string;
  name?: string;
  /** The public profile email: not necessarily verified nor primary (GitHub's note). */
  publicEmail?: string | null;
  emails: Array<{ email: string; primary: boolean; verified: boolean }>;
}

export interface GitHubStandIn {
  /** e.g. `http://127.0.0.1:1234` (GITHUB_OAUTH_URL) */
  url: string;
  /** `<url>/api/v3` (GITHUB_API_URL) */
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  /** Who is signed in at GitHub when the browser reaches /login/oauth/authorize. */
  user: GitHubUser;
  /** The OAuth app's registered "Authorization callback URL" (set once the gateway listens). */
  callbackUrl: string;
  /** Makes the user click "Cancel" on the next authorization. */
  deny: boolean;
  /** Requests each endpoint got, for assertions (e.g. that PKCE and the secret were sent). */
  readonly requests: Array<{ method: string; path: string; body?: Record<string, string> }>;
  close(): Promise<void>;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  scope: string;
  codeChallenge?: string;
  user: GitHubUser;
  expiresAt: number;
}

const DOCS =
  "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors";

export async function startGitHubStandIn(options: {
  clientId?: string;
  clientSecret?: string;
  user: GitHubUser;
}): Promise<GitHubStandIn> {
  const codes = new Map<string, IssuedCode>();
  const tokens = new Map<string, { user: GitHubUser; scope: string }>();
  const standIn = {
    clientId: options.clientId ?? "Iv1.standin0client",
    clientSecret: options.clientSecret ?? randomBytes(20).toString("hex"),
    user: options.user,
    callbackUrl: "",
    deny: false,
    requests: [] as GitHubStandIn["requests"],
  };

  const server: Server = createServer(async (request, response) => {
    try {
      const url = new URL(request.url ?? "/", "http://standin");
      const body = request.method === "POST" ? await readForm(request) : undefined;
      standIn.requests.push({ method: request.method ?? "GET", path: url.pathname, body });
      if (request.method === "GET" && url.pathname === "/login/oauth/authorize") {
        return authorize(url.searchParams, response);
      }
      if (request.method === "POST" && url.pathname === "/login/oauth/access_token") {
        return accessToken(request, body ?? {}, response);
      }
      if (request.method === "GET" && url.pathname.startsWith("/api/v3/")) {
        return restApi(request, url.pathname.slice("/api/v3".length), response);
      }
      json(response, 404, { message: "Not Found", documentation_url: "https://docs.github.com" });
    } catch (error) {
      json(response, 500, { message: String(error) });
    }
  });

  function authorize(query: URLSearchParams, response: ServerResponse) {
    if (query.get("client_id") !== standIn.clientId) {
      // GitHub shows an HTML page for an unknown application; nothing is redirected.
      response.writeHead(404, { "content-type": "text/html" }).end("<h1>404</h1>");
      return;
    }
    const redirectUri = query.get("redirect_uri") ?? standIn.callbackUrl;
    const state = query.get("state");
    const back = new URL(standIn.callbackUrl);
    if (redirectUri !== standIn.callbackUrl) {
      back.searchParams.set("error", "redirect_uri_mismatch");
      back.searchParams.set(
        "error_description",
        "The redirect_uri MUST match the registered callback URL for this application.",
      );
    } else if (standIn.deny) {
      standIn.deny = false;
      back.searchParams.set("error", "access_denied");
      back.searchParams.set(
        "error_description",
        "The user has denied your application access.",
      );
    } else {
      const challengeMethod = query.get("code_challenge_method");
      if (query.get("code_challenge") && challengeMethod !== "S256") {
        response.writeHead(400).end("code_challenge_method must be S256");
        return;
      }
      const code = randomBytes(10).toString("hex");
      codes.set(code, {
        clientId: standIn.clientId,
        redirectUri,
        scope: query.get("scope") ?? "",
        codeChallenge: query.get("code_challenge") ?? undefined,
        user: standIn.user,
        expiresAt: Date.now() + 10 * 60_000,
      });
      back.searchParams.set("code", code);
    }
    if (state !== null) back.searchParams.set("state", state);
    response.writeHead(302, { location: back.href }).end();
  }

  function accessToken(
    request: IncomingMessage,
    body: Record<string, string>,
    response: ServerResponse,
  ) {
    const basic = basicCredentials(request.headers.authorization);
    const clientId = body.client_id ?? basic?.id;
    const clientSecret = body.client_secret ?? basic?.secret;
    const issued = codes.get(body.code ?? "");
    let answer: Record<string, string>;
    if (clientId !== standIn.clientId || clientSecret !== standIn.clientSecret) {
      answer = tokenError(
        "incorrect_client_credentials",
        "The client_id and/or client_secret passed are incorrect.",
      );
    } else if (!issued || issued.expiresAt < Date.now() || issued.clientId !== clientId) {
      answer = tokenError("bad_verification_code", "The code passed is incorrect or expired.");
    } else if (body.redirect_uri !== undefined && body.redirect_uri !== issued.redirectUri) {
      answer = tokenError(
        "redirect_uri_mismatch",
        "The redirect_uri MUST match the registered callback URL for this application.",
      );
    } else if (issued.codeChallenge && s256(body.code_verifier ?? "") !== issued.codeChallenge) {
      answer = tokenError("bad_verification_code", "The code_verifier does not match.");
    } else {
      codes.delete(body.code);
      const token = `gho_${randomBytes(18).toString("base64url")}`;
      // GitHub stores scopes comma-separated; the request asked space-separated.
      const scope = issued.scope.split(/[\s,]+/).filter(Boolean).join(",");
      tokens.set(token, { user: issued.user, scope });
      answer = { access_token: token, scope, token_type: "bearer" };
    }
    const accept = String(request.headers.accept ?? "");
    if (accept.includes("application/json")) return json(response, 200, answer);
    if (accept.includes("application/xml")) {
      const fields = Object.entries(answer).map(([key, value]) => `<${key}>${value}</${key}>`);
      response.writeHead(200, { "content-type": "application/xml" })
        .end(`<OAuth>${fields.join("")}</OAuth>`);
      return;
    }
    response.writeHead(200, { "content-type": "application/x-www-form-urlencoded" })
      .end(new URLSearchParams(answer).toString());
  }

  function restApi(request: IncomingMessage, path: string, response: ServerResponse) {
    if (!request.headers["user-agent"]) {
      return json(response, 403, {
        message: "Request forbidden by administrative rules. Please make sure your request has " +
          "a User-Agent header.",
      });
    }
    const match = /^(?:Bearer|token) (\S+)$/i.exec(String(request.headers.authorization ?? ""));
    const grant = match ? tokens.get(match[1]) : undefined;
    if (!grant) {
      return json(response, 401, {
        message: "Bad credentials",
        documentation_url: "https://docs.github.com/rest",
        status: "401",
      });
    }
    const scopes = grant.scope.split(",");
    const headers = { "x-oauth-scopes": scopes.join(", ") };
    const { user } = grant;
    if (path === "/user") {
      return json(response, 200, {
        login: user.login,
        id: user.id,
        node_id: `U_${Buffer.from(String(user.id)).toString("base64")}`,
        type: "User",
        name: user.name ?? null,
        email: user.publicEmail ?? null,
      }, headers);
    }
    if (path === "/user/emails") {
      if (!scopes.includes("user:email") && !scopes.includes("user")) {
        return json(response, 404, { message: "Not Found", status: "404" }, headers);
      }
      return json(
        response,
        200,
        user.emails.map((entry) => ({ ...entry, visibility: entry.primary ? "private" : null })),
        headers,
      );
    }
    json(response, 404, { message: "Not Found", status: "404" });
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(standIn, {
    url,
    apiUrl: `${url}/api/v3`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

function tokenError(error: string, description: string): Record<string, string> {
  return { error, error_description: description, error_uri: DOCS };
}

function s256(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}

function basicCredentials(header: unknown): { id: string; secret: string } | undefined {
  const match = /^Basic (\S+)$/i.exec(String(header ?? ""));
  if (!match) return undefined;
  const [id, secret] = Buffer.from(match[1], "base64").toString("utf8").split(":");
  return { id: decodeURIComponent(id), secret: decodeURIComponent(secret ?? "") };
}

async function readForm(request: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if (String(request.headers["content-type"]).includes("application/json")) {
    return JSON.parse(text || "{}");
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function json(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers })
    .end(JSON.stringify(body));
}
