import { ApiError, type JsonObject, notFound, RawResponse, type RequestContext, type Router } from "../http.js";
import { MLFLOW_PREFIX, type MlflowBackend, mlflowBackend, toDatabricksUris, toServerUris } from "../mlflow/backend.js";
import type { Collection } from "../store/store.js";
import type { Workspace } from "../workspace.js";
import type { ExperimentRecord } from "./mlflow.js";
import { unityCatalog } from "./unity-catalog.js";

/**
 * The MLflow calls the workspace passes to its tracking server (`mlflow server`, see
 * `../mlflow/supervisor.ts`), after its own authentication:
 *
 * - `/api/2.0/mlflow/*` not answered by the workspace itself (runs, metrics, params, tags, batch
 *   logging, inputs, logged models, traces, artifact listing, ...), with artifact URIs spelled as
 *   Databricks spells them (`dbfs:/databricks/mlflow-tracking/<experiment>/<run>/artifacts`);
 * - `/api/2.0/mlflow-artifacts/*`, the server's artifact upload and download;
 * - the Files API paths MLflow's Databricks artifact repositories use: run and logged-model
 *   artifacts under `/WorkspaceInternal/Mlflow/Artifacts/<experiment>/...` and Unity Catalog model
 *   version files under `/Models/<catalog>/<schema>/<model>/<version>/...`;
 * - the MLflow UI under `/ml/` (unauthenticated, like the workspace's other pages on loopback).
 */
