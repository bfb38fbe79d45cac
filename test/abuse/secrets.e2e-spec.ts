import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { SecretBox } from "../../src/security/secret-box.ts";
import { EVENT_STORE, type EventStore } from "../../src/event-store/event-store.port.ts";
import { ReadModelDatabase } from "../../src/projections/read-model.database.ts";
import { createAccountWithKey, signUp } from "../support/accounts.ts";
import { api, startTestApp, TEST_ADMIN_KEY, type TestApp } from "../support/test-app.ts";

const PASSWORD = "correct horse battery staple";

function report(figures: Record<string, unknown>): void {
  console.log(JSON.stringify({ scenario: 13, ...figures }));
}

/** Every directory and file under `root` with its permission bits, e.g. `{"events.sqlite":"600"}`. */
function modesUnder(root: string): Record<string, string> {
  const modes: Record<string, string> = { ".": (statSync(root).mode & 0o777).toString(8) };
  const walk = (directory: string, prefix: string) => {
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      modes[`${prefix}${entry.name}`] = (statSync(path).mode & 0o777).toString(8);
      if (entry.isDirectory()) walk(path, `${prefix}${entry.name}/`);
    }
  };
  walk(root, "");
  return modes;
}

function accessibleToOthers(modes: Record<string, string>): string[] {
  return Object.entries(modes)
    .filter(([, mode]) => (parseInt(mode, 8) & 0o077) !== 0)
    .map(([path, mode]) => `${path} ${mode}`);
}

