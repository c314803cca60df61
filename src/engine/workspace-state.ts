import { hostname, userInfo } from "node:os";
import { type DatabricksClient, isAlreadyExists, isNotFound } from "../clients/databricks/index.js";
import { UserError } from "../lib/errors.js";
import { FileStateBackend, parseState, type StateBackend, type StateFile } from "./state.js";

/**
 * State kept in the workspace itself (`<root>/state.json`), so every CI runner and laptop deploying an
 * environment shares it, with a local cache written first after every change. Pushes to the
 * workspace are coalesced (at most one in flight, the newest state wins) so a large apply does not
 * double its requests; `flush()` waits for the last one. On load the newer of the two (same
 * lineage, higher serial) wins, so a crash between a change and its push loses nothing.
 */
export class WorkspaceStateBackend implements StateBackend {
  private readonly cache: FileStateBackend;
  private pushing: Promise<void> | undefined;
  private queued: StateFile | undefined;
  private lastError: unknown;

  constructor(
    private readonly client: DatabricksClient,
    readonly root: string,
    cacheFile: string,
  ) {
    this.cache = new FileStateBackend(cacheFile);
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
      await this.writeRemote(local);
      return local;
    }
    if (remote) {
      await this.cache.save(remote);
      return remote;
    }
    // No state in the workspace: a local cache for a different workspace must not be trusted.
    return undefined;
  }

  async save(state: StateFile): Promise<void> {
    await this.cache.save(state);
    this.queued = state;
    if (!this.pushing) this.pushing = this.drain();
  }

  /** Waits until the newest state is in the workspace; throws the last push error, if any. */
  async flush(): Promise<void> {
    while (this.pushing) await this.pushing;
    if (this.lastError) {
      const e = this.lastError;
      this.lastError = undefined;
      throw e;
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.queued) {
        const next = this.queued;
        this.queued = undefined;
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

  private async writeRemote(state: StateFile): Promise<void> {
    await this.client.post("/api/2.0/workspace/mkdirs", { path: this.root }, { idempotent: true });
    await this.client.post(
      "/api/2.0/workspace/import",
      {
        path: this.statePath,
        format: "AUTO",
        overwrite: true,
        content: Buffer.from(JSON.stringify(state)).toString("base64"),
      },
      { idempotent: true },
    );
  }
}

export interface LockInfo {
  holder: string;
  acquired_at: string;
  operation: string;
  id: string;
}

/**
 * The deploy lock: a file created in the workspace without overwrite, so exactly one of two
 * concurrent creators wins. It names its holder and time; `forceUnlock` removes a stale one.
 */
export class WorkspaceLock {
  private held: LockInfo | undefined;

  constructor(
    private readonly client: DatabricksClient,
    readonly root: string,
  ) {}

  get path() {
    return `${this.root}/deploy.lock`;
  }

  async acquire(operation: string): Promise<void> {
    const info: LockInfo = {
      holder: `${safeUser()}@${hostname()} (pid ${process.pid})`,
      acquired_at: new Date().toISOString(),
      operation,
      id: `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    };
    await this.client.post("/api/2.0/workspace/mkdirs", { path: this.root }, { idempotent: true });
    try {
      await this.client.post("/api/2.0/workspace/import", {
        path: this.path,
        format: "AUTO",
        overwrite: false,
        content: Buffer.from(JSON.stringify(info)).toString("base64"),
      });
      this.held = info;
    } catch (e) {
      if (!isAlreadyExists(e) && !(e as { maybeApplied?: boolean }).maybeApplied) throw e;
      // Either someone else holds it, or our own create's response was lost: read it to tell.
      const current = await this.read();
      if (current?.id === info.id) {
        this.held = info;
        return;
      }
      throw new UserError(
        `the environment is locked by ${current?.holder ?? "another deploy"} since ${current?.acquired_at ?? "an unknown time"} (${current?.operation ?? "unknown operation"})`,
        `wait for it to finish; if that deploy died, run again with --force-unlock (lock file ${this.path})`,
      );
    }
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

  private async remove(): Promise<void> {
    try {
      await this.client.post("/api/2.0/workspace/delete", { path: this.path, recursive: false }, { idempotent: true });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return "unknown";
  }
}
