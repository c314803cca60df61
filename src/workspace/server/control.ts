import { denied, int, notFound, type RequestContext, type Router, requireStr } from "../http.js";
import type { Workspace } from "../workspace.js";

/**
 * Test control under `/__lakeforge/`: fault rules, rate limits, the request log, extra tokens, reset.
 * Every route but `health` needs a workspace admin's token. Faults and rate limits never apply here.
 */
export function register(r: Router, ws: Workspace): void {
  const admin = (c: RequestContext) => {
    if (!c.principal.admin) throw denied("Only workspace admins may use the test control API");
  };

  r.get("/__lakeforge/health", () => ({ status: "ok", workspace_id: ws.workspaceId }), { auth: false });

  r.get("/__lakeforge/faults", (c) => {
    admin(c);
    return { faults: ws.faults.listFaults() };
  });
  r.post("/__lakeforge/faults", (c) => {
    admin(c);
    return ws.faults.addFault(c.input);
  });
  r.delete("/__lakeforge/faults", (c) => {
    admin(c);
    for (const f of ws.faults.listFaults()) ws.faults.removeFault(f.id);
    return {};
  });
  r.delete("/__lakeforge/faults/:id", (c) => {
    admin(c);
    if (!ws.faults.removeFault(c.params.id as string)) throw notFound(`Fault ${c.params.id} does not exist`);
    return {};
  });

  r.get("/__lakeforge/rate-limits", (c) => {
    admin(c);
    return { rate_limits: ws.faults.listRateLimits() };
  });
  r.post("/__lakeforge/rate-limits", (c) => {
    admin(c);
    return ws.faults.addRateLimit(c.input);
  });
  r.delete("/__lakeforge/rate-limits", (c) => {
    admin(c);
    for (const l of ws.faults.listRateLimits()) ws.faults.removeRateLimit(l.id);
    return {};
  });
  r.delete("/__lakeforge/rate-limits/:id", (c) => {
    admin(c);
    if (!ws.faults.removeRateLimit(c.params.id as string)) throw notFound(`Rate limit ${c.params.id} does not exist`);
    return {};
  });

  r.get("/__lakeforge/requests", (c) => {
    admin(c);
    const since = int(c.input, "since") ?? 0;
    return { requests: ws.requestLog.since(since), last_seq: ws.requestLog.lastSeq };
  });
  r.delete("/__lakeforge/requests", (c) => {
    admin(c);
    ws.requestLog.clear();
    return {};
  });

  /** A personal access token for any user or service principal, for permission tests. */
  r.post("/__lakeforge/tokens", (c) => {
    admin(c);
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
  r.post("/__lakeforge/reset", (c) => {
    admin(c);
    ws.faults.clear();
    ws.requestLog.clear();
    return {};
  });
}