describe("scenario 13: secrets and files", () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), "modelpilot-secrets-"));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("creates DATA_DIR 0700 and every file in it 0600, the -wal/-shm files included, and tightens older ones", async () => {
    const dataDir = join(scratch, "fresh-data");
    let app = await startTestApp({ dataDir });
    await signUp(app.url, "files@example.com", PASSWORD);
    // While running: SQLite removes the -wal and -shm files when the last connection closes.
    const afterStart = modesUnder(dataDir);
    await app.close({ keepData: true });
    for (const database of ["events.sqlite", "read-models.main.sqlite"]) {
      for (const suffix of ["", "-wal", "-shm"]) {
        expect(afterStart[database + suffix]).toBeDefined();
      }
    }

    // Files written by an older version (or under umask 022) are tightened on the next start.
    for (const path of Object.keys(modesUnder(dataDir)).filter((path) => path !== ".")) {
      chmodSync(join(dataDir, path), 0o644);
    }
    app = await startTestApp({ dataDir });
    await signUp(app.url, "files-again@example.com", PASSWORD);
    const afterRestart = modesUnder(dataDir);
    await app.close({ keepData: true });

    const exposed = [...accessibleToOthers(afterStart), ...accessibleToOthers(afterRestart)];
    report({ case: "data_dir_modes", afterStart, afterRestart, exposed: exposed.length });
    expect(afterStart["."]).toBe("700");
    expect(exposed).toEqual([]);
  });

  it("reads the secrets key from SECRETS_KEY_FILE outside DATA_DIR and refuses a missing one", async () => {
    const keyFile = join(scratch, "secrets-key");
    writeFileSync(keyFile, randomBytes(32).toString("base64"), { mode: 0o600 });
    const dataDir = join(scratch, "key-file-data");
    const app = await startTestApp({
      dataDir,
      env: { SECRETS_KEY_FILE: keyFile, ALLOW_PRIVATE_UPSTREAMS: "true" },
    });
    let decrypted: string | undefined;
    try {
      const { key } = await createAccountWithKey(app.url, "keyfile@example.com");
      const registered = await api(app.url, "POST", "/api/deployments", {
        token: key,
        body: {
          provider: "external",
          name: "mine",
          model: "mistral:7b",
          base_url: "http://127.0.0.1:9/v1",
          api_key: "sk-upstream-secret-0123456789",
        },
      });
      expect(registered.status).toBe(201);
      const store = app.app.get<EventStore>(EVENT_STORE);
      const [requested] = await store.readAll({ filter: { eventTypes: ["DeploymentRequested"] } });
      const ciphertext = (requested.data as { apiKeyCiphertext: string }).apiKeyCiphertext;
      expect(ciphertext).not.toContain("sk-upstream");
      // Encrypted with the file's key: that file alone opens it.
      decrypted = SecretBox.fromKeyFile(keyFile).decrypt(ciphertext);
    } finally {
      await app.close({ keepData: true });
    }
    const keyInDataDir = readdirSync(dataDir).includes("secrets.key");

    let refusal = "";
    try {
      const missing = await startTestApp({
        dataDir: join(scratch, "missing-key-data"),
        env: { SECRETS_KEY_FILE: join(scratch, "no-such-key") },
      });
      await missing.close();
    } catch (error) {
      refusal = (error as Error).message;
    }
    report({ case: "secrets_key_file", keyInDataDir, missingFileRefused: refusal !== "" });
    expect(decrypted).toBe("sk-upstream-secret-0123456789");
    expect(keyInDataDir).toBe(false);
    expect(refusal).toContain("SECRETS_KEY_FILE");
    expect(refusal).toContain("does not exist");
  });

  it("redacts password hashes in the CLI as the admin API does", async () => {
    const dataDir = join(scratch, "cli-data");
    const app = await startTestApp({ dataDir });
    const { accountId } = await signUp(app.url, "cli@example.com", PASSWORD);
    const admin = await api(app.url, "GET", `/admin/streams/account-${accountId}`, {
      token: TEST_ADMIN_KEY,
    });
    await app.close({ keepData: true });
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ["run", "-A", "src/cli/main.ts", ...args], {
        env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: "silent" },
        encoding: "utf8",
      });
    const events = cli("events");
    const stream = cli("stream", `account-${accountId}`);
    expect(events.status).toBe(0);
    expect(stream.status).toBe(0);
    const output = events.stdout + stream.stdout;
    const passwordSet = output.split("\n").filter((line) => line.includes('"PasswordSet"'));
    const hashesPrinted = (output.match(/scrypt\$/g) ?? []).length;
    report({ case: "cli_redaction", passwordSetLines: passwordSet.length, hashesPrinted });
    expect(passwordSet.length).toBe(2);
    for (const line of passwordSet) {
      expect(JSON.parse(line).data.passwordHash).toBe("[redacted]");
    }
    expect(hashesPrinted).toBe(0);
    const adminPasswordSet = admin.body.data.find((event: any) => event.type === "PasswordSet");
    expect(adminPasswordSet.data.passwordHash).toBe("[redacted]");
  });

  it("shows states only on the public /health; the error text needs the admin key", async () => {
    const app = await startTestApp();
    try {
      // A read-model table that is gone makes the accounts projection fail with SQLite's text.
      app.app.get(ReadModelDatabase).db.exec("DROP TABLE auth_accounts");
      await signUp(app.url, "health@example.com", PASSWORD);
      let publicHealth = await api(app.url, "GET", "/health");
      for (let tries = 0; publicHealth.status !== 503 && tries < 100; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        publicHealth = await api(app.url, "GET", "/health");
      }
      const adminHealth = await api(app.url, "GET", "/admin/health", { token: TEST_ADMIN_KEY });
      const text = JSON.stringify(publicHealth.body);
      report({
        case: "public_health",
        status: publicHealth.status,
        publicBytes: text.length,
        leaksErrorText: /no such table|auth_accounts/.test(text),
      });
      expect(publicHealth.status).toBe(503);
      expect(publicHealth.body.projections).toContainEqual({
        name: "auth-accounts",
        state: "failed",
      });
      expect(text).not.toMatch(/no such table|auth_accounts|head_position|error/);
      const failed = adminHealth.body.projections.find((p: any) => p.state === "failed");
      expect(failed.error).toContain("auth_accounts");
    } finally {
      await app.close();
    }
  });

  describe("Stripe", () => {
    let stripe: Server;
    let stripeUrl: string;
    beforeAll(async () => {
      // Stripe refusing the key, with the kind of text Stripe sends (the key's suffix).
      stripe = createServer((request, response) => {
        request.resume();
        request.on("end", () => {
          response.statusCode = 401;
          response.setHeader("content-type", "application/json");
          response.setHeader("request-id", "req_stripe_abc123");
          response.end(JSON.stringify({
            error: {
              type: "invalid_request_error",
              code: "api_key_expired",
              message: "Expired API Key provided: sk_live_****SECRET9876",
            },
          }));
        });
      });
      await new Promise<void>((resolve) => stripe.listen(0, "127.0.0.1", resolve));
      stripeUrl = `http://127.0.0.1:${(stripe.address() as AddressInfo).port}`;
    });
    afterAll(async () => await new Promise((resolve) => stripe.close(resolve)));

    it("logs the provider's error text and returns only its code and request id", async () => {
      const app = await startTestApp({
        env: {
          STRIPE_SECRET_KEY: "sk_test_fake",
          STRIPE_WEBHOOK_SECRET: "whsec_test",
          STRIPE_API_BASE_URL: stripeUrl,
          RATE_LIMIT_PER_MINUTE: "4",
        },
      });
      try {
        const { key } = await createAccountWithKey(app.url, "stripe@example.com");
        const checkout = await api(app.url, "POST", "/api/billing/checkout", {
          token: key,
          body: { amount_usd: 10 },
        });
        const text = JSON.stringify(checkout.body);
        // The signature is the webhook's gate: Stripe's bursts are not rate limited.
        const webhookStatuses = [];
        for (let delivery = 0; delivery < 6; delivery++) {
          const response = await api(app.url, "POST", "/api/billing/stripe/webhook", {
            body: { id: `evt_${delivery}` },
            headers: { "stripe-signature": "t=1,v1=bad" },
          });
          webhookStatuses.push(response.status);
        }
        report({
          case: "stripe_errors",
          status: checkout.status,
          leaksProviderText: /SECRET9876|Expired API Key/.test(text),
          webhookStatuses,
        });
        expect(checkout.status).toBe(502);
        expect(checkout.body.error.code).toBe("payment_provider_error");
        expect(text).not.toMatch(/SECRET9876|Expired API Key|sk_live/);
        expect(checkout.body.provider_request_id).toBe("req_stripe_abc123");
        expect(webhookStatuses.every((status) => status === 400)).toBe(true);
      } finally {
        await app.close();
      }
    });
  });
});
