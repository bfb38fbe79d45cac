import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

/**
 * A real OpenID Connect issuer (the `oidc-provider` package) on a loopback port, with its
 * development login and consent pages: any login name is accepted with any password, and the
 * account's claims come from `users`. The port is taken first, so the gateway can be started
 * with OIDC_ISSUER before the client (whose redirect URI names the gateway's port) is registered.
 */
export interface OidcUser {
  email: string;
  email_verified: boolean;
  name?: string;
}

export interface OidcIssuer {
  /** `http://127.0.0.1:<port>` */
  issuer: string;
  /** Registers the gateway's clients and starts answering. */
  serve(clients: OidcClient[]): void;
  users: Map<string, OidcUser>;
  close(): Promise<void>;
}

export interface OidcClient {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

export async function reserveOidcIssuer(): Promise<OidcIssuer> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(503).end("issuer not ready");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const users = new Map<string, OidcUser>();
  return {
    issuer,
    users,
    serve(clients) {
      // Its start-up warnings (development keys and login pages) are what this issuer is for.
      const warn = console.warn;
      console.warn = () => {};
      let provider: Provider;
      try {
        provider = new Provider(issuer, {
          clients: clients.map((client) => ({
            client_id: client.clientId,
            client_secret: client.clientSecret,
            redirect_uris: [client.redirectUri],
            grant_types: ["authorization_code"],
            response_types: ["code"],
            // openid-client's default client authentication.
            token_endpoint_auth_method: "client_secret_post",
          })),
          claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
          cookies: { keys: ["oidc-issuer-test-cookie-key"] },
          pkce: { required: () => true },
          findAccount: (_context: unknown, id: string) => {
            const user = users.get(id);
            if (!user) return undefined;
            return { accountId: id, claims: () => ({ sub: id, ...user }) };
          },
          ttl: {
            AccessToken: 600,
            AuthorizationCode: 60,
            Grant: 600,
            IdToken: 600,
            Interaction: 600,
            Session: 600,
          },
        });
      } finally {
        console.warn = warn;
      }
      server.removeAllListeners("request");
      server.on("request", provider.callback());
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
