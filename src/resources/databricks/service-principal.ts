import type { ResourceAdapter } from "../../engine/types.js";
import { compact, type DatabricksCtx, deleting, type Obj, orMissing, removedFields, scimQuote, single } from "./common.js";
import { entitlementNames, entitlementOps, patchOp, SCIM } from "./scim.js";

/**
 * `databricks.service_principal` (SCIM). Found by application id when one is configured, else by
 * display name. Display name, `active`, external id and entitlements change in place (SCIM PatchOp);
 * a different application id is a different service principal, so changing it replaces it.
 */

const API = `${SCIM}/ServicePrincipals`;

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  return orMissing(ctx.client.get<Obj>(`${API}/${encodeURIComponent(id)}`));
}

export const servicePrincipalAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.service_principal",
  naturalKey: (spec) => String(spec.application_id ?? spec.display_name),

  read,

  async find(ctx, spec) {
    const byAppId = typeof spec.application_id === "string";
    const filter = byAppId
      ? `applicationId eq ${scimQuote(String(spec.application_id))}`
      : `displayName eq ${scimQuote(String(spec.display_name))}`;
    const docs = await ctx.client.listAll<Obj>(API, { filter }, "Resources");
    const hit = single(
      docs.filter((d) => (byAppId ? d.applicationId === spec.application_id : d.displayName === spec.display_name)),
      byAppId
        ? `service principals with application id ${String(spec.application_id)}`
        : `service principals named "${String(spec.display_name)}"`,
      (d) => String(d.id),
    );
    return hit ? { id: String(hit.id), remote: hit } : undefined;
  },

  async create(ctx, spec) {
    const doc = await ctx.client.post<Obj>(
      API,
      compact({
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal"],
        displayName: spec.display_name,
        applicationId: spec.application_id,
        active: spec.active,
        externalId: spec.external_id,
        entitlements: Array.isArray(spec.entitlements) ? spec.entitlements.map((value) => ({ value })) : undefined,
      }),
    );
    return { id: String(doc.id), remote: doc };
  },

  async update(ctx, id, spec, remote, changes) {
    const removed = removedFields(changes);
    const ops: Obj[] = [];
    if (remote.displayName !== spec.display_name) ops.push({ op: "replace", path: "displayName", value: spec.display_name });
    if (spec.active !== undefined && remote.active !== spec.active)
      ops.push({ op: "replace", path: "active", value: spec.active });
    if (spec.external_id !== undefined && remote.externalId !== spec.external_id) {
      ops.push({ op: "replace", path: "externalId", value: spec.external_id });
    } else if (removed.has("external_id")) ops.push({ op: "remove", path: "externalId" });
    if (Array.isArray(spec.entitlements) || removed.has("entitlements")) {
      ops.push(...entitlementOps((spec.entitlements ?? []) as string[], remote.entitlements));
    }
    if (ops.length === 0) return undefined;
    return ctx.client.patch<Obj>(`${API}/${encodeURIComponent(id)}`, patchOp(ops), { idempotent: true });
  },

  async delete(ctx, id) {
    await deleting(ctx.client.delete(`${API}/${encodeURIComponent(id)}`));
  },

  normalize: (remote) =>
    compact({
      display_name: remote.displayName,
      application_id: remote.applicationId,
      active: remote.active,
      external_id: remote.externalId,
      entitlements: entitlementNames(remote.entitlements),
    }),

  normalizeDesired: (spec) =>
    Array.isArray(spec.entitlements) ? { ...spec, entitlements: [...new Set(spec.entitlements as string[])].sort() } : spec,

  outputs: (_id, remote) => compact({ application_id: remote?.applicationId }),
  rules: { recreateOn: ["application_id"] },
};
