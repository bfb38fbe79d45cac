import { useEffect, useState } from "preact/hooks";

/** History-API routing: the gateway serves index.html at every console path. */

const listeners = new Set<() => void>();

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  for (const listener of listeners) listener();
}

addEventListener("popstate", () => {
  for (const listener of listeners) listener();
});

export interface Location {
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

export function useLocation(): Location {
  const [value, setValue] = useState(current);
  useEffect(() => {
    const listener = () => setValue(current());
    listeners.add(listener);
    return () => listeners.delete(listener);
  }, []);
  return value;
}

/** Same-origin links stay in the app; modified clicks (new tab) keep the browser's behaviour. */
export function onLinkClick(event: MouseEvent): void {
  const anchor = (event.target as Element).closest("a");
  if (!anchor || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (anchor.target || anchor.hasAttribute("download") || anchor.dataset.external !== undefined) {
    return;
  }
  const url = new URL(anchor.href, location.href);
  // In-page anchors (the skip link) are the browser's.
  if (url.hash && url.pathname === location.pathname) return;
  if (url.origin !== location.origin || !CONSOLE_PATHS.has(url.pathname)) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}

/** Every path the gateway answers with the console (src/console/console-routes.ts). */
export const CONSOLE_PATHS = new Set([
  "/",
  "/login",
  "/signup",
  "/overview",
  "/keys",
  "/billing",
  "/deployments",
  "/playground",
  "/jobs",
  "/settings",
  "/admin",
]);
