import type { Locator, Page } from "playwright-core";
import { describeInBrowser } from "../support/browser.ts";
import {
  type ConsoleStack,
  currentAccount,
  grantCredits,
  newSession,
  openFromNav,
  signUpInBrowser,
  startConsoleStack,
  uniqueEmail,
  type UserSession,
} from "./support.ts";

/** A form field that may be a free-text input or a select of the catalogue's models. */
async function choose(field: Locator, value: string): Promise<void> {
  const tag = await field.evaluate((element) => element.tagName);
  if (tag === "SELECT") await field.selectOption(value);
  else await field.fill(value);
}

/** The deployment's row (a table row or list item holding its name). */
function rowOf(page: Page, name: string): Locator {
  return page.getByRole("row").filter({ hasText: name }).or(
    page.getByRole("listitem").filter({ hasText: name }),
  ).first();
}

describeInBrowser("console: deployments", () => {
  let stack: ConsoleStack;
  let user: UserSession;

  beforeAll(async () => {
    stack = await startConsoleStack();
    user = await newSession(stack);
    await signUpInBrowser(user.page, stack.url, uniqueEmail("deploy"));
    const account = await currentAccount(user.context, stack.url);
    await grantCredits(stack.url, account.body.id, 10);
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it(
    'deploys a model on the RunPod simulator, watches it become "running", stops it and sees "stopped"',
    async () => {
      const { page } = user;
      await openFromNav(page, "Deployments");
      await page.getByRole("button", { name: "Deploy a model" }).click();
      await choose(page.getByLabel("Model", { exact: true }), "mistral:7b");
      await page.getByLabel("Name", { exact: true }).fill("mistral");
      // The GPU picker lists the allowed GPUs with their price per hour; the default is kept.
      const gpuChoices = await page.getByLabel("GPU", { exact: true }).locator("option")
        .allTextContents();
      expect(gpuChoices.some((text) => /\$\d+\.\d\d per hour/.test(text))).toBe(true);
      await page.getByRole("button", { name: "Deploy", exact: true }).click();

      const row = rowOf(page, "mistral");
      // No reload: the list refreshes by itself.
      await row.getByText("running", { exact: true }).waitFor({ timeout: 20_000 });
      expect(stack.sim.pods().map((pod) => pod.status)).toEqual(["RUNNING"]);

      page.on("dialog", (dialog) => dialog.accept());
      await row.getByRole("button", { name: "Stop" }).click();
      await row.getByText("stopped", { exact: true }).waitFor({ timeout: 20_000 });
      expect(stack.sim.pods().map((pod) => pod.status)).toEqual(["EXITED"]);
      expect(user.errors).toEqual([]);
    },
    60_000,
  );
});
