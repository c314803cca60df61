import { createHash, randomInt } from "node:crypto";
import { ApiError, denied, int, invalid, type JsonObject, type RequestContext, type Router, requireStr, str } from "../http.js";
import type { Principal } from "../identity.js";
import type { Workspace } from "../workspace.js";
import { applyPolicy, getPolicy } from "./cluster-policies.js";
import {
  DEFAULT_NODE_TYPE,
  hasEntitlement,
  NODE_TYPES,
  nodeType,
  randomAlphanumeric,
  SPARK_VERSIONS,
  timeIdPrefix,
  ZONES,
} from "./compute-catalog.js";
import { getPool, missingPool } from "./instance-pools.js";

/**
 * Clusters API 2.0 and 2.1. A cluster runs no Spark here, but it lives through the real states:
 * PENDING (create, start) or RESTARTING (restart, edit of a running cluster) or RESIZING, then
 * RUNNING after the workspace's cluster start delay; TERMINATING then TERMINATED on delete.
 * Transitions are scheduled on the workspace clock and rescheduled when the workspace restarts
 * with a cluster still in a transitional state.
 *
 * Permissions: CAN_ATTACH_TO to see a cluster, CAN_RESTART to start, restart and terminate it,
 * CAN_MANAGE to edit, resize and permanently delete it. Creating a cluster needs the
 * `allow-cluster-create` entitlement or a cluster policy the caller may use.
 */

export type ClusterState = "PENDING" | "RUNNING" | "RESTARTING" | "RESIZING" | "TERMINATING" | "TERMINATED" | "ERROR";

export interface StoredCluster {
  cluster_id: string;
  /** The effective settings: the request with policy values and service defaults applied. */
  settings: JsonObject;
  /** The latest create or edit request as the user sent it (answered as `spec`). */
  spec: JsonObject;
  creator_user_name: string;
  cluster_source: string;
  state: ClusterState;
  state_message: string;
  start_time: number;
  last_restarted_time?: number;
  terminated_time?: number;
  termination_reason?: JsonObject;
  spark_context_id?: number;
  pinned?: boolean;
  /** Bumped by every state change; a scheduled transition completes only if still current. */
  generation: number;
  /** When the current transitional state ends (epoch ms); lets a restarted workspace finish it. */
  transition_due?: number;
}

interface ClusterEvent {
  cluster_id: string;
  timestamp: number;
  type: string;
  details: JsonObject;
}

const clustersOf = (ws: Workspace) => ws.store.collection<StoredCluster>("clusters");

/** The stored cluster, or undefined. For services that use clusters. */
export function getCluster(ws: Workspace, clusterId: string): StoredCluster | undefined {
  return clustersOf(ws).get(clusterId);
}

const TRANSITIONAL: Partial<Record<ClusterState, "RUNNING" | "TERMINATED">> = {
  PENDING: "RUNNING",
  RESTARTING: "RUNNING",
  RESIZING: "RUNNING",
  TERMINATING: "TERMINATED",
};
const MAX_EVENTS_PER_CLUSTER = 1000;
const THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000;
const STARTING_MESSAGE = "Finding instances for new nodes, acquiring more instances if necessary";
const DATA_SECURITY_ALIASES: Record<string, string> = {
  DATA_SECURITY_MODE_DEDICATED: "SINGLE_USER",
  DATA_SECURITY_MODE_STANDARD: "USER_ISOLATION",
};

const missing = (id: string) => invalid(`Cluster ${id} does not exist`);
const title = (s: string) => s.charAt(0) + s.slice(1).toLowerCase();
const unexpectedState = (id: string, state: ClusterState) =>
  new ApiError(400, "INVALID_STATE", `Cluster ${id} is in unexpected state ${title(state)}.`);
const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

