import { ApiError, denied, int, invalid, type JsonObject, type Router, requireStr } from "../http.js";
import type { Principal } from "../identity.js";
import type { Workspace } from "../workspace.js";
import { hasEntitlement, randomAlphanumeric, timeIdPrefix } from "./compute-catalog.js";

/**
 * Instance pools (`/api/2.0/instance-pools/...`). A pool holds no instances here; it is a named
 * node type clusters can draw from. Creating one needs the `allow-instance-pool-create`
 * entitlement (admins have it); attaching a cluster needs CAN_ATTACH_TO, editing CAN_MANAGE.
 */

export interface StoredPool {
  instance_pool_id: string;
  creator_id: string;
  /** The pool's settings as the service returns them. */
  settings: JsonObject;
}

const poolsOf = (ws: Workspace) => ws.store.collection<StoredPool>("instance_pools");

export function getPool(ws: Workspace, id: string): StoredPool | undefined {
  return poolsOf(ws).get(id);
}

export const missingPool = (id: string) =>
  new ApiError(400, "RESOURCE_DOES_NOT_EXIST", `Can't find an instance pool with id: ${id}.`);

/** Fields `instance-pools/edit` sets; the rest are fixed at creation. */
const EDITABLE = [
  "instance_pool_name",
  "node_type_id",
  "min_idle_instances",
  "max_capacity",
  "idle_instance_autotermination_minutes",
  "custom_tags",
  "remote_disk_throughput",
  "total_initial_remote_disk_size",
];
const CREATE_ONLY = [
  "aws_attributes",
  "azure_attributes",
  "gcp_attributes",
  "disk_spec",
  "enable_elastic_disk",
  "preloaded_spark_versions",
  "preloaded_docker_images",
  "node_type_flexibility",
];

export function register(r: Router, ws: Workspace): void {
  const pools = poolsOf(ws);

  ws.permissions.register("instance-pools", {
    levels: ["CAN_ATTACH_TO", "CAN_MANAGE"],
    objectType: "instance-pool",
    idPrefix: "/instance-pools/",
    exists: (id) => pools.has(id),
    missing: (id) => `Can't find an instance pool with id: ${id}.`,
  });

  const mustExist = (id: string) => {
    const pool = pools.get(id);
    if (!pool) throw missingPool(id);
    return pool;
  };
  const requireLevel = (p: Principal, id: string, level: string) => {
    if (!ws.permissions.has(p, "instance-pools", id, level)) {
      throw denied(`User ${p.name} does not have ${level} permission on instance pool ${id}.`);
    }
  };

  const checked = (input: JsonObject, keys: string[]): JsonObject => {
    const out: JsonObject = {};
    for (const k of keys) if (input[k] !== undefined && input[k] !== null) out[k] = input[k];
    out.instance_pool_name = requireStr(input, "instance_pool_name");
    out.node_type_id = requireStr(input, "node_type_id");
    for (const k of ["min_idle_instances", "max_capacity", "idle_instance_autotermination_minutes"]) {
      const n = int(input, k);
      if (n !== undefined && n < 0) throw invalid(`${k} must not be negative.`);
    }
    const min = int(input, "min_idle_instances") ?? 0;
    const max = int(input, "max_capacity");
    if (max !== undefined && max < min) throw invalid("max_capacity must be at least min_idle_instances.");
    out.min_idle_instances = min;
    // The service terminates idle instances after an hour unless told otherwise.
    out.idle_instance_autotermination_minutes = int(input, "idle_instance_autotermination_minutes") ?? 60;
    return out;
  };

  r.post("/api/2.0/instance-pools/create", (c) => {
    if (!hasEntitlement(ws, c.principal, "allow-instance-pool-create")) {
      throw denied(`User ${c.principal.name} is not authorized to create instance pools.`);
    }
    const settings = checked(c.input, [...EDITABLE, ...CREATE_ONLY]);
    settings.enable_elastic_disk ??= true;
    let id: string;
    do id = `${timeIdPrefix()}-${randomAlphanumeric(6)}-pool-${randomAlphanumeric(8)}`;
    while (pools.has(id));
    pools.set(id, { instance_pool_id: id, creator_id: c.principal.id, settings });
    ws.permissions.grantCreator("instance-pools", id, c.principal);
    return { instance_pool_id: id };
  });

  r.post("/api/2.0/instance-pools/edit", (c) => {
    const id = requireStr(c.input, "instance_pool_id");
    requireLevel(c.principal, id, "CAN_MANAGE");
    const pool = mustExist(id);
    const edited = checked(c.input, EDITABLE);
    const kept: JsonObject = {};
    for (const k of CREATE_ONLY) if (pool.settings[k] !== undefined) kept[k] = pool.settings[k];
    pools.set(id, { ...pool, settings: { ...kept, ...edited } });
    return {};
  });

  r.post("/api/2.0/instance-pools/delete", (c) => {
    const id = requireStr(c.input, "instance_pool_id");
    requireLevel(c.principal, id, "CAN_MANAGE");
    mustExist(id);
    pools.delete(id);
    ws.permissions.drop("instance-pools", id);
    return {};
  });

  r.get("/api/2.0/instance-pools/get", (c) => {
    const id = requireStr(c.input, "instance_pool_id");
    requireLevel(c.principal, id, "CAN_ATTACH_TO");
    return render(mustExist(id));
  });

  r.get("/api/2.0/instance-pools/list", (c) => {
    const visible = pools
      .filter((p) => ws.permissions.has(c.principal, "instance-pools", p.instance_pool_id, "CAN_ATTACH_TO"))
      .sort((a, b) => String(a.settings.instance_pool_name).localeCompare(String(b.settings.instance_pool_name)));
    return visible.length > 0 ? { instance_pools: visible.map(render) } : {};
  });
}

function render(pool: StoredPool): JsonObject {
  return {
    instance_pool_id: pool.instance_pool_id,
    ...pool.settings,
    default_tags: {
      Vendor: "Databricks",
      DatabricksInstancePoolCreatorId: pool.creator_id,
      DatabricksInstancePoolId: pool.instance_pool_id,
    },
    state: "ACTIVE",
    stats: { used_count: 0, idle_count: 0, pending_used_count: 0, pending_idle_count: 0 },
    status: {},
  };
}
