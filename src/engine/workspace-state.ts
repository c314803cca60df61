import { hostname, userInfo } from "node:os";
import { type DatabricksClient, isAlreadyExists, isNotFound } from "../clients/databricks/index.js";
import { UserError } from "../lib/errors.js";
import { FileStateBackend, parseState, type StateBackend, type StateFile, serializeState } from "./state.js";

/**
 * State kept in the workspace itself (`<root>/state.json`), so every CI runner and laptop deploying an
 * environment shares it, with a local cache written first after every change. Pushes to the
 * workspace are coalesced (at most one in flight, the newest state wins) and spaced at least
 * `pushIntervalMs` apart, so a large apply spends few of the workspace's write requests on state;
 * `flush()` pushes the newest state at once and waits for it. On load the newer of the two (same
 * lineage, higher serial) wins, so a crash between a change and its push loses nothing. A state lost
 * with its machine lacks at most the last interval's changes: objects created then are found again by
 * their natural key.
 */
export class WorkspaceStateBackend implements StateBackend {
  private readonly cache: FileStateBackend;
  private readonly pushIntervalMs: number;
  private pushing: Promise<void> | undefined;
  /** The text of the newest state not yet pushed. */
  private queued: string | undefined;
  private lastError: unknown;
  private lastPush = Number.NEGATIVE_INFINITY;
  private flushing = false;
  /** Ends the wait before the next push early (set while waiting). */
  private wake: (() => void) | undefined;
  /** Whether `root` is known to exist (created or written to by this backend). */
  private rootReady = false;

  constructor(
    private readonly client: DatabricksClient,
    readonly root: string,
    cacheFile: string,
    options: { pushIntervalMs?: number } = {},
  ) {
    this.cache = new FileStateBackend(cacheFile);
    this.pushIntervalMs = options.pushIntervalMs ?? 2_000;
  }

  get description() {
    return `workspace:${this.root}/state.json`;
  }

  get statePath() {
    return `${this.root}/state.json`;
  }

  async load(): Promise<StateFile | undefined> {
    const remote = await this.readRemote();
    const local = await this.cache.load().catch(() => undefined);
    if (remote && local && local.lineage === remote.lineage && local.serial > remote.serial) {
      await this.writeRemote(serializeState(local));
      return local;
    }
    if (remote) {
      await this.cache.save(remote);
      return remote;
    }
    // No state in the workspace: a local cache for a different workspace must not be trusted.
    return undefined;
  }

  /** Serialises `state` at once (the caller may change it afterwards), writes the local cache, queues a push. */
  async save(state: StateFile): Promise<void> {
    const text = serializeState(state);
    await this.cache.write(text);
    this.queued = text;
    if (!this.pushing) this.pushing = this.drain();
  }

