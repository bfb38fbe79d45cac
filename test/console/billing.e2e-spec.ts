import { describeInBrowser } from "../support/browser.ts";
import {
  type ConsoleStack,
  currentAccount,
  eventually,
  grantCredits,
  newSession,
  openFromNav,
  signUpInBrowser,
  startConsoleStack,
  TEST_ADMIN_KEY,
  uniqueEmail,
  type UserSession,
} from "./support.ts";

describeInBrowser("console: billing", () => {
  let stack: ConsoleStack;
  let user: UserSession;
  let accountId: string;
  const email = uniqueEmail("billing");

  beforeAll(async () => {
    stack = await startConsoleStack();
    user = await newSession(stack);
    await signUpInBrowser(user.page, stack.url, email);
    accountId = (await currentAccount(user.context, stack.url)).body.id;
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it("shows an operator's credit grant on Billing as dollars", async () => {
    const { page } = user;
    await openFromNav(page, "Billing");
    await page.getByText("$0.00").first().waitFor();
    expect(await page.getByText("$7.50").count()).toBe(0);

    await grantCredits(stack.url, accountId, 7.5);
    // The page is left as it is and then revisited through the navigation, as a person would.
    await openFromNav(page, "Overview");
    await openFromNav(page, "Billing");
    await page.getByText("$7.50").first().waitFor();
    expect(user.errors).toEqual([]);
  }, 30_000);

  it("sends Add funds to Stripe Checkout with success and cancel pages on /billing", async () => {
    const { page } = user;
    // Checkout's own page is Stripe's; the browser is answered locally instead of leaving.
    await page.route(
      "https://checkout.stripe.test/**",
      (route) =>
        route.fulfill({ contentType: "text/html", body: "<h1>Stripe Checkout (fake)</h1>" }),
    );
    await openFromNav(page, "Billing");
    await page.getByLabel("Amount (USD)").fill("10");
    // The first-purchase bonus is shown before paying: $10 buys $15 of credit.
    await page.getByText(/50% bonus.*\$15\.00/).waitFor();
    await page.getByRole("button", { name: "Add funds" }).click();
    await page.waitForURL(/checkout\.stripe\.test/);
    await eventually(async () => stack.stripe.sessionRequests.length === 1);
    const fields = stack.stripe.sessionRequests[0].fields;
    // Back to this very gateway (the request's origin; no PUBLIC_BASE_URL is set).
    expect(fields.get("success_url")).toMatch(
      new RegExp(`^${stack.url}/billing\\?checkout=success(&|$)`),
    );
    expect(fields.get("cancel_url")).toBe(`${stack.url}/billing?checkout=cancelled`);
    expect(fields.get("line_items[0][price_data][unit_amount]")).toBe("1000");

    await page.goto(`${stack.url}/billing?checkout=cancelled`);
    await page.getByText("Checkout was cancelled. Nothing was charged.").waitFor();
    await page.goto(`${stack.url}/billing?checkout=success`);
    await page.getByText(/Payment received/).waitFor();
    expect(user.errors).toEqual([]);
  }, 30_000);

  it(
    "grants credit from the Admin page with the admin key, and the user sees it on Billing",
    async () => {
      const operator = await newSession(stack);
      const { page } = operator;
      await page.goto(`${stack.url}/admin`);
      await page.getByLabel("Admin API key").fill(TEST_ADMIN_KEY);
      await page.getByRole("button", { name: "Unlock" }).click();
      await page.getByLabel("Search accounts").fill(email);
      await page.getByRole("button", { name: "Search" }).click();
      const row = page.getByRole("row").filter({ hasText: email });
      await row.getByRole("button", { name: "Grant credit" }).click();
      const form = page.getByRole("form", { name: `Grant credit to ${email}` });
      await form.getByLabel("Amount (USD)").fill("2.5");
      await form.getByLabel("Reason").fill("goodwill");
      await form.getByRole("button", { name: "Grant" }).click();
      await row.getByText("Granted $2.50.").waitFor();
      // The admin key lives in the tab's memory only.
      const stored = await page.evaluate(() =>
        JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })
      );
      expect(stored).not.toContain(TEST_ADMIN_KEY);
      expect((await operator.context.cookies()).map((cookie) => cookie.value).join()).not.toContain(
        TEST_ADMIN_KEY,
      );
      await operator.context.close();

      await openFromNav(user.page, "Overview");
      await openFromNav(user.page, "Billing");
      // $7.50 granted before, $2.50 now, no purchase completed.
      await user.page.getByText("$10.00").first().waitFor();
      await user.page.getByRole("row").filter({ hasText: "goodwill" }).getByText("$2.50").waitFor();
      expect(operator.errors).toEqual([]);
    },
    30_000,
  );
});