export function registerProxy(r: Router, ws: Workspace, experiments: Collection<ExperimentRecord>): void {
  const backend = mlflowBackend(ws);

  const requireActiveExperiment = (c: RequestContext, id: string, level: string): ExperimentRecord => {
    const e = experiments.get(id);
    if (!e) throw notFound(`Node ID ${id} does not exist.`);
    ws.permissions.require(c.principal, "experiments", id, level);
    return e;
  };

  // -- runs: the caller becomes the run's user ---------------------------------------------

  r.post(
    "/api/2.0/mlflow/runs/create",
    async (c) => {
      const body = jsonBody(c);
      const id = body.experiment_id === undefined || body.experiment_id === null ? "" : String(body.experiment_id);
      if (id === "") throw new ApiError(400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'experiment_id'.");
      const e = requireActiveExperiment(c, id, "CAN_EDIT");
      if (e.lifecycle_stage !== "active") {
        throw new ApiError(400, "INVALID_STATE", `The experiment ${id} must be in the 'active' state.`);
      }
      body.user_id = c.principal.name;
      const tags = Array.isArray(body.tags) ? (body.tags as { key?: unknown; value?: unknown }[]) : [];
      body.tags = [...tags.filter((t) => t?.key !== "mlflow.user"), { key: "mlflow.user", value: c.principal.name }];
      return forward(backend, c, "/api/2.0/mlflow/runs/create", JSON.stringify(body));
    },
    { rawBody: true },
  );

  r.post(
    "/api/2.0/mlflow/runs/search",
    (c) => {
      const body = jsonBody(c);
      const ids = Array.isArray(body.experiment_ids) ? body.experiment_ids.map(String) : [];
      for (const id of ids) requireActiveExperiment(c, id, "CAN_READ");
      return forward(backend, c, "/api/2.0/mlflow/runs/search", JSON.stringify(body));
    },
    { rawBody: true },
  );

  // -- Files API paths of MLflow's Databricks artifact repositories -------------------------

  const trackingPath = (c: RequestContext, write: boolean): string => {
    const rel = c.params.path as string;
    const m = /^([^/]+)\/(Runs|LoggedModels)\/([^/]+)(\/.*)?$/.exec(rel);
    if (!m) throw notFound(`The path /WorkspaceInternal/Mlflow/Artifacts/${rel} does not exist.`);
    const [, exp, kind, id, rest] = m as unknown as [string, string, string, string, string | undefined];
    requireActiveExperiment(c, exp, write ? "CAN_EDIT" : "CAN_READ");
    return kind === "Runs" ? `${exp}/${id}${rest ?? ""}` : `${exp}/models/${id}${rest ?? ""}`;
  };

  const modelPath = (c: RequestContext, write: boolean): string => {
    const rel = c.params.path as string;
    const m = /^([^/]+)\/([^/]+)\/([^/]+)\/(\d+)(\/.*)?$/.exec(rel);
    if (!m) throw notFound(`The path /Models/${rel} does not exist.`);
    const [, cat, sch, name, version, rest] = m as unknown as [string, string, string, string, string, string | undefined];
    const uc = unityCatalog(ws);
    const { catalog, schema, model } = uc.resolveModel(`${cat}.${sch}.${name}`);
    const sec = uc.modelSec(catalog, schema, model);
    if (write) uc.requireManage(c.principal, sec);
    else uc.requireVisible(c.principal, sec);
    uc.requireVersion(model, sec.fullName, Number(version));
    return `unity-catalog/models/${model.id}/versions/${version}${rest ?? ""}`;
  };

  for (const [prefix, map] of [
    ["/WorkspaceInternal/Mlflow/Artifacts", trackingPath],
    ["/Models", modelPath],
  ] as const) {
    r.put(`/api/2.0/fs/files${prefix}/*path`, (c) => putFile(backend, map(c, true), c.rawBody), { rawBody: true });
    r.get(`/api/2.0/fs/files${prefix}/*path`, (c) => getFile(backend, c, map(c, false)));
    r.get(`/api/2.0/fs/directories${prefix}/*path`, (c) =>
      listDirectory(backend, c, `${prefix}/${c.params.path}`, map(c, false)),
    );
    r.put(`/api/2.0/fs/directories${prefix}/*path`, (c) => {
      map(c, true);
      return new RawResponse(204, undefined);
    });
  }

  // -- everything else under /api/2.0/mlflow and the artifact service -----------------------

  const passThrough = (c: RequestContext) => forward(backend, c, c.path, c.rawBody);
  for (const method of ["GET", "POST", "PATCH", "PUT", "DELETE"]) {
    r.add(method, ["/api/2.0/mlflow/*rest", "/api/2.0/mlflow-artifacts/*rest", "/api/3.0/mlflow/*rest"], passThrough, {
      rawBody: true,
    });
  }

  // -- the UI --------------------------------------------------------------------------------

  const ui = async (c: RequestContext) => {
    const query = c.query.toString();
    // The workspace drops trailing slashes; the UI's index is the prefix with one.
    const path = c.path === MLFLOW_PREFIX ? `${MLFLOW_PREFIX}/` : c.path;
    const headers: Record<string, string> = {};
    for (const h of ["content-type", "accept", "if-none-match", "if-modified-since"]) {
      const v = c.headers[h];
      if (typeof v === "string") headers[h] = v;
    }
    const res = await backend.request(c.method, `${path}${query ? `?${query}` : ""}`, {
      absolute: true,
      headers,
      ...(c.rawBody.length > 0 ? { body: c.rawBody } : {}),
    });
    return new RawResponse(res.status, res.body, pickHeaders(res.headers));
  };
  // Run and experiment links the mlflow client prints (`<host>/ml/experiments/<id>/runs/<run>`)
  // open the UI, which routes after `#`.
  r.get(
    `${MLFLOW_PREFIX}/experiments/*rest`,
    (c) => new RawResponse(302, undefined, { location: `${MLFLOW_PREFIX}/#/experiments/${c.params.rest}` }),
    { auth: false },
  );
  for (const method of ["GET", "POST", "PATCH", "PUT", "DELETE"]) {
    r.add(method, [MLFLOW_PREFIX, `${MLFLOW_PREFIX}/*rest`], ui, { auth: false, rawBody: true });
  }
}

function jsonBody(c: RequestContext): JsonObject {
  if (c.rawBody.length === 0) return { ...c.input };
  try {
    const parsed = JSON.parse(c.rawBody.toString("utf8")) as unknown;
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as JsonObject;
  } catch {
    // fall through
  }
  throw new ApiError(400, "MALFORMED_REQUEST", "Could not parse request object: invalid JSON");
}

function pickHeaders(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ["content-type", "content-disposition", "cache-control", "etag", "last-modified", "location"]) {
    const v = h.get(name);
    if (v !== null) out[name] = v;
  }
  return out;
}

