import { z } from "zod";
import {
  bool,
  type Ctx,
  exactlyOne,
  int,
  lifecycle,
  nonEmpty,
  nonNegInt,
  permissions,
  posInt,
  secretSource,
  str,
  strList,
  strMap,
} from "./common.js";

/** Clusters API field names (also used by job clusters and bundle YAML). */

const destination = () => z.strictObject({ destination: nonEmpty() });

const s3Destination = z.strictObject({
  destination: nonEmpty(),
  region: str().optional(),
  endpoint: str().optional(),
  enable_encryption: bool().optional(),
  encryption_type: str().optional(),
  kms_key: str().optional(),
  canned_acl: str().optional(),
});

const INIT_SCRIPT_KEYS = ["workspace", "volumes", "file", "dbfs", "s3", "abfss", "gcs"] as const;
export const initScript = z
  .strictObject({
    workspace: destination().optional(),
    volumes: destination().optional(),
    file: destination().optional(),
    dbfs: destination().optional(),
    s3: s3Destination.optional(),
    abfss: destination().optional(),
    gcs: destination().optional(),
  })
  .superRefine(exactlyOne(INIT_SCRIPT_KEYS, "an init script"))
  .meta({ id: "init_script", description: "An init script and where it is stored." });

const LOG_KEYS = ["dbfs", "s3", "volumes"] as const;
const clusterLogConf = z
  .strictObject({ dbfs: destination().optional(), s3: s3Destination.optional(), volumes: destination().optional() })
  .superRefine(exactlyOne(LOG_KEYS, "a cluster log destination"));

const LIBRARY_KEYS = ["jar", "egg", "whl", "requirements", "pypi", "maven", "cran"] as const;
export const library = z
  .strictObject({
    jar: nonEmpty().optional(),
    egg: nonEmpty().optional(),
    whl: nonEmpty().optional(),
    requirements: nonEmpty().optional(),
    pypi: z.strictObject({ package: nonEmpty(), repo: str().optional() }).optional(),
    maven: z.strictObject({ coordinates: nonEmpty(), repo: str().optional(), exclusions: strList().optional() }).optional(),
    cran: z.strictObject({ package: nonEmpty(), repo: str().optional() }).optional(),
  })
  .superRefine(exactlyOne(LIBRARY_KEYS, "a library"))
  .meta({ id: "library", description: "A library: jar, egg, whl, requirements, pypi, maven or cran." });

export const libraries = () => z.array(library).describe("Libraries to install.");

const autoscale = z.strictObject({ min_workers: nonNegInt(), max_workers: posInt() }).superRefine((v, ctx) => {
  if (v.max_workers < v.min_workers) {
    ctx.addIssue({ code: "custom", message: "must be at least min_workers", path: ["max_workers"] });
  }
});

const azureAttributes = z.strictObject({
  first_on_demand: nonNegInt().optional(),
  availability: z.enum(["SPOT_AZURE", "ON_DEMAND_AZURE", "SPOT_WITH_FALLBACK_AZURE"]).optional(),
  spot_bid_max_price: z.number().optional(),
});

const awsAttributes = z.strictObject({
  first_on_demand: nonNegInt().optional(),
  availability: z.enum(["SPOT", "ON_DEMAND", "SPOT_WITH_FALLBACK"]).optional(),
  zone_id: str().optional(),
  instance_profile_arn: str().optional(),
  spot_bid_price_percent: int().optional(),
  ebs_volume_type: z.enum(["GENERAL_PURPOSE_SSD", "THROUGHPUT_OPTIMIZED_HDD"]).optional(),
  ebs_volume_count: nonNegInt().optional(),
  ebs_volume_size: nonNegInt().optional(),
  ebs_volume_iops: nonNegInt().optional(),
  ebs_volume_throughput: nonNegInt().optional(),
});

const gcpAttributes = z.strictObject({
  availability: z.enum(["PREEMPTIBLE_GCP", "ON_DEMAND_GCP", "PREEMPTIBLE_WITH_FALLBACK_GCP"]).optional(),
  boot_disk_size: posInt().optional(),
  google_service_account: str().optional(),
  local_ssd_count: nonNegInt().optional(),
  use_preemptible_executors: bool().optional(),
  zone_id: str().optional(),
  first_on_demand: nonNegInt().optional(),
});

