import { randomBytes } from "node:crypto";
import type { Principal } from "../identity.js";
import type { Workspace } from "../workspace.js";

/**
 * What the local workspace offers as compute: Databricks Runtime versions, node types (a selection
 * of AWS and Azure instance types, so configurations written for either cloud are accepted) and
 * availability zones. Shapes follow `clusters/spark-versions`, `clusters/list-node-types` and
 * `clusters/list-zones`; and the id formats and entitlement check the compute services share.
 */

export interface SparkVersion {
  key: string;
  name: string;
}

interface RuntimeLine {
  version: string;
  spark: string;
  lts: boolean;
  scalas: string[];
  ml: boolean;
}

const RUNTIMES: RuntimeLine[] = [
  { version: "17.3", spark: "4.0.0", lts: true, scalas: ["2.13"], ml: true },
  { version: "17.2", spark: "4.0.0", lts: false, scalas: ["2.13"], ml: true },
  { version: "17.1", spark: "4.0.0", lts: false, scalas: ["2.13"], ml: true },
  { version: "17.0", spark: "4.0.0", lts: false, scalas: ["2.13"], ml: true },
  { version: "16.4", spark: "3.5.2", lts: true, scalas: ["2.12", "2.13"], ml: true },
  { version: "16.3", spark: "3.5.2", lts: false, scalas: ["2.12"], ml: true },
  { version: "15.4", spark: "3.5.0", lts: true, scalas: ["2.12"], ml: true },
  { version: "14.3", spark: "3.5.0", lts: true, scalas: ["2.12"], ml: true },
  { version: "13.3", spark: "3.4.1", lts: true, scalas: ["2.12"], ml: true },
  { version: "12.2", spark: "3.3.2", lts: true, scalas: ["2.12"], ml: true },
];

/** Every runtime key with its display name, newest first. */
export const SPARK_VERSIONS: SparkVersion[] = RUNTIMES.flatMap((r) => {
  const label = `${r.version}${r.lts ? " LTS" : ""}`;
  const out: SparkVersion[] = [];
  for (const scala of r.scalas) {
    out.push({ key: `${r.version}.x-scala${scala}`, name: `${label} (includes Apache Spark ${r.spark}, Scala ${scala})` });
    if (r.ml) {
      out.push({
        key: `${r.version}.x-cpu-ml-scala${scala}`,
        name: `${label} ML (includes Apache Spark ${r.spark}, Scala ${scala})`,
      });
      out.push({
        key: `${r.version}.x-gpu-ml-scala${scala}`,
        name: `${label} ML (includes Apache Spark ${r.spark}, GPU, Scala ${scala})`,
      });
    }
  }
  return out;
});

export interface NodeType {
  node_type_id: string;
  instance_type_id: string;
  memory_mb: number;
  num_cores: number;
  num_gpus: number;
  description: string;
  category: string;
  node_instance_type: {
    instance_type_id: string;
    local_disks: number;
    local_disk_size_gb: number;
    local_nvme_disks: number;
    local_nvme_disk_size_gb: number;
  };
  is_deprecated: boolean;
  is_hidden: boolean;
  is_io_cache_enabled: boolean;
  is_graviton: boolean;
  photon_driver_capable: boolean;
  photon_worker_capable: boolean;
  support_cluster_tags: boolean;
  support_ebs_volumes: boolean;
  support_port_forwarding: boolean;
  display_order: number;
}

interface NodeSpec {
  id: string;
  gb: number;
  cores: number;
  category: string;
  gpus?: number;
  /** Local SSD disks: count x size in GB. */
  ssd?: [number, number];
  /** Local NVMe disks: count x size in GB. */
  nvme?: [number, number];
  graviton?: boolean;
  ebs?: boolean;
}

