import { type ComponentType, render } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { messageOf, post } from "./api.ts";
import { navigate, onLinkClick, useLocation } from "./router.ts";
import { type Account, loadAccount, SessionContext, useSession } from "./session.ts";
import { Notice } from "./ui.tsx";
import "./styles.css";

type PageModule = { default: ComponentType };

/** Each page is its own chunk: the first load carries only the shell and the page shown. */
const PAGES: Record<string, { title: string; load: () => Promise<PageModule>; public?: boolean }> =
  {
    "/login": { title: "Log in", load: () => import("./pages/login.tsx"), public: true },
    "/signup": { title: "Sign up", load: () => import("./pages/signup.tsx"), public: true },
    "/overview": { title: "Overview", load: () => import("./pages/overview.tsx") },
    "/keys": { title: "API keys", load: () => import("./pages/keys.tsx") },
    "/billing": { title: "Billing", load: () => import("./pages/billing.tsx") },
    "/deployments": { title: "Deployments", load: () => import("./pages/deployments.tsx") },
    "/playground": { title: "Playground", load: () => import("./pages/playground.tsx") },
    "/jobs": { title: "Jobs", load: () => import("./pages/jobs.tsx") },
    "/settings": { title: "Settings", load: () => import("./pages/settings.tsx") },
    // The admin key is the credential there; no session needed.
    "/admin": { title: "Admin", load: () => import("./pages/admin.tsx"), public: true },
  };

const NAV: Array<[path: string, name: string]> = [
  ["/overview", "Overview"],
  ["/keys", "API keys"],
  ["/billing", "Billing"],
  ["/deployments", "Deployments"],
  ["/playground", "Playground"],
  ["/jobs", "Jobs"],
  ["/settings", "Settings"],
];

function LazyPage({ path }: { path: string }) {
  const [loaded, setLoaded] = useState<{ path: string; Page: ComponentType } | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let live = true;
    setError(undefined);
    PAGES[path].load().then(
      (module) => live && setLoaded({ path, Page: module.default }),
      (failure) => live && setError(messageOf(failure)),
    );
    return () => {
      live = false;
    };
  }, [path]);
  if (error) return <Notice kind="error">This page could not be loaded: {error}</Notice>;
  if (!loaded || loaded.path !== path) return <p class="muted">Loading…</p>;
  return <loaded.Page />;
}

function Header() {
  const { account, signedOut } = useSession();
  const { path } = useLocation();
  const [error, setError] = useState<string | undefined>();
  const logOut = async () => {
    try {
      await post("/api/auth/logout");
    } catch (failure) {
      // An already-ended session is logged out all the same.
      const status = (failure as { status?: number }).status;
      if (status !== 401) {
        setError(messageOf(failure));
        return;
      }
    }
    signedOut();
    navigate("/login");
  };
  return (
    <header class="topbar">
      <a class="brand" href={account ? "/overview" : "/login"}>ModelPilot</a>
      <nav aria-label="Main">
        <ul>
          {account
            ? NAV.map(([href, name]) => (
              <li key={href}>
                <a href={href} aria-current={path === href ? "page" : undefined}>{name}</a>
              </li>
            ))
            : (
              <>
                <li>
                  <a href="/login" aria-current={path === "/login" ? "page" : undefined}>Log in</a>
                </li>
                <li>
                  <a href="/signup" aria-current={path === "/signup" ? "page" : undefined}>
                    Sign up
                  </a>
                </li>
              </>
            )}
          <li>
            <a href="/admin" aria-current={path === "/admin" ? "page" : undefined}>Admin</a>
          </li>
        </ul>
      </nav>
      {account
        ? (
          <div class="account">
            {account.email ? <span class="muted">{account.email}</span> : null}
            <button type="button" onClick={logOut}>Log out</button>
          </div>
        )
        : null}
      {error ? <Notice kind="error">Log out failed: {error}</Notice> : null}
    </header>
  );
}

/** Moving focus to a new page's heading tells screen readers the page changed. */
let focusedPath: string | undefined;
function focusOnChange(path: string) {
  return (heading: HTMLHeadingElement | null) => {
    if (!heading || focusedPath === path) return;
    const first = focusedPath === undefined;
    focusedPath = path;
    if (!first) heading.focus();
  };
}

function App() {
  const { path } = useLocation();
  const [account, setAccount] = useState<Account | null | undefined>(undefined);
  const [loadError, setLoadError] = useState<string | undefined>();
  const refresh = useCallback(async () => {
    try {
      setAccount(await loadAccount());
      setLoadError(undefined);
    } catch (error) {
      setLoadError(messageOf(error));
      setAccount(null);
    }
  }, []);
  useEffect(() => {
    refresh();
  }, [refresh]);

  const page = PAGES[path];
  useEffect(() => {
    if (account === undefined) return;
    if (path === "/" || !page) navigate(account ? "/overview" : "/login", { replace: true });
    else if (!account && !page.public) {
      navigate(`/login?next=${encodeURIComponent(path)}`, {
        replace: true,
      });
    } else if (account && (path === "/login" || path === "/signup")) {
      navigate("/overview", { replace: true });
    }
  }, [account, path]);
  useEffect(() => {
    document.title = page ? `${page.title} · ModelPilot` : "ModelPilot";
  }, [path]);

  const session = { account, refresh, signedOut: () => setAccount(null) };
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#content">Skip to content</a>
      <Header />
      <main id="content" tabIndex={-1}>
        {page ? <h1 tabIndex={-1} ref={focusOnChange(path)}>{page.title}</h1> : null}
        {loadError ? <Notice kind="error">The gateway did not answer: {loadError}</Notice> : null}
        {account === undefined || !page || (!account && !page.public)
          ? <p class="muted">Loading…</p>
          : <LazyPage path={path} />}
      </main>
    </SessionContext.Provider>
  );
}

document.addEventListener("click", onLinkClick);
render(<App />, document.getElementById("app")!);
