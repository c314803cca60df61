import { ApiError, invalid, type JsonObject, notImplemented, page, type Router, requireStr, str } from "../http.js";
import type { Principal } from "../identity.js";
import type { Workspace } from "../workspace.js";
import { type ModelRecord, type ModelVersionRecord, unityCatalog } from "./unity-catalog.js";

/**
 * MLflow's Unity Catalog model registry (`/api/2.0/mlflow/unity-catalog/...`), the calls the
 * `mlflow` client makes with the `databricks-uc` registry. The models, versions, aliases and tags
 * are the workspace's Unity Catalog objects: what MLflow registers is what
 * `/api/2.1/unity-catalog/models` shows, and the other way round. Version files go through the
 * Files API under `/Models/<catalog>/<schema>/<model>/<version>/` (see `mlflow-proxy.ts`); the
 * registry tells clients so (`is-databricks-sdk-models-artifact-repository-enabled`).
 */

type Tag = { key: string; value: string };

const PREFIX = "/api/2.0/mlflow/unity-catalog";

export function registerUnityCatalogRegistry(r: Router, ws: Workspace): void {
  const fullName = (input: JsonObject): string => requireStr(input, "name").toLowerCase();

  const resolve = (p: Principal, name: string, access: "view" | "manage") => {
    const uc = unityCatalog(ws);
    const { catalog, schema, model } = uc.resolveModel(name);
    const sec = uc.modelSec(catalog, schema, model);
    if (access === "manage") uc.requireManage(p, sec);
    else uc.requireVisible(p, sec);
    return { uc, model, full: sec.fullName };
  };

  const versionParam = (input: JsonObject): number => {
    const raw = requireStr(input, "version");
    if (!/^\d+$/.test(raw)) throw invalid(`Invalid model version '${raw}'.`);
    return Number(raw);
  };

  const aliasesOf = (m: ModelRecord, version?: number) =>
    m.aliases
      .filter((a) => version === undefined || a.version_num === version)
      .map((a) => ({ alias: a.alias_name, version: String(a.version_num) }));

  const modelJson = (full: string, m: ModelRecord): JsonObject => ({
    name: full,
    creation_timestamp: m.created_at,
    last_updated_timestamp: m.updated_at,
    user_id: m.created_by,
    ...(m.comment !== undefined ? { description: m.comment } : {}),
    aliases: aliasesOf(m),
    tags: m.tags ?? [],
  });

  const versionJson = (full: string, m: ModelRecord | undefined, v: ModelVersionRecord): JsonObject => ({
    name: full,
    version: String(v.version),
    creation_timestamp: v.created_at,
    last_updated_timestamp: v.updated_at,
    user_id: v.created_by,
    source: v.source,
    ...(v.run_id ? { run_id: v.run_id } : {}),
    ...(v.run_workspace_id !== undefined ? { run_tracking_server_id: String(v.run_workspace_id) } : {}),
    ...(v.comment !== undefined ? { description: v.comment } : {}),
    status: v.status,
    storage_location: v.storage_location,
    ...(m ? { aliases: aliasesOf(m, v.version) } : {}),
    tags: v.tags ?? [],
    ...(v.logged_model_id ? { model_id: v.logged_model_id } : {}),
  });

  const tagsIn = (raw: unknown): Tag[] =>
    Array.isArray(raw)
      ? raw.map((t) => {
          const tag = (t ?? {}) as JsonObject;
          return { key: requireStr(tag, "key"), value: str(tag, "value") ?? "" };
        })
      : [];

  const withTag = (tags: Tag[] | undefined, key: string, value: string | undefined): Tag[] => {
    const rest = (tags ?? []).filter((t) => t.key !== key);
    return value === undefined ? rest : [...rest, { key, value }];
  };

  // -- registered models ------------------------------------------------------------------

  r.post(`${PREFIX}/registered-models/create`, (c) => {
    const uc = unityCatalog(ws);
    const name = fullName(c.input);
    const parts = name.split(".");
    if (parts.length !== 3 || parts.some((x) => x === "")) {
      throw invalid(`Invalid registered model name '${name}': expected <catalog>.<schema>.<model>.`);
    }
    const { catalog, schema } = uc.requireSchema(parts[0] as string, parts[1] as string);
    const description = str(c.input, "description");
    const rec = uc.createModel(c.principal, catalog, schema, parts[2] as string, {
      ...(description !== undefined ? { comment: description } : {}),
      tags: tagsIn(c.input.tags),
    });
    return { registered_model: modelJson(name, rec) };
  });

  r.get(`${PREFIX}/registered-models/get`, (c) => {
    const { model, full } = resolve(c.principal, fullName(c.input), "view");
    return { registered_model: modelJson(full, model) };
  });

  r.patch(`${PREFIX}/registered-models/update`, (c) => {
    const { uc, model, full } = resolve(c.principal, fullName(c.input), "manage");
    const newName = str(c.input, "new_name");
    if (newName !== undefined && newName.toLowerCase() !== full) {
      throw new ApiError(
        400,
        "INVALID_PARAMETER_VALUE",
        "Renaming a registered model through MLflow is not supported here; use the Unity Catalog API.",
      );
    }
    const description = str(c.input, "description");
    const next: ModelRecord = { ...model, updated_at: Date.now(), updated_by: c.principal.name };
    if (description !== undefined) next.comment = description;
    uc.models.set(model.id, next);
    return { registered_model: modelJson(full, next) };
  });

  r.delete(`${PREFIX}/registered-models/delete`, (c) => {
    const { uc, model } = resolve(c.principal, fullName(c.input), "manage");
    uc.dropModel(model);
    return {};
  });

  r.get(`${PREFIX}/registered-models/search`, (c) => {
    const uc = unityCatalog(ws);
    const rows: JsonObject[] = [];
    for (const m of uc.models.values()) {
      const schema = uc.schemas.get(m.schema_id);
      const catalog = schema ? uc.catalogs.get(schema.catalog_id) : undefined;
      if (!schema || !catalog) continue;
      const sec = uc.modelSec(catalog, schema, m);
      if (!uc.visible(c.principal, sec)) continue;
      rows.push(modelJson(sec.fullName, m));
    }
    rows.sort((a, b) => String(a.name).localeCompare(String(b.name)));
    const max = Number(str(c.input, "max_results") ?? "100") || 100;
    const res = page(rows, str(c.input, "page_token"), max);
    return { registered_models: res.items, ...(res.next ? { next_page_token: res.next } : {}) };
  });

  r.post(`${PREFIX}/registered-models/set-tag`, (c) => {
    const { uc, model } = resolve(c.principal, fullName(c.input), "manage");
    const key = requireStr(c.input, "key");
    uc.models.set(model.id, { ...model, tags: withTag(model.tags, key, str(c.input, "value") ?? "") });
    return {};
  });

  r.delete(`${PREFIX}/registered-models/delete-tag`, (c) => {
    const { uc, model } = resolve(c.principal, fullName(c.input), "manage");
    uc.models.set(model.id, { ...model, tags: withTag(model.tags, requireStr(c.input, "key"), undefined) });
    return {};
  });

  // -- aliases ------------------------------------------------------------------------------

  const aliasName = (input: JsonObject): string => {
    const alias = requireStr(input, "alias").toLowerCase();
    if (!/^[a-z0-9_-]{1,255}$/.test(alias))
      throw invalid(`Invalid alias name '${alias}': use letters, digits, underscores and dashes.`);
    if (alias === "latest" || /^v\d+$/.test(alias)) {
      throw invalid(`Alias name '${alias}' is reserved: 'latest' and names like 'v1' cannot be used as aliases.`);
    }
    return alias;
  };

  r.post(`${PREFIX}/registered-models/alias`, (c) => {
    const { uc, model, full } = resolve(c.principal, fullName(c.input), "manage");
    const alias = aliasName(c.input);
    const version = versionParam(c.input);
    uc.requireVersion(model, full, version);
    const aliases = model.aliases.filter((a) => a.alias_name !== alias);
    aliases.push({ alias_name: alias, version_num: version });
    aliases.sort((a, b) => a.alias_name.localeCompare(b.alias_name));
    uc.models.set(model.id, { ...model, aliases, updated_at: Date.now(), updated_by: c.principal.name });
    return {};
  });

  r.get(`${PREFIX}/registered-models/alias`, (c) => {
    const { uc, model, full } = resolve(c.principal, fullName(c.input), "view");
    const alias = requireStr(c.input, "alias").toLowerCase();
    const hit = model.aliases.find((a) => a.alias_name === alias);
    if (!hit) throw new ApiError(404, "RESOURCE_DOES_NOT_EXIST", `Alias '${alias}' does not exist on model '${full}'.`);
    return { model_version: versionJson(full, model, uc.requireVersion(model, full, hit.version_num)) };
  });

  r.delete(`${PREFIX}/registered-models/alias`, (c) => {
    const { uc, model, full } = resolve(c.principal, fullName(c.input), "manage");
    const alias = requireStr(c.input, "alias").toLowerCase();
    if (!model.aliases.some((a) => a.alias_name === alias)) {
      throw new ApiError(404, "RESOURCE_DOES_NOT_EXIST", `Alias '${alias}' does not exist on model '${full}'.`);
    }
    uc.models.set(model.id, { ...model, aliases: model.aliases.filter((a) => a.alias_name !== alias), updated_at: Date.now() });
    return {};
  });

  // The version files go through the Files API (`/Models/...`), not cloud credentials.
  r.get(`${PREFIX}/registered-models:is-databricks-sdk-models-artifact-repository-enabled`, () => ({
    is_databricks_sdk_models_artifact_repository_enabled: true,
  }));

  // -- model versions -----------------------------------------------------------------------

  r.post(`${PREFIX}/model-versions/create`, (c) => {
    const uc = unityCatalog(ws);
    const name = fullName(c.input);
    const runId = str(c.input, "run_id");
    const description = str(c.input, "description");
    const tracking = str(c.input, "run_tracking_server_id");
    const loggedModel = str(c.input, "model_id");
    const v = uc.createModelVersion(c.principal, name, {
      source: requireStr(c.input, "source"),
      ...(runId ? { run_id: runId } : {}),
      ...(description !== undefined && description !== "" ? { comment: description } : {}),
      ...(tracking && /^\d+$/.test(tracking) ? { run_workspace_id: Number(tracking) } : {}),
      tags: tagsIn(c.input.tags),
      ...(loggedModel ? { logged_model_id: loggedModel } : {}),
    });
    const { model, full } = resolve(c.principal, name, "view");
    return { model_version: versionJson(full, model, v) };
  });

  r.post(`${PREFIX}/model-versions/finalize`, (c) => {
    const name = fullName(c.input);
    const v = unityCatalog(ws).finalizeModelVersion(c.principal, name, versionParam(c.input));
    const { model, full } = resolve(c.principal, name, "view");
    return { model_version: versionJson(full, model, v) };
  });

  r.get(`${PREFIX}/model-versions/get`, (c) => {
    const { uc, model, full } = resolve(c.principal, fullName(c.input), "view");
    return { model_version: versionJson(full, model, uc.requireVersion(model, full, versionParam(c.input))) };
  });

  r.patch(`${PREFIX}/model-versions/update`, (c) => {
    const { uc, model, full } = resolve(c.principal, fullName(c.input), "manage");
    const n = versionParam(c.input);
    const v = uc.requireVersion(model, full, n);
    const description = str(c.input, "description");
    const next: ModelVersionRecord = { ...v, updated_at: Date.now(), updated_by: c.principal.name };
    if (description !== undefined) next.comment = description;
    uc.versions.set(`${model.id}/${n}`, next);
    return { model_version: versionJson(full, model, next) };
  });

  r.delete(`${PREFIX}/model-versions/delete`, (c) => {
    const { uc, model, full } = resolve(c.principal, fullName(c.input), "manage");
    const n = versionParam(c.input);
    uc.requireVersion(model, full, n);
    uc.versions.delete(`${model.id}/${n}`);
    uc.models.set(model.id, { ...model, aliases: model.aliases.filter((a) => a.version_num !== n), updated_at: Date.now() });
    return {};
  });

  r.get(`${PREFIX}/model-versions/search`, (c) => {
    const uc = unityCatalog(ws);
    const filter = (str(c.input, "filter") ?? "").trim();
    const byName = /^name\s*=\s*(['"])(.+)\1$/i.exec(filter);
    const byRun = /^run_id\s*=\s*(['"])(.+)\1$/i.exec(filter);
    if (!byName && !byRun) {
      throw invalid(
        `Unsupported filter '${filter}': searching model versions takes name='<catalog>.<schema>.<model>' or run_id='<run id>'.`,
      );
    }
    const rows: JsonObject[] = [];
    if (byName) {
      const { model, full } = resolve(c.principal, (byName[2] as string).toLowerCase(), "view");
      for (const v of uc.versions.filter((x) => x.model_id === model.id).sort((a, b) => b.version - a.version)) {
        rows.push(versionJson(full, model, v));
      }
    } else {
      for (const v of uc.versions.filter((x) => x.run_id === byRun?.[2])) {
        const m = uc.models.get(v.model_id);
        const schema = m ? uc.schemas.get(m.schema_id) : undefined;
        const catalog = schema ? uc.catalogs.get(schema.catalog_id) : undefined;
        if (!m || !schema || !catalog) continue;
        const sec = uc.modelSec(catalog, schema, m);
        if (uc.visible(c.principal, sec)) rows.push(versionJson(sec.fullName, m, v));
      }
    }
    const max = Number(str(c.input, "max_results") ?? "10000") || 10000;
    const res = page(rows, str(c.input, "page_token"), max);
    return { model_versions: res.items, ...(res.next ? { next_page_token: res.next } : {}) };
  });

  r.get(`${PREFIX}/model-versions/get-download-uri`, (c) => {
    const { uc, model, full } = resolve(c.principal, fullName(c.input), "view");
    const v = uc.requireVersion(model, full, versionParam(c.input));
    return { artifact_uri: v.storage_location };
  });

  const versionTag = (c: { input: JsonObject; principal: Principal }, value: string | undefined) => {
    const { uc, model, full } = resolve(c.principal, fullName(c.input), "manage");
    const n = versionParam(c.input);
    const v = uc.requireVersion(model, full, n);
    uc.versions.set(`${model.id}/${n}`, {
      ...v,
      tags: withTag(v.tags, requireStr(c.input, "key"), value),
      updated_at: Date.now(),
    });
    return {};
  };
  r.post(`${PREFIX}/model-versions/set-tag`, (c) => versionTag(c, str(c.input, "value") ?? ""));
  r.delete(`${PREFIX}/model-versions/delete-tag`, (c) => versionTag(c, undefined));

  // Lineage is accepted and not recorded.
  r.post(`${PREFIX}/model-versions/emit-lineage`, () => ({}));

  // Cloud credentials and prompts are not served (clients use the Files API paths instead). This
  // keeps the rest of the prefix from reaching the MLflow server behind `/api/2.0/mlflow/*`.
  for (const method of ["GET", "POST", "PATCH", "PUT", "DELETE"]) {
    r.add(method, `${PREFIX}/*rest`, (c) => {
      throw notImplemented(ws.settings, c.method, c.path);
    });
  }
}
