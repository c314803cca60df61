import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import {
  ApiError,
  invalid,
  type JsonObject,
  notFound,
  page,
  type RequestContext,
  type Router,
  requireStr,
  str,
} from "../http.js";
import type { Principal } from "../identity.js";
import { MLFLOW_PREFIX, mlflowBackend, toDatabricksUris, toServerUris } from "../mlflow/backend.js";
import type { Collection } from "../store/store.js";
import type { Workspace } from "../workspace.js";
import type { RegisteredModelRecord } from "./mlflow.js";
import { getFile } from "./mlflow-proxy.js";

/**
 * Model versions and stages of the workspace (non Unity Catalog) model registry, the
 * calls the `mlflow` client makes with the `databricks` registry. The workspace keeps them, next to
 * its registered models (one store, with the registered model's permissions); a version's files
 * stay where the run or logged model put them in the tracking server's artifact store. Clients
 * list them with `model-versions/list-artifacts` and download them from the short-lived signed
 * URLs `model-versions/get-signed-download-uri` hands out. Aliases are a Unity Catalog feature (the
 * `mlflow` client refuses them for this registry); stages play their part here.
 */

export interface ModelVersionRecord {
  model_id: string;
  version: number;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id: string;
  current_stage: string;
  description?: string;
  source: string;
  run_id?: string;
  run_link?: string;
  logged_model_id?: string;
  tags: { key: string; value: string }[];
  /** The version's files in the tracking server's artifact store (a path under its artifact root). */
  storage: string;
}

export interface ModelVersionsDeps {
  models: Collection<RegisteredModelRecord>;
  requireModel: (p: Principal, name: string | undefined, level: string) => RegisteredModelRecord;
  canRead: (p: Principal, m: RegisteredModelRecord) => boolean;
  tagList: (raw: unknown, what: string) => { key: string; value: string }[];
  checkTag: (key: string, value: string) => void;
}

const STAGES = ["None", "Staging", "Production", "Archived"];
const SIGNED_URL_TTL_MS = 15 * 60 * 1000;
const FILES_PREFIX = "/api/2.0/mlflow/model-versions/files";

export interface WorkspaceModelVersions {
  /** `latest_versions` of a registered model's JSON. */
  modelExtras: (m: RegisteredModelRecord) => JsonObject;
  /** Drops a deleted registered model's versions. */
  dropVersions: (m: RegisteredModelRecord) => void;
}

