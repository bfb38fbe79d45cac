import type { Locator } from "playwright-core";
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

async function choose(field: Locator, value: string): Promise<void> {
  const tag = await field.evaluate((element) => element.tagName);
  if (tag === "SELECT") await field.selectOption(value);
  else await field.fill(value);
}

describeInBrowser("console: playground", () => {
  let stack: ConsoleStack;
  let user: UserSession;

  beforeAll(async () => {
    stack = await startConsoleStack();
    user = await newSession(stack);
    await signUpInBrowser(user.page, stack.url, uniqueEmail("playground"));
    const account = await currentAccount(user.context, stack.url);
    await grantCredits(stack.url, account.body.id, 5);
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it(
    "generates an image and shows it; its signed URL opens in a browser with no session",
    async () => {
      const { page } = user;
      await openFromNav(page, "Playground");
      await page.getByRole("group", { name: "Playground tool" }).getByRole("button", {
        name: "Image",
      }).click();
      await choose(page.getByLabel("Model", { exact: true }), "flux-schnell");
      await page.getByLabel("Prompt").fill("a red fox in the snow");
      const answered = page.waitForResponse((response) =>
        new URL(response.url()).pathname === "/api/v1/generate/image"
      );
      await page.getByRole("button", { name: "Generate" }).click();
      const generated = await (await answered).json();

      const image = page.getByRole("img", { name: /a red fox in the snow/ });
      await image.waitFor({ timeout: 20_000 });
      // Loaded and decoded, not a broken-image icon (the test runs outside the DOM's types).
      await eventually(() =>
        image.evaluate((element: any) => element.complete && element.naturalWidth > 0)
      );
      // The cost is shown with the result ($0.008 for flux-schnell).
      await page.getByText("$0.008").first().waitFor();

      // A link that works as a link: a signed, expiring URL on this origin that a browser with
      // no cookie and no Authorization header opens as the image.
      const url: string = generated.images?.[0]?.url;
      expect(url).toMatch(
        new RegExp(`^${stack.url}/api/v1/artifacts/[^?]+\\?expires=\\d+&signature=[\\w-]+$`),
      );
      const stranger = await newSession(stack);
      const opened = await stranger.page.goto(url);
      expect(opened?.status()).toBe(200);
      expect(opened?.headers()["content-type"]).toBe("image/png");
      // Chromium shows an opened image in a document of its own with one <img>.
      const width = await stranger.page.locator("img").evaluate((element: any) =>
        element.naturalWidth
      );
      expect(width).toBeGreaterThan(0);
      // A tampered signature is refused.
      const forged = await fetch(url.replace(/signature=[\w-]+/, "signature=AAAA"));
      expect(forged.status).toBeGreaterThanOrEqual(400);
      expect(forged.status).toBeLessThan(500);
      await stranger.context.close();
      expect(user.errors).toEqual([]);
    },
    45_000,
  );

  it("lists the generated image under Jobs as completed, with its cost", async () => {
    const { page } = user;
    await openFromNav(page, "Jobs");
    const row = page.getByRole("row").filter({ hasText: "flux-schnell" });
    await row.getByText("completed", { exact: true }).waitFor();
    await row.getByText("$0.008").waitFor();
  }, 30_000);

  it("chats in the Playground with a streamed answer", async () => {
    const { page } = user;
    await openFromNav(page, "Playground");
    await page.getByRole("group", { name: "Playground tool" }).getByRole("button", {
      name: "Chat",
    }).click();
    await page.getByLabel("Model", { exact: true }).selectOption("qwen3-8b");
    await page.getByLabel("Message").fill("Say hello");
    const answered = page.waitForResponse((response) =>
      new URL(response.url()).pathname === "/v1/chat/completions"
    );
    await page.getByRole("button", { name: "Send" }).click();
    const response = await answered;
    expect(response.status()).toBe(200);
    expect(response.headers()["content-type"]).toContain("text/event-stream");
    // The answer lands in the conversation once the stream ends (Send is enabled again).
    const reply = page.getByRole("listitem").filter({ hasText: "qwen3-8b" });
    await page.getByRole("button", { name: "Send" }).and(page.locator(":enabled")).waitFor();
    const text = (await reply.innerText()).replace("qwen3-8b", "").trim();
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toBe("…");
    expect(user.errors).toEqual([]);
  }, 30_000);
});
