import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join, resolve } from "node:path";
import { ApiError, type JsonObject, notImplemented, RawResponse, type RequestContext, Router } from "./http.js";
import { type Principal, tokenKey } from "./identity.js";
import { configureMlflow, stopMlflow } from "./mlflow/backend.js";
import { registerServices } from "./server/index.js";
import { Store } from "./store/store.js";
import { type RunSettings, Workspace } from "./workspace.js";

export interface WorkspaceOptions {
  /** TCP port; 0 picks a free one. Default 8421. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Where state is kept. Default `.lakeforge/workspace`. Ignored when `ephemeral`. */
  dataDir?: string;
  /** Keep everything in memory; nothing is written to disk. */
  ephemeral?: boolean;
  /**
   * The admin user's token. Default: `LAKEFORGE_WORKSPACE_TOKEN`, else the token kept in the data
   * directory, else a new random one.
   */
  token?: string;
  /** Milliseconds a cluster stays PENDING before RUNNING. Default 0 (immediately after the response). */
  clusterStartDelayMs?: number;
  /** Milliseconds a serving endpoint's new configuration stays IN_PROGRESS. Default 0. */
  servingUpdateDelayMs?: number;
  /** Append every request as a JSON line to this file. */
  requestLogFile?: string;
  /** Where diagnostics go (501s, start-up). Default: nowhere. */
  log?: (line: string) => void;
  /**
   * The Python interpreter (with `mlflow` installed) that runs the MLflow tracking server behind
   * `/api/2.0/mlflow`. Default: `LAKEFORGE_MLFLOW_PYTHON`, else `.cache/venv-project/bin/python`,
   * else `python3`. See docs/workspace-mlflow.md.
   */
  mlflowPython?: string;
  /** Job runs: the runtime interpreter (`python`), the environment cache, the log limit. See docs/workspace-runs.md. */
  runs?: RunSettings;
}

export interface RunningWorkspace {
  url: string;
  /** A personal access token of the workspace admin, `admin@lakeforge.local`. */
  token: string;
  port: number;
  dataDir?: string;
  workspace: Workspace;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 512 * 1024 * 1024;
const CONTROL_PREFIX = "/__lakeforge/";

/** Starts the local Databricks-compatible workspace. */
export async function startWorkspace(options: WorkspaceOptions = {}): Promise<RunningWorkspace> {
  const host = options.host ?? "127.0.0.1";
  const dataDir = options.ephemeral ? undefined : resolve(options.dataDir ?? ".lakeforge/workspace");
  const log = options.log ?? (() => {});
  let lockFile: string | undefined;
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    lockFile = acquireLock(dataDir);
  }
  let store: Store;
  try {
    store = new Store(dataDir ? join(dataDir, "state") : undefined);
  } catch (e) {
    if (lockFile) releaseLock(lockFile);
    throw e;
  }
  const ws = new Workspace(
    store,
    {
      clusterStartDelayMs: options.clusterStartDelayMs ?? 0,
      ...(options.servingUpdateDelayMs !== undefined ? { servingUpdateDelayMs: options.servingUpdateDelayMs } : {}),
      onNotImplemented: (method, path) => log(`not implemented: ${method} ${path}`),
      ...(options.runs ? { runs: options.runs } : {}),
    },
    options.requestLogFile,
  );
  const admin = ws.identity.seed();
  const token = resolveAdminToken(options.token, dataDir);
  if (!ws.identity.tokens.has(tokenKey(token))) {
    ws.identity.issueToken({ kind: "user", id: admin.id }, { value: token, comment: "lakeforge workspace admin" });
  }

  configureMlflow(ws, {
    ...(options.mlflowPython ? { python: options.mlflowPython } : {}),
    ...(dataDir ? { dataDir } : {}),
    log,
  });
  const router = new Router();
  registerServices(router, ws);

