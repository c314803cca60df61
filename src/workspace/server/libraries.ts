import { ApiError, invalid, type JsonObject, type Router, requireStr } from "../http.js";
import type { Workspace } from "../workspace.js";
import { getCluster } from "./clusters.js";

/**
 * Libraries API (`/api/2.0/libraries/...`): what is installed on each all-purpose cluster.
 * Libraries are recorded, not downloaded: a library on a running cluster is INSTALLED at once, on a
 * stopped one it is INSTALLED when it next starts (reported as PENDING until then); uninstalling marks
 * it UNINSTALL_ON_RESTART, as the real service does, and it goes away on the next start.
 */

interface LibraryEntry {
  library: JsonObject;
  status: "PENDING" | "INSTALLED" | "UNINSTALL_ON_RESTART";
  /** When the entry last changed (epoch ms): a (re)start after it settles PENDING and UNINSTALL_ON_RESTART. */
  changed: number;
}

const LIBRARY_KINDS = ["jar", "egg", "whl", "pypi", "maven", "cran", "requirements"] as const;

/** A stable key for a library spec, whatever the order of its fields. */
function keyOf(lib: JsonObject): string {
  const canonical = (v: unknown): unknown =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v as JsonObject)
            .sort()
            .map((k) => [k, canonical((v as JsonObject)[k])]),
        )
      : v;
  return JSON.stringify(canonical(lib));
}

function checkLibraries(input: JsonObject): JsonObject[] {
  const list = input.libraries;
  if (!Array.isArray(list) || list.length === 0) throw invalid("Missing required field: libraries");
  return list.map((raw, i) => {
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw invalid(`libraries[${i}] must be an object`);
    const lib = raw as JsonObject;
    const kinds = Object.keys(lib).filter((k) => (LIBRARY_KINDS as readonly string[]).includes(k));
    if (kinds.length !== 1 || Object.keys(lib).length !== 1) {
      throw invalid(`libraries[${i}] must have exactly one of ${LIBRARY_KINDS.join(", ")}`);
    }
    return lib;
  });
}

export function register(r: Router, ws: Workspace): void {
  const store = ws.store.collection<LibraryEntry[]>("cluster_libraries");

  const cluster = (id: string) => {
    const c = getCluster(ws, id);
    if (!c) throw invalid(`Cluster ${id} does not exist`);
    return c;
  };
  /** The entries as of the cluster's last (re)start: pending ones installed, uninstalled ones gone. */
  const statusOf = (id: string) => {
    const c = cluster(id);
    const startedAt = Math.max(c.start_time, c.last_restarted_time ?? 0);
    const running = c.state === "RUNNING";
    return (store.get(id) ?? [])
      .filter((e) => !(e.status === "UNINSTALL_ON_RESTART" && running && startedAt > e.changed))
      .map((e) => ({
        library: e.library,
        status: e.status === "PENDING" && running ? "INSTALLED" : e.status,
        is_library_for_all_clusters: false,
      }));
  };
  const requireManage = (principal: Parameters<typeof ws.permissions.require>[0], id: string) =>
    ws.permissions.require(principal, "clusters", id, "CAN_MANAGE", "change its libraries");

  r.post("/api/2.0/libraries/install", (c) => {
    const id = requireStr(c.input, "cluster_id");
    const running = cluster(id).state === "RUNNING";
    requireManage(c.principal, id);
    const libraries = checkLibraries(c.input);
    const current = [...(store.get(id) ?? [])];
    for (const lib of libraries) {
      const k = keyOf(lib);
      const i = current.findIndex((e) => keyOf(e.library) === k);
      const entry: LibraryEntry = { library: lib, status: running ? "INSTALLED" : "PENDING", changed: Date.now() };
      if (i === -1) current.push(entry);
      else if (current[i]?.status === "UNINSTALL_ON_RESTART") current[i] = entry;
    }
    store.set(id, current);
    return {};
  });

  r.post("/api/2.0/libraries/uninstall", (c) => {
    const id = requireStr(c.input, "cluster_id");
    cluster(id);
    requireManage(c.principal, id);
    const keys = new Set(checkLibraries(c.input).map(keyOf));
    const current = (store.get(id) ?? []).map((e) =>
      keys.has(keyOf(e.library)) ? { ...e, status: "UNINSTALL_ON_RESTART" as const, changed: Date.now() } : e,
    );
    store.set(id, current);
    return {};
  });

  r.get("/api/2.0/libraries/cluster-status", (c) => {
    const id = requireStr(c.input, "cluster_id");
    cluster(id);
    if (!ws.permissions.has(c.principal, "clusters", id, "CAN_ATTACH_TO")) {
      throw new ApiError(403, "PERMISSION_DENIED", `${c.principal.name} does not have permission to see cluster ${id}`);
    }
    return { cluster_id: id, library_statuses: statusOf(id) };
  });

  r.get("/api/2.0/libraries/all-cluster-statuses", (c) => ({
    statuses: [...store.keys()]
      .filter((id) => getCluster(ws, id) && ws.permissions.has(c.principal, "clusters", id, "CAN_ATTACH_TO"))
      .map((id) => ({ cluster_id: id, library_statuses: statusOf(id) })),
  }));
}