export function registerWorkspaceModelVersions(r: Router, ws: Workspace, deps: ModelVersionsDeps): WorkspaceModelVersions {
  const { models, requireModel } = deps;
  const versions = ws.store.collection<ModelVersionRecord>("mlflow_model_versions");
  const backend = mlflowBackend(ws);
  const signingKey = randomBytes(32);
  const key = (modelId: string, version: number) => `${modelId}:${version}`;

  const versionsOf = (m: RegisteredModelRecord) =>
    [...versions.values()].filter((v) => v.model_id === m.id).sort((a, b) => a.version - b.version);

  const latestPerStage = (m: RegisteredModelRecord, stages: string[]) => {
    const out: ModelVersionRecord[] = [];
    const all = versionsOf(m);
    for (const stage of stages) {
      const inStage = all.filter((v) => v.current_stage === stage);
      const last = inStage[inStage.length - 1];
      if (last) out.push(last);
    }
    return out.sort((a, b) => a.version - b.version);
  };

  const versionJson = (m: RegisteredModelRecord, v: ModelVersionRecord): JsonObject => {
    return {
      name: m.name,
      version: String(v.version),
      creation_timestamp: v.creation_timestamp,
      last_updated_timestamp: v.last_updated_timestamp,
      user_id: v.user_id,
      current_stage: v.current_stage,
      source: v.source,
      status: "READY",
      ...(v.description ? { description: v.description } : {}),
      ...(v.run_id ? { run_id: v.run_id } : {}),
      ...(v.run_link ? { run_link: v.run_link } : {}),
      ...(v.logged_model_id ? { model_id: v.logged_model_id } : {}),
      ...(v.tags.length > 0 ? { tags: v.tags } : {}),
    };
  };

  const versionParam = (input: JsonObject): number => {
    const raw = requireStr(input, "version");
    if (!/^\d+$/.test(raw)) throw invalid(`Invalid model version '${raw}'. The version must be a positive integer.`);
    return Number(raw);
  };

  const requireVersion = (c: RequestContext, level: string) => {
    const m = requireModel(c.principal, str(c.input, "name"), level);
    const version = versionParam(c.input);
    const v = versions.get(key(m.id, version));
    if (!v) throw notFound(`Model Version (name=${m.name}, version=${version}) not found`);
    return { m, v };
  };

  const stageParam = (raw: string | undefined): string => {
    const stage = STAGES.find((s) => s.toLowerCase() === (raw ?? "").toLowerCase());
    if (!stage) throw invalid(`Invalid Model Version stage: ${raw}. Value must be one of ${STAGES.join(", ")}.`);
    return stage;
  };

  const save = (v: ModelVersionRecord) => versions.set(key(v.model_id, v.version), v);
  const touch = (m: RegisteredModelRecord, patch: Partial<RegisteredModelRecord> = {}) =>
    models.set(m.id, { ...m, ...patch, last_updated_timestamp: Date.now() });

  // -- where a version's files are --------------------------------------------------------

  const serverJson = async (path: string): Promise<JsonObject> => {
    const res = await backend.request("GET", `${MLFLOW_PREFIX}${path}`, { absolute: true });
    const text = res.body.toString("utf8");
    if (res.status === 404 || (res.status === 400 && text.includes("RESOURCE_DOES_NOT_EXIST"))) {
      throw invalid(`Unable to find the model version source: ${path.split("/").pop()?.split("?")[0]}.`);
    }
    if (res.status >= 300) throw new ApiError(502, "INTERNAL_ERROR", `The MLflow tracking server answered ${res.status}`);
    return JSON.parse(text) as JsonObject;
  };

  /** The artifact-store path of a version's source, and the logged model it comes from. */
  const resolveSource = async (source: string): Promise<{ storage: string; loggedModel?: string; runId?: string }> => {
    const logged = /^models:\/(m-[0-9a-f]+)\/?$/.exec(source);
    if (logged) {
      const id = logged[1] as string;
      const res = await serverJson(`/api/2.0/mlflow/logged-models/${id}`);
      const info = ((res.model as JsonObject | undefined)?.info ?? {}) as JsonObject;
      const location = String(info.artifact_location ?? "");
      return {
        storage: artifactPath(location, source),
        loggedModel: id,
        ...(info.source_run_id ? { runId: String(info.source_run_id) } : {}),
      };
    }
    const run = /^runs:\/([0-9a-f]+)(?:\/(.*))?$/.exec(source);
    if (run) {
      const res = await serverJson(`/api/2.0/mlflow/runs/get?run_id=${run[1]}`);
      const info = ((res.run as JsonObject | undefined)?.info ?? {}) as JsonObject;
      const base = String(info.artifact_uri ?? "").replace(/\/+$/, "");
      return { storage: artifactPath(run[2] ? `${base}/${run[2]}` : base, source), runId: run[1] as string };
    }
    return { storage: artifactPath(toServerUris(source), source) };
  };

  // -- versions ---------------------------------------------------------------------------

  r.post("/api/2.0/mlflow/model-versions/create", async (c) => {
    const m = requireModel(c.principal, str(c.input, "name"), "CAN_EDIT");
    const source = requireStr(c.input, "source");
    const tags = deps.tagList(c.input.tags, "tags");
    const resolved = await resolveSource(source);
    const current = models.get(m.id) ?? m;
    const version = Math.max(current.last_version ?? 0, ...versionsOf(current).map((v) => v.version)) + 1;
    const now = Date.now();
    const runId = str(c.input, "run_id") ?? resolved.runId;
    const modelId = str(c.input, "model_id") ?? resolved.loggedModel;
    const rec: ModelVersionRecord = {
      model_id: m.id,
      version,
      creation_timestamp: now,
      last_updated_timestamp: now,
      user_id: c.principal.name,
      current_stage: "None",
      source,
      tags,
      storage: resolved.storage,
      ...(runId ? { run_id: runId } : {}),
      ...(modelId ? { logged_model_id: modelId } : {}),
    };
    const description = str(c.input, "description");
    if (description) rec.description = description;
    const runLink = str(c.input, "run_link");
    if (runLink) rec.run_link = runLink;
    save(rec);
    touch(current, { last_version: version });
    return { model_version: versionJson(current, rec) };
  });

  r.get("/api/2.0/mlflow/model-versions/get", (c) => {
    const { m, v } = requireVersion(c, "CAN_READ");
    return { model_version: versionJson(m, v) };
  });

  r.patch("/api/2.0/mlflow/model-versions/update", (c) => {
    const { m, v } = requireVersion(c, "CAN_EDIT");
    const next = { ...v, last_updated_timestamp: Date.now() };
    const description = str(c.input, "description");
    if (description !== undefined) next.description = description;
    save(next);
    return { model_version: versionJson(m, next) };
  });

  r.delete("/api/2.0/mlflow/model-versions/delete", (c) => {
    const { m, v } = requireVersion(c, "CAN_MANAGE");
    versions.delete(key(m.id, v.version));
    touch(m);
    return {};
  });

  const transition = (c: RequestContext) => {
    const stage = stageParam(str(c.input, "stage"));
    const level = stage === "Production" ? "CAN_MANAGE_PRODUCTION_VERSIONS" : "CAN_MANAGE_STAGING_VERSIONS";
    const { m, v } = requireVersion(c, level);
    const archive = c.input.archive_existing_versions === true || c.input.archive_existing_versions === "true";
    const now = Date.now();
    if (archive && (stage === "Staging" || stage === "Production")) {
      for (const other of versionsOf(m)) {
        if (other.version !== v.version && other.current_stage === stage) {
          save({ ...other, current_stage: "Archived", last_updated_timestamp: now });
        }
      }
    }
    const next = { ...v, current_stage: stage, last_updated_timestamp: now };
    save(next);
    touch(m);
    return { m, next };
  };

  r.post("/api/2.0/mlflow/model-versions/transition-stage", (c) => {
    const { m, next } = transition(c);
    return { model_version: versionJson(m, next) };
  });

  // The Databricks variant (SDK `model_registry.transition_stage`) answers `model_version_databricks`.
  r.post("/api/2.0/mlflow/databricks/model-versions/transition-stage", (c) => {
    const { m, next } = transition(c);
    const j = versionJson(m, next);
    return {
      model_version_databricks: {
        ...j,
        status: "READY",
        permission_level: ws.permissions.effectiveLevel(c.principal, "registered-models", m.id),
      },
    };
  });

  r.post("/api/2.0/mlflow/registered-models/get-latest-versions", (c) => {
    const m = requireModel(c.principal, str(c.input, "name"), "CAN_READ");
    const raw = c.input.stages;
    const stages =
      raw === undefined || raw === null || (Array.isArray(raw) && raw.length === 0)
        ? STAGES
        : (Array.isArray(raw) ? raw : [raw]).map((s) => stageParam(String(s)));
    return { model_versions: latestPerStage(m, stages).map((v) => versionJson(m, v)) };
  });

  r.get("/api/2.0/mlflow/model-versions/search", (c) => {
    const clauses = parseVersionFilter(str(c.input, "filter"));
    const limit = Number(str(c.input, "max_results") ?? "200");
    if (!Number.isSafeInteger(limit) || limit <= 0 || limit > 200_000) {
      throw invalid(`Invalid value ${str(c.input, "max_results")} for parameter 'max_results'.`);
    }
    const byId = new Map([...models.values()].map((m) => [m.id, m]));
    const found: { m: RegisteredModelRecord; v: ModelVersionRecord }[] = [];
    for (const v of versions.values()) {
      const m = byId.get(v.model_id);
      if (!m || !deps.canRead(c.principal, m)) continue;
      const fields: Record<string, string | undefined> = {
        name: m.name,
        run_id: v.run_id,
        source_path: v.source,
        version_number: String(v.version),
      };
      if (clauses.every((cl) => matches(cl, cl.field.startsWith("tag:") ? tagValue(v, cl.field) : fields[cl.field]))) {
        found.push({ m, v });
      }
    }
    found.sort((a, b) => (a.m.name === b.m.name ? b.v.version - a.v.version : a.m.name < b.m.name ? -1 : 1));
    const res = page(found, str(c.input, "page_token"), limit);
    return {
      model_versions: res.items.map(({ m, v }) => versionJson(m, v)),
      ...(res.next ? { next_page_token: res.next } : {}),
    };
  });

  r.get("/api/2.0/mlflow/model-versions/get-download-uri", (c) => {
    const { v } = requireVersion(c, "CAN_READ");
    return { artifact_uri: toDatabricksUris(`mlflow-artifacts:/${v.storage}`) };
  });

  // -- version tags -----------------------------------------------------------------------

  r.post("/api/2.0/mlflow/model-versions/set-tag", (c) => {
    const { v } = requireVersion(c, "CAN_EDIT");
    const k = requireStr(c.input, "key");
    const value = str(c.input, "value") ?? "";
    deps.checkTag(k, value);
    const tags = v.tags.some((t) => t.key === k)
      ? v.tags.map((t) => (t.key === k ? { key: k, value } : t))
      : [...v.tags, { key: k, value }];
    save({ ...v, tags, last_updated_timestamp: Date.now() });
    return {};
  });

  r.delete("/api/2.0/mlflow/model-versions/delete-tag", (c) => {
    const { m, v } = requireVersion(c, "CAN_EDIT");
    const k = requireStr(c.input, "key");
    if (!v.tags.some((t) => t.key === k)) {
      throw notFound(`No tag with name: ${k} in model version (name=${m.name}, version=${v.version}).`);
    }
    save({ ...v, tags: v.tags.filter((t) => t.key !== k), last_updated_timestamp: Date.now() });
    return {};
  });

  // -- version files ----------------------------------------------------------------------

  const cleanPath = (raw: string | undefined): string => {
    const p = (raw ?? "").replace(/^\/+|\/+$/g, "");
    if (p.split("/").some((s) => s === ".." || s === ".")) throw invalid(`Invalid path '${raw}'.`);
    return p;
  };

  r.get("/api/2.0/mlflow/model-versions/list-artifacts", async (c) => {
    const { v } = requireVersion(c, "CAN_READ");
    const rel = cleanPath(str(c.input, "path"));
    const res = await backend.request(
      "GET",
      `${MLFLOW_PREFIX}/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(rel ? `${v.storage}/${rel}` : v.storage)}`,
      { absolute: true },
    );
    if (res.status >= 300) throw new ApiError(502, "INTERNAL_ERROR", `The MLflow tracking server answered ${res.status}`);
    const files = ((JSON.parse(res.body.toString("utf8")) as { files?: { path: string; is_dir?: boolean; file_size?: number }[] })
      .files ?? []) as { path: string; is_dir?: boolean; file_size?: number }[];
    return {
      files: files.map((f) => {
        const name = f.path.split("/").pop() as string;
        return {
          path: rel ? `${rel}/${name}` : name,
          is_dir: f.is_dir === true,
          ...(f.is_dir ? {} : { file_size: f.file_size ?? 0 }),
        };
      }),
    };
  });

  const sign = (payload: string) => createHmac("sha256", signingKey).update(payload).digest("hex");

  r.get("/api/2.0/mlflow/model-versions/get-signed-download-uri", (c) => {
    const { m, v } = requireVersion(c, "CAN_READ");
    const rel = cleanPath(str(c.input, "path"));
    const expires = Date.now() + SIGNED_URL_TTL_MS;
    const target = `${m.id}/${v.version}/${rel}`;
    const base = typeof c.headers.host === "string" ? `http://${c.headers.host}` : ws.url;
    const path = target
      .split("/")
      .map((s) => encodeURIComponent(s))
      .join("/");
    return {
      signed_uri: `${base}${FILES_PREFIX}/${path}?expires=${expires}&signature=${sign(`${target}:${expires}`)}`,
      headers: [],
    };
  });

  // The signed URL is the credential (clients fetch it without the workspace token, as from cloud storage).
  r.get(
    `${FILES_PREFIX}/:model/:version/*path`,
    (c) => {
      const target = `${c.params.model}/${c.params.version}/${c.params.path}`;
      const expires = Number(c.query.get("expires") ?? "0");
      const given = Buffer.from(c.query.get("signature") ?? "", "utf8");
      const wanted = Buffer.from(sign(`${target}:${expires}`), "utf8");
      if (given.length !== wanted.length || !timingSafeEqual(given, wanted) || !(expires > Date.now())) {
        throw new ApiError(403, "PERMISSION_DENIED", "The signed URL is invalid or has expired.");
      }
      const v = versions.get(key(c.params.model as string, Number(c.params.version)));
      if (!v) throw notFound("The model version does not exist.");
      return getFile(backend, c, `${v.storage}/${cleanPath(c.params.path)}`);
    },
    { auth: false },
  );

  return {
    modelExtras: (m) => {
      const latest = latestPerStage(m, STAGES);
      return latest.length > 0 ? { latest_versions: latest.map((v) => versionJson(m, v)) } : {};
    },
    dropVersions: (m) => {
      for (const v of versionsOf(m)) versions.delete(key(m.id, v.version));
    },
  };
}