export const DATA_SECURITY_MODES = [
  "NONE",
  "SINGLE_USER",
  "USER_ISOLATION",
  "LEGACY_TABLE_ACL",
  "LEGACY_PASSTHROUGH",
  "LEGACY_SINGLE_USER",
  "LEGACY_SINGLE_USER_STANDARD",
  "DATA_SECURITY_MODE_AUTO",
  "DATA_SECURITY_MODE_STANDARD",
  "DATA_SECURITY_MODE_DEDICATED",
] as const;

/** Fields of a cluster specification (`new_cluster` of jobs, and clusters). */
const clusterSpecFields = {
  spark_version: nonEmpty().optional().describe("Databricks Runtime version key, e.g. 15.4.x-cpu-ml-scala2.12."),
  node_type_id: nonEmpty().optional().describe("Worker VM type, e.g. Standard_DS3_v2."),
  driver_node_type_id: nonEmpty().optional(),
  num_workers: nonNegInt().optional().describe("Fixed number of workers (0 for a single-node cluster)."),
  autoscale: autoscale.optional(),
  spark_conf: strMap().optional(),
  spark_env_vars: strMap().optional(),
  custom_tags: strMap().optional(),
  autotermination_minutes: nonNegInt().optional(),
  enable_elastic_disk: bool().optional(),
  enable_local_disk_encryption: bool().optional(),
  instance_pool_id: nonEmpty().optional(),
  driver_instance_pool_id: nonEmpty().optional(),
  policy_id: nonEmpty().optional(),
  apply_policy_default_values: bool().optional(),
  data_security_mode: z.enum(DATA_SECURITY_MODES).optional(),
  single_user_name: nonEmpty().optional(),
  runtime_engine: z.enum(["NULL", "STANDARD", "PHOTON"]).optional(),
  init_scripts: z.array(initScript).optional(),
  cluster_log_conf: clusterLogConf.optional(),
  azure_attributes: azureAttributes.optional(),
  aws_attributes: awsAttributes.optional(),
  gcp_attributes: gcpAttributes.optional(),
  docker_image: z
    .strictObject({
      url: nonEmpty(),
      basic_auth: z.strictObject({ username: nonEmpty(), password: secretSource() }).optional(),
    })
    .optional(),
  ssh_public_keys: strList().optional(),
  is_single_node: bool().optional(),
  kind: z.enum(["CLASSIC_PREVIEW"]).optional(),
  use_ml_runtime: bool().optional(),
  workload_type: z
    .strictObject({ clients: z.strictObject({ jobs: bool().optional(), notebooks: bool().optional() }) })
    .optional(),
  remote_disk_throughput: nonNegInt().optional(),
  total_initial_remote_disk_size: nonNegInt().optional(),
};

function clusterChecks(v: Record<string, unknown>, ctx: Ctx) {
  exactlyOne(["num_workers", "autoscale"], "a cluster", true)(v, ctx);
  if (v.instance_pool_id !== undefined && v.node_type_id !== undefined) {
    ctx.addIssue({
      code: "custom",
      message: "`node_type_id` comes from the instance pool; set either `instance_pool_id` or `node_type_id`",
      path: ["node_type_id"],
    });
  }
}

/** `new_cluster` in jobs and job clusters. */
export const newCluster = z
  .strictObject({ cluster_name: nonEmpty().optional(), ...clusterSpecFields })
  .superRefine(clusterChecks)
  .meta({ id: "new_cluster", description: "A cluster created for the run." });

export const CLUSTER_LEVELS = ["CAN_ATTACH_TO", "CAN_RESTART", "CAN_MANAGE"] as const;

export const cluster = z
  .strictObject({
    cluster_name: nonEmpty().describe("Name of the cluster; Lakeforge finds an existing cluster by it."),
    ...clusterSpecFields,
    spark_version: nonEmpty().describe("Databricks Runtime version key, e.g. 15.4.x-cpu-ml-scala2.12."),
    libraries: libraries().optional(),
    permissions: permissions(CLUSTER_LEVELS).optional(),
    ...lifecycle,
  })
  .superRefine(clusterChecks)
  .meta({ id: "cluster", description: "An all-purpose cluster (Clusters API)." });

const scalar = z.union([z.string(), z.number(), z.boolean()], { error: "expected a string, number or boolean" });

