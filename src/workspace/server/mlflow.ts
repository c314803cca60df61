import { alreadyExists, invalid, type JsonObject, notFound, page, type Router, requireStr, str } from "../http.js";
import type { Principal } from "../identity.js";
import { mlflowBackend, toServerUris } from "../mlflow/backend.js";
import type { Collection } from "../store/store.js";
import { baseName, parentOf, permissionType, type WorkspaceTree, workspaceTree } from "../tree.js";
import type { Workspace } from "../workspace.js";
import { registerProxy } from "./mlflow-proxy.js";
import { registerWorkspaceModelVersions } from "./mlflow-registry.js";
import { registerUnityCatalogRegistry } from "./mlflow-uc.js";

/**
 * MLflow on Databricks (`/api/2.0/mlflow/...`): experiments, the workspace model registry (its
 * registered models here, their versions and stages in `mlflow-registry.ts`), and the Unity Catalog model-version calls MLflow clients make when registering
 * a model in a `databricks-uc` registry.
 *
 * Experiments are named by workspace paths (`/Users/someone@example.com/my-experiment`) and are
 * workspace objects of type MLFLOW_EXPERIMENT at that path (object id = experiment id): the Workspace
 * API lists them, a notebook or folder cannot take their path, and deleting them (or a folder holding
 * them) through the Workspace API deletes the experiment. A deleted experiment keeps its id and can be
 * restored, but leaves the tree and frees its name for a new experiment, as the workspace moves it to
 * the trash.
 */

export interface ExperimentRecord {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: "active" | "deleted";
  creation_time: number;
  last_update_time: number;
  tags: { key: string; value: string }[];
  trace_location?: unknown;
}

export interface RegisteredModelRecord {
  id: string;
  name: string;
  description?: string;
  tags: { key: string; value: string }[];
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id: string;
  /** The highest version number ever given (numbers are not reused after a delete). */
  last_version?: number;
}

const EXPERIMENT_LEVELS = ["CAN_READ", "CAN_EDIT", "CAN_MANAGE"];
const MODEL_LEVELS = ["CAN_READ", "CAN_EDIT", "CAN_MANAGE_STAGING_VERSIONS", "CAN_MANAGE_PRODUCTION_VERSIONS", "CAN_MANAGE"];
const MAX_EXPERIMENT_RESULTS = 3000;
const MAX_MODEL_RESULTS = 1000;
const MAX_TAG_KEY = 250;
const MAX_TAG_VALUE = 5000;
const EXPERIMENT_NODE = "MLFLOW_EXPERIMENT";

/** Databricks stores experiment names without the `/Workspace` prefix (and without the `//` some clients send). */
export function normalizeExperimentName(raw: string): string {
  let name = raw;
  if (name.startsWith("//")) name = name.slice(1);
  if (name === "/Workspace" || name.startsWith("/Workspace/")) name = name.slice("/Workspace".length);
  return name;
}

// ---------------------------------------------------------------------------------------------
// Search filters: `attr op value [AND ...]`, the subset of MLflow's grammar experiments and models use.

interface Clause {
  /** "name", "creation_time", "last_update_time", "last_updated_timestamp" or `tag:<key>`. */
  field: string;
  op: "=" | "!=" | "LIKE" | "ILIKE" | ">" | ">=" | "<" | "<=";
  value: string | number;
}

