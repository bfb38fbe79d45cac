/**
 * Event fields no operator tool shows, neither the admin API nor the CLI: auth keeps them in
 * its own events (the password's scrypt hash), and they are useful only to someone cracking it.
 * The key and session hashes are SHA-256 of 238+ random bits, so they stay visible for audits.
 */
export const HIDDEN_FIELDS: Readonly<Record<string, readonly string[]>> = {
  PasswordSet: ["passwordHash"],
  PasswordChanged: ["passwordHash"],
};

/** An event's data with its hidden fields replaced by "[redacted]". */
export function visibleEventData(event: { type: string; data: unknown }): unknown {
  const hidden = HIDDEN_FIELDS[event.type];
  if (!hidden || typeof event.data !== "object" || event.data === null) return event.data;
  const data = { ...(event.data as Record<string, unknown>) };
  for (const field of hidden) if (field in data) data[field] = "[redacted]";
  return data;
}
