import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

/**
 * The workspace's state: named collections of JSON values, id sequences and content-addressed blobs.
 *
 * Everything lives in memory. With a data directory, every mutation is appended to a journal
 * (`journal.jsonl`) before the request that made it is answered, so a killed server loses nothing it
 * acknowledged; on start the snapshot is loaded, the journal replayed, and both compacted into a new
 * snapshot written atomically (temp file, fsync, rename). Handlers run their read-modify-write
 * sequences synchronously, so concurrent requests cannot interleave inside one and lose an update.
 */
export class Store {
  private readonly collections = new Map<string, Collection<unknown>>();
  private readonly sequences = new Map<string, number>();
  private readonly memoryBlobs = new Map<string, Buffer>();
  private journalFd: number | undefined;
  private journalLines = 0;
  private replaying = false;

  /** Journal lines after which the journal is folded into a new snapshot. */
  static readonly COMPACT_AFTER = 50_000;

  constructor(readonly dataDir?: string) {
    if (!dataDir) return;
    mkdirSync(join(dataDir, "blobs"), { recursive: true });
    this.load();
    this.compact();
  }

  get persistent(): boolean {
    return this.dataDir !== undefined;
  }

  collection<T>(name: string): Collection<T> {
    let c = this.collections.get(name);
    if (!c) {
      c = new Collection<unknown>(name, this);
      this.collections.set(name, c);
    }
    return c as Collection<T>;
  }

  /** Next value of a named sequence, starting after `start`. */
  nextId(name: string, start = 0): number {
    const next = Math.max(this.sequences.get(name) ?? start, start) + 1;
    this.sequences.set(name, next);
    this.append({ s: name, v: next });
    return next;
  }

  putBlob(data: Buffer): string {
    const hash = createHash("sha256").update(data).digest("hex");
    if (!this.dataDir) {
      this.memoryBlobs.set(hash, data);
      return hash;
    }
    const dir = join(this.dataDir, "blobs", hash.slice(0, 2));
    const file = join(dir, hash);
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, data);
      renameSync(tmp, file);
    }
    return hash;
  }

  getBlob(hash: string): Buffer {
    if (!this.dataDir) {
      const b = this.memoryBlobs.get(hash);
      if (!b) throw new Error(`blob ${hash} is missing`);
      return b;
    }
    return readFileSync(join(this.dataDir, "blobs", hash.slice(0, 2), hash));
  }

  /** Drops every collection and sequence (blobs stay; they are content-addressed). */
  clear(): void {
    for (const c of this.collections.values()) c.clearSilently();
    this.sequences.clear();
    this.memoryBlobs.clear();
    if (this.dataDir) this.compact();
  }

  close(): void {
    if (this.journalFd !== undefined) {
      fsyncSync(this.journalFd);
      closeSync(this.journalFd);
      this.journalFd = undefined;
    }
  }

  /** @internal */
  append(entry: JournalEntry): void {
    if (!this.dataDir || this.replaying) return;
    if (this.journalFd === undefined) this.journalFd = openSync(join(this.dataDir, "journal.jsonl"), "a");
    writeSync(this.journalFd, `${JSON.stringify(entry)}\n`);
    if (++this.journalLines >= Store.COMPACT_AFTER) this.compact();
  }

  private load(): void {
    const dir = this.dataDir as string;
    const snapshotFile = join(dir, "snapshot.json");
    this.replaying = true;
    try {
      if (existsSync(snapshotFile)) {
        const snap = JSON.parse(readFileSync(snapshotFile, "utf8")) as Snapshot;
        for (const [name, v] of Object.entries(snap.sequences)) this.sequences.set(name, v);
        for (const [name, entries] of Object.entries(snap.collections)) {
          const c = this.collection(name);
          for (const [k, v] of entries) c.set(k, v);
        }
      }
      const journalFile = join(dir, "journal.jsonl");
      if (existsSync(journalFile)) {
        const lines = readFileSync(journalFile, "utf8").split("\n");
        for (const line of lines) {
          if (!line) continue;
          let e: JournalEntry;
          try {
            e = JSON.parse(line) as JournalEntry;
          } catch {
            break; // a torn last line from a killed process: everything before it is intact
          }
          if ("s" in e) this.sequences.set(e.s, e.v);
          else if ("d" in e) this.collection(e.c).delete(e.k);
          else this.collection(e.c).set(e.k, e.v);
        }
      }
    } finally {
      this.replaying = false;
    }
  }

  /** Writes the whole state as a new snapshot and starts an empty journal. */
  compact(): void {
    if (!this.dataDir) return;
    const snap: Snapshot = {
      version: 1,
      sequences: Object.fromEntries(this.sequences),
      collections: Object.fromEntries([...this.collections].map(([name, c]) => [name, [...c.entries()]])),
    };
    const file = join(this.dataDir, "snapshot.json");
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, JSON.stringify(snap));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = openSync(join(this.dataDir, "journal.jsonl"), "w");
    fsyncSync(this.journalFd);
    this.journalLines = 0;
  }
}

type JournalEntry = { c: string; k: string; v: unknown } | { c: string; k: string; d: 1 } | { s: string; v: number };

interface Snapshot {
  version: 1;
  sequences: Record<string, number>;
  collections: Record<string, [string, unknown][]>;
}

/**
 * A keyed set of JSON values. Values handed out are the stored objects: mutate a copy and `set` it,
 * so the journal records every change.
 */
export class Collection<T> {
  private readonly map = new Map<string, T>();

  constructor(
    readonly name: string,
    private readonly store: Store,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string | number): T | undefined {
    return this.map.get(String(key));
  }

  has(key: string | number): boolean {
    return this.map.has(String(key));
  }

  set(key: string | number, value: T): T {
    const k = String(key);
    this.map.set(k, value);
    this.store.append({ c: this.name, k, v: value });
    return value;
  }

  delete(key: string | number): boolean {
    const k = String(key);
    if (!this.map.delete(k)) return false;
    this.store.append({ c: this.name, k, d: 1 });
    return true;
  }

  values(): IterableIterator<T> {
    return this.map.values();
  }

  entries(): IterableIterator<[string, T]> {
    return this.map.entries();
  }

  keys(): IterableIterator<string> {
    return this.map.keys();
  }

  find(predicate: (value: T) => boolean): T | undefined {
    for (const v of this.map.values()) if (predicate(v)) return v;
    return undefined;
  }

  filter(predicate: (value: T) => boolean): T[] {
    const out: T[] = [];
    for (const v of this.map.values()) if (predicate(v)) out.push(v);
    return out;
  }

  /** @internal */
  clearSilently(): void {
    this.map.clear();
  }
}
