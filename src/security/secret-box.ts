import { Buffer } from "node:buffer";
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import { existsSync, linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import process from "node:process";
import { join } from "node:path";
import { logger } from "../common/json-logger.ts";
import { preparePrivateDirectory, restrictToOwner } from "../common/private-files.ts";
import { ConfigError } from "../config/config.ts";

const VERSION = "v1";

/** Where the secrets key comes from (AppConfig's SECRETS_KEY, SECRETS_KEY_FILE, DATA_DIR). */
export interface SecretKeySource {
  dataDir: string;
  secretsKey?: string;
  secretsKeyFile?: string;
}

/** As long as SECRETS_KEY must be (config.ts). */
const MIN_KEY_LENGTH = 32;

/**
 * AES-256-GCM for secrets at rest (external upstream API keys). The key comes from SECRETS_KEY
 * (any string; hashed to 32 bytes), from the file SECRETS_KEY_FILE names (so it can live
 * outside DATA_DIR and its backups), or from `DATA_DIR/secrets.key`, created with mode 0600 on
 * first use. Ciphertexts are `v1:<iv>:<tag>:<data>` (base64url) and go into events; the
 * plaintext is only ever handed to the upstream call.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static fromKeyMaterial(material: string): SecretBox {
    return new SecretBox(createHash("sha256").update(material, "utf8").digest());
  }

  /** SECRETS_KEY, else SECRETS_KEY_FILE, else the key file under DATA_DIR (created on first use). */
  static open({ dataDir, secretsKey, secretsKeyFile }: SecretKeySource): SecretBox {
    if (secretsKey && secretsKeyFile) {
      throw new ConfigError("set SECRETS_KEY or SECRETS_KEY_FILE, not both");
    }
    if (secretsKey && secretsKey.trim()) return SecretBox.fromKeyMaterial(secretsKey.trim());
    if (secretsKeyFile) return SecretBox.fromKeyFile(secretsKeyFile);
    const path = join(dataDir, "secrets.key");
    if (!existsSync(path)) {
      preparePrivateDirectory(dataDir);
      // Written whole under a private name, then linked into place: link fails if the key exists,
      // and another instance starting at the same moment never reads a half-written key.
      const draft = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
      writeFileSync(draft, randomBytes(32).toString("base64"), { mode: 0o600, flag: "wx" });
      try {
        linkSync(draft, path);
      } catch (error) {
        // Another instance created it first: use theirs.
        if ((error as { code?: string }).code !== "EEXIST") throw error;
      } finally {
        unlinkSync(draft);
      }
    }
    restrictToOwner(path);
    return SecretBox.fromKeyMaterial(readFileSync(path, "utf8").trim());
  }

  /**
   * The operator's key file: it must exist and hold at least 32 characters. One that other users
   * can read is used but logged (secret mounts are often 0644 inside a single-user container).
   */
  static fromKeyFile(path: string): SecretBox {
    let mode: number;
    try {
      const stat = statSync(path);
      if (!stat.isFile()) throw new ConfigError(`SECRETS_KEY_FILE (${path}) is not a file`);
      mode = stat.mode & 0o777;
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      const code = (error as { code?: string }).code;
      throw new ConfigError(
        code === "ENOENT"
          ? `SECRETS_KEY_FILE (${path}) does not exist; create it with at least ${MIN_KEY_LENGTH} ` +
            `random characters (e.g. openssl rand -base64 32 > ${path}; chmod 600 ${path})`
          : `SECRETS_KEY_FILE (${path}) cannot be read: ${(error as Error).message}`,
      );
    }
    const material = readFileSync(path, "utf8").trim();
    if (material.length < MIN_KEY_LENGTH) {
      throw new ConfigError(
        `SECRETS_KEY_FILE (${path}) must hold at least ${MIN_KEY_LENGTH} characters`,
      );
    }
    if ((mode & 0o077) !== 0) {
      logger.write("warn", "SECRETS_KEY_FILE is readable by other users; chmod 600 it", {
        path,
        mode: mode.toString(8),
      });
    }
    return SecretBox.fromKeyMaterial(material);
  }

  /**
   * A separate 32-byte key for one purpose (HKDF-SHA256 over the box's key, info = purpose):
   * signing links or cookies never reuses the encryption key, and purposes never share a key.
   * Shared by artifact URLs ("artifact-urls") and OAuth state ("oauth-state").
   */
  derivedKey(purpose: string): Buffer {
    return Buffer.from(hkdfSync("sha256", this.key, new Uint8Array(0), purpose, 32));
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      VERSION,
      iv.toString("base64url"),
      tag.toString("base64url"),
      data.toString("base64url"),
    ].join(":");
  }

  decrypt(ciphertext: string): string {
    const [version, iv, tag, data] = ciphertext.split(":");
    if (version !== VERSION || !iv || !tag || data === undefined) {
      throw new Error("unknown secret format");
    }
    const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(data, "base64url")), decipher.final()])
      .toString("utf8");
  }
}

export const SECRET_BOX = Symbol("SECRET_BOX");
