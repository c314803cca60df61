import type { Inventory, Obj } from "./helpers.js";

/**
 * A generated platform configuration of many resources of every common kind (groups, service
 * principals, clusters, notebooks, jobs, secret scopes with secrets and ACLs, catalogs, schemas,
 * grants, experiments, permissions), with what it makes exist in the workspace. `variant` changes a
 * share of it (fields, secret values, notebook content and paths, which objects exist), so that
 * applying one variant over another creates, updates, replaces and deletes.
 */

export interface PlatformSize {
  groups: number;
  servicePrincipals: number;
  clusters: number;
  notebooks: number;
  jobs: number;
  scopes: number;
  secretsPerScope: number;
  catalogs: number;
  schemasPerCatalog: number;
  experiments: number;
}

export interface Platform {
  /** The `resources:` section. */
  resources: Obj;
  /** Local files (notebooks) by path relative to the project. */
  files: Record<string, string>;
  /** `from_env` values by variable name. */
  env: Record<string, string>;
  /** How many resources the configuration declares (sub-resources such as secrets and permissions included). */
  count: number;
  /** What exists in the workspace once it is applied (see `inventory`). */
  expected: Inventory;
}

export const NOTEBOOK_ROOT = "/Shared/e2e-nb";
const EXPERIMENT_ROOT = "/Shared/e2e-exp";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sorted = (a: string[]) => [...a].sort();

/**
 * Variant 0 is the base. Other variants, by index `i`: objects with `i % v === 1` get changed fields
 * (notebooks move: a replacement, with their permissions), those with `i % v === 2` are left out
 * (deleted when applied over the base; notebooks get new content instead).
 */
