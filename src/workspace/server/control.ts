import { denied, type Handler, int, type JsonObject, notFound, type Router, requireStr } from "../http.js";
import type { Workspace } from "../workspace.js";

/**
 * Test control under `/__lakeforge/`: fault rules, rate limits, the request log, extra tokens, reset.
 * Every route but `health` needs a workspace admin's token. Faults and rate limits never apply here.
 */
export function register(r: Router, ws: Workspace): void {
  const adminRoute = (method: string, path: string, handler: Handler) =>
    r.add(method, path, (c) => {
      if (!c.principal.admin) throw denied("Only workspace admins may use the test control API");
      return handler(c);
    });

  r.get("/__lakeforge/health", () => ({ status: "ok", workspace_id: ws.workspaceId }), { auth: false });

  /** List, add, clear and delete-one routes for one kind of rule: faults or rate limits. */
  const ruleRoutes = (
    path: string,
    listKey: string,
    label: string,
    rules: { list(): { id: string }[]; add(input: JsonObject): unknown; remove(id: string): boolean },
  ) => {
    adminRoute("GET", path, () => ({ [listKey]: rules.list() }));
    adminRoute("POST", path, (c) => rules.add(c.input));
    adminRoute("DELETE", path, () => {
      for (const rule of rules.list()) rules.remove(rule.id);
      return {};
    });
    adminRoute("DELETE", `${path}/:id`, (c) => {
      if (!rules.remove(c.params.id as string)) throw notFound(`${label} ${c.params.id} does not exist`);
      return {};
    });
  };
  const faults = ws.faults;
  ruleRoutes("/__lakeforge/faults", "faults", "Fault", {
    list: () => faults.listFaults(),
    add: (input) => faults.addFault(input),
    remove: (id) => faults.removeFault(id),
  });
  ruleRoutes("/__lakeforge/rate-limits", "rate_limits", "Rate limit", {
    list: () => faults.listRateLimits(),
    add: (input) => faults.addRateLimit(input),
    remove: (id) => faults.removeRateLimit(id),
  });

  adminRoute("GET", "/__lakeforge/requests", (c) => {
    const since = int(c.input, "since") ?? 0;
    return { requests: ws.requestLog.since(since), last_seq: ws.requestLog.lastSeq };
  });
  adminRoute("DELETE", "/__lakeforge/requests", () => {
    ws.requestLog.clear();
    return {};
  });

  /** A personal access token for any user or service principal, for permission tests. */
  adminRoute("POST", "/__lakeforge/tokens", (c) => {
    const userName = typeof c.input.user_name === "string" ? c.input.user_name : undefined;
    const target = userName
      ? ws.identity.userByName(userName)
      : ws.identity.servicePrincipalByAppId(requireStr(c.input, "application_id"));
    if (!target) throw notFound(`${userName ? "User" : "Service principal"} does not exist`);
    const { value, record } = ws.identity.issueToken(
      { kind: userName ? "user" : "service_principal", id: target.id },
      { comment: "issued through the test control API", createdById: c.principal.id },
    );
    return { token_value: value, token_id: record.token_id };
  });

  /** Clears faults, rate limits and the request log. */
  adminRoute("POST", "/__lakeforge/reset", () => {
    ws.faults.clear();
    ws.requestLog.clear();
    return {};
  });
}
