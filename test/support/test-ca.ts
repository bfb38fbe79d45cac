import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A throwaway certificate authority and a server certificate for 127.0.0.1 and localhost, made
 * with the openssl CLI when a test starts (nothing private is committed). The directory holds
 * `ca.pem`, `server.pem` and `server-key.pem`; `remove()` deletes it.
 */
export interface TestCertificates {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** PEM of the CA, to trust in a client (`ca:` of https/tls/ws options). */
  ca: string;
  cert: string;
  key: string;
  remove(): void;
}

/** Whether the openssl CLI is on PATH (`.ci/run` installs it from Debian's packages). */
export function opensslAvailable(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function createTestCertificates(
  options: { hosts?: string[]; days?: number } = {},
): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "modelpilot-ca-"));
  const file = (name: string) => join(dir, name);
  const days = String(options.days ?? 2);
  const hosts = options.hosts ?? ["127.0.0.1", "localhost", "::1"];
  const subjectAltName = hosts.map((
    host,
  ) => (/^[\d.:]+$/.test(host) ? `IP:${host}` : `DNS:${host}`))
    .join(",");
  const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });

  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", file("ca-key.pem")]);
  openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    file("ca-key.pem"),
    "-sha256",
    "-days",
    days,
    "-subj",
    "/CN=ModelPilot test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    file("ca.pem"),
  ]);
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", file("server-key.pem")]);
  openssl([
    "req",
    "-new",
    "-key",
    file("server-key.pem"),
    "-subj",
    "/CN=127.0.0.1",
    "-out",
    file("server.csr"),
  ]);
  writeFileSync(
    file("server.ext"),
    `subjectAltName=${subjectAltName}\nbasicConstraints=CA:FALSE\n` +
      `keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
  );
  openssl([
    "x509",
    "-req",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.pem"),
    "-CAkey",
    file("ca-key.pem"),
    "-CAcreateserial",
    "-days",
    days,
    "-sha256",
    "-extfile",
    file("server.ext"),
    "-out",
    file("server.pem"),
  ]);
  // The CA's key has done its job; nothing more may be signed with it.
  rmSync(file("ca-key.pem"));

  return {
    dir,
    caFile: file("ca.pem"),
    certFile: file("server.pem"),
    keyFile: file("server-key.pem"),
    ca: readFileSync(file("ca.pem"), "utf8"),
    cert: readFileSync(file("server.pem"), "utf8"),
    key: readFileSync(file("server-key.pem"), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
