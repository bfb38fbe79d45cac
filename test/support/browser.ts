import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/**
 * The browser the console specs drive: Debian's `chromium` package, never a browser playwright
 * downloads (playwright-core has no downloader, and the executable path is fixed). `.ci/run`
 * installs it; on a machine without it the specs print why and skip.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const BROWSER_SKIP_REASON =
  "browser tests skipped: Debian's chromium is not installed (apt-get install chromium)";

export function chromiumInstalled(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/**
 * `describe`, or — without chromium — `describe.skip` after printing the reason, so a skipped
 * browser suite is visible in the output rather than silently green.
 */
export function describeInBrowser(name: string, body: () => void): void {
  if (chromiumInstalled()) {
    describe(name, body);
    return;
  }
  process.stderr.write(`${name}: ${BROWSER_SKIP_REASON}\n`);
  describe.skip(name, body);
}

// Quiet, deterministic, offline: no sync, no component updates, no QUIC probing of localhost.
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

export interface LaunchedBrowser {
  browser: Browser;
  /** An isolated context (its own cookies and storage), closed with the browser. */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

/**
 * Headless chromium with a fresh profile: playwright's `launch` gives it a throwaway
 * --user-data-dir, and HOME points at a temporary directory we remove, so nothing (NSS
 * database, crash dumps) lands in the real home or survives the run.
 */
export async function launchBrowser(): Promise<LaunchedBrowser> {
  const profileParent = mkdtempSync(join(tmpdir(), "modelpilot-chromium-"));
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    env: { ...process.env, HOME: profileParent },
    timeout: 30_000,
  });
  return {
    browser,
    async newContext() {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      context.setDefaultTimeout(10_000);
      context.setDefaultNavigationTimeout(15_000);
      return context;
    },
    async close() {
      await browser.close();
      rmSync(profileParent, { recursive: true, force: true });
    },
  };
}

/**
 * What went wrong inside a page: uncaught exceptions and Content-Security-Policy violations.
 * Specs assert the list is empty at the end of a flow. Chromium's "Failed to load resource"
 * lines are left out: an expected 401 (the login page asking who is signed in) logs one too.
 */
export function watchPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    const text = message.text();
    if (message.type() === "error" && /Content Security Policy|Refused to/i.test(text)) {
      errors.push(`console: ${text}`);
    }
  });
  return errors;
}
