import type { z } from "zod";
import { catalog, experiment, grant, group, registeredModel, schema, servicePrincipal, volume } from "./schema/catalog.js";
import { cluster, clusterPolicy, instancePool } from "./schema/compute.js";
import { JOB_KEYED_ARRAYS, job } from "./schema/jobs.js";
import { gitCredential, notebook, repo, secretScope, workspaceFile } from "./schema/workspace.js";

/** What the configuration loader knows about one resource kind. */
export interface KindInfo {
  /** The key under `resources:` (`jobs`). */
  section: string;
  /** The engine's name for the kind (`databricks.job`). */
  kind: string;
  schema: z.ZodObject;
  /**
   * Fields known only once the object exists (`id` always). A reference to one of them stays a `Ref`
   * for the engine to fill in; a reference to any other top-level field of the spec is replaced by
   * the field's value when the configuration is loaded.
   */
  outputs: readonly string[];
  /**
   * Where secret sources sit in the spec (dotted, `*` for any key or index). They become `Secret`
   * values, and the top-level fields holding them cannot be referenced.
   */
  secretPaths?: readonly string[];
  /** Arrays merged item by item (by the named key field) in environment overrides. */
  keyedArrays?: Readonly<Record<string, string>>;
  /** The Permissions API object type, for kinds that take `permissions`. */
  permissionsObjectType?: string;
  /** The fields Lakeforge finds an existing object by when it has no id for it. */
  naturalKey: readonly string[];
}

const DOCKER_PASSWORD = "docker_image.basic_auth.password";

export const KINDS: readonly KindInfo[] = [
  {
    section: "clusters",
    kind: "databricks.cluster",
    schema: cluster,
    outputs: ["id", "cluster_id"],
    secretPaths: [DOCKER_PASSWORD],
    permissionsObjectType: "clusters",
    naturalKey: ["cluster_name"],
  },
  {
    section: "cluster_policies",
    kind: "databricks.cluster_policy",
    schema: clusterPolicy,
    outputs: ["id", "policy_id"],
    permissionsObjectType: "cluster-policies",
    naturalKey: ["name"],
  },
  {
    section: "instance_pools",
    kind: "databricks.instance_pool",
    schema: instancePool,
    outputs: ["id", "instance_pool_id"],
    permissionsObjectType: "instance-pools",
    naturalKey: ["instance_pool_name"],
  },
  {
    section: "secret_scopes",
    kind: "databricks.secret_scope",
    schema: secretScope,
    outputs: ["id"],
    secretPaths: ["secrets.*"],
    naturalKey: ["name"],
  },
  {
    section: "git_credentials",
    kind: "databricks.git_credential",
    schema: gitCredential,
    outputs: ["id", "credential_id"],
    secretPaths: ["personal_access_token"],
    naturalKey: ["git_provider"],
  },
  {
    section: "repos",
    kind: "databricks.repo",
    schema: repo,
    outputs: ["id", "head_commit_id"],
    permissionsObjectType: "repos",
    naturalKey: ["path"],
  },
  {
    section: "workspace_files",
    kind: "databricks.workspace_file",
    schema: workspaceFile,
    outputs: ["id", "object_id"],
    permissionsObjectType: "files",
    naturalKey: ["path"],
  },
  {
    section: "notebooks",
    kind: "databricks.notebook",
    schema: notebook,
    outputs: ["id", "object_id"],
    permissionsObjectType: "notebooks",
    naturalKey: ["path"],
  },
  {
    section: "jobs",
    kind: "databricks.job",
    schema: job,
    outputs: ["id", "job_id"],
    secretPaths: [
      `job_clusters.*.new_cluster.${DOCKER_PASSWORD}`,
      `tasks.*.new_cluster.${DOCKER_PASSWORD}`,
      `tasks.*.for_each_task.task.new_cluster.${DOCKER_PASSWORD}`,
    ],
    keyedArrays: JOB_KEYED_ARRAYS,
    permissionsObjectType: "jobs",
    naturalKey: ["name"],
  },
  {
    section: "catalogs",
    kind: "databricks.catalog",
    schema: catalog,
    outputs: ["id", "full_name", "metastore_id", "storage_location"],
    naturalKey: ["name"],
  },
  {
    section: "schemas",
    kind: "databricks.schema",
    schema: schema,
    outputs: ["id", "full_name", "storage_location"],
    naturalKey: ["catalog_name", "name"],
  },
  {
    section: "volumes",
    kind: "databricks.volume",
    schema: volume,
    outputs: ["id", "full_name", "volume_id"],
    naturalKey: ["catalog_name", "schema_name", "name"],
  },
  {
    section: "registered_models",
    kind: "databricks.registered_model",
    schema: registeredModel,
    outputs: ["id", "full_name"],
    naturalKey: ["catalog_name", "schema_name", "name"],
  },
  { section: "grants", kind: "databricks.grant", schema: grant, outputs: ["id"], naturalKey: ["securable", "principal"] },
  {
    section: "experiments",
    kind: "databricks.experiment",
    schema: experiment,
    outputs: ["id", "experiment_id"],
    permissionsObjectType: "experiments",
    naturalKey: ["name"],
  },
  { section: "groups", kind: "databricks.group", schema: group, outputs: ["id"], naturalKey: ["display_name"] },
  {
    section: "service_principals",
    kind: "databricks.service_principal",
    schema: servicePrincipal,
    outputs: ["id", "application_id"],
    naturalKey: ["display_name"],
  },
];

/** Kinds produced from parts of other resources rather than declared on their own. */
export const PERMISSIONS_KIND = "databricks.permissions";
export const SECRET_KIND = "databricks.secret";
export const SECRET_ACL_KIND = "databricks.secret_acl";

export const SECTIONS: readonly string[] = KINDS.map((k) => k.section);

const bySection = new Map(KINDS.map((k) => [k.section, k]));
const byKind = new Map(KINDS.map((k) => [k.kind, k]));

export const kindBySection = (section: string): KindInfo | undefined => bySection.get(section);
export const kindByName = (kind: string): KindInfo | undefined => byKind.get(kind);

/** Top-level fields of a kind's spec (what `${resources.<section>.<name>.<field>}` may name, with the outputs). */
export function specFields(info: KindInfo): string[] {
  return Object.keys(info.schema.shape).filter((f) => f !== "permissions" && f !== "prevent_destroy");
}
