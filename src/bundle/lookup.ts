import type { DatabricksClient } from "../clients/databricks/index.js";
import { UserError } from "../lib/errors.js";

/**
 * `lookup` variables: the id of a workspace object found by name, through the public APIs (the same
 * lists the Databricks CLI reads). Exactly one object must bear the name.
 */

type Obj = Record<string, unknown>;

interface Finder {
  path: string;
  items: string;
  query?: Record<string, unknown>;
  name: (o: Obj) => unknown;
  id: (o: Obj) => unknown;
}

const FINDERS: Record<string, Finder> = {
  cluster: { path: "/api/2.1/clusters/list", items: "clusters", name: (o) => o.cluster_name, id: (o) => o.cluster_id },
  cluster_policy: {
    path: "/api/2.0/policies/clusters/list",
    items: "policies",
    name: (o) => o.name,
    id: (o) => o.policy_id,
  },
  instance_pool: {
    path: "/api/2.0/instance-pools/list",
    items: "instance_pools",
    name: (o) => o.instance_pool_name,
    id: (o) => o.instance_pool_id,
  },
  job: {
    path: "/api/2.2/jobs/list",
    items: "jobs",
    name: (o) => (o.settings as Obj | undefined)?.name,
    id: (o) => o.job_id,
  },
  warehouse: { path: "/api/2.0/sql/warehouses", items: "warehouses", name: (o) => o.name, id: (o) => o.id },
  pipeline: { path: "/api/2.0/pipelines", items: "statuses", name: (o) => o.name, id: (o) => o.pipeline_id },
  metastore: { path: "/api/2.1/unity-catalog/metastores", items: "metastores", name: (o) => o.name, id: (o) => o.metastore_id },
  service_principal: {
    path: "/api/2.0/preview/scim/v2/ServicePrincipals",
    items: "Resources",
    name: (o) => o.displayName,
    id: (o) => o.applicationId,
  },
  query: { path: "/api/2.0/sql/queries", items: "results", name: (o) => o.display_name, id: (o) => o.id },
  alert: { path: "/api/2.0/sql/alerts", items: "results", name: (o) => o.display_name, id: (o) => o.id },
  dashboard: {
    path: "/api/2.0/lakeview/dashboards",
    items: "dashboards",
    name: (o) => o.display_name,
    id: (o) => o.dashboard_id,
  },
  notification_destination: {
    path: "/api/2.0/notification-destinations",
    items: "results",
    name: (o) => o.display_name,
    id: (o) => o.id,
  },
};

export async function lookupId(client: DatabricksClient, kind: string, name: string): Promise<string> {
  const f = FINDERS[kind];
  if (!f) throw new UserError(`lookup of a ${kind} is not supported`);
  const query: Record<string, unknown> = { ...f.query };
  if (kind === "job") query.name = name;
  if (kind === "service_principal") query.filter = `displayName eq "${name.replace(/"/g, '\\"')}"`;
  const matches: Obj[] = [];
  for await (const o of client.paginate<Obj>(f.path, query, f.items)) if (f.name(o) === name) matches.push(o);
  if (matches.length === 0) throw new UserError(`no ${kind.replace("_", " ")} named "${name}"`);
  if (matches.length > 1) throw new UserError(`${matches.length} ${kind.replace("_", " ")}s are named "${name}"`);
  return String(f.id(matches[0] as Obj));
}