export function platform(size: PlatformSize, variant = 0, secretPrefix = "value"): Platform {
  const v = variant === 0 ? 0 : variant + 2;
  const changed = (i: number) => v > 0 && i % v === 1;
  const dropped = (i: number) => v > 0 && i % v === 2;
  const section = (): Record<string, Obj> => ({});
  const resources = {
    groups: section(),
    service_principals: section(),
    clusters: section(),
    notebooks: section(),
    jobs: section(),
    secret_scopes: section(),
    catalogs: section(),
    schemas: section(),
    grants: section(),
    experiments: section(),
  };
  const files: Record<string, string> = {};
  const env: Record<string, string> = {};
  const exp: Inventory = {
    jobs: [],
    clusters: [],
    cluster_policies: [],
    secret_scopes: [],
    secrets: [],
    secret_acls: [],
    notebooks: [],
    catalogs: [],
    schemas: [],
    grants: [],
    experiments: [],
    groups: [],
    service_principals: [],
    permissions: [],
  };
  let count = 0;
  const groupName = (i: number) => `e2e-group-${i % size.groups}`;
  const groupRef = (i: number) => `\${resources.groups.g${i % size.groups}.display_name}`;

  for (const i of range(size.servicePrincipals)) {
    resources.service_principals[`sp${i}`] = { display_name: `e2e-sp-${i}`, entitlements: ["workspace-access"] };
    exp.service_principals.push(`e2e-sp-${i}`);
    count++;
  }
  for (const i of range(size.groups)) {
    const members =
      i === 0
        ? range(size.servicePrincipals).map((s) => ({
            service_principal_name: `\${resources.service_principals.sp${s}.application_id}`,
          }))
        : undefined;
    resources.groups[`g${i}`] = {
      display_name: groupName(i),
      entitlements: changed(i) ? ["workspace-access", "databricks-sql-access"] : ["workspace-access"],
      ...(members ? { members } : {}),
    };
    exp.groups.push(groupName(i));
    count++;
  }
  for (const i of range(size.clusters)) {
    const name = `e2e-cluster-${i}`;
    resources.clusters[`c${i}`] = {
      cluster_name: name,
      spark_version: "15.4.x-scala2.12",
      node_type_id: "Standard_DS3_v2",
      num_workers: 1,
      autotermination_minutes: changed(i) ? 45 : 30,
      custom_tags: { team: `t${i}` },
      permissions: [{ group_name: groupRef(i), level: "CAN_RESTART" }],
    };
    exp.clusters.push(name);
    exp.permissions.push(`clusters/${name}: ${groupName(i)} CAN_RESTART`);
    count += 2;
  }
  for (const i of range(size.notebooks)) {
    // Changed notebooks move (a replacement, permissions included); dropped ones get new content.
    const path = `${NOTEBOOK_ROOT}/${changed(i) ? "moved" : "nb"}/nb${i}`;
    files[`notebooks/nb${i}.py`] = `# Databricks notebook source\nprint(${dropped(i) ? `"changed ${i}"` : i})\n`;
    resources.notebooks[`nb${i}`] = {
      source: `notebooks/nb${i}.py`,
      path,
      ...(i % 2 === 0 ? { permissions: [{ group_name: groupRef(i), level: "CAN_RUN" }] } : {}),
    };
    exp.notebooks.push(path);
    if (i % 2 === 0) exp.permissions.push(`notebooks/${path}: ${groupName(i)} CAN_RUN`);
    count += i % 2 === 0 ? 2 : 1;
  }
  for (const i of range(size.jobs)) {
    if (dropped(i)) continue;
    const name = `e2e-job-${i}`;
    const notebook = `\${resources.notebooks.nb${i % size.notebooks}.path}`;
    const cluster = `\${resources.clusters.c${i % size.clusters}.id}`;
    resources.jobs[`j${i}`] = {
      name,
      max_concurrent_runs: 1,
      timeout_seconds: changed(i) ? 7200 : 3600,
      tags: { index: String(i) },
      tasks: [
        { task_key: "prepare", existing_cluster_id: cluster, notebook_task: { notebook_path: notebook } },
        {
          task_key: "train",
          depends_on: [{ task_key: "prepare" }],
          existing_cluster_id: cluster,
          notebook_task: { notebook_path: notebook, base_parameters: { run: String(i) } },
        },
      ],
      permissions: [{ group_name: groupRef(i), level: changed(i) ? "CAN_MANAGE" : "CAN_MANAGE_RUN" }],
    };
    exp.jobs.push(name);
    exp.permissions.push(`jobs/${name}: ${groupName(i)} ${changed(i) ? "CAN_MANAGE" : "CAN_MANAGE_RUN"}`);
    count += 2;
  }
  for (const i of range(size.scopes)) {
    const name = `e2e-scope-${i}`;
    const secrets: Obj = {};
    for (const k of range(size.secretsPerScope)) {
      if (dropped(k) && i % 2 === 0) continue;
      const variable = `E2E_SECRET_${i}_${k}`;
      env[variable] = `${secretPrefix}-${i}-${k}${changed(k) ? "-rotated" : ""}`;
      secrets[`key${k}`] = { from_env: variable };
      exp.secrets.push(`${name}/key${k}`);
      count++;
    }
    const acls = [
      { principal: groupRef(i), permission: "READ" },
      { principal: groupRef(i + 1), permission: changed(i) ? "MANAGE" : "WRITE" },
    ];
    resources.secret_scopes[`s${i}`] = { name, secrets, acls };
    exp.secret_scopes.push(name);
    exp.secret_acls.push(`${name}/${groupName(i)}:READ`, `${name}/${groupName(i + 1)}:${changed(i) ? "MANAGE" : "WRITE"}`);
    count += 3;
  }
  for (const c of range(size.catalogs)) {
    const catalog = `e2e_catalog_${c}`;
    resources.catalogs[`cat${c}`] = { name: catalog, comment: changed(c) ? "Changed." : `Catalog ${c}.` };
    resources.grants[`cat${c}`] = {
      securable: { type: "catalog", name: `\${resources.catalogs.cat${c}.name}` },
      principal: groupRef(c),
      privileges: ["USE_CATALOG"],
    };
    exp.catalogs.push(catalog);
    exp.grants.push(`catalog/${catalog}/${groupName(c)}:USE_CATALOG`);
    count += 2;
    for (const s of range(size.schemasPerCatalog)) {
      const i = c * size.schemasPerCatalog + s;
      if (dropped(i)) continue;
      resources.schemas[`cat${c}_s${s}`] = {
        name: `schema_${s}`,
        catalog_name: `\${resources.catalogs.cat${c}.name}`,
        comment: changed(i) ? "Changed." : `Schema ${s}.`,
      };
      const privileges = changed(i) ? ["SELECT", "USE_SCHEMA"] : ["USE_SCHEMA"];
      resources.grants[`cat${c}_s${s}`] = {
        // References, so that the grant follows its schema.
        securable: { type: "schema", name: `\${resources.catalogs.cat${c}.name}.\${resources.schemas.cat${c}_s${s}.name}` },
        principal: groupRef(i),
        privileges,
      };
      exp.schemas.push(`${catalog}.schema_${s}`);
      exp.grants.push(`schema/${catalog}.schema_${s}/${groupName(i)}:${privileges.join(",")}`);
      count += 2;
    }
  }
  for (const i of range(size.experiments)) {
    if (dropped(i)) continue;
    const name = `${EXPERIMENT_ROOT}/exp${i}`;
    resources.experiments[`e${i}`] = {
      name,
      tags: [{ key: "team", value: changed(i) ? "platform" : "ml" }],
      permissions: [{ group_name: groupRef(i), level: "CAN_EDIT" }],
    };
    exp.experiments.push(name);
    exp.permissions.push(`experiments/${name}: ${groupName(i)} CAN_EDIT`);
    count += 2;
  }
  const expected = Object.fromEntries(
    Object.entries(exp).map(([k, list]) => [k, sorted(list as string[])]),
  ) as unknown as Inventory;
  return { resources, files, env, count, expected };
}
