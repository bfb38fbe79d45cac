import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { type AppConfig, ConfigError } from "./config.ts";

export interface TlsCredentials {
  cert: string;
  key: string;
}

/**
 * The certificate chain and key the gateway serves HTTPS with (TLS_CERT_FILE, TLS_KEY_FILE), or
 * undefined when both are unset (plain HTTP, e.g. behind a TLS-terminating proxy). loadConfig
 * already refused one without the other; this reads the files once at start and checks that
 * they parse and belong together, so a wrong file stops the start with one line instead of
 * failing every handshake later (Deno's TLS stack accepts a mismatched pair without a word).
 */
export function readTlsCredentials(
  config: Pick<AppConfig, "tlsCertFile" | "tlsKeyFile">,
): TlsCredentials | undefined {
  if (!config.tlsCertFile || !config.tlsKeyFile) return undefined;
  const cert = readPem("TLS_CERT_FILE", config.tlsCertFile);
  const key = readPem("TLS_KEY_FILE", config.tlsKeyFile);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new ConfigError(`TLS_CERT_FILE (${config.tlsCertFile}) holds no PEM certificate`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigError(
      `TLS_KEY_FILE (${config.tlsKeyFile}) holds no unencrypted PEM private key`,
    );
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError(
      `TLS_KEY_FILE (${config.tlsKeyFile}) is not the key of the first certificate in ` +
        `TLS_CERT_FILE (${config.tlsCertFile})`,
    );
  }
  return { cert, key };
}

function readPem(name: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code ?? "unreadable";
    throw new ConfigError(`${name} (${path}) cannot be read (${code})`);
  }
}