/** An API call passed to the tracking server, artifact URIs translated both ways. */
async function forward(backend: MlflowBackend, c: RequestContext, path: string, body: Buffer | string): Promise<RawResponse> {
  const query = c.query.toString();
  const headers: Record<string, string> = {};
  const ct = c.headers["content-type"];
  if (typeof ct === "string") headers["content-type"] = ct;
  else if (body.length > 0) headers["content-type"] = "application/json";
  const isArtifacts = path.startsWith("/api/2.0/mlflow-artifacts/");
  const text = typeof body === "string" ? body : body.toString("utf8");
  const sent = isArtifacts || body.length === 0 ? body : toServerUris(text);
  // The artifact service is mounted at the server's root, the rest under its prefix.
  const res = await backend.request(
    c.method,
    `${isArtifacts ? path : `${MLFLOW_PREFIX}${path}`}${query ? `?${toServerUris(query)}` : ""}`,
    {
      absolute: true,
      headers,
      ...(sent.length > 0 ? { body: sent } : {}),
    },
  );
  if (res.contentType.includes("json")) {
    return new RawResponse(res.status, toDatabricksUris(res.body.toString("utf8")), { "content-type": "application/json" });
  }
  return new RawResponse(res.status, res.body, pickHeaders(res.headers));
}

async function putFile(backend: MlflowBackend, serverPath: string, body: Buffer): Promise<RawResponse> {
  const res = await backend.request("PUT", `/api/2.0/mlflow-artifacts/artifacts/${encodePath(serverPath)}`, {
    absolute: true,
    headers: { "content-type": "application/octet-stream" },
    body,
  });
  if (res.status >= 300) throw serverError(res.status, res.body);
  return new RawResponse(204, undefined);
}

export async function getFile(backend: MlflowBackend, c: RequestContext, serverPath: string): Promise<RawResponse> {
  const res = await backend.request("GET", `/api/2.0/mlflow-artifacts/artifacts/${encodePath(serverPath)}`, { absolute: true });
  if (res.status === 404 || res.status === 400) {
    throw new ApiError(404, "NOT_FOUND", "The file being accessed is not found.");
  }
  if (res.status >= 300) throw serverError(res.status, res.body);
  const headers: Record<string, string> = {
    "content-type": "application/octet-stream",
    "last-modified": res.headers.get("last-modified") ?? new Date(0).toUTCString(),
  };
  const range = typeof c.headers.range === "string" ? /^bytes=(\d+)-(\d*)$/.exec(c.headers.range) : null;
  if (range) {
    const start = Number(range[1]);
    const end = range[2] ? Math.min(Number(range[2]), res.body.length - 1) : res.body.length - 1;
    return new RawResponse(206, res.body.subarray(start, end + 1), {
      ...headers,
      "content-range": `bytes ${start}-${end}/${res.body.length}`,
    });
  }
  return new RawResponse(200, res.body, headers);
}

async function listDirectory(
  backend: MlflowBackend,
  c: RequestContext,
  workspacePath: string,
  serverPath: string,
): Promise<RawResponse | JsonObject> {
  const res = await backend.request(
    "GET",
    `${MLFLOW_PREFIX}/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(serverPath)}`,
    {
      absolute: true,
    },
  );
  if (res.status >= 300) throw serverError(res.status, res.body);
  const files = ((JSON.parse(res.body.toString("utf8")) as { files?: { path: string; is_dir?: boolean; file_size?: number }[] })
    .files ?? []) as { path: string; is_dir?: boolean; file_size?: number }[];
  // A directory exists while it holds something (object storage has no empty directories).
  if (files.length === 0) throw new ApiError(404, "NOT_FOUND", "The directory being accessed is not found.");
  if (c.method === "HEAD") return new RawResponse(200, undefined);
  const base = workspacePath.replace(/\/+$/, "");
  return {
    contents: files.map((f) => {
      const name = f.path.split("/").pop() as string;
      return {
        path: `${base}/${name}`,
        name,
        is_directory: f.is_dir === true,
        ...(f.is_dir ? {} : { file_size: f.file_size ?? 0 }),
      };
    }),
  };
}

function encodePath(p: string): string {
  return p
    .split("/")
    .map((s) => encodeURIComponent(s))
    .join("/");
}

function serverError(status: number, body: Buffer): ApiError {
  let code = "INTERNAL_ERROR";
  let message = `The MLflow tracking server answered ${status}`;
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { error_code?: string; message?: string; detail?: string };
    code = parsed.error_code ?? code;
    message = parsed.message ?? parsed.detail ?? message;
  } catch {
    // not JSON
  }
  return new ApiError(status >= 500 ? 502 : status, code, message);
}
