import { RemoteError } from "../../clients/http.js";
import type { ResourceAdapter } from "../../engine/types.js";
import { UserError } from "../../lib/errors.js";
import {
  type DatabricksCtx,
  deleting,
  isObject,
  listByIds,
  listPages,
  matchByName,
  missingFrom,
  type Obj,
  omit,
  orMissing,
  single,
  sleep,
  sortedSet,
} from "./common.js";

/**
 * `databricks.cluster`: an all-purpose cluster (Clusters API 2.1) and the libraries installed on it
 * (Libraries API). Compared against the cluster's `spec` (the settings as last sent by a user), so
 * values a policy or the service fills in never show as drift. Updates use `clusters/edit`, which
 * restarts a running cluster; a cluster that is starting is waited for first.
 *
 * A plan reads (or looks for) many clusters in `clusters/list` (100 a page) and the libraries of all
 * of them in `libraries/all-cluster-statuses`, instead of two reads (or a list) per cluster.
 */

const API = "/api/2.1/clusters";
const SETTLED = new Set(["RUNNING", "TERMINATED", "ERROR"]);
/** Fields of `clusters/get` that are not settings. */
const OUTPUT_FIELDS = [
  "cluster_id",
  "creator_user_name",
  "state",
  "state_message",
  "start_time",
  "terminated_time",
  "last_restarted_time",
  "last_state_loss_time",
  "termination_reason",
  "cluster_source",
  "default_tags",
  "effective_spark_version",
  "jdbc_port",
  "init_scripts_safe_mode",
  "spark_context_id",
  "driver",
  "executors",
  "cluster_memory_mb",
  "cluster_cores",
  "cluster_log_status",
  "spec",
  "libraries",
  "docker_image_status",
];

/** The settings sent to create and edit: everything in the spec but the libraries. */
const settingsOf = (spec: Obj) => omit(spec, ["libraries"]);

interface LibraryStatus {
  library?: unknown;
  status?: string;
}

/** The libraries a cluster has or will have (those being uninstalled left out). */
const installed = (statuses: LibraryStatus[] | undefined) =>
  (statuses ?? []).filter((s) => s.status !== "UNINSTALL_ON_RESTART" && s.library !== undefined).map((s) => s.library);

/** `undefined` for a workspace without the Libraries API (it holds no libraries). */
async function withoutLibrariesApi<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof RemoteError && e.status === 501) return undefined;
    throw e;
  }
}

async function libraryStatus(ctx: DatabricksCtx, id: string): Promise<unknown[] | undefined> {
  const res = await withoutLibrariesApi(
    ctx.client.get<{ library_statuses?: LibraryStatus[] }>("/api/2.0/libraries/cluster-status", { cluster_id: id }),
  );
  return res && installed(res.library_statuses);
}

/** The libraries of every cluster, by cluster id (a cluster without any may be left out). */
async function allLibraryStatuses(ctx: DatabricksCtx): Promise<Map<string, unknown[]> | undefined> {
  const res = await withoutLibrariesApi(
    ctx.client.get<{ statuses?: { cluster_id?: string; library_statuses?: LibraryStatus[] }[] }>(
      "/api/2.0/libraries/all-cluster-statuses",
    ),
  );
  if (!res) return undefined;
  return new Map((res.statuses ?? []).map((s) => [String(s.cluster_id), installed(s.library_statuses)]));
}

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  const cluster = await orMissing(ctx.client.get<Obj>(`${API}/get`, { cluster_id: id }));
  if (!cluster) return undefined;
  const libraries = await libraryStatus(ctx, id);
  return libraries === undefined ? cluster : { ...cluster, libraries };
}

/** Waits until the cluster is in a state `clusters/edit` accepts. */
async function settle(ctx: DatabricksCtx, id: string, remote: Obj): Promise<void> {
  let state = String(remote.state ?? "");
  const deadline = Date.now() + (ctx.settleTimeoutMs ?? 20 * 60_000);
  while (state && !SETTLED.has(state)) {
    if (Date.now() > deadline) {
      throw new UserError(`cluster ${id} stayed ${state} too long to be edited`, "try again once the cluster has started");
    }
    await sleep(ctx.pollIntervalMs ?? 5_000);
    const now = await ctx.client.get<Obj>(`${API}/get`, { cluster_id: id });
    state = String(now.state ?? "");
  }
}

async function syncLibraries(ctx: DatabricksCtx, id: string, desired: unknown[], current: unknown[]): Promise<void> {
  const install = missingFrom(desired, current);
  const uninstall = missingFrom(current, desired);
  if (install.length > 0) {
    await ctx.client.post("/api/2.0/libraries/install", { cluster_id: id, libraries: install }, { idempotent: true });
  }
  if (uninstall.length > 0) {
    await ctx.client.post("/api/2.0/libraries/uninstall", { cluster_id: id, libraries: uninstall }, { idempotent: true });
  }
}

