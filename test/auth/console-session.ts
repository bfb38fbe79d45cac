import { api } from "../support/test-app.ts";

/**
 * A browser's view of the console session for e2e specs: the cookies the gateway set, sent back
 * as a browser would (a `Cookie` header, no Authorization), with the CSRF header on changes.
 */
export interface CookieSession {
  /** `mp_session=…; mp_csrf=…` as a browser would send them. */
  cookie: string;
  sessionToken: string;
  csrfToken: string;
  setCookies: string[];
}

/** The cookies of a signup or login response. */
export function cookieSessionOf(response: { headers: Headers; body: any }): CookieSession {
  const setCookies = response.headers.getSetCookie();
  const value = (name: string) => {
    const line = setCookies.find((cookie) => cookie.startsWith(`${name}=`));
    if (!line) throw new Error(`no ${name} cookie in ${JSON.stringify(setCookies)}`);
    return line.slice(name.length + 1).split(";")[0];
  };
  const sessionToken = value("mp_session");
  const csrfToken = value("mp_csrf");
  return {
    cookie: `mp_session=${sessionToken}; mp_csrf=${csrfToken}`,
    sessionToken,
    csrfToken,
    setCookies,
  };
}

export async function loginWithCookies(
  url: string,
  email: string,
  password: string,
): Promise<CookieSession> {
  const response = await api(url, "POST", "/api/auth/login", { body: { email, password } });
  if (response.status !== 200) {
    throw new Error(`login: ${response.status} ${JSON.stringify(response.body)}`);
  }
  return cookieSessionOf(response);
}

/** A request as the console makes it: cookies, and the CSRF header unless `csrf` is false. */
export async function asBrowser(
  url: string,
  session: CookieSession,
  method: string,
  path: string,
  options: { body?: unknown; csrf?: string | false } = {},
) {
  const headers: Record<string, string> = { cookie: session.cookie };
  const csrf = options.csrf === undefined ? session.csrfToken : options.csrf;
  if (csrf !== false) headers["x-csrf-token"] = csrf;
  return await api(url, method, path, { headers, body: options.body });
}
