import { createHash } from "node:crypto";
import type { DatabricksClient } from "../../src/clients/databricks/client.js";

/**
 * What a bundle deployment made in a workspace, normalised so that two deployments of the same
 * bundle compare equal: ids, timestamps and storage locations dropped; a job referenced by id named
 * instead; the bookkeeping files of the deployment tools (the `state` folder: the Databricks CLI's
 * deployment.json, resources.json, metadata.json and Lakeforge's state and lock) left out.
 */

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export interface Snapshot {
  jobs: Record<string, Obj>;
  experiments: Record<string, Obj>;
  schemas: Record<string, Obj>;
  registered_models: Record<string, Obj>;
  volumes: Record<string, Obj>;
  root_acl: unknown;
  files: Record<string, Obj>;
}

/** Direct (not inherited) ACL entries, one line per principal and level, sorted. */
function directAcl(acl: Obj): string[] {
  const out: string[] = [];
  for (const row of (acl.access_control_list as Obj[] | undefined) ?? []) {
    const who = row.user_name ?? row.group_name ?? row.service_principal_name;
    for (const p of (row.all_permissions as Obj[] | undefined) ?? []) {
      if (p.inherited !== true) out.push(`${String(who)}:${String(p.permission_level)}`);
    }
  }
  return out.sort();
}

async function grants(api: DatabricksClient, type: string, name: string): Promise<string[]> {
  const res = await api.get<{ privilege_assignments?: { principal: string; privileges: unknown[] }[] }>(
    `/api/2.1/unity-catalog/permissions/${type}/${encodeURIComponent(name)}`,
  );
  return (res.privilege_assignments ?? [])
    .map(
      (a) =>
        `${a.principal}:${a.privileges
          .map((p) => (isObj(p) ? String(p.privilege) : String(p)))
          .sort()
          .join(",")}`,
    )
    .sort();
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * `host` is the workspace's URL: rendered into project files (databricks.yml), it is replaced by a
 * placeholder before hashing, as the two deployments compared target two workspaces.
 */
export async function snapshot(
  api: DatabricksClient,
  opts: { rootPath: string; catalog: string; host: string },
): Promise<Snapshot> {
  const snap: Snapshot = {
    jobs: {},
    experiments: {},
    schemas: {},
    registered_models: {},
    volumes: {},
    root_acl: undefined,
    files: {},
  };

  // Jobs: settings by name, job ids replaced by the name of the job they point at.
  const listed = await api.listAll<Obj>("/api/2.2/jobs/list", { limit: 100 }, "jobs");
  const nameById = new Map(listed.map((j) => [String(j.job_id), String((j.settings as Obj).name)]));
  const replaceIds = (v: unknown, key?: string): unknown => {
    if (key === "job_id") return `<job ${nameById.get(String(v)) ?? "unknown"}>`;
    if (Array.isArray(v)) return v.map((x) => replaceIds(x));
    if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replaceIds(x, k)]));
    return v;
  };
  for (const j of listed) {
    const full = await api.get<Obj>("/api/2.2/jobs/get", { job_id: String(j.job_id) });
    const settings = replaceIds(full.settings) as Obj;
    const acl = await api.get<Obj>(`/api/2.0/permissions/jobs/${String(j.job_id)}`);
    snap.jobs[String(settings.name)] = { settings, run_as_user_name: full.run_as_user_name, acl: directAcl(acl) };
  }

  // Experiments (active ones), by name.
  const experiments = await api.listAll<Obj>("/api/2.0/mlflow/experiments/search", { max_results: 1000 }, "experiments");
  for (const e of experiments) {
    if (e.lifecycle_stage !== "active") continue;
    const acl = await api.get<Obj>(`/api/2.0/permissions/experiments/${String(e.experiment_id)}`);
    const tags = ((e.tags as Obj[] | undefined) ?? [])
      .filter((t) => !String(t.key).startsWith("mlflow."))
      .map((t) => `${String(t.key)}=${String(t.value)}`)
      .sort();
    snap.experiments[String(e.name)] = { tags, acl: directAcl(acl) };
  }

  // Unity Catalog: schemas of the catalog (but the ones the service makes), their models and volumes.
  const schemas = await api.listAll<Obj>("/api/2.1/unity-catalog/schemas", { catalog_name: opts.catalog }, "schemas");
  for (const s of schemas) {
    if (s.name === "default" || s.name === "information_schema") continue;
    const full = String(s.full_name);
    snap.schemas[full] = {
      comment: s.comment,
      owner: s.owner,
      properties: s.properties,
      grants: await grants(api, "schema", full),
    };
    const models = await api.listAll<Obj>(
      "/api/2.1/unity-catalog/models",
      { catalog_name: opts.catalog, schema_name: s.name },
      "registered_models",
    );
    for (const m of models) {
      const name = String(m.full_name);
      snap.registered_models[name] = { comment: m.comment, owner: m.owner, grants: await grants(api, "function", name) };
    }
    const volumes = await api.listAll<Obj>(
      "/api/2.1/unity-catalog/volumes",
      { catalog_name: opts.catalog, schema_name: s.name },
      "volumes",
    );
    for (const v of volumes) {
      const name = String(v.full_name);
      snap.volumes[name] = {
        comment: v.comment,
        volume_type: v.volume_type,
        owner: v.owner,
        grants: await grants(api, "volume", name),
      };
    }
  }

  // The root folder's ACL and every object below it but the state folder.
  const root = opts.rootPath.replace(/^\/Workspace/, "");
  const status = await api.get<Obj>("/api/2.0/workspace/get-status", { path: root });
  snap.root_acl = directAcl(await api.get<Obj>(`/api/2.0/permissions/directories/${String(status.object_id)}`));
  const walk = async (dir: string): Promise<void> => {
    const res = await api.get<{ objects?: Obj[] }>("/api/2.0/workspace/list", { path: dir });
    for (const o of res.objects ?? []) {
      const path = String(o.path).replace(/^\/Workspace/, "");
      const rel = path.slice(root.length + 1);
      if (rel === "state" || rel.startsWith("state/")) continue;
      if (o.object_type === "DIRECTORY") {
        await walk(path);
        continue;
      }
      const exported = await api.get<{ content?: string }>("/api/2.0/workspace/export", { path, format: "SOURCE" });
      snap.files[rel] = {
        object_type: o.object_type,
        ...(o.language ? { language: o.language } : {}),
        sha256: sha(
          Buffer.from(
            Buffer.from(exported.content ?? "", "base64")
              .toString("utf8")
              .replaceAll(opts.host, "<host>"),
          ),
        ),
      };
    }
  };
  await walk(root);
  return snap;
}

/** Every path where two values differ, one line each (`path: a → b`), for a readable failure. */
export function differences(a: unknown, b: unknown, path = ""): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => differences(a[k], b[k], path ? `${path}.${k}` : k));
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((x, i) => differences(x, b[i], `${path}[${i}]`));
  }
  const show = (v: unknown) => (v === undefined ? "(absent)" : JSON.stringify(v));
  return [`${path}: lakeforge ${show(a)} ≠ databricks ${show(b)}`];
}
