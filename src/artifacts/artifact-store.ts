import { createHash } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";

/**
 * Where generated files live. Events and read models carry artifact ids and sizes; the bytes
 * are here. The local directory store is the default; an S3 store implements the same port
 * (key = artifact id).
 */
export interface StoredArtifact {
  id: string;
  contentType: string;
  bytes: number;
  sha256: string;
}

export interface ArtifactStore {
  /** Stores the bytes under `id`; writing the same id again replaces it atomically. */
  put(id: string, data: Uint8Array, contentType: string): Promise<StoredArtifact>;
  /** The bytes, or undefined when no such artifact exists. */
  get(id: string): Promise<Uint8Array | undefined>;
  exists(id: string): Promise<boolean>;
}

export const ARTIFACT_STORE = Symbol("ARTIFACT_STORE");

const ARTIFACT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;

export function assertArtifactId(id: string): string {
  if (!ARTIFACT_ID.test(id) || id.includes("..")) throw new RangeError(`bad artifact id: ${id}`);
  return id;
}

/** Files under one directory (`$DATA_DIR/artifacts` by default), written via rename. */
export class LocalArtifactStore implements ArtifactStore {
  private ready?: Promise<unknown>;

  constructor(readonly directory: string) {}

  async put(id: string, data: Uint8Array, contentType: string): Promise<StoredArtifact> {
    const path = this.pathOf(id);
    this.ready ??= mkdir(this.directory, { recursive: true });
    await this.ready;
    const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(temporary, data);
    await rename(temporary, path);
    return {
      id,
      contentType,
      bytes: data.byteLength,
      sha256: createHash("sha256").update(data).digest("hex"),
    };
  }

  async get(id: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.pathOf(id)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  async exists(id: string): Promise<boolean> {
    try {
      await stat(this.pathOf(id));
      return true;
    } catch {
      return false;
    }
  }

  private pathOf(id: string): string {
    return join(this.directory, assertArtifactId(id));
  }
}