export const clusterAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.cluster",
  naturalKey: (spec) => String(spec.cluster_name),

  read,

  async readMany(ctx, ids, limit) {
    const out = new Map<string, Obj>();
    if (new Set(ids).size < 2) return out;
    const [listed, libraries] = await Promise.all([
      limit(() => listByIds(ctx, `${API}/list`, { page_size: 100 }, "clusters", ids, (c) => String(c.cluster_id))),
      limit(() => allLibraryStatuses(ctx)),
    ]);
    for (const [id, cluster] of listed) {
      out.set(id, libraries === undefined ? cluster : { ...cluster, libraries: libraries.get(id) ?? [] });
    }
    return out;
  },

  /** The whole list, when it has no more pages than there are names to look for. */
  async findMany(ctx, specs, limit) {
    const names = new Set(specs.map((s) => String(s.cluster_name)));
    const out = new Map<string, { id: string; remote: Obj } | undefined>();
    if (names.size < 2) return out;
    const listed = await limit(() => listPages(ctx, `${API}/list`, { page_size: 100 }, "clusters", names.size));
    const matches = matchByName(names, listed, (c) => (c.cluster_source === "JOB" ? undefined : String(c.cluster_name)));
    const libraries = [...matches.values()].some(Boolean) ? await limit(() => allLibraryStatuses(ctx)) : undefined;
    for (const [name, cluster] of matches) {
      if (!cluster) {
        out.set(name, undefined);
        continue;
      }
      const id = String(cluster.cluster_id);
      out.set(name, { id, remote: libraries === undefined ? cluster : { ...cluster, libraries: libraries.get(id) ?? [] } });
    }
    return out;
  },

  async find(ctx, spec) {
    const matches: Obj[] = [];
    for await (const c of ctx.client.paginate<Obj>(`${API}/list`, { page_size: 100 }, "clusters")) {
      if (c.cluster_name === spec.cluster_name && c.cluster_source !== "JOB") matches.push(c);
    }
    const hit = single(matches, `clusters named "${String(spec.cluster_name)}"`, (c) => String(c.cluster_id));
    if (!hit) return undefined;
    const id = String(hit.cluster_id);
    const remote = await read(ctx, id);
    return remote ? { id, remote } : undefined;
  },

  async create(ctx, spec) {
    const res = await ctx.client.post<{ cluster_id: string }>(`${API}/create`, settingsOf(spec));
    const libraries = Array.isArray(spec.libraries) ? spec.libraries : [];
    if (libraries.length > 0) await syncLibraries(ctx, res.cluster_id, libraries, []);
    return { id: res.cluster_id };
  },

  async update(ctx, id, spec, remote, changes) {
    const isLibraries = (path: string) => path.split(".")[0] === "libraries";
    if (changes === undefined || changes.some((c) => !isLibraries(c.path))) {
      await settle(ctx, id, remote);
      // `edit` replaces every setting, so sending it again is harmless.
      await ctx.client.post(`${API}/edit`, { ...settingsOf(spec), cluster_id: id }, { idempotent: true });
    }
    if (changes === undefined ? spec.libraries !== undefined : changes.some((c) => isLibraries(c.path))) {
      const desired = Array.isArray(spec.libraries) ? spec.libraries : [];
      const current = Array.isArray(remote.libraries) ? remote.libraries : [];
      await syncLibraries(ctx, id, desired, current);
    }
    return undefined;
  },

  async delete(ctx, id) {
    await deleting(ctx.client.post(`${API}/permanent-delete`, { cluster_id: id }, { idempotent: true }));
  },

  normalize(remote, previous) {
    const settings = isObject(remote.spec) ? { ...remote.spec } : omit(remote, OUTPUT_FIELDS);
    // Accepted on create and edit, but not every answer repeats it.
    if (settings.apply_policy_default_values === undefined && previous?.apply_policy_default_values !== undefined) {
      settings.apply_policy_default_values = previous.apply_policy_default_values;
    }
    return {
      ...settings,
      cluster_name: remote.cluster_name ?? settings.cluster_name,
      ...(Array.isArray(remote.libraries) ? { libraries: sortedSet(remote.libraries) } : {}),
    };
  },

  normalizeDesired(spec) {
    return Array.isArray(spec.libraries) ? { ...spec, libraries: sortedSet(spec.libraries) } : spec;
  },

  outputs: (id) => ({ cluster_id: id }),

  rules: {},
};
