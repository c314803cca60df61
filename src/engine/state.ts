import { randomUUID } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { mkdir, open, rename } from "node:fs/promises";
import { dirname } from "node:path";
import type { Address } from "./types.js";

/** What Lakeforge remembers about one managed object. Never holds a secret value: only fingerprints. */
export interface StateEntry {
  kind: string;
  name: string;
  /** The remote id; absent while a create is in flight (`pending`). */
  id?: string;
  /** The natural key the object can be found by if its id is lost. */
  naturalKey: string;
  /** The spec as last applied, with sensitive fields removed. */
  applied: Record<string, unknown>;
  /** Salted fingerprints of sensitive fields, by path. */
  fingerprints: Record<string, string>;
  /** Outputs other resources may reference. */
  outputs: Record<string, unknown>;
  dependsOn: Address[];
  preventDestroy?: boolean;
  /** Set just before a create is sent; cleared when its id is recorded. A crash in between leaves it. */
  pending?: "create";
}

export interface StateFile {
  version: 1;
  /** Identifies one environment's history; a plan from another lineage is refused. */
  lineage: string;
  /** Incremented on every write. */
  serial: number;
  environment: string;
  /** Random per state, mixed into secret fingerprints so they cannot be compared across environments. */
  salt: string;
  resources: Record<Address, StateEntry>;
}

export function emptyState(environment: string): StateFile {
  return { version: 1, lineage: randomUUID(), serial: 0, environment, salt: randomUUID(), resources: {} };
}

/** Where state lives. Implementations write atomically. */
export interface StateBackend {
  /** Human description for messages ("workspace:/Shared/.lakeforge/...", "file:...") */
  readonly description: string;
  load(): Promise<StateFile | undefined>;
  save(state: StateFile): Promise<void>;
}

/** Writes `data` to `file` atomically: temporary file, fsync, rename. */
export function writeFileAtomic(file: string, data: string, mode = 0o600): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

let tmpCounter = 0;

/**
 * `writeFileAtomic` without blocking the event loop while the data reaches the disk, so other work
 * (and other saves, which then share the next write) goes on meanwhile.
 */
export async function writeFileAtomicAsync(file: string, data: string, mode = 0o600): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${++tmpCounter}.tmp`;
  const handle = await open(tmp, "w", mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

/** The text of a state file (what `parseState` reads). */
export const serializeState = (state: StateFile) => `${JSON.stringify(state, null, 2)}\n`;

/** State in a local JSON file. */
export class FileStateBackend implements StateBackend {
  constructor(readonly file: string) {}

  get description() {
    return `file:${this.file}`;
  }

  async load(): Promise<StateFile | undefined> {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    return parseState(text, this.description);
  }

  /** Serialises `state` at once (the caller may change it afterwards), then writes it atomically. */
  save(state: StateFile): Promise<void> {
    return this.write(serializeState(state));
  }

  /** Writes the text of a state file atomically. */
  write(text: string): Promise<void> {
    return writeFileAtomicAsync(this.file, text);
  }
}

export function parseState(text: string, where: string): StateFile {
  const parsed = JSON.parse(text) as Partial<StateFile>;
  if (parsed.version !== 1 || typeof parsed.lineage !== "string" || typeof parsed.serial !== "number" || !parsed.resources) {
    throw new Error(`${where} is not a Lakeforge state file (version 1)`);
  }
  return parsed as StateFile;
}
