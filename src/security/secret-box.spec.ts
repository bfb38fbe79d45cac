import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../config/config.ts";
import { SecretBox } from "./secret-box.ts";

describe("SecretBox.open", () => {
  let scratch: string;
  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), "secret-box-"));
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  it("uses SECRETS_KEY_FILE and writes nothing into DATA_DIR", () => {
    const keyFile = join(scratch, "key");
    writeFileSync(keyFile, "k".repeat(40), { mode: 0o600 });
    const dataDir = join(scratch, "data");
    const box = SecretBox.open({ dataDir, secretsKeyFile: keyFile });
    const ciphertext = box.encrypt("upstream-key");
    expect(SecretBox.fromKeyMaterial("k".repeat(40)).decrypt(ciphertext)).toBe("upstream-key");
    expect(() => statSync(dataDir)).toThrow();
  });

  it("refuses a missing, short or ambiguous key with a ConfigError naming the variable", () => {
    const short = join(scratch, "short");
    writeFileSync(short, "too-short\n", { mode: 0o600 });
    const attempts = [
      () => SecretBox.open({ dataDir: scratch, secretsKeyFile: join(scratch, "absent") }),
      () => SecretBox.open({ dataDir: scratch, secretsKeyFile: short }),
      () => SecretBox.open({ dataDir: scratch, secretsKeyFile: scratch }),
      () => SecretBox.open({ dataDir: scratch, secretsKey: "s".repeat(32), secretsKeyFile: short }),
    ];
    for (const attempt of attempts) {
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(/SECRETS_KEY/);
    }
  });

  it("creates DATA_DIR/secrets.key 0600 when no key is configured, and reuses it", () => {
    const dataDir = join(scratch, "data");
    const ciphertext = SecretBox.open({ dataDir }).encrypt("x");
    expect(statSync(join(dataDir, "secrets.key")).mode & 0o777).toBe(0o600);
    expect(SecretBox.open({ dataDir }).decrypt(ciphertext)).toBe("x");
  });
});
