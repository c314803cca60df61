import { createWriteStream, type WriteStream } from "node:fs";
import { Faults } from "./faults/faults.js";
import { Identity } from "./identity.js";
import { Permissions } from "./permissions.js";
import type { Store } from "./store/store.js";

export interface RequestLogEntry {
  seq: number;
  time: string;
  method: string;
  path: string;
  status: number;
  ms: number;
  /** userName or applicationId of the caller; absent for unauthenticated calls. */
  identity?: string;
  error_code?: string;
  /** Set when a fault rule changed the outcome. */
  fault?: string;
}

/** The in-memory request log (a bounded ring) and, optionally, a JSON-lines file of every request. */
export class RequestLog {
  private entries: RequestLogEntry[] = [];
  private seq = 0;
  private file: WriteStream | undefined;

  constructor(
    readonly capacity = 100_000,
    filePath?: string,
  ) {
    if (filePath) this.file = createWriteStream(filePath, { flags: "a" });
  }

  record(entry: Omit<RequestLogEntry, "seq" | "time">): RequestLogEntry {
    const full: RequestLogEntry = { seq: ++this.seq, time: new Date().toISOString(), ...entry };
    this.entries.push(full);
    // Trim in batches of capacity/16: dropping one entry per request would move the whole array each time.
    if (this.entries.length >= this.capacity + Math.max(1, this.capacity >> 4)) {
      this.entries.splice(0, this.entries.length - this.capacity);
    }
    this.file?.write(`${JSON.stringify(full)}\n`);
    return full;
  }

  since(seq: number): RequestLogEntry[] {
    if (seq <= 0) return [...this.entries];
    return this.entries.filter((e) => e.seq > seq);
  }

  get lastSeq(): number {
    return this.seq;
  }

  clear(): void {
    this.entries = [];
  }

  async close(): Promise<void> {
    const f = this.file;
    this.file = undefined;
    if (f) await new Promise<void>((resolve) => f.end(resolve));
  }
}

export interface WorkspaceSettings {
  /** Milliseconds a cluster spends PENDING (or RESTARTING) before it is RUNNING. */
  clusterStartDelayMs: number;
  /** Milliseconds a serving endpoint's new configuration stays IN_PROGRESS. Default 0 (settled by the next read). */
  servingUpdateDelayMs?: number;
  /** Log a line for each request answered 501. */
  onNotImplemented: (method: string, path: string) => void;
  /** Job runs: the runtime interpreter, where environments are cached, the log limit per task run. */
  runs?: RunSettings;
}

export interface RunSettings {
  /** The Python interpreter tasks run on. Default `LAKEFORGE_RUNTIME_PYTHON`, else `python3`. */
  python?: string;
  /** Where task environments and workspace file mirrors are cached. Default `<data-dir>/runs/cache`. */
  cacheDir?: string;
  /** Bytes of stdout/stderr kept per task run (the last ones). Default 5 MiB. */
  logLimitBytes?: number;
}

/** Everything a service handler can reach: state, identities, permissions, faults, settings. */
export class Workspace {
  readonly identity: Identity;
  readonly permissions: Permissions;
  readonly faults = new Faults();
  readonly requestLog: RequestLog;
  readonly workspaceId: string;
  url = "";
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly stopHooks: (() => void)[] = [];

  constructor(
    readonly store: Store,
    readonly settings: WorkspaceSettings,
    requestLogFile?: string,
  ) {
    this.identity = new Identity(store);
    this.permissions = new Permissions(store);
    this.requestLog = new RequestLog(100_000, requestLogFile);
    const meta = store.collection<string>("meta");
    let id = meta.get("workspace_id");
    if (!id) {
      id = String(1_000_000_000_000_000 + Math.floor(Math.random() * 8_999_999_999_999_999));
      meta.set("workspace_id", id);
    }
    this.workspaceId = id;
  }

  /** Runs `fn` after `ms`, unless the workspace stops first. */
  schedule(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  onStop(fn: () => void): void {
    this.stopHooks.push(fn);
  }

  shutdown(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const fn of this.stopHooks) fn();
  }
}