  const sockets = new Set<Socket>();
  const server = createServer({ keepAlive: true }, (req, res) => {
    handle(router, ws, req, res).catch((e: unknown) => {
      log(`internal error: ${(e as Error).stack ?? String(e)}`);
      if (!res.headersSent) sendJson(res, 500, { error_code: "INTERNAL_ERROR", message: "Internal error" }, ws);
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8421, host, () => resolvePromise());
  }).catch((e) => {
    store.close();
    if (lockFile) releaseLock(lockFile);
    throw e;
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  ws.url = `http://${urlHost}:${port}`;
  if (lockFile) writeFileSync(lockFile, JSON.stringify({ pid: process.pid, url: ws.url }));

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      ws.shutdown();
      await new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      });
      await stopMlflow(ws);
      await ws.requestLog.close();
      store.compact();
      store.close();
      if (lockFile) releaseLock(lockFile);
    })();
    return stopped;
  };
  return { url: ws.url, token, port, ...(dataDir ? { dataDir } : {}), workspace: ws, stop };
}

function releaseLock(file: string): void {
  rmSync(file, { force: true });
  lockedHere.delete(file);
}

function resolveAdminToken(explicit: string | undefined, dataDir: string | undefined): string {
  const fromEnv = process.env.LAKEFORGE_WORKSPACE_TOKEN;
  if (explicit) return explicit;
  if (fromEnv) return fromEnv;
  if (!dataDir) return `dapi${randomBytes(16).toString("hex")}`;
  const file = join(dataDir, "admin-token");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const token = `dapi${randomBytes(16).toString("hex")}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** One server per data directory: a lock file naming the holder; a stale one (dead pid) is taken over. */
/** Data directories served by this process (a lock file naming our own pid is not stale for these). */
const lockedHere = new Set<string>();

function acquireLock(dataDir: string): string {
  const file = join(dataDir, "server.lock");
  if (lockedHere.has(file)) {
    let url: string | undefined;
    try {
      url = (JSON.parse(readFileSync(file, "utf8")) as { url?: string }).url;
    } catch {
      // the lock is being written
    }
    throw new WorkspaceLockedError(dataDir, process.pid, url);
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, JSON.stringify({ pid: process.pid }));
      closeSync(fd);
      lockedHere.add(file);
      return file;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let holder: { pid?: number; url?: string } = {};
      try {
        holder = JSON.parse(readFileSync(file, "utf8")) as typeof holder;
      } catch {
        // unreadable lock: treat as stale
      }
      if (holder.pid && holder.pid !== process.pid && isAlive(holder.pid)) {
        throw new WorkspaceLockedError(dataDir, holder.pid, holder.url);
      }
      rmSync(file, { force: true });
    }
  }
  throw new WorkspaceLockedError(dataDir);
}

export class WorkspaceLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid?: number,
    readonly url?: string,
  ) {
    super(`the workspace data directory ${dataDir} is in use${pid ? ` by process ${pid}` : ""}${url ? ` serving ${url}` : ""}`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, "REQUEST_ENTITY_TOO_LARGE", "Request body is too large");
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

function parseInput(query: URLSearchParams, raw: Buffer, contentType: string | undefined): JsonObject {
  const input: JsonObject = {};
  for (const key of new Set(query.keys())) {
    const all = query.getAll(key);
    input[key] = all.length > 1 ? all : all[0];
  }
  if (raw.length === 0) return input;
  const ct = (contentType ?? "").toLowerCase();
  if (ct.startsWith("multipart/") || ct.startsWith("application/octet-stream")) return input;
  // Like the real service, a JSON body is accepted whatever the content type says (`curl -d '{...}'`
  // sends it as a form).
  if (ct.startsWith("application/x-www-form-urlencoded") && raw[0] !== 0x7b) {
    for (const [k, v] of new URLSearchParams(raw.toString("utf8"))) input[k] = v;
    return input;
  }
  const first = raw[0];
  if (!ct.includes("json") && first !== 0x7b && first !== 0x5b) return input;
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new ApiError(400, "MALFORMED_REQUEST", "Could not parse request object: invalid JSON");
  }
  if (body && typeof body === "object" && !Array.isArray(body)) Object.assign(input, body);
  return input;
}

function sendJson(res: ServerResponse, status: number, body: unknown, ws: Workspace, extra: Record<string, string> = {}) {
  const payload = body === undefined ? "{}" : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(payload),
    "x-databricks-org-id": ws.workspaceId,
    ...extra,
  });
  res.end(payload);
}

async function handle(router: Router, ws: Workspace, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const method = (req.method ?? "GET").toUpperCase();
  const rawUrl = req.url ?? "/";
  const q = rawUrl.indexOf("?");
  let path = q === -1 ? rawUrl : rawUrl.slice(0, q);
  if (path.length > 1 && path.endsWith("/") && !path.startsWith("/api/2.0/fs/")) path = path.slice(0, -1);
  const query = new URLSearchParams(q === -1 ? "" : rawUrl.slice(q + 1));
  const control = path.startsWith(CONTROL_PREFIX);
  let principal: Principal | undefined;
  let faultName: string | undefined;

  const finish = (status: number, errorCode?: string) => {
    if (control && path === "/__lakeforge/requests") return;
    ws.requestLog.record({
      method,
      path,
      status,
      ms: Math.round((performance.now() - started) * 100) / 100,
      ...(principal ? { identity: principal.name } : {}),
      ...(errorCode ? { error_code: errorCode } : {}),
      ...(faultName ? { fault: faultName } : {}),
    });
  };

  const fail = (e: ApiError) => {
    sendJson(
      res,
      e.status,
      { error_code: e.errorCode, message: e.message, ...(e.details ? { details: e.details } : {}) },
      ws,
      e.headers,
    );
    finish(e.status, e.errorCode);
  };

  try {
    const raw = await readBody(req);
    const match = router.match(method, path);
    if (!match) throw notImplemented(ws.settings, method, path);
    if (match.options.auth !== false) principal = ws.identity.authenticate(req.headers.authorization);

    let applyThenStatus: number | undefined;
    if (!control && ws.faults.active) {
      const wait = ws.faults.rateLimit(method, path);
      if (wait > 0) {
        faultName = "rate-limit";
        throw new ApiError(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests. Please wait a moment and try again.", {
          "retry-after": String(wait),
        });
      }
      const decision = ws.faults.decide(method, path);
      if (decision.latencyMs > 0) await new Promise((r) => setTimeout(r, decision.latencyMs));
      if (decision.kind === "drop") {
        faultName = "drop";
        finish(0);
        req.socket.destroy();
        return;
      }
      if (decision.kind === "status") {
        faultName = "status";
        throw new ApiError(
          decision.status,
          decision.errorCode,
          decision.message,
          decision.retryAfter !== undefined ? { "retry-after": String(decision.retryAfter) } : {},
        );
      }
      if (decision.kind === "apply_then_status") applyThenStatus = decision.status;
    }

    const ctx: RequestContext = {
      method,
      path,
      params: match.params,
      query,
      headers: req.headers,
      rawBody: raw,
      input: parseInput(query, match.options.rawBody ? Buffer.alloc(0) : raw, req.headers["content-type"]),
      principal: principal as Principal,
      ws,
    };
    const result = await match.handler(ctx);
    if (applyThenStatus !== undefined) {
      faultName = "apply_then_status";
      throw new ApiError(applyThenStatus, "INTERNAL_ERROR", "Injected fault after the change was applied");
    }
    if (result instanceof RawResponse) {
      const headers: Record<string, string> = { "x-databricks-org-id": ws.workspaceId, ...result.headers };
      if (result.body !== undefined) headers["content-length"] = String(Buffer.byteLength(result.body));
      res.writeHead(result.status, headers);
      res.end(method === "HEAD" ? undefined : result.body);
      finish(result.status);
      return;
    }
    sendJson(res, 200, result ?? {}, ws);
    finish(200);
  } catch (e) {
    if (e instanceof ApiError) return fail(e);
    throw e;
  }
}