/** `mlflow-artifacts:/<path>` (the tracking server's artifact store) to `<path>`. */
function artifactPath(serverUri: string, source: string): string {
  const m = /^mlflow-artifacts:\/+(.+?)\/*$/.exec(serverUri);
  if (!m) {
    throw invalid(
      `Unsupported model version source '${source}': use runs:/<run>/<path>, models:/<logged model id> or a dbfs:/databricks/mlflow-tracking/ artifact URI of this workspace.`,
    );
  }
  return m[1] as string;
}

interface VersionClause {
  field: string;
  op: "=" | "!=" | "LIKE" | "ILIKE" | "IN";
  values: string[];
}

/** `field op value [AND ...]` over name, run_id, source_path, version_number and tags.<key>. */
function parseVersionFilter(filter: string | undefined): VersionClause[] {
  if (filter === undefined || filter.trim() === "") return [];
  const out: VersionClause[] = [];
  const re =
    /\s*(name|run_id|source_path|version_number|tags\.(?:`[^`]+`|[A-Za-z0-9_.-]+))\s*(!=|=|\bilike\b|\blike\b|\bin\b)\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\d+|\((?:\s*'(?:[^'\\]|\\.)*'\s*,?)+\))\s*(?:\band\b|$)/iy;
  const text = filter.trim();
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m || m[0].length === 0) throw invalid(`Invalid filter string '${filter}': could not parse at position ${pos}.`);
    pos = re.lastIndex;
    const raw = m[1] as string;
    const field = raw.toLowerCase().startsWith("tags.") ? `tag:${raw.slice(5).replace(/^`|`$/g, "")}` : raw.toLowerCase();
    const op = (m[2] as string).toUpperCase() as VersionClause["op"];
    const value = m[3] as string;
    const values =
      op === "IN"
        ? [...value.matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((x) => (x[1] as string).replace(/\\(.)/g, "$1"))
        : [/^['"]/.test(value) ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value];
    out.push({ field, op, values });
  }
  return out;
}

function matches(cl: VersionClause, value: string | undefined): boolean {
  if (value === undefined) return cl.op === "!=";
  const first = cl.values[0] ?? "";
  switch (cl.op) {
    case "=":
      return value === first;
    case "!=":
      return value !== first;
    case "IN":
      return cl.values.includes(value);
    default: {
      const source = first
        .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
        .replace(/%/g, ".*")
        .replace(/_/g, ".");
      return new RegExp(`^${source}$`, cl.op === "ILIKE" ? "is" : "s").test(value);
    }
  }
}

function tagValue(v: ModelVersionRecord, field: string): string | undefined {
  return v.tags.find((t) => t.key === field.slice(4))?.value;
}