export function register(r: Router, ws: Workspace): void {
  const clusters = clustersOf(ws);
  const events = ws.store.collection<ClusterEvent[]>("cluster_events");

  ws.permissions.register("clusters", {
    levels: ["CAN_ATTACH_TO", "CAN_RESTART", "CAN_MANAGE"],
    objectType: "cluster",
    idPrefix: "/clusters/",
    exists: (id) => clusters.has(id),
    missing: (id) => `Cluster ${id} does not exist`,
  });

  const LEVEL_WORDS: Record<string, string> = { CAN_ATTACH_TO: "Attach", CAN_RESTART: "Restart", CAN_MANAGE: "Manage" };
  /** The cluster, after checking the caller's level on it (403 before 404, as the service answers). */
  const access = (c: RequestContext, level: string): StoredCluster => {
    const id = requireStr(c.input, "cluster_id");
    const rec = clusters.get(id);
    if (!ws.permissions.has(c.principal, "clusters", id, level)) {
      throw denied(
        `User ${c.principal.name} does not have ${LEVEL_WORDS[level]} permissions on cluster ${id}. Please contact the owner or an administrator for access.`,
      );
    }
    if (!rec) throw missing(id);
    return rec;
  };
  const adminOnly = (p: Principal, what: string) => {
    if (!p.admin) throw denied(`Only workspace admins can ${what}.`);
  };

  const addEvent = (id: string, type: string, details: JsonObject = {}) => {
    const list = events.get(id) ?? [];
    const next = [...list, { cluster_id: id, timestamp: Date.now(), type, details }];
    events.set(id, next.length > MAX_EVENTS_PER_CLUSTER ? next.slice(next.length - MAX_EVENTS_PER_CLUSTER) : next);
  };

  /** Moves a cluster into `state`; a transitional state completes after the start delay. */
  const transition = (id: string, state: ClusterState, message: string, patch: Partial<StoredCluster> = {}) => {
    const rec = clusters.get(id) as StoredCluster;
    const delay = ws.settings.clusterStartDelayMs;
    const target = TRANSITIONAL[state];
    const next: StoredCluster = { ...rec, ...patch, state, state_message: message, generation: rec.generation + 1 };
    if (target) next.transition_due = Date.now() + delay;
    else delete next.transition_due;
    clusters.set(id, next);
    if (target) ws.schedule(delay, () => complete(id, next.generation));
  };

  const complete = (id: string, generation: number) => {
    const rec = clusters.get(id);
    if (!rec || rec.generation !== generation) return;
    const target = TRANSITIONAL[rec.state];
    const now = Date.now();
    const next: StoredCluster = { ...rec, state_message: "", generation: rec.generation + 1 };
    delete next.transition_due;
    if (target === "RUNNING") {
      next.state = "RUNNING";
      delete next.terminated_time;
      delete next.termination_reason;
      if (rec.state === "RESIZING") {
        clusters.set(id, next);
        addEvent(id, "UPSIZE_COMPLETED", {
          current_num_workers: workerCount(rec.settings),
          target_num_workers: workerCount(rec.settings),
        });
        return;
      }
      next.spark_context_id = randomInt(1, 2 ** 47) * 64;
      next.last_restarted_time = now;
      clusters.set(id, next);
      addEvent(id, "RUNNING", { current_num_workers: workerCount(rec.settings), target_num_workers: workerCount(rec.settings) });
    } else if (target === "TERMINATED") {
      next.state = "TERMINATED";
      next.terminated_time = now;
      delete next.spark_context_id;
      clusters.set(id, next);
    }
  };

  // Clusters caught mid-transition by a stop finish it now, or after what is left of their delay.
  for (const rec of clusters.values()) {
    if (!TRANSITIONAL[rec.state]) continue;
    const left = Math.max(0, Math.min((rec.transition_due ?? 0) - Date.now(), ws.settings.clusterStartDelayMs));
    const generation = rec.generation;
    ws.schedule(left, () => complete(rec.cluster_id, generation));
  }

  /** Applies the policy and the service's defaults to a create or edit request. */
  const effective = (caller: Principal, spec: JsonObject): JsonObject => {
    let s = structuredClone(spec);
    if (typeof s.policy_id === "string" && s.policy_id !== "") s = applyPolicy(ws, caller, s.policy_id, s);
    delete s.apply_policy_default_values;
    delete s.cluster_id;
    if (typeof s.spark_version !== "string" || s.spark_version === "") throw invalid("Missing required field: spark_version");
    if (isObject(s.autoscale)) {
      const min = int(s.autoscale, "min_workers");
      const max = int(s.autoscale, "max_workers");
      if (min === undefined || max === undefined || min < 0 || max < 1 || min > max) {
        throw invalid(
          "Invalid autoscale: min_workers and max_workers must be set with 0 <= min_workers <= max_workers and max_workers >= 1.",
        );
      }
      delete s.num_workers;
    } else {
      delete s.autoscale;
      const n = int(s, "num_workers") ?? 0;
      if (n < 0) throw invalid("num_workers must not be negative.");
      s.num_workers = n;
    }
    const minutes = int(s, "autotermination_minutes");
    if (minutes !== undefined && minutes !== 0 && (minutes < 10 || minutes > 10000)) {
      throw invalid("autotermination_minutes must be 0 (no automatic termination) or between 10 and 10000.");
    }
    for (const key of ["instance_pool_id", "driver_instance_pool_id"] as const) {
      const poolId = s[key];
      if (typeof poolId !== "string" || poolId === "") continue;
      const pool = getPool(ws, poolId);
      if (!pool) throw missingPool(poolId);
      if (!ws.permissions.has(caller, "instance-pools", poolId, "CAN_ATTACH_TO")) {
        throw denied(`User ${caller.name} does not have CAN_ATTACH_TO permission on instance pool ${poolId}.`);
      }
      // Nodes come from the pool: its node type is the cluster's.
      s[key === "instance_pool_id" ? "node_type_id" : "driver_node_type_id"] = pool.settings.node_type_id;
    }
    if (typeof s.instance_pool_id === "string" && s.instance_pool_id !== "") s.driver_instance_pool_id ??= s.instance_pool_id;
    s.node_type_id ??= DEFAULT_NODE_TYPE;
    s.driver_node_type_id ??= s.node_type_id;
    const mode = typeof s.data_security_mode === "string" ? s.data_security_mode : undefined;
    if (mode === "DATA_SECURITY_MODE_AUTO") s.data_security_mode = s.single_user_name ? "SINGLE_USER" : "USER_ISOLATION";
    else if (mode && DATA_SECURITY_ALIASES[mode]) s.data_security_mode = DATA_SECURITY_ALIASES[mode];
    if (s.data_security_mode === "SINGLE_USER") s.single_user_name ??= caller.name;
    s.enable_elastic_disk ??= true;
    s.enable_local_disk_encryption ??= false;
    return s;
  };

  const canCreate = (caller: Principal, settings: JsonObject) => {
    const policyId = typeof settings.policy_id === "string" && settings.policy_id !== "" ? settings.policy_id : undefined;
    if (!policyId && !hasEntitlement(ws, caller, "allow-cluster-create")) {
      throw denied(
        `User ${caller.name} is not authorized to create clusters without a cluster policy: ask a workspace admin for the allow-cluster-create entitlement or for a cluster policy.`,
      );
    }
    const max = policyId ? getPolicy(ws, policyId)?.max_clusters_per_user : undefined;
    if (policyId && max !== undefined) {
      const mine = clusters.filter(
        (k) => k.settings.policy_id === policyId && k.creator_user_name === caller.name && k.state !== "TERMINATED",
      ).length;
      if (mine >= max) {
        throw invalid(
          `Cannot create more than ${max} clusters with policy ${policyId}: the policy's max_clusters_per_user limit is reached.`,
        );
      }
    }
  };

  for (const version of ["2.0", "2.1"]) {
    const base = `/api/${version}/clusters`;

    r.post(`${base}/create`, (c) => {
      let spec = structuredClone(c.input);
      delete spec.cluster_id;
      if (isObject(spec.clone_from)) {
        const sourceId = requireStr(spec.clone_from, "source_cluster_id");
        const source = clusters.get(sourceId);
        if (!source || !ws.permissions.has(c.principal, "clusters", sourceId, "CAN_ATTACH_TO")) throw missing(sourceId);
        spec = { ...source.spec, ...spec };
        delete spec.clone_from;
      }
      canCreate(c.principal, spec);
      const settings = effective(c.principal, spec);
      let id: string;
      do id = `${timeIdPrefix()}-${randomAlphanumeric(8)}`;
      while (clusters.has(id));
      clusters.set(id, {
        cluster_id: id,
        settings,
        spec,
        creator_user_name: c.principal.name,
        cluster_source: "API",
        state: "PENDING",
        state_message: STARTING_MESSAGE,
        start_time: Date.now(),
        generation: 0,
      });
      ws.permissions.grantCreator("clusters", id, c.principal);
      addEvent(id, "CREATING", { attributes: settings, user: c.principal.name });
      transition(id, "PENDING", STARTING_MESSAGE);
      return { cluster_id: id };
    });

    const replaceSettings = (c: RequestContext, rec: StoredCluster, spec: JsonObject) => {
      if (rec.cluster_source === "JOB")
        throw invalid(`Cluster ${rec.cluster_id} was created by the jobs service and can not be edited.`);
      if (rec.state !== "RUNNING" && rec.state !== "TERMINATED") throw unexpectedState(rec.cluster_id, rec.state);
      const settings = effective(c.principal, spec);
      addEvent(rec.cluster_id, "EDITED", { attributes: settings, previous_attributes: rec.settings, user: c.principal.name });
      // A running cluster restarts to take the new settings; a terminated one stays terminated.
      if (rec.state === "RUNNING") {
        transition(rec.cluster_id, "RESTARTING", "Restarting Spark to apply the new cluster settings", { settings, spec });
        addEvent(rec.cluster_id, "RESTARTING", { user: c.principal.name });
      } else {
        clusters.set(rec.cluster_id, { ...rec, settings, spec });
      }
    };

    r.post(`${base}/edit`, (c) => {
      const rec = access(c, "CAN_MANAGE");
      const spec = structuredClone(c.input);
      delete spec.cluster_id;
      replaceSettings(c, rec, spec);
      return {};
    });

    r.post(`${base}/update`, (c) => {
      const rec = access(c, "CAN_MANAGE");
      const mask = requireStr(c.input, "update_mask");
      const cluster = isObject(c.input.cluster) ? c.input.cluster : {};
      let spec: JsonObject;
      if (mask.trim() === "*") {
        spec = structuredClone(cluster);
      } else {
        spec = structuredClone(rec.spec);
        for (const field of mask
          .split(",")
          .map((f) => f.trim())
          .filter(Boolean)) {
          const path = field.split(".");
          let from: unknown = cluster;
          for (const p of path) from = isObject(from) ? from[p] : undefined;
          let to: JsonObject = spec;
          path.slice(0, -1).forEach((p) => {
            if (!isObject(to[p])) to[p] = {};
            to = to[p] as JsonObject;
          });
          const last = path[path.length - 1] as string;
          if (from === undefined) delete to[last];
          else to[last] = structuredClone(from);
        }
      }
      replaceSettings(c, rec, spec);
      return {};
    });

    r.post(`${base}/start`, (c) => {
      const rec = access(c, "CAN_RESTART");
      if (rec.state !== "TERMINATED") throw unexpectedState(rec.cluster_id, rec.state);
      addEvent(rec.cluster_id, "STARTING", { user: c.principal.name });
      transition(rec.cluster_id, "PENDING", STARTING_MESSAGE, { start_time: Date.now() });
      return {};
    });

    r.post(`${base}/restart`, (c) => {
      const rec = access(c, "CAN_RESTART");
      if (rec.state !== "RUNNING") throw unexpectedState(rec.cluster_id, rec.state);
      addEvent(rec.cluster_id, "RESTARTING", { user: c.principal.name });
      transition(rec.cluster_id, "RESTARTING", "Restarting Spark");
      return {};
    });

    r.post(`${base}/resize`, (c) => {
      const rec = access(c, "CAN_MANAGE");
      const n = int(c.input, "num_workers");
      const autoscale = isObject(c.input.autoscale) ? c.input.autoscale : undefined;
      if ((n === undefined) === (autoscale === undefined)) throw invalid("Exactly one of num_workers or autoscale must be set.");
      if (rec.state !== "RUNNING") throw unexpectedState(rec.cluster_id, rec.state);
      const patch = (s: JsonObject): JsonObject => {
        const out = { ...s };
        if (autoscale) {
          out.autoscale = autoscale;
          delete out.num_workers;
        } else {
          out.num_workers = n;
          delete out.autoscale;
        }
        return out;
      };
      const settings = effective(c.principal, patch(rec.spec));
      addEvent(rec.cluster_id, "RESIZING", {
        current_num_workers: workerCount(rec.settings),
        target_num_workers: workerCount(settings),
        user: c.principal.name,
      });
      transition(rec.cluster_id, "RESIZING", "Resizing the cluster", { settings, spec: patch(rec.spec) });
      return {};
    });

    r.post(`${base}/delete`, (c) => {
      const rec = access(c, "CAN_RESTART");
      if (rec.state === "TERMINATED" || rec.state === "TERMINATING") return {};
      const reason = { code: "USER_REQUEST", type: "SUCCESS", parameters: { username: c.principal.name } };
      addEvent(rec.cluster_id, "TERMINATING", { reason, user: c.principal.name });
      transition(rec.cluster_id, "TERMINATING", "Terminating the cluster", { termination_reason: reason });
      return {};
    });

    r.post(`${base}/permanent-delete`, (c) => {
      const rec = access(c, "CAN_MANAGE");
      clusters.delete(rec.cluster_id);
      events.delete(rec.cluster_id);
      ws.permissions.drop("clusters", rec.cluster_id);
      return {};
    });

    r.post(`${base}/pin`, (c) => {
      adminOnly(c.principal, "pin clusters");
      const rec = access(c, "CAN_ATTACH_TO");
      if (!rec.pinned) {
        clusters.set(rec.cluster_id, { ...rec, pinned: true });
        addEvent(rec.cluster_id, "PINNED", { user: c.principal.name });
      }
      return {};
    });

    r.post(`${base}/unpin`, (c) => {
      adminOnly(c.principal, "unpin clusters");
      const rec = access(c, "CAN_ATTACH_TO");
      if (rec.pinned) {
        const next = { ...rec };
        delete next.pinned;
        clusters.set(rec.cluster_id, next);
        addEvent(rec.cluster_id, "UNPINNED", { user: c.principal.name });
      }
      return {};
    });

    r.post(`${base}/change-owner`, (c) => {
      adminOnly(c.principal, "change the owner of a cluster");
      const rec = access(c, "CAN_MANAGE");
      const owner = requireStr(c.input, "owner_username");
      const user = ws.identity.userByName(owner);
      const sp = user ? undefined : ws.identity.servicePrincipalByAppId(owner);
      if (!user && !sp) throw invalid(`User or service principal ${owner} does not exist.`);
      if (rec.state !== "TERMINATED") throw unexpectedState(rec.cluster_id, rec.state);
      clusters.set(rec.cluster_id, { ...rec, creator_user_name: owner });
      const entry = user ? { user_name: user.userName } : { service_principal_name: owner };
      ws.permissions.write("clusters", rec.cluster_id, [{ ...entry, permission_level: "CAN_MANAGE" }], "merge");
      return {};
    });

    r.get(`${base}/get`, (c) => render(access(c, "CAN_ATTACH_TO")));

    r.get(`${base}/list`, (c) => list(c, version === "2.0"));

    r.post(`${base}/events`, (c) => {
      const rec = access(c, "CAN_ATTACH_TO");
      return listEvents(rec.cluster_id, c.input);
    });

    r.get(`${base}/spark-versions`, () => ({ versions: SPARK_VERSIONS }));
    r.get(`${base}/list-node-types`, () => ({ node_types: NODE_TYPES }));
    r.get(`${base}/list-zones`, () => ZONES);
  }

  function list(c: RequestContext, all: boolean) {
    const filter = isObject(c.input.filter_by) ? c.input.filter_by : {};
    const listParam = (key: string): string[] | undefined => {
      const v = c.input[`filter_by.${key}`] ?? filter[key];
      if (v === undefined || v === null) return undefined;
      return (Array.isArray(v) ? v : [v]).map(String);
    };
    const states = listParam("cluster_states");
    const sources = listParam("cluster_sources");
    const pinnedRaw = c.input["filter_by.is_pinned"] ?? filter.is_pinned;
    const pinned = pinnedRaw === undefined ? undefined : String(pinnedRaw).toLowerCase() === "true";
    const policyId = str(c.input, "filter_by.policy_id") ?? (typeof filter.policy_id === "string" ? filter.policy_id : undefined);
    const sortBy = isObject(c.input.sort_by) ? c.input.sort_by : {};
    const field = str(c.input, "sort_by.field") ?? (sortBy.field as string | undefined) ?? "DEFAULT";
    const direction = str(c.input, "sort_by.direction") ?? (sortBy.direction as string | undefined) ?? "ASC";
    if (field !== "DEFAULT" && field !== "CLUSTER_NAME") throw invalid(`Invalid sort_by.field: ${field}`);
    if (direction !== "ASC" && direction !== "DESC") throw invalid(`Invalid sort_by.direction: ${direction}`);

    const now = Date.now();
    const visible = clusters
      .filter((k) => ws.permissions.has(c.principal, "clusters", k.cluster_id, "CAN_ATTACH_TO"))
      // Clusters terminated more than 30 days ago are listed only while pinned.
      .filter((k) => k.pinned || k.state !== "TERMINATED" || now - (k.terminated_time ?? now) < THIRTY_DAYS_MS)
      .filter((k) => !states || states.includes(k.state))
      .filter((k) => !sources || sources.includes(k.cluster_source))
      .filter((k) => pinned === undefined || (k.pinned ?? false) === pinned)
      .filter((k) => !policyId || k.settings.policy_id === policyId);
    const name = (k: StoredCluster) => String(k.settings.cluster_name ?? "");
    const byName = (a: StoredCluster, b: StoredCluster) =>
      name(a).localeCompare(name(b)) || a.cluster_id.localeCompare(b.cluster_id);
    // By default: active clusters before terminated ones, pinned before unpinned, then by name.
    const active = (k: StoredCluster) => (k.state === "TERMINATED" ? 1 : 0);
    const unpinned = (k: StoredCluster) => (k.pinned ? 0 : 1);
    visible.sort(
      field === "CLUSTER_NAME" ? byName : (a, b) => active(a) - active(b) || unpinned(a) - unpinned(b) || byName(a, b),
    );
    if (direction === "DESC") visible.reverse();
    if (all && c.input.page_size === undefined && c.input.page_token === undefined) {
      return visible.length > 0 ? { clusters: visible.map(render) } : {};
    }
    const size = Math.min(Math.max(int(c.input, "page_size") ?? 100, 1), 100);
    const token = str(c.input, "page_token");
    let offset = 0;
    if (token) {
      const m = /^offset:(\d+)$/.exec(Buffer.from(token, "base64url").toString("utf8"));
      if (!m) throw invalid(`Invalid page_token: ${token}`);
      offset = Number(m[1]);
    }
    const slice = visible.slice(offset, offset + size);
    const out: JsonObject = {};
    if (slice.length > 0) out.clusters = slice.map(render);
    const encode = (n: number) => Buffer.from(`offset:${n}`).toString("base64url");
    if (offset + slice.length < visible.length) out.next_page_token = encode(offset + slice.length);
    if (offset > 0) out.prev_page_token = encode(Math.max(0, offset - size));
    return out;
  }

  function listEvents(id: string, input: JsonObject): JsonObject {
    const order = str(input, "order") ?? "DESC";
    if (order !== "ASC" && order !== "DESC") throw invalid(`Invalid order: ${order}`);
    const start = int(input, "start_time");
    const end = int(input, "end_time");
    const types = Array.isArray(input.event_types) ? input.event_types.map(String) : undefined;
    let list = (events.get(id) ?? []).filter(
      (e) =>
        (start === undefined || e.timestamp >= start) &&
        (end === undefined || e.timestamp <= end) &&
        (!types || types.includes(e.type)),
    );
    if (order === "DESC") list = [...list].reverse();
    const token = str(input, "page_token");
    let offset = int(input, "offset") ?? 0;
    if (token) {
      const m = /^offset:(\d+)$/.exec(Buffer.from(token, "base64url").toString("utf8"));
      if (!m) throw invalid(`Invalid page_token: ${token}`);
      offset = Number(m[1]);
    }
    const limit = Math.min(Math.max(int(input, "page_size") ?? int(input, "limit") ?? 50, 1), 500);
    const slice = list.slice(offset, offset + limit);
    const out: JsonObject = { events: slice, total_count: list.length };
    const next = offset + slice.length;
    if (next < list.length) {
      // `next_page` is the request for the following page, as older clients replay it.
      const { page_token: _token, ...request } = input;
      out.next_page = { ...request, cluster_id: id, offset: next, limit };
      out.next_page_token = Buffer.from(`offset:${next}`).toString("base64url");
    }
    if (offset > 0) out.prev_page_token = Buffer.from(`offset:${Math.max(0, offset - limit)}`).toString("base64url");
    return out;
  }
}

