/**
 * Just enough of a browser for OAuth e2e specs: a cookie jar per origin (paths ignored, which
 * the short flows here never need), requests that do not follow redirects by themselves, and a
 * walk through a provider's redirects and login/consent forms until it sends the browser back to
 * the gateway.
 */
export class CookieJar {
  private readonly origins = new Map<string, Map<string, string>>();

  /** Applies a response's Set-Cookie headers (an empty value or Max-Age=0 deletes). */
  store(url: string | URL, response: Response): void {
    const origin = new URL(url).origin;
    const jar = this.origins.get(origin) ?? new Map<string, string>();
    this.origins.set(origin, jar);
    for (const cookie of response.headers.getSetCookie()) {
      const [pair, ...attributes] = cookie.split(";");
      const equals = pair.indexOf("=");
      const name = pair.slice(0, equals).trim();
      const value = pair.slice(equals + 1).trim();
      const expired = attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute));
      if (value === "" || expired) jar.delete(name);
      else jar.set(name, value);
    }
  }

  get(url: string | URL, name: string): string | undefined {
    return this.origins.get(new URL(url).origin)?.get(name);
  }

  set(url: string | URL, name: string, value: string): void {
    const origin = new URL(url).origin;
    const jar = this.origins.get(origin) ?? new Map<string, string>();
    this.origins.set(origin, jar);
    jar.set(name, value);
  }

  header(url: string | URL): string {
    const jar = this.origins.get(new URL(url).origin);
    return jar ? [...jar].map(([name, value]) => `${name}=${value}`).join("; ") : "";
  }
}

/** One request as a browser makes it: the jar's cookies sent, its Set-Cookie kept, no following. */
export async function browse(
  jar: CookieJar,
  url: string | URL,
  init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  let body: string | undefined;
  if (init.form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(init.form).toString();
  }
  const response = await fetch(url, {
    method: init.method ?? (init.form ? "POST" : "GET"),
    headers,
    body,
    redirect: "manual",
  });
  jar.store(url, response);
  return response;
}

export function locationOf(response: Response, base: string | URL): URL {
  const location = response.headers.get("location");
  if (!location) throw new Error(`expected a redirect, got ${response.status}`);
  return new URL(location, base);
}

/**
 * Follows the provider from its authorization URL until it redirects to `returnOrigin` and
 * answers that URL (the gateway's callback, not yet visited). Each HTML form on the way is
 * submitted by `fill` (e.g. oidc-provider's login and consent pages).
 */
export async function walkProvider(
  jar: CookieJar,
  authorizationUrl: URL,
  returnOrigin: string,
  fill: (page: { url: URL; html: string; prompt?: string }) => Record<string, string>,
): Promise<URL> {
  let url = authorizationUrl;
  let form: Record<string, string> | undefined;
  for (let step = 0; step < 20; step++) {
    const response = await browse(jar, url, { form });
    form = undefined;
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      const next = locationOf(response, url);
      if (next.origin === returnOrigin) return next;
      url = next;
      continue;
    }
    const html = await response.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (response.status !== 200 || !action) {
      throw new Error(`provider page ${url} answered ${response.status}: ${html.slice(0, 300)}`);
    }
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
    form = fill({ url, html, prompt });
    url = new URL(action.replaceAll("&amp;", "&"), url);
  }
  throw new Error("the provider never redirected back");
}