const POLICY_TYPES = ["fixed", "forbidden", "allowlist", "blocklist", "regex", "range", "unlimited"] as const;
export const policyRule = z
  .strictObject({
    type: z.enum(POLICY_TYPES),
    value: scalar.optional(),
    values: z.array(scalar).optional(),
    defaultValue: scalar.optional(),
    isOptional: bool().optional(),
    hidden: bool().optional(),
    minValue: z.number().optional(),
    maxValue: z.number().optional(),
    pattern: str().optional(),
  })
  .superRefine((v, ctx) => {
    const need: Record<string, string | undefined> = {
      fixed: "value",
      allowlist: "values",
      blocklist: "values",
      regex: "pattern",
    };
    const field = need[v.type];
    if (field && v[field as keyof typeof v] === undefined) {
      ctx.addIssue({ code: "custom", message: `a \`${v.type}\` rule needs \`${field}\``, path: [] });
    }
  });

export const POLICY_LEVELS = ["CAN_USE"] as const;

export const clusterPolicy = z
  .strictObject({
    name: nonEmpty().describe("Name of the policy; Lakeforge finds an existing policy by it."),
    description: str().optional(),
    definition: z
      .record(z.string(), policyRule)
      .optional()
      .describe("Policy rules by cluster attribute path (`spark_version`, `custom_tags.team`, ...)."),
    max_clusters_per_user: posInt().optional(),
    policy_family_id: nonEmpty().optional(),
    policy_family_definition_overrides: z.record(z.string(), policyRule).optional(),
    libraries: libraries().optional(),
    permissions: permissions(POLICY_LEVELS).optional(),
    ...lifecycle,
  })
  .superRefine((v, ctx) => {
    if (v.definition === undefined && v.policy_family_id === undefined) {
      ctx.addIssue({ code: "custom", message: "a cluster policy needs `definition` or `policy_family_id`", path: [] });
    }
  })
  .meta({ id: "cluster_policy", description: "A cluster policy (Cluster Policies API)." });

export const POOL_LEVELS = ["CAN_ATTACH_TO", "CAN_MANAGE"] as const;

export const instancePool = z
  .strictObject({
    instance_pool_name: nonEmpty().describe("Name of the pool; Lakeforge finds an existing pool by it."),
    node_type_id: nonEmpty(),
    min_idle_instances: nonNegInt().optional(),
    max_capacity: posInt().optional(),
    idle_instance_autotermination_minutes: nonNegInt().optional(),
    enable_elastic_disk: bool().optional(),
    custom_tags: strMap().optional(),
    preloaded_spark_versions: strList().optional(),
    preloaded_docker_images: z.array(z.strictObject({ url: nonEmpty() })).optional(),
    azure_attributes: z
      .strictObject({
        availability: z.enum(["SPOT_AZURE", "ON_DEMAND_AZURE"]).optional(),
        spot_bid_max_price: z.number().optional(),
      })
      .optional(),
    aws_attributes: z
      .strictObject({
        availability: z.enum(["SPOT", "ON_DEMAND"]).optional(),
        zone_id: str().optional(),
        spot_bid_price_percent: int().optional(),
      })
      .optional(),
    gcp_attributes: z
      .strictObject({
        gcp_availability: z.enum(["PREEMPTIBLE_GCP", "ON_DEMAND_GCP", "PREEMPTIBLE_WITH_FALLBACK_GCP"]).optional(),
        local_ssd_count: nonNegInt().optional(),
        zone_id: str().optional(),
      })
      .optional(),
    disk_spec: z
      .strictObject({
        disk_type: z
          .strictObject({
            azure_disk_volume_type: z.enum(["PREMIUM_LRS", "STANDARD_LRS"]).optional(),
            ebs_volume_type: z.enum(["GENERAL_PURPOSE_SSD", "THROUGHPUT_OPTIMIZED_HDD"]).optional(),
          })
          .optional(),
        disk_count: nonNegInt().optional(),
        disk_size: nonNegInt().optional(),
      })
      .optional(),
    permissions: permissions(POOL_LEVELS).optional(),
    ...lifecycle,
  })
  .superRefine((v, ctx) => {
    if (v.max_capacity !== undefined && v.min_idle_instances !== undefined && v.max_capacity < v.min_idle_instances) {
      ctx.addIssue({ code: "custom", message: "must be at least min_idle_instances", path: ["max_capacity"] });
    }
  })
  .meta({ id: "instance_pool", description: "An instance pool (Instance Pools API)." });
