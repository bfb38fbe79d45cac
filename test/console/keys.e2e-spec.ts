import OpenAI from "openai";
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
  uniqueEmail,
  type UserSession,
} from "./support.ts";

/** A chat through the gateway with the official client, as the README tells a user to. */
async function chatWith(url: string, apiKey: string): Promise<string> {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 10_000 });
  const completion = await client.chat.completions.create({
    model: "qwen3-8b",
    messages: [{ role: "user", content: "Say hello" }],
  });
  return completion.choices[0].message.content ?? "";
}

async function chatStatus(url: string, apiKey: string): Promise<number | "ok"> {
  try {
    await chatWith(url, apiKey);
    return "ok";
  } catch (error) {
    if (error instanceof OpenAI.APIError && error.status !== undefined) return error.status;
    throw error;
  }
}

describeInBrowser("console: sign up, create an API key, use it, rotate it", () => {
  let stack: ConsoleStack;
  let user: UserSession;

  beforeAll(async () => {
    stack = await startConsoleStack();
    user = await newSession(stack);
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it(
    "signs up in the browser and lands signed in, with the session in an HttpOnly cookie",
    async () => {
      const email = uniqueEmail("keys");
      await signUpInBrowser(user.page, stack.url, email);
      const account = await currentAccount(user.context, stack.url);
      expect(account.status).toBe(200);
      expect(account.body.email).toBe(email);
      const cookies = await user.context.cookies(stack.url);
      const session = cookies.find((cookie) => cookie.name === "mp_session");
      expect(session).toMatchObject({ httpOnly: true, sameSite: "Lax" });
      // The session lives in the cookie only, never in storage a script could read.
      const stored = await user.page.evaluate(() =>
        JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })
      );
      expect(stored).not.toContain(session!.value);
    },
    30_000,
  );

  let secret = "";

  it(
    'creates a read+proxy key, shows it once in "Your new API key", and it chats through the openai package',
    async () => {
      const { page } = user;
      const account = await currentAccount(user.context, stack.url);
      await grantCredits(stack.url, account.body.id, 1);

      await openFromNav(page, "API keys");
      await page.getByRole("button", { name: "Create API key" }).click();
      await page.getByLabel("Name", { exact: true }).fill("laptop");
      await page.getByRole("checkbox", { name: "read", exact: true }).check();
      await page.getByRole("checkbox", { name: "proxy", exact: true }).check();
      await page.getByRole("checkbox", { name: "manage", exact: true }).uncheck();
      await page.getByRole("button", { name: "Create", exact: true }).click();

      const shown = page.getByLabel("Your new API key");
      await eventually(async () => (await shown.inputValue()).startsWith("mp_live_"));
      secret = await shown.inputValue();
      expect(await shown.getAttribute("readonly")).not.toBeNull();
      expect(await page.getByRole("button", { name: /copy/i }).count()).toBeGreaterThan(0);

      expect(await chatWith(stack.url, secret)).not.toBe("");

      // The list shows the key by name and prefix, never the secret, once the page is reloaded.
      await page.reload();
      await page.getByRole("heading", { name: "API keys", level: 1 }).waitFor();
      await page.getByText("laptop", { exact: true }).first().waitFor();
      expect(await page.content()).not.toContain(secret);
    },
    30_000,
  );

  /** Rotates "laptop" through its row's panel; answers the new secret once it is shown. */
  async function rotateInBrowser(previous: string, grace?: string): Promise<string> {
    const { page } = user;
    const row = page.getByRole("row").filter({ hasText: "laptop" });
    await row.getByRole("button", { name: "Rotate" }).click();
    if (grace) await row.getByRole("radio", { name: grace }).check();
    await row.getByRole("button", { name: "Confirm" }).click();
    const shown = page.getByLabel("Your new API key");
    await eventually(async () => {
      const value = await shown.inputValue().catch(() => "");
      return value.startsWith("mp_live_") && value !== previous;
    });
    return await shown.inputValue();
  }

  it(
    "rotates the key: by default the old secret stops working at once and the new one works",
    async () => {
      expect(secret).not.toBe("");
      const rotated = await rotateInBrowser(secret);
      expect(await chatStatus(stack.url, secret)).toBe(401);
      expect(await chatStatus(stack.url, rotated)).toBe("ok");
      secret = rotated;
    },
    30_000,
  );

  it("rotates with a grace period: both secrets work and the page says until when", async () => {
    expect(secret).not.toBe("");
    const rotated = await rotateInBrowser(secret, "after 1 hour");
    expect(await chatStatus(stack.url, secret)).toBe("ok");
    expect(await chatStatus(stack.url, rotated)).toBe("ok");
    await user.page.getByRole("row").filter({ hasText: "laptop" })
      .getByText(/old secret works until/).waitFor();
    expect(user.errors).toEqual([]);
  }, 30_000);
});
