import { describeInBrowser } from "../support/browser.ts";
import {
  type ConsoleStack,
  currentAccount,
  logInInBrowser,
  newSession,
  openFromNav,
  PASSWORD,
  signUpInBrowser,
  startConsoleStack,
  uniqueEmail,
} from "./support.ts";

describeInBrowser("console: log out and log out other sessions", () => {
  let stack: ConsoleStack;

  beforeAll(async () => {
    stack = await startConsoleStack();
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it(
    "logs out: the cookie's session no longer works and the console shows the login form",
    async () => {
      const user = await newSession(stack);
      await signUpInBrowser(user.page, stack.url, uniqueEmail("logout"));
      const before = await user.context.cookies(stack.url);
      const session = before.find((cookie) => cookie.name === "mp_session")!;
      expect(session).toBeDefined();

      await user.page.getByRole("button", { name: "Log out" }).or(
        user.page.getByRole("link", { name: "Log out" }),
      ).first().click();
      await user.page.getByRole("button", { name: "Log in" }).waitFor();
      expect((await currentAccount(user.context, stack.url)).status).toBe(401);
      // The old token itself was ended server-side, not just forgotten by the browser.
      const replayed = await fetch(`${stack.url}/api/account`, {
        headers: { cookie: `mp_session=${session.value}` },
      });
      expect(replayed.status).toBe(401);
      // A signed-out visitor sent to a console page is asked to log in.
      await user.page.goto(`${stack.url}/keys`);
      await user.page.getByRole("button", { name: "Log in" }).waitFor();
      expect(user.errors).toEqual([]);
      await user.context.close();
    },
    30_000,
  );

  it('"Log out other sessions" ends a second browser\'s session and keeps this one', async () => {
    const email = uniqueEmail("sessions");
    const here = await newSession(stack);
    await signUpInBrowser(here.page, stack.url, email);
    const elsewhere = await newSession(stack);
    await logInInBrowser(elsewhere.page, stack.url, email);
    expect((await currentAccount(elsewhere.context, stack.url)).status).toBe(200);

    await openFromNav(here.page, "Settings");
    here.page.on("dialog", (dialog) => dialog.accept());
    await here.page.getByRole("button", { name: "Log out other sessions" }).click();

    const deadline = Date.now() + 10_000;
    while ((await currentAccount(elsewhere.context, stack.url)).status === 200) {
      if (Date.now() > deadline) throw new Error("the other session still works");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await currentAccount(elsewhere.context, stack.url)).status).toBe(401);
    expect((await currentAccount(here.context, stack.url)).status).toBe(200);
    // The other browser, on its next page load, is back at the login form.
    await elsewhere.page.goto(`${stack.url}/overview`);
    await elsewhere.page.getByRole("button", { name: "Log in" }).waitFor();
    expect(here.errors).toEqual([]);
    await here.context.close();
    await elsewhere.context.close();
  }, 30_000);

  it("changes the password in Settings: other sessions end, the new password logs in", async () => {
    const email = uniqueEmail("password");
    const here = await newSession(stack);
    await signUpInBrowser(here.page, stack.url, email);
    const elsewhere = await newSession(stack);
    await logInInBrowser(elsewhere.page, stack.url, email);

    await openFromNav(here.page, "Settings");
    await here.page.getByLabel("Current password").fill(PASSWORD);
    await here.page.getByLabel("New password").fill("a brand new passphrase");
    await here.page.getByRole("button", { name: "Change password" }).click();
    await here.page.getByText("Password changed. Other sessions were logged out.").waitFor();

    expect((await currentAccount(elsewhere.context, stack.url)).status).toBe(401);
    expect((await currentAccount(here.context, stack.url)).status).toBe(200);
    const fresh = await newSession(stack);
    await logInInBrowser(fresh.page, stack.url, email, "a brand new passphrase");
    expect((await currentAccount(fresh.context, stack.url)).body.email).toBe(email);
    expect(here.errors).toEqual([]);
    for (const session of [here, elsewhere, fresh]) await session.context.close();
  }, 30_000);
});