  /** Pushes the newest state now and waits until it is in the workspace; throws the last push error, if any. */
  async flush(): Promise<void> {
    this.flushing = true;
    try {
      this.wake?.();
      while (this.pushing) await this.pushing;
    } finally {
      this.flushing = false;
    }
    if (this.lastError) {
      const e = this.lastError;
      this.lastError = undefined;
      throw e;
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.queued) {
        const wait = this.lastPush + this.pushIntervalMs - Date.now();
        if (wait > 0 && !this.flushing) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, wait);
            this.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wake = undefined;
        }
        const next = this.queued;
        this.queued = undefined;
        this.lastPush = Date.now();
        try {
          await this.writeRemote(next);
        } catch (e) {
          this.lastError = e;
        }
      }
    } finally {
      this.pushing = undefined;
    }
  }

  private async readRemote(): Promise<StateFile | undefined> {
    try {
      const res = await this.client.get<{ content?: string }>("/api/2.0/workspace/export", {
        path: this.statePath,
        format: "SOURCE",
      });
      if (!res.content) return undefined;
      return parseState(Buffer.from(res.content, "base64").toString("utf8"), this.description);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  private async writeRemote(text: string): Promise<void> {
    const content = Buffer.from(text).toString("base64");
    const write = () =>
      this.client.post(
        "/api/2.0/workspace/import",
        { path: this.statePath, format: "AUTO", overwrite: true, content },
        { idempotent: true },
      );
    if (this.rootReady) {
      try {
        await write();
        return;
      } catch (e) {
        if (!isNotFound(e)) throw e;
        // The folder was removed since: make it again.
      }
    }
    await this.client.post("/api/2.0/workspace/mkdirs", { path: this.root }, { idempotent: true });
    this.rootReady = true;
    await write();
  }
}

export interface LockInfo {
  /** `user@host (pid N)`, for messages. */
  holder: string;
  acquired_at: string;
  operation: string;
  id: string;
  /** The holder's host name and process id: a lock whose holder died on this host is stale. */
  hostname?: string;
  pid?: number;
}

export interface LockAcquired {
  /** A lock left by a process of this host that is no longer running, removed to take its place. */
  tookOver?: LockInfo;
}

/** How often `acquire` tries again when the lock vanished under it or turned out stale. */
const ACQUIRE_ROUNDS = 5;

/**
 * The deploy lock: a file created in the workspace without overwrite, so exactly one of two
 * concurrent creators wins. It names its holder (user, host, process id) and time. A lock whose
 * holder ran on this host and is no longer alive (killed, crashed) is stale: `acquire` removes it and
 * takes its place, saying so. A stale lock from another machine cannot be recognised: `forceUnlock`
 * removes it.
 */
export class WorkspaceLock {
  private held: LockInfo | undefined;

  constructor(
    private readonly client: DatabricksClient,
    readonly root: string,
    private readonly isAlive: (pid: number) => boolean = processAlive,
  ) {}

  get path() {
    return `${this.root}/deploy.lock`;
  }

  /**
   * Takes the lock, or throws a `UserError` naming the holder and since when. A response lost on the
   * way back is resolved by reading the lock: if it holds our id, the lock is ours.
   */
  async acquire(operation: string): Promise<LockAcquired> {
    const host = hostname();
    const info: LockInfo = {
      holder: `${safeUser()}@${host} (pid ${process.pid})`,
      acquired_at: new Date().toISOString(),
      operation,
      id: `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
      hostname: host,
      pid: process.pid,
    };
    await this.client.post("/api/2.0/workspace/mkdirs", { path: this.root }, { idempotent: true });
    let tookOver: LockInfo | undefined;
    for (let round = 1; ; round++) {
      try {
        await this.client.post("/api/2.0/workspace/import", {
          path: this.path,
          format: "AUTO",
          overwrite: false,
          content: Buffer.from(JSON.stringify(info)).toString("base64"),
        });
        this.held = info;
        return tookOver ? { tookOver } : {};
      } catch (e) {
        if (!isAlreadyExists(e) && !(e as { maybeApplied?: boolean }).maybeApplied) throw e;
      }
      // Either someone else holds it, or our own create's answer was lost: read it to tell.
      const current = await this.read();
      if (current?.id === info.id) {
        this.held = info;
        return tookOver ? { tookOver } : {};
      }
      if (round < ACQUIRE_ROUNDS) {
        // Nothing there: our create never arrived, or the holder just released it.
        if (!current) continue;
        if (this.isStale(current)) {
          await this.removeIf(current.id);
          tookOver = current;
          continue;
        }
      }
      throw new UserError(
        `the environment is locked by ${current?.holder ?? "another deploy"} since ${current?.acquired_at ?? "an unknown time"} (${current?.operation ?? "unknown operation"})`,
        `wait for it to finish; if that deploy died on another machine, run again with --force-unlock (lock file ${this.path})`,
      );
    }
  }

  /** Held by a process of this host that is no longer running. */
  isStale(lock: LockInfo): boolean {
    if (lock.hostname !== hostname() || typeof lock.pid !== "number" || !Number.isInteger(lock.pid) || lock.pid <= 0) {
      return false;
    }
    return lock.pid !== process.pid && !this.isAlive(lock.pid);
  }

  async read(): Promise<LockInfo | undefined> {
    try {
      const res = await this.client.get<{ content?: string }>("/api/2.0/workspace/export", { path: this.path, format: "SOURCE" });
      return res.content ? (JSON.parse(Buffer.from(res.content, "base64").toString("utf8")) as LockInfo) : undefined;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async release(): Promise<void> {
    if (!this.held) return;
    const current = await this.read().catch(() => undefined);
    if (current && current.id !== this.held.id) return; // taken over with --force-unlock: not ours to remove
    await this.remove();
    this.held = undefined;
  }

  async forceUnlock(): Promise<LockInfo | undefined> {
    const current = await this.read();
    if (current) await this.remove();
    return current;
  }

  /** Removes the lock if it is still the one with `id` (another process may have replaced it meanwhile). */
  private async removeIf(id: string): Promise<void> {
    const current = await this.read();
    if (current?.id === id) await this.remove();
  }

  private async remove(): Promise<void> {
    try {
      await this.client.post("/api/2.0/workspace/delete", { path: this.path, recursive: false }, { idempotent: true });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}

/** Whether a process of this host with that id is running (one we may not signal counts as running). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return "unknown";
  }
}
