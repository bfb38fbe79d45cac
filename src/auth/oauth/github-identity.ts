import { BoundedBody } from "../../common/bounded-body.ts";
import type { ExternalIdentity } from "./oauth-clients.ts";

/** GitHub's answers are a profile and a short list of addresses; anything bigger is wrong. */
const MAX_RESPONSE_BYTES = 256 * 1024;

interface GitHubEmail {
  email?: unknown;
  primary?: unknown;
  verified?: unknown;
}

/**
 * Who holds a GitHub access token: `GET /user` for the stable numeric id (logins can be renamed
 * and reused) and `GET /user/emails` for the primary address, trusted only when GitHub has
 * verified it. The profile's public `email` is neither necessarily verified nor primary.
 */
export async function fetchGitHubIdentity(
  apiUrl: string,
  accessToken: string,
  timeoutMs: number,
): Promise<ExternalIdentity> {
  const user = await getJson(apiUrl, "/user", accessToken, timeoutMs) as { id?: unknown };
  if (typeof user?.id !== "number" || !Number.isSafeInteger(user.id)) {
    throw new Error("GitHub's /user answer has no numeric id");
  }
  const emails = await getJson(apiUrl, "/user/emails", accessToken, timeoutMs);
  const primary = Array.isArray(emails)
    ? (emails as GitHubEmail[]).find((entry) => entry?.primary === true)
    : undefined;
  const verifiedEmail = primary?.verified === true && typeof primary.email === "string"
    ? primary.email
    : undefined;
  return { provider: "github", subject: String(user.id), verifiedEmail };
}

async function getJson(
  apiUrl: string,
  path: string,
  accessToken: string,
  timeoutMs: number,
): Promise<unknown> {
  const controller = new AbortController();
  const deadline = performance.now() + timeoutMs;
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(`${apiUrl.replace(/\/+$/, "")}${path}`, {
      headers: {
        accept: "application/vnd.github+json",
        authorization: `Bearer ${accessToken}`,
        // GitHub's REST API refuses requests without a User-Agent.
        "user-agent": "ModelPilot",
        "x-github-api-version": "2022-11-28",
      },
      redirect: "error",
      signal: controller.signal,
    });
    const text = await BoundedBody.of(
      response,
      { maxBytes: MAX_RESPONSE_BYTES, deadline, totalTimeoutMs: timeoutMs },
      () => controller.abort(),
    ).text();
    if (!response.ok) throw new Error(`GitHub ${path} answered ${response.status}`);
    return JSON.parse(text);
  } finally {
    clearTimeout(timer);
  }
}
