import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import process from "node:process";
import { logger } from "./json-logger.ts";

/** SQLite's companions of a database file; they hold the same rows as the file itself. */
const SQLITE_COMPANIONS = ["", "-wal", "-shm", "-journal"];

const warnedDirectories = new Set<string>();

/**
 * DATA_DIR holds emails, password hashes and encrypted upstream keys: only this process's user
 * may read it. Sets the process umask to 077, so every file and directory created from here on
 * (databases, their -wal/-shm, artifacts, secrets.key) is owner-only, and creates the directory
 * 0700. An existing directory that others can enter is left alone (it may be shared, like /tmp)
 * but logged; the files in it that we own are tightened by restrictToOwner.
 */
export function preparePrivateDirectory(directory: string): void {
  process.umask(0o077);
  if (!existsSync(directory)) {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    return;
  }
  const mode = statSync(directory).mode & 0o777;
  if ((mode & 0o077) !== 0 && !warnedDirectories.has(directory)) {
    warnedDirectories.add(directory);
    logger.write("warn", "DATA_DIR is accessible to other users; chmod 700 it", {
      dataDir: directory,
      mode: mode.toString(8),
    });
  }
}

/**
 * Makes a SQLite database and its -wal/-shm/-journal files 0600 where they exist (files written
 * by an older version or under another umask). SQLite creates the -wal and -shm files with the
 * database file's own mode, so a 0600 database keeps them 0600.
 */
export function restrictDatabaseToOwner(path: string): void {
  for (const suffix of SQLITE_COMPANIONS) restrictToOwner(`${path}${suffix}`);
}

/** chmod 600 a file others can read or write; nothing when it does not exist. */
export function restrictToOwner(path: string): void {
  if (!existsSync(path)) return;
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
}