function workerCount(s: JsonObject): number {
  if (isObject(s.autoscale)) return Number(s.autoscale.min_workers ?? 0);
  return Number(s.num_workers ?? 0);
}

/** A Spark node with addresses derived from the cluster and its Spark context, stable across reads. */
function sparkNode(rec: StoredCluster, index: number): JsonObject {
  const h = createHash("sha256").update(`${rec.cluster_id}:${rec.spark_context_id}:${index}`).digest();
  const ip = `10.${h[0]}.${h[1]}.${((h[2] as number) % 250) + 4}`;
  return {
    node_id: h.subarray(3, 19).toString("hex"),
    instance_id: `i-0${h.subarray(19, 27).toString("hex").slice(0, 16)}`,
    start_timestamp: rec.last_restarted_time ?? rec.start_time,
    host_private_ip: ip,
    private_ip: ip,
  };
}

/** The `clusters/get` answer. */
function render(rec: StoredCluster): JsonObject {
  const s = rec.settings;
  const out: JsonObject = {
    cluster_id: rec.cluster_id,
    creator_user_name: rec.creator_user_name,
    ...s,
    cluster_name: s.cluster_name ?? "",
    state: rec.state,
    state_message: rec.state_message,
    start_time: rec.start_time,
    cluster_source: rec.cluster_source,
    default_tags: {
      Vendor: "Databricks",
      Creator: rec.creator_user_name,
      ClusterName: s.cluster_name ?? "",
      ClusterId: rec.cluster_id,
    },
    effective_spark_version: s.spark_version,
    jdbc_port: 10000,
    init_scripts_safe_mode: false,
    spec: rec.spec,
  };
  if (rec.last_restarted_time !== undefined) out.last_restarted_time = rec.last_restarted_time;
  if (rec.terminated_time !== undefined) out.terminated_time = rec.terminated_time;
  if (rec.termination_reason) out.termination_reason = rec.termination_reason;
  if (rec.spark_context_id !== undefined) out.spark_context_id = rec.spark_context_id;
  const live = rec.state === "RUNNING" || rec.state === "RESIZING";
  if (live) {
    const workers = workerCount(s);
    const worker = nodeType(String(s.node_type_id));
    const driver = nodeType(String(s.driver_node_type_id));
    out.driver = sparkNode(rec, 0);
    if (workers > 0) out.executors = Array.from({ length: workers }, (_, i) => sparkNode(rec, i + 1));
    if (worker && driver) {
      out.cluster_memory_mb = driver.memory_mb + workers * worker.memory_mb;
      out.cluster_cores = driver.num_cores + workers * worker.num_cores;
    }
  }
  return out;
}

/** Whether a principal may attach to (run work on) an existing cluster. */
export function canAttach(ws: Workspace, p: Principal, clusterId: string): boolean {
  return clustersOf(ws).has(clusterId) && ws.permissions.has(p, "clusters", clusterId, "CAN_ATTACH_TO");
}
