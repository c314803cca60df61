import { invalid, type JsonObject, type Router } from "../http.js";
import type { AclEntry } from "../permissions.js";
import type { Workspace } from "../workspace.js";

/**
 * `/api/2.0/permissions/{request_object_type}/{request_object_id}`: GET, PUT (replace), PATCH (merge)
 * and `permissionLevels`. Object types are registered by the services that own the objects.
 */
export function register(r: Router, ws: Workspace): void {
  const base = "/api/2.0/permissions/:type/:id";

  const entries = (input: JsonObject): AclEntry[] => {
    const list = input.access_control_list ?? [];
    if (!Array.isArray(list)) throw invalid("access_control_list must be an array");
    return list.map((raw) => {
      const e = raw as Record<string, unknown>;
      if (typeof e.permission_level !== "string") throw invalid("Each access control entry needs a permission_level");
      const out: AclEntry = { permission_level: e.permission_level };
      if (typeof e.user_name === "string") out.user_name = e.user_name;
      if (typeof e.group_name === "string") out.group_name = e.group_name;
      if (typeof e.service_principal_name === "string") out.service_principal_name = e.service_principal_name;
      return out;
    });
  };

  const change = (mode: "replace" | "merge") => (c: Parameters<Parameters<Router["get"]>[1]>[0]) => {
    const { type, id } = resolve(c.params.type as string, c.params.id as string);
    const p = ws.permissions;
    p.describe(type, id); // 404 for a missing object
    const spec = p.spec(type);
    const manage = spec.levels.includes("CAN_MANAGE") ? "CAN_MANAGE" : (spec.levels[spec.levels.length - 1] as string);
    p.require(c.principal, type, id, manage, "change its permissions");
    const list = entries(c.input);
    for (const e of list) {
      if (e.user_name && !ws.identity.userByName(e.user_name))
        throw invalid(`Principal: UserName(${e.user_name}) does not exist`);
      if (e.group_name && !ws.identity.groupByName(e.group_name))
        throw invalid(`Principal: GroupName(${e.group_name}) does not exist`);
      if (e.service_principal_name && !ws.identity.servicePrincipalByAppId(e.service_principal_name)) {
        throw invalid(`Principal: ServicePrincipalName(${e.service_principal_name}) does not exist`);
      }
    }
    p.write(type, id, list, mode);
    return p.describe(type, id);
  };

  r.get(base, (c) => {
    const { type, id } = resolve(c.params.type as string, c.params.id as string);
    const described = ws.permissions.describe(type, id);
    const spec = ws.permissions.spec(type);
    if (!ws.permissions.has(c.principal, type, id, spec.levels[0] as string)) {
      ws.permissions.require(c.principal, type, id, spec.levels[0] as string, "read its permissions");
    }
    return described;
  });
  r.put(base, change("replace"));
  r.patch(base, change("merge"));
  r.get(`${base}/permissionLevels`, (c) => {
    const { type, id } = resolve(c.params.type as string, c.params.id as string);
    ws.permissions.describe(type, id);
    const spec = ws.permissions.spec(type);
    return {
      permission_levels: spec.levels.map((level) => ({ permission_level: level, description: describeLevel(level) })),
    };
  });

  /** Some clients use the singular or alternative spellings of object types. */
  function resolve(type: string, id: string): { type: string; id: string } {
    const aliases: Record<string, string> = {
      job: "jobs",
      cluster: "clusters",
      "cluster-policy": "cluster-policies",
      "instance-pool": "instance-pools",
      directory: "directories",
      notebook: "notebooks",
      file: "files",
      repo: "repos",
      experiment: "experiments",
      "registered-model": "registered-models",
    };
    return { type: aliases[type] ?? type, id };
  }
}

function describeLevel(level: string): string {
  return `Permission ${level.toLowerCase().replace(/_/g, " ")}`;
}
