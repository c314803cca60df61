import { collectRefs, Ref } from "../config/refs.js";
import type { DesiredResource } from "../engine/types.js";
import { canonicalWorkspacePath } from "../resources/databricks/common.js";
import { withServedEntities } from "../resources/databricks/serving-endpoint.js";
import type { BundleResource, Obj, Permission, ResolvedBundle } from "./resolve.js";
import { SUPPORTED_KINDS } from "./source.js";
import type { SyncedFile } from "./sync.js";

/**
 * A resolved bundle as the engine's desired resources: one per job, experiment, schema, volume,
 * registered model and model serving endpoint (named by its key), an access list per resource with permissions
 * (`databricks.permissions.<kind>.<key>`), a grant per principal of a Unity Catalog resource
 * (`databricks.grant.<kind>.<key>.<principal>`), the root folder's access list from the top-level
 * permissions, and a workspace file or notebook per synchronised file (named by its relative path).
 */

/** The fields each Unity Catalog kind and experiments send (the rest of a definition is Lakeforge's or the CLI's). */
const FIELDS: Record<string, readonly string[]> = {
  experiments: ["name", "artifact_location", "tags"],
  schemas: ["catalog_name", "name", "comment", "properties", "storage_root", "enable_predictive_optimization"],
  volumes: ["catalog_name", "schema_name", "name", "volume_type", "storage_location", "comment"],
  registered_models: ["catalog_name", "schema_name", "name", "comment", "storage_location"],
  model_serving_endpoints: [
    "name",
    "config",
    "tags",
    "route_optimized",
    "ai_gateway",
    "description",
    "budget_policy_id",
    "email_notifications",
  ],
};

const PERMISSION_TYPES: Record<string, string> = {
  jobs: "jobs",
  experiments: "experiments",
  model_serving_endpoints: "serving-endpoints",
};
/** The output holding the id the Permissions API knows an object by, where it is not the resource's id. */
const PERMISSION_IDS: Record<string, string> = { model_serving_endpoints: "endpoint_id" };
const GRANT_TYPES: Record<string, string> = { schemas: "schema", volumes: "volume", registered_models: "registered_model" };
/** Workspace folder levels of the top-level permissions. */
const FOLDER_LEVELS: Record<string, string> = { CAN_MANAGE: "CAN_MANAGE", CAN_RUN: "CAN_RUN", CAN_VIEW: "CAN_READ" };

const isPlain = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

const pick = (o: Obj, keys: readonly string[]) =>
  Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));

const entry = (p: Permission): Obj => {
  const { level, ...who } = p;
  return { ...who, permission_level: level };
};

export function desiredResources(bundle: ResolvedBundle, files: readonly SyncedFile[]): DesiredResource[] {
  const out: DesiredResource[] = [];
  const idRef = (r: BundleResource, field = "id") => new Ref(SUPPORTED_KINDS[r.kind] as string, r.key, field, r.kind);
  for (const r of bundle.resources) {
    const kind = SUPPORTED_KINDS[r.kind] as string;
    let spec: Obj = r.kind === "jobs" ? { ...r.spec } : pick(r.spec, FIELDS[r.kind] ?? []);
    if (r.kind === "experiments" && typeof spec.name === "string") spec = { ...spec, name: canonicalWorkspacePath(spec.name) };
    // served_models is the older form of served_entities: deployed as served entities, as the Databricks CLI does.
    if (r.kind === "model_serving_endpoints" && isPlain(spec.config)) spec = { ...spec, config: withServedEntities(spec.config) };
    const uses = [...r.uses].map((a) => {
      const [k, key] = a.split(".") as [string, string];
      return { kind: SUPPORTED_KINDS[k] as string, name: key, field: "id" };
    });
    const dependsOn = dedupe([...collectRefs(spec), ...uses].filter((d) => !(d.kind === kind && d.name === r.key)));
    out.push({ kind, name: r.key, spec, dependsOn, source: r.source });

    const type = PERMISSION_TYPES[r.kind];
    if (type && r.permissions.length > 0) {
      out.push({
        kind: "databricks.permissions",
        name: `${r.kind}.${r.key}`,
        spec: { object_type: type, object_id: idRef(r, PERMISSION_IDS[r.kind]), access_control_list: r.permissions.map(entry) },
        dependsOn: [{ kind, name: r.key, field: "id" }],
        source: r.source,
      });
    }
    const securable = GRANT_TYPES[r.kind];
    if (securable) {
      const fullName = [r.kind === "schemas" ? undefined : r.spec.schema_name, r.spec.name];
      const name = [r.spec.catalog_name, ...fullName].filter((x) => x !== undefined);
      for (const g of r.grants) {
        out.push({
          kind: "databricks.grant",
          name: `${r.kind}.${r.key}.${g.principal}`,
          spec: {
            securable: { type: securable, name: name.every((x) => typeof x === "string") ? name.join(".") : idRef(r) },
            principal: g.principal,
            privileges: g.privileges,
          },
          dependsOn: [{ kind, name: r.key, field: "id" }],
          source: r.source,
        });
      }
    }
  }

  const folder = bundle.permissions
    .map((p) => ({ ...p, level: FOLDER_LEVELS[p.level] }))
    .filter((p): p is Permission => p.level !== undefined);
  if (folder.length > 0) {
    out.push({
      kind: "databricks.permissions",
      name: "bundle.root_path",
      spec: { object_type: "directories", object_id: bundle.workspace.root_path, access_control_list: folder.map(entry) },
      dependsOn: [],
    });
  }

  for (const f of files) {
    out.push(
      f.notebook
        ? { kind: "databricks.notebook", name: f.rel, spec: { path: f.remote, source: f.abs }, dependsOn: [] }
        : { kind: "databricks.workspace_file", name: f.rel, spec: { path: f.remote, source: f.abs }, dependsOn: [] },
    );
  }
  return out;
}

function dedupe<T extends { kind: string; name: string; field: string }>(
  refs: T[],
): { kind: string; name: string; field: string }[] {
  const seen = new Map<string, { kind: string; name: string; field: string }>();
  for (const r of refs) seen.set(`${r.kind}.${r.name}.${r.field}`, { kind: r.kind, name: r.name, field: r.field });
  return [...seen.values()];
}