const NODES: NodeSpec[] = [
  // AWS
  { id: "m5.large", gb: 8, cores: 2, category: "General Purpose", ebs: true },
  { id: "m5.xlarge", gb: 16, cores: 4, category: "General Purpose", ebs: true },
  { id: "m5d.large", gb: 8, cores: 2, category: "General Purpose", nvme: [1, 75], ebs: true },
  { id: "m5d.xlarge", gb: 16, cores: 4, category: "General Purpose", nvme: [1, 150], ebs: true },
  { id: "m5d.2xlarge", gb: 32, cores: 8, category: "General Purpose", nvme: [1, 300], ebs: true },
  { id: "m6gd.xlarge", gb: 16, cores: 4, category: "General Purpose", nvme: [1, 237], graviton: true, ebs: true },
  { id: "c5d.xlarge", gb: 8, cores: 4, category: "Compute Optimized", nvme: [1, 100], ebs: true },
  { id: "r5d.xlarge", gb: 32, cores: 4, category: "Memory Optimized", nvme: [1, 150], ebs: true },
  { id: "i3.xlarge", gb: 30.5, cores: 4, category: "Storage Optimized", nvme: [1, 950], ebs: true },
  { id: "i3.2xlarge", gb: 61, cores: 8, category: "Storage Optimized", nvme: [1, 1900], ebs: true },
  { id: "g4dn.xlarge", gb: 16, cores: 4, category: "GPU Accelerated", gpus: 1, nvme: [1, 125], ebs: true },
  // Azure
  { id: "Standard_DS3_v2", gb: 14, cores: 4, category: "General Purpose", ssd: [1, 28] },
  { id: "Standard_DS4_v2", gb: 28, cores: 8, category: "General Purpose", ssd: [1, 56] },
  { id: "Standard_D4ds_v5", gb: 16, cores: 4, category: "General Purpose", ssd: [1, 150] },
  { id: "Standard_D8ds_v5", gb: 32, cores: 8, category: "General Purpose", ssd: [1, 300] },
  { id: "Standard_F4s", gb: 8, cores: 4, category: "Compute Optimized", ssd: [1, 16] },
  { id: "Standard_E8ds_v4", gb: 64, cores: 8, category: "Memory Optimized", ssd: [1, 300] },
  { id: "Standard_L8s_v3", gb: 64, cores: 8, category: "Storage Optimized", ssd: [1, 80], nvme: [1, 1788] },
  { id: "Standard_NC4as_T4_v3", gb: 28, cores: 4, category: "GPU Accelerated", gpus: 1, ssd: [1, 176] },
];

export const NODE_TYPES: NodeType[] = NODES.map((n, i) => {
  const memory = Math.round(n.gb * 1024);
  const disks = [n.ssd ? `${n.ssd[0]} x ${n.ssd[1]} GB SSD` : "", n.nvme ? `${n.nvme[0]} x ${n.nvme[1]} GB NVMe SSD` : ""]
    .filter(Boolean)
    .join(", ");
  return {
    node_type_id: n.id,
    instance_type_id: n.id,
    memory_mb: memory,
    num_cores: n.cores,
    num_gpus: n.gpus ?? 0,
    description: `${n.id} (${n.cores} cores, ${n.gb} GB${disks ? `, ${disks}` : ""})`,
    category: n.category,
    node_instance_type: {
      instance_type_id: n.id,
      // Every count and size is present (0 when absent): clients sort node types by these numbers.
      local_disks: n.ssd?.[0] ?? 0,
      local_disk_size_gb: n.ssd?.[1] ?? 0,
      local_nvme_disks: n.nvme?.[0] ?? 0,
      local_nvme_disk_size_gb: n.nvme?.[1] ?? 0,
    },
    is_deprecated: false,
    is_hidden: false,
    is_io_cache_enabled: n.nvme !== undefined,
    is_graviton: n.graviton ?? false,
    photon_driver_capable: (n.gpus ?? 0) === 0,
    photon_worker_capable: (n.gpus ?? 0) === 0,
    support_cluster_tags: true,
    support_ebs_volumes: n.ebs ?? false,
    support_port_forwarding: true,
    display_order: i,
  };
});

export function nodeType(id: string): NodeType | undefined {
  return NODE_TYPES.find((n) => n.node_type_id === id);
}

/** The node type used when a cluster names none and no pool or policy provides one. */
export const DEFAULT_NODE_TYPE = "m5d.large";

export const ZONES = { zones: ["us-west-2a", "us-west-2b", "us-west-2c"], default_zone: "us-west-2a" };

/** Policy families: templates for cluster policies (`/api/2.0/policy-families`). */
export interface PolicyFamily {
  policy_family_id: string;
  name: string;
  description: string;
  definition: string;
}

const family = (id: string, name: string, description: string, definition: Record<string, unknown>): PolicyFamily => ({
  policy_family_id: id,
  name,
  description,
  definition: JSON.stringify(definition),
});

