import { Buffer } from "node:buffer";
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const VERSION = "v1";

/**
 * AES-256-GCM for secrets at rest (external upstream API keys). The key comes from SECRETS_KEY
 * (any string; hashed to 32 bytes) or from `DATA_DIR/secrets.key`, created with mode 0600 on
 * first use. Ciphertexts are `v1:<iv>:<tag>:<data>` (base64url) and go into events; the
 * plaintext is only ever handed to the upstream call.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static fromKeyMaterial(material: string): SecretBox {
    return new SecretBox(createHash("sha256").update(material, "utf8").digest());
  }

  /** SECRETS_KEY when set, else the key file under `dataDir` (created on first use). */
  static open(dataDir: string, secretsKey?: string): SecretBox {
    if (secretsKey && secretsKey.trim()) return SecretBox.fromKeyMaterial(secretsKey.trim());
    const path = join(dataDir, "secrets.key");
    if (!existsSync(path)) {
      mkdirSync(dataDir, { recursive: true });
      try {
        writeFileSync(path, randomBytes(32).toString("base64"), { mode: 0o600, flag: "wx" });
      } catch (error) {
        // Another instance created it first: use theirs.
        if ((error as { code?: string }).code !== "EEXIST") throw error;
      }
    }
    return SecretBox.fromKeyMaterial(readFileSync(path, "utf8").trim());
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
