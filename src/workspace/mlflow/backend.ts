import { existsSync } from "node:fs";
import { join } from "node:path";
import { ApiError } from "../http.js";
import type { ExperimentRecord } from "../server/mlflow.js";
import type { Workspace } from "../workspace.js";
import { MlflowServer, MlflowUnavailableError } from "./supervisor.js";

/** The URL prefix under which the MLflow server (and so its UI) answers, also through the workspace. */
export const MLFLOW_PREFIX = "/ml";

export interface MlflowBackendOptions {
  /** Python interpreter with `mlflow`; see `resolveMlflowPython`. */
  python?: string;
  /** The workspace data directory; the tracking store goes to `<dataDir>/mlflow`. Undefined: temporary. */
  dataDir?: string;
  log?: (line: string) => void;
}

/** What the mirrored experiments need of a workspace experiment. */
export type MirroredExperiment = Pick<
  ExperimentRecord,
  "experiment_id" | "name" | "artifact_location" | "lifecycle_stage" | "creation_time" | "last_update_time"
>;

/**
 * The interpreter for the tracking server: the explicit option, else `LAKEFORGE_MLFLOW_PYTHON`,
 * else the project's runtime environment (`.cache/venv-project` under the working directory),
 * else `python3` on the PATH.
 */
export function resolveMlflowPython(explicit?: string): string {
  if (explicit) return explicit;
  const fromEnv = process.env.LAKEFORGE_MLFLOW_PYTHON;
  if (fromEnv) return fromEnv;
  const project = join(process.cwd(), ".cache", "venv-project", "bin", "python");
  if (existsSync(project)) return project;
  return "python3";
}

const DBFS_TRACKING = "dbfs:/databricks/mlflow-tracking/";

/** Tracking-server artifact URIs as a Databricks workspace spells them (`dbfs:/databricks/mlflow-tracking/...`). */
export function toDatabricksUris(text: string): string {
  return text
    .replace(/mlflow-artifacts:\/(\d+)\/models\/(m-[0-9a-f]+)/g, `${DBFS_TRACKING}$1/logged_models/$2`)
    .replaceAll("mlflow-artifacts:/", DBFS_TRACKING);
}

/** The inverse of `toDatabricksUris`, for request bodies. */
export function toServerUris(text: string): string {
  return text
    .replace(/dbfs:\/databricks\/mlflow-tracking\/(\d+)\/logged_models\//g, "mlflow-artifacts:/$1/models/")
    .replaceAll(DBFS_TRACKING, "mlflow-artifacts:/");
}

/** A response of the tracking server, read whole. */
export interface ServerResponse {
  status: number;
  contentType: string;
  headers: Headers;
  body: Buffer;
}

/**
 * The MLflow tracking server behind one workspace: the supervised process, the experiments to
 * mirror into it, and plain HTTP to it.
 */
export class MlflowBackend {
  readonly server: MlflowServer;
  private readonly dirty = new Map<string, MirroredExperiment>();
  /** Every experiment the workspace knows, for the full sync after a (re)start. */
  allExperiments: () => MirroredExperiment[] = () => [];

  constructor(options: MlflowBackendOptions = {}) {
    this.server = new MlflowServer({
      python: resolveMlflowPython(options.python),
      ...(options.dataDir ? { dataDir: join(options.dataDir, "mlflow") } : {}),
      staticPrefix: MLFLOW_PREFIX,
      log: options.log ?? (() => {}),
    });
    this.server.onStart = async (url) => {
      this.dirty.clear();
      await this.pushExperiments(url, this.allExperiments());
    };
  }

  /** Notes an experiment change; it reaches the tracking server before the next proxied request. */
  experimentChanged(e: MirroredExperiment): void {
    this.dirty.set(e.experiment_id, e);
  }

  private async pushExperiments(url: string, list: MirroredExperiment[]): Promise<void> {
    if (list.length === 0) return;
    const res = await fetch(`${url}/__lakeforge/experiments/sync`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ experiments: list }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`mirroring experiments into the tracking server failed (${res.status}): ${text.slice(0, 500)}`);
  }

  /** The running server's URL with experiments in sync; a 501 `NOT_IMPLEMENTED` when MLflow cannot run. */
  async ready(): Promise<string> {
    let url: string;
    try {
      url = await this.server.url();
    } catch (e) {
      if (e instanceof MlflowUnavailableError) {
        throw new ApiError(
          501,
          "NOT_IMPLEMENTED",
          `MLflow tracking is not available in this workspace: ${e.message}. Set LAKEFORGE_MLFLOW_PYTHON to a Python with mlflow installed.`,
        );
      }
      throw new ApiError(503, "TEMPORARILY_UNAVAILABLE", `The MLflow tracking server is not available: ${(e as Error).message}`);
    }
    if (this.dirty.size > 0) {
      const pending = [...this.dirty.values()];
      this.dirty.clear();
      try {
        await this.pushExperiments(url, pending);
      } catch (e) {
        for (const x of pending) if (!this.dirty.has(x.experiment_id)) this.dirty.set(x.experiment_id, x);
        throw e;
      }
    }
    return url;
  }

  /** One request to the tracking server; `path` is relative to the server's prefix unless `absolute`. */
  async request(
    method: string,
    path: string,
    init: { body?: Buffer | string; headers?: Record<string, string>; absolute?: boolean } = {},
  ): Promise<ServerResponse> {
    const base = await this.ready();
    const url = init.absolute ? `${new URL(base).origin}${path}` : `${base}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: init.headers ?? {},
        ...(init.body !== undefined && method !== "GET" && method !== "HEAD" ? { body: init.body } : {}),
        redirect: "manual",
      });
    } catch (e) {
      throw new ApiError(503, "TEMPORARILY_UNAVAILABLE", `The MLflow tracking server did not answer: ${(e as Error).message}`);
    }
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, contentType: res.headers.get("content-type") ?? "", headers: res.headers, body };
  }

  async stop(): Promise<void> {
    await this.server.stop();
  }
}

const backends = new WeakMap<Workspace, MlflowBackend>();

/** Sets how a workspace runs its tracking server; call before the first MLflow request. */
export function configureMlflow(ws: Workspace, options: MlflowBackendOptions): MlflowBackend {
  const backend = new MlflowBackend(options);
  backends.set(ws, backend);
  return backend;
}

/** The workspace's tracking server backend (default options when none were configured). */
export function mlflowBackend(ws: Workspace): MlflowBackend {
  let b = backends.get(ws);
  if (!b) {
    b = new MlflowBackend();
    backends.set(ws, b);
  }
  return b;
}

/** Stops the workspace's tracking server, if it has one. */
export async function stopMlflow(ws: Workspace): Promise<void> {
  await backends.get(ws)?.stop();
}