export const POLICY_FAMILIES: PolicyFamily[] = [
  family("personal-vm", "Personal Compute", "Use with small-to-medium data or libraries like pandas and scikit-learn.", {
    node_type_id: {
      type: "allowlist",
      values: NODE_TYPES.filter((n) => n.num_gpus === 0).map((n) => n.node_type_id),
      defaultValue: DEFAULT_NODE_TYPE,
    },
    spark_version: { type: "unlimited", defaultValue: "auto:latest-ml" },
    "spark_conf.spark.databricks.cluster.profile": { type: "fixed", value: "singleNode", hidden: true },
    num_workers: { type: "fixed", value: 0, hidden: true },
    data_security_mode: {
      type: "allowlist",
      values: ["SINGLE_USER", "LEGACY_SINGLE_USER", "LEGACY_SINGLE_USER_STANDARD"],
      defaultValue: "SINGLE_USER",
      hidden: true,
    },
    "custom_tags.ResourceClass": { type: "fixed", value: "SingleNode", hidden: true },
  }),
  family("shared-compute", "Shared Compute", "Use for multiple users sharing compute for data exploration.", {
    data_security_mode: { type: "fixed", value: "USER_ISOLATION", hidden: true },
    spark_version: { type: "unlimited", defaultValue: "auto:latest-lts" },
  }),
  family("power-user", "Power User Compute", "Use for larger workloads and for workloads that need more resources.", {
    data_security_mode: { type: "fixed", value: "SINGLE_USER", hidden: true },
    spark_version: { type: "unlimited", defaultValue: "auto:latest-ml" },
    "autoscale.min_workers": { type: "unlimited", defaultValue: 1 },
    "autoscale.max_workers": { type: "range", maxValue: 10, defaultValue: 4 },
  }),
  family("job-cluster", "Job Compute", "Use for running jobs.", {
    cluster_type: { type: "fixed", value: "job" },
    num_workers: { type: "unlimited", defaultValue: 4, isOptional: true },
    spark_version: { type: "unlimited", defaultValue: "auto:latest-lts" },
  }),
  family("shared-data-science", "Legacy Shared Compute", "Use for shared clusters without Unity Catalog.", {
    "spark_conf.spark.databricks.cluster.profile": { type: "fixed", value: "serverless", hidden: true },
    "spark_conf.spark.databricks.repl.allowedLanguages": { type: "fixed", value: "python,sql", hidden: true },
    spark_version: { type: "unlimited", defaultValue: "auto:latest-lts" },
  }),
];

/**
 * Resolves the `auto:` runtime aliases policies may use (`auto:latest`, `auto:latest-lts`,
 * `auto:latest-ml`, `auto:latest-lts-ml`); other values are returned unchanged.
 */
export function resolveSparkVersion(value: string): string {
  if (!value.startsWith("auto:")) return value;
  const wantLts = value.includes("lts");
  const wantMl = value.includes("ml");
  const found = SPARK_VERSIONS.find(
    (v) => (!wantLts || v.name.includes("LTS")) && v.key.includes("-cpu-ml-") === wantMl && !v.key.includes("-gpu-"),
  );
  return found?.key ?? value;
}

// ---------------------------------------------------------------------------------------------
// Identifiers and entitlements shared by the compute services

const ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyz0123456789";

/** `n` random lowercase letters and digits. */
export function randomAlphanumeric(n: number): string {
  const bytes = randomBytes(n);
  let out = "";
  for (const b of bytes) out += ALPHANUMERIC[b % ALPHANUMERIC.length];
  return out;
}

/** The `MMDD-HHMMSS` (UTC) prefix of cluster and instance pool ids. */
export function timeIdPrefix(now = new Date()): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(now.getUTCMonth() + 1)}${two(now.getUTCDate())}-${two(now.getUTCHours())}${two(now.getUTCMinutes())}${two(now.getUTCSeconds())}`;
}

/** Whether the principal holds a workspace entitlement, directly or through a group. Admins hold all. */
export function hasEntitlement(ws: Workspace, p: Principal, entitlement: string): boolean {
  if (p.admin) return true;
  const has = (list: { value: string }[] | undefined) => (list ?? []).some((e) => e.value === entitlement);
  const self = p.kind === "user" ? ws.identity.users.get(p.id) : ws.identity.servicePrincipals.get(p.id);
  if (has(self?.entitlements)) return true;
  return p.groups.some((name) => has(ws.identity.groupByName(name)?.entitlements));
}