function parseFilter(filter: string | undefined, numericFields: string[]): Clause[] {
  if (filter === undefined || filter.trim() === "") return [];
  const clauses: Clause[] = [];
  const re =
    /\s*(?:(?:attributes?\.)?(`[^`]+`|"[^"]+"|[A-Za-z_][A-Za-z0-9_]*)|tags\.(`[^`]+`|"[^"]+"|[A-Za-z0-9_.-]+))\s*(!=|>=|<=|=|>|<|\bnot\s+ilike\b|\bnot\s+like\b|\bilike\b|\blike\b)\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+)\s*(?:\band\b|$)/iy;
  let pos = 0;
  const text = filter.trim();
  if (/\band$/i.test(text)) throw invalid(`Invalid filter string '${filter}': it ends with AND.`);
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m || m[0].length === 0) throw invalid(`Invalid filter string '${filter}': could not parse at position ${pos}.`);
    pos = re.lastIndex;
    const unquote = (s: string) => (/^[`"']/.test(s) ? s.slice(1, -1) : s);
    const op = (m[3] as string).toUpperCase().replace(/\s+/g, " ");
    if (op.startsWith("NOT")) throw invalid(`Invalid filter string '${filter}': ${op} is not supported.`);
    const rawValue = m[4] as string;
    let field: string;
    if (m[2] !== undefined) field = `tag:${unquote(m[2])}`;
    else {
      field = unquote(m[1] as string).toLowerCase();
      if (field !== "name" && !numericFields.includes(field)) {
        throw invalid(`Invalid filter string '${filter}': invalid attribute key '${field}'.`);
      }
    }
    const numeric = numericFields.includes(field);
    if (numeric && !/^-?\d+$/.test(rawValue)) throw invalid(`Invalid filter string '${filter}': ${field} needs a number.`);
    if (!numeric && /^-?\d+$/.test(rawValue)) throw invalid(`Invalid filter string '${filter}': ${field} needs a quoted string.`);
    if (numeric && (op === "LIKE" || op === "ILIKE"))
      throw invalid(`Invalid filter string '${filter}': ${op} needs a string field.`);
    if (!numeric && [">", ">=", "<", "<="].includes(op))
      throw invalid(`Invalid filter string '${filter}': ${op} needs a number field.`);
    clauses.push({
      field,
      op: op as Clause["op"],
      value: numeric ? Number(rawValue) : unquote(rawValue).replace(/\\(.)/g, "$1"),
    });
  }
  return clauses;
}

/** SQL LIKE with `%` and `_` wildcards. */
function like(value: string, pattern: string, caseInsensitive: boolean): boolean {
  const source = pattern
    .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    .replace(/%/g, ".*")
    .replace(/_/g, ".");
  return new RegExp(`^${source}$`, caseInsensitive ? "is" : "s").test(value);
}

function matchesClauses(clauses: Clause[], get: (field: string) => string | number | undefined): boolean {
  return clauses.every((c) => {
    const v = get(c.field);
    if (v === undefined) return false;
    switch (c.op) {
      case "=":
        return v === c.value;
      case "!=":
        return v !== c.value;
      case "LIKE":
        return like(String(v), String(c.value), false);
      case "ILIKE":
        return like(String(v), String(c.value), true);
      case ">":
        return v > c.value;
      case ">=":
        return v >= c.value;
      case "<":
        return v < c.value;
      case "<=":
        return v <= c.value;
    }
    return false;
  });
}

/** `order_by` arrives as a JSON array, or as one or more query parameters. */
function orderBy(input: JsonObject): string[] {
  const v = input.order_by;
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

function parseOrder(entries: string[], allowed: Record<string, string>): { key: string; desc: boolean }[] {
  return entries.map((e) => {
    const m = /^\s*(?:attributes?\.)?([A-Za-z_]+)\s*(ASC|DESC)?\s*$/i.exec(e);
    const key = m ? allowed[(m[1] as string).toLowerCase()] : undefined;
    if (!m || !key) throw invalid(`Invalid order_by clause '${e}'. Use one of: ${Object.keys(allowed).join(", ")}.`);
    return { key, desc: (m[2] ?? "ASC").toUpperCase() === "DESC" };
  });
}

function compare(a: string | number, b: string | number): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

function maxResults(input: JsonObject, fallback: number, cap: number): number {
  const raw = input.max_results;
  if (raw === undefined || raw === null || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw invalid(`Invalid value ${JSON.stringify(raw)} for parameter 'max_results': it must be a positive integer.`);
  if (n > cap) throw invalid(`Invalid value ${n} for parameter 'max_results' supplied. It must be at most ${cap}.`);
  return n;
}

export function tagList(raw: unknown, what: string): { key: string; value: string }[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalid(`${what} must be a list of {key, value} objects`);
  return raw.map((t) => {
    const tag = (t ?? {}) as JsonObject;
    const key = requireStr(tag, "key");
    const value = str(tag, "value") ?? "";
    checkTag(key, value);
    return { key, value };
  });
}

export function checkTag(key: string, value: string): void {
  if (key.length > MAX_TAG_KEY) throw invalid(`Tag key '${key.slice(0, 40)}...' is longer than ${MAX_TAG_KEY} characters.`);
  if (value.length > MAX_TAG_VALUE) throw invalid(`The value of tag '${key}' is longer than ${MAX_TAG_VALUE} characters.`);
}

// ---------------------------------------------------------------------------------------------

/**
 * Brings the workspace tree in line with the experiments on start: every active experiment has its
 * node (state written before experiments were workspace objects has none), no deleted one has.
 */
function placeExperiments(tree: WorkspaceTree, experiments: Collection<ExperimentRecord>): void {
  for (const e of experiments.values()) {
    const id = Number(e.experiment_id);
    const node = tree.byId(id);
    if (e.lifecycle_stage !== "active") {
      if (node?.object_type === EXPERIMENT_NODE) tree.removeForeign(node.path, id);
      continue;
    }
    if (node?.object_type === EXPERIMENT_NODE) {
      if (node.path !== e.name && !tree.get(e.name) && tree.isContainer(parentOf(e.name) ?? "/")) {
        tree.moveForeign(node.path, e.name);
      }
      continue;
    }
    // An experiment whose folder is gone or whose path is taken stays out of the tree.
    if (!node && !tree.get(e.name) && tree.isContainer(parentOf(e.name) ?? "/")) {
      tree.putForeign(e.name, EXPERIMENT_NODE, id, "experiments");
    }
  }
}

export function register(r: Router, ws: Workspace): void {
  const experiments = ws.store.collection<ExperimentRecord>("mlflow_experiments");
  // Every experiment change also reaches the tracking server, which holds the experiments' runs
  // under the same ids (the workspace is the source of truth for experiments).
  const backend = mlflowBackend(ws);
  const mirrored = (e: ExperimentRecord) => ({
    experiment_id: e.experiment_id,
    name: e.name,
    artifact_location: toServerUris(e.artifact_location),
    lifecycle_stage: e.lifecycle_stage,
    creation_time: e.creation_time,
    last_update_time: e.last_update_time,
  });
  backend.allExperiments = () => [...experiments.values()].map(mirrored);
  const save = (id: string, e: ExperimentRecord) => {
    experiments.set(id, e);
    backend.experimentChanged(mirrored(e));
  };
  const models = ws.store.collection<RegisteredModelRecord>("mlflow_registered_models");
  const perms = ws.permissions;
  const tree = workspaceTree(ws);

  // Experiments live in workspace folders and inherit the folder's permissions.
  perms.register("experiments", {
    levels: EXPERIMENT_LEVELS,
    objectType: "mlflowExperiment",
    idPrefix: "/experiments/",
    exists: (id) => experiments.has(id),
    parent: (id) => {
      const e = experiments.get(id);
      const dirPath = e ? parentOf(e.name) : undefined;
      const dir = dirPath === undefined ? undefined : tree.get(dirPath);
      return dir ? { type: permissionType(dir), id: String(dir.object_id) } : undefined;
    },
    missing: (id) => `Experiment ${id} does not exist.`,
  });
  perms.register("registered-models", {
    levels: MODEL_LEVELS,
    objectType: "registered-model",
    idPrefix: "/registered-models/",
    exists: (id) => models.has(id),
    missing: (id) => `Registered model ${id} does not exist.`,
  });

  // -- experiments ------------------------------------------------------------------------

  placeExperiments(tree, experiments);
  // An experiment whose node the Workspace API removes (itself, or with a folder) is deleted.
  tree.onRemove((node) => {
    if (node.object_type !== EXPERIMENT_NODE) return;
    const e = experiments.get(String(node.object_id));
    if (e?.lifecycle_stage === "active") {
      save(e.experiment_id, { ...e, lifecycle_stage: "deleted", last_update_time: Date.now() });
    }
  });

  const experimentName = (raw: string): string => {
    const name = normalizeExperimentName(raw);
    if (!name.startsWith("/") || name.length < 2 || name.endsWith("/")) {
      throw invalid(
        `Got an invalid experiment name '${raw}'. An experiment name must be an absolute path within the Databricks workspace, e.g. '/Users/<some-username>/my-experiment'.`,
      );
    }
    return name;
  };

  const activeByName = (name: string) => experiments.find((e) => e.lifecycle_stage === "active" && e.name === name);

  /** The experiment's folder must exist and be writable by the caller; the name must be free. */
  const checkPlacement = (p: Principal, name: string) => {
    tree.ensureHomes();
    const dirPath = parentOf(name) ?? "/";
    const dir = tree.get(dirPath);
    if (!dir || (dir.object_type !== "DIRECTORY" && dir.object_type !== "REPO")) {
      throw notFound(`Parent directory ${dirPath} does not exist.`);
    }
    tree.require(p, dir, "CAN_EDIT", dirPath);
    if (activeByName(name) || tree.get(name)) throw alreadyExists(`Node named '${baseName(name)}' already exists`, 400);
  };

  const getExperiment = (id: string): ExperimentRecord => {
    const e = experiments.get(id);
    if (!e) throw notFound(`Node ID ${id} does not exist.`);
    return e;
  };

  const requireExperiment = (p: Principal, id: string, level: string): ExperimentRecord => {
    const e = getExperiment(id);
    perms.require(p, "experiments", id, level);
    return e;
  };

  const experimentJson = (e: ExperimentRecord): JsonObject => ({
    experiment_id: e.experiment_id,
    name: e.name,
    artifact_location: e.artifact_location,
    lifecycle_stage: e.lifecycle_stage,
    last_update_time: e.last_update_time,
    creation_time: e.creation_time,
    ...(e.tags.length > 0 ? { tags: e.tags } : {}),
    ...(e.trace_location !== undefined ? { trace_location: e.trace_location } : {}),
  });

  r.post("/api/2.0/mlflow/experiments/create", (c) => {
    const raw = str(c.input, "name");
    if (raw === undefined || raw === "") throw invalid("Missing value for required parameter 'name'.");
    const name = experimentName(raw);
    const tags = tagList(c.input.tags, "tags");
    const p = c.principal;
    checkPlacement(p, name);
    // Experiment ids are workspace object ids, shared with notebooks and folders.
    const id = String(tree.newId());
    const now = Date.now();
    const artifact = str(c.input, "artifact_location");
    // The service appends its own tags after the caller's, listing the owner id twice.
    const system = [
      { key: "mlflow.ownerId", value: p.id },
      { key: "mlflow.experiment.sourceName", value: name },
      { key: "mlflow.ownerId", value: p.id },
      { key: "mlflow.ownerEmail", value: p.name },
      { key: "mlflow.experimentType", value: "MLFLOW_EXPERIMENT" },
    ];
    const rec: ExperimentRecord = {
      experiment_id: id,
      name,
      artifact_location: artifact && artifact !== "" ? artifact : `dbfs:/databricks/mlflow-tracking/${id}`,
      lifecycle_stage: "active",
      creation_time: now,
      last_update_time: now,
      tags: [...tags, ...system],
      ...(c.input.trace_location !== undefined && c.input.trace_location !== null
        ? { trace_location: c.input.trace_location }
        : {}),
    };
    save(id, rec);
    tree.putForeign(name, EXPERIMENT_NODE, Number(id), "experiments");
    perms.grantCreator("experiments", id, p);
    return { experiment_id: id };
  });

  r.get("/api/2.0/mlflow/experiments/get", (c) => {
    const id = str(c.input, "experiment_id");
    if (!id) throw invalid("Missing value for required parameter 'experiment_id'.");
    return { experiment: experimentJson(requireExperiment(c.principal, id, "CAN_READ")) };
  });

  r.get("/api/2.0/mlflow/experiments/get-by-name", (c) => {
    const raw = str(c.input, "experiment_name");
    if (!raw) throw invalid("Missing value for required parameter 'experiment_name'.");
    const name = normalizeExperimentName(raw);
    const e = activeByName(name) ?? experiments.find((x) => x.name === name);
    if (!e) throw notFound(`Could not find experiment with name '${raw}'`);
    perms.require(c.principal, "experiments", e.experiment_id, "CAN_READ");
    return { experiment: experimentJson(e) };
  });

  const searchExperiments = (input: JsonObject, p: Principal, defaultMax: number) => {
    const viewType = (str(input, "view_type") ?? "ACTIVE_ONLY").toUpperCase();
    if (!["ACTIVE_ONLY", "DELETED_ONLY", "ALL"].includes(viewType)) throw invalid(`Invalid view_type: ${viewType}`);
    const limit = maxResults(input, defaultMax, MAX_EXPERIMENT_RESULTS);
    const clauses = parseFilter(str(input, "filter"), ["creation_time", "last_update_time"]);
    const order = parseOrder(orderBy(input), {
      name: "name",
      creation_time: "creation_time",
      last_update_time: "last_update_time",
      experiment_id: "experiment_id",
    });
    if (order.length === 0) order.push({ key: "creation_time", desc: true });
    const list = [...experiments.values()].filter((e) => {
      if (viewType === "ACTIVE_ONLY" && e.lifecycle_stage !== "active") return false;
      if (viewType === "DELETED_ONLY" && e.lifecycle_stage !== "deleted") return false;
      if (!perms.has(p, "experiments", e.experiment_id, "CAN_READ")) return false;
      return matchesClauses(clauses, (field) => {
        if (field.startsWith("tag:")) return e.tags.find((t) => t.key === field.slice(4))?.value;
        return field === "name" ? e.name : field === "creation_time" ? e.creation_time : e.last_update_time;
      });
    });
    const value = (e: ExperimentRecord, key: string): string | number =>
      key === "experiment_id" ? Number(e.experiment_id) : (e[key as keyof ExperimentRecord] as string | number);
    list.sort((a, b) => {
      for (const o of order) {
        const d = compare(value(a, o.key), value(b, o.key));
        if (d !== 0) return o.desc ? -d : d;
      }
      return Number(b.experiment_id) - Number(a.experiment_id); // tiebreak: experiment id DESC
    });
    const res = page(list, str(input, "page_token"), limit);
    return { experiments: res.items.map(experimentJson), ...(res.next ? { next_page_token: res.next } : {}) };
  };

  r.post("/api/2.0/mlflow/experiments/search", (c) => searchExperiments(c.input, c.principal, 1000));
  r.get(["/api/2.0/mlflow/experiments/search", "/api/2.0/mlflow/experiments/list"], (c) =>
    searchExperiments(c.input, c.principal, 1000),
  );

  r.post("/api/2.0/mlflow/experiments/update", (c) => {
    const id = requireStr(c.input, "experiment_id");
    const e = requireExperiment(c.principal, id, "CAN_MANAGE");
    if (e.lifecycle_stage !== "active") throw invalid(`Cannot rename a non-active experiment ${id}.`);
    const raw = str(c.input, "new_name");
    if (raw === undefined || raw === "") return {};
    const name = experimentName(raw);
    if (name === e.name) return {};
    checkPlacement(c.principal, name);
    // The source-name tag follows the experiment's name.
    const tags = e.tags.map((t) => (t.key === "mlflow.experiment.sourceName" ? { ...t, value: name } : t));
    save(id, { ...e, name, tags, last_update_time: Date.now() });
    const node = tree.get(e.name);
    if (node?.object_type === EXPERIMENT_NODE && node.object_id === Number(id)) tree.moveForeign(e.name, name);
    else tree.putForeign(name, EXPERIMENT_NODE, Number(id), "experiments");
    return {};
  });

  r.post("/api/2.0/mlflow/experiments/delete", (c) => {
    const id = requireStr(c.input, "experiment_id");
    const e = requireExperiment(c.principal, id, "CAN_MANAGE");
    if (e.lifecycle_stage === "active") save(id, { ...e, lifecycle_stage: "deleted", last_update_time: Date.now() });
    tree.removeForeign(e.name, Number(id));
    return {};
  });

  r.post("/api/2.0/mlflow/experiments/restore", (c) => {
    const id = requireStr(c.input, "experiment_id");
    const e = requireExperiment(c.principal, id, "CAN_MANAGE");
    if (e.lifecycle_stage === "active") throw invalid(`Cannot restore an active experiment ${id}.`);
    if (activeByName(e.name) || tree.get(e.name)) {
      throw alreadyExists(`Cannot restore experiment ${id}: an active experiment named '${e.name}' already exists.`, 400);
    }
    // The experiment returns to its folder, which must still exist.
    const dirPath = parentOf(e.name) ?? "/";
    if (!tree.isContainer(dirPath)) throw notFound(`Parent directory ${dirPath} does not exist.`);
    save(id, { ...e, lifecycle_stage: "active", last_update_time: Date.now() });
    tree.putForeign(e.name, EXPERIMENT_NODE, Number(id), "experiments");
    return {};
  });

  r.post("/api/2.0/mlflow/experiments/set-experiment-tag", (c) => {
    const id = requireStr(c.input, "experiment_id");
    const key = requireStr(c.input, "key");
    const value = str(c.input, "value") ?? "";
    checkTag(key, value);
    const e = requireExperiment(c.principal, id, "CAN_EDIT");
    if (e.lifecycle_stage !== "active") throw invalid(`The experiment ${id} must be in the 'active' state.`);
    const tags = e.tags.some((t) => t.key === key)
      ? e.tags.map((t) => (t.key === key ? { key, value } : t))
      : [...e.tags, { key, value }];
    save(id, { ...e, tags, last_update_time: Date.now() });
    return {};
  });

  r.post("/api/2.0/mlflow/experiments/delete-experiment-tag", (c) => {
    const id = requireStr(c.input, "experiment_id");
    const key = requireStr(c.input, "key");
    const e = requireExperiment(c.principal, id, "CAN_EDIT");
    if (e.lifecycle_stage !== "active") throw invalid(`The experiment ${id} must be in the 'active' state.`);
    if (!e.tags.some((t) => t.key === key)) throw notFound(`No tag with name: ${key} in experiment ${id}.`);
    save(id, { ...e, tags: e.tags.filter((t) => t.key !== key), last_update_time: Date.now() });
    return {};
  });

  // -- workspace model registry -----------------------------------------------------------

  const modelByName = (name: string) => models.find((m) => m.name === name);

  const requireModel = (p: Principal, name: string | undefined, level: string): RegisteredModelRecord => {
    if (name === undefined || name === "") throw invalid("Missing value for required parameter 'name'.");
    const m = modelByName(name);
    if (!m) throw notFound(`RegisteredModel named '${name}' does not exist.`);
    perms.require(p, "registered-models", m.id, level);
    return m;
  };

  const registry = registerWorkspaceModelVersions(r, ws, {
    models,
    requireModel,
    canRead: (p, m) => perms.has(p, "registered-models", m.id, "CAN_READ"),
    tagList,
    checkTag,
  });

  const modelJson = (m: RegisteredModelRecord): JsonObject => ({
    name: m.name,
    creation_timestamp: m.creation_timestamp,
    last_updated_timestamp: m.last_updated_timestamp,
    user_id: m.user_id,
    ...(m.description !== undefined && m.description !== "" ? { description: m.description } : {}),
    ...(m.tags.length > 0 ? { tags: m.tags } : {}),
    ...registry.modelExtras(m),
  });

  const modelName = (raw: unknown): string => {
    const name = typeof raw === "string" ? raw : "";
    if (name === "") throw invalid(`Got an invalid name '${name}'. Registered Model names cannot be empty strings.`);
    if (name.includes("/") || name.includes(":") || name.includes("%")) {
      throw invalid(`Got an invalid name '${name}'. Names cannot contain '/', ':' or '%'.`);
    }
    return name;
  };

  r.post("/api/2.0/mlflow/registered-models/create", (c) => {
    const name = modelName(c.input.name);
    const tags = tagList(c.input.tags, "tags");
    if (modelByName(name)) throw alreadyExists(`Registered Model (name=${name}) already exists.`, 400);
    const now = Date.now();
    const id = String(ws.store.nextId("mlflow_registered_models", 2_000_000_000_000_000));
    const rec: RegisteredModelRecord = {
      id,
      name,
      tags,
      creation_timestamp: now,
      last_updated_timestamp: now,
      user_id: c.principal.name,
    };
    const description = str(c.input, "description");
    if (description !== undefined) rec.description = description;
    models.set(id, rec);
    perms.grantCreator("registered-models", id, c.principal);
    return { registered_model: modelJson(rec) };
  });

  r.get("/api/2.0/mlflow/registered-models/get", (c) => ({
    registered_model: modelJson(requireModel(c.principal, str(c.input, "name"), "CAN_READ")),
  }));

  r.get("/api/2.0/mlflow/databricks/registered-models/get", (c) => {
    const m = requireModel(c.principal, str(c.input, "name"), "CAN_READ");
    return {
      registered_model_databricks: {
        ...modelJson(m),
        id: m.id,
        permission_level: perms.effectiveLevel(c.principal, "registered-models", m.id),
      },
    };
  });

  r.patch("/api/2.0/mlflow/registered-models/update", (c) => {
    const m = requireModel(c.principal, str(c.input, "name"), "CAN_EDIT");
    const next: RegisteredModelRecord = { ...m, last_updated_timestamp: Date.now() };
    const description = str(c.input, "description");
    if (description !== undefined) next.description = description;
    models.set(m.id, next);
    return { registered_model: modelJson(next) };
  });

  r.post("/api/2.0/mlflow/registered-models/rename", (c) => {
    const m = requireModel(c.principal, str(c.input, "name"), "CAN_MANAGE");
    const newName = modelName(c.input.new_name);
    if (newName !== m.name && modelByName(newName))
      throw alreadyExists(`Registered Model (name=${newName}) already exists.`, 400);
    const next: RegisteredModelRecord = { ...m, name: newName, last_updated_timestamp: Date.now() };
    models.set(m.id, next);
    return { registered_model: modelJson(next) };
  });

  r.delete("/api/2.0/mlflow/registered-models/delete", (c) => {
    const m = requireModel(c.principal, str(c.input, "name"), "CAN_MANAGE");
    registry.dropVersions(m);
    models.delete(m.id);
    perms.drop("registered-models", m.id);
    return {};
  });

  r.post("/api/2.0/mlflow/registered-models/set-tag", (c) => {
    const m = requireModel(c.principal, str(c.input, "name"), "CAN_EDIT");
    const key = requireStr(c.input, "key");
    const value = str(c.input, "value") ?? "";
    checkTag(key, value);
    const tags = m.tags.some((t) => t.key === key)
      ? m.tags.map((t) => (t.key === key ? { key, value } : t))
      : [...m.tags, { key, value }];
    models.set(m.id, { ...m, tags, last_updated_timestamp: Date.now() });
    return {};
  });

  r.delete("/api/2.0/mlflow/registered-models/delete-tag", (c) => {
    const m = requireModel(c.principal, str(c.input, "name"), "CAN_EDIT");
    const key = requireStr(c.input, "key");
    if (!m.tags.some((t) => t.key === key)) throw notFound(`No tag with name: ${key} in registered model ${m.name}.`);
    models.set(m.id, { ...m, tags: m.tags.filter((t) => t.key !== key), last_updated_timestamp: Date.now() });
    return {};
  });

  const searchModels = (input: JsonObject, p: Principal) => {
    const limit = maxResults(input, 100, MAX_MODEL_RESULTS);
    const clauses = parseFilter(str(input, "filter"), ["last_updated_timestamp", "creation_timestamp"]).map((cl) =>
      // A LIKE pattern without wildcards matches anywhere in the name, as the service interprets it.
      (cl.op === "LIKE" || cl.op === "ILIKE") && typeof cl.value === "string" && !cl.value.includes("%")
        ? { ...cl, value: `%${cl.value}%` }
        : cl,
    );
    const order = parseOrder(orderBy(input), {
      name: "name",
      timestamp: "last_updated_timestamp",
      last_updated_timestamp: "last_updated_timestamp",
      creation_timestamp: "creation_timestamp",
    });
    const list = [...models.values()].filter(
      (m) =>
        perms.has(p, "registered-models", m.id, "CAN_READ") &&
        matchesClauses(clauses, (field) => {
          if (field.startsWith("tag:")) return m.tags.find((t) => t.key === field.slice(4))?.value;
          return field === "name" ? m.name : field === "creation_timestamp" ? m.creation_timestamp : m.last_updated_timestamp;
        }),
    );
    list.sort((a, b) => {
      for (const o of order) {
        const d = compare(
          a[o.key as keyof RegisteredModelRecord] as string | number,
          b[o.key as keyof RegisteredModelRecord] as string | number,
        );
        if (d !== 0) return o.desc ? -d : d;
      }
      return compare(a.name, b.name); // tiebreak: name ASC
    });
    const res = page(list, str(input, "page_token"), limit);
    return { registered_models: res.items.map(modelJson), ...(res.next ? { next_page_token: res.next } : {}) };
  };

  r.get(["/api/2.0/mlflow/registered-models/search", "/api/2.0/mlflow/registered-models/list"], (c) =>
    searchModels(c.input, c.principal),
  );

  // -- Unity Catalog registry, then everything the tracking server answers ---------------

  registerUnityCatalogRegistry(r, ws);
  registerProxy(r, ws, experiments);
}
