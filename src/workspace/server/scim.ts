import type { Router } from "../http.js";
import type { Principal } from "../identity.js";
import type { Workspace } from "../workspace.js";

const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";

/** SCIM identity endpoints. */
export function register(r: Router, ws: Workspace): void {
  r.get("/api/2.0/preview/scim/v2/Me", (c) => me(ws, c.principal));
}

function me(ws: Workspace, p: Principal) {
  const groups = ws.identity.groupsOf(p.id).map((name) => {
    const g = ws.identity.groupByName(name);
    return { display: name, value: g?.id, $ref: `Groups/${g?.id}`, type: "direct" };
  });
  if (p.kind === "user") {
    const u = ws.identity.users.get(p.id);
    return { ...u, groups, schemas: [USER_SCHEMA] };
  }
  const sp = ws.identity.servicePrincipals.get(p.id);
  return { ...sp, userName: sp?.applicationId, groups, schemas: [USER_SCHEMA] };
}
