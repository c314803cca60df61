import type { ResourceAdapter } from "../../engine/types.js";
import {
  compact,
  type DatabricksCtx,
  deleting,
  type Obj,
  orMissing,
  removedFields,
  scimQuote,
  single,
  sortedSet,
} from "./common.js";
import { canonicalMember, entitlementNames, entitlementOps, type Member, memberIds, memberNames, patchOp, SCIM } from "./scim.js";

/**
 * `databricks.group`: a workspace group (SCIM). Members are configured by user name, group name or
 * service principal application id and resolved to SCIM ids; they are compared by name, in canonical
 * order, as are the entitlements. Updates are SCIM PatchOp requests that add and remove exactly the
 * members and entitlements that differ, so memberships the configuration does not manage stay only
 * while `members` is not configured.
 */

const API = `${SCIM}/Groups`;

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  const doc = await orMissing(ctx.client.get<Obj>(`${API}/${encodeURIComponent(id)}`));
  if (!doc) return undefined;
  return { ...doc, member_names: await memberNames(ctx, doc.members) };
}

const configured = (spec: Obj): Member[] => (Array.isArray(spec.members) ? (spec.members as Member[]) : []);
const memberKey = (m: Member) => JSON.stringify(canonicalMember(m));

export const groupAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.group",
  naturalKey: (spec) => String(spec.display_name),

  read,

  async find(ctx, spec) {
    const docs = await ctx.client.listAll<Obj>(
      API,
      { filter: `displayName eq ${scimQuote(String(spec.display_name))}`, attributes: "id,displayName" },
      "Resources",
    );
    const hit = single(
      docs.filter((d) => d.displayName === spec.display_name),
      `groups named "${String(spec.display_name)}"`,
      (d) => String(d.id),
    );
    if (!hit) return undefined;
    const remote = await read(ctx, String(hit.id));
    return remote ? { id: String(hit.id), remote } : undefined;
  },

  async create(ctx, spec) {
    const ids = await memberIds(ctx, configured(spec));
    const doc = await ctx.client.post<Obj>(
      API,
      compact({
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        displayName: spec.display_name,
        externalId: spec.external_id,
        entitlements: Array.isArray(spec.entitlements) ? spec.entitlements.map((value) => ({ value })) : undefined,
        members: ids.length > 0 ? ids.map((value) => ({ value })) : undefined,
      }),
    );
    return { id: String(doc.id) };
  },

  async update(ctx, id, spec, remote, changes) {
    const removed = removedFields(changes);
    const ops: Obj[] = [];
    if (remote.displayName !== spec.display_name) ops.push({ op: "replace", path: "displayName", value: spec.display_name });
    if (spec.external_id !== undefined && remote.externalId !== spec.external_id) {
      ops.push({ op: "replace", path: "externalId", value: spec.external_id });
    } else if (removed.has("external_id")) ops.push({ op: "remove", path: "externalId" });

    if (Array.isArray(spec.entitlements) || removed.has("entitlements")) {
      ops.push(...entitlementOps((spec.entitlements ?? []) as string[], remote.entitlements));
    }

    if (Array.isArray(spec.members) || removed.has("members")) {
      const want = configured(spec);
      const have = (remote.member_names ?? []) as (Member & { id: string })[];
      const haveKeys = new Set(have.map(memberKey));
      const wantKeys = new Set(want.map(memberKey));
      const add = await memberIds(
        ctx,
        want.filter((m) => !haveKeys.has(memberKey(m))),
      );
      if (add.length > 0) ops.push({ op: "add", path: "members", value: add.map((value) => ({ value })) });
      for (const m of have) {
        if (!wantKeys.has(memberKey(m))) ops.push({ op: "remove", path: `members[value eq ${scimQuote(m.id)}]` });
      }
    }
    if (ops.length === 0) return undefined;
    // Each operation sets or removes a value: replaying the request is harmless.
    await ctx.client.patch(`${API}/${encodeURIComponent(id)}`, patchOp(ops), { idempotent: true });
    return undefined;
  },

  async delete(ctx, id) {
    await deleting(ctx.client.delete(`${API}/${encodeURIComponent(id)}`));
  },

  normalize: (remote) =>
    compact({
      display_name: remote.displayName,
      external_id: remote.externalId,
      entitlements: entitlementNames(remote.entitlements),
      members: sortedSet(((remote.member_names ?? []) as (Member & { id: string })[]).map(({ id: _id, ...m }) => m)),
    }),

  normalizeDesired: (spec) => ({
    ...spec,
    ...(Array.isArray(spec.entitlements) ? { entitlements: [...new Set(spec.entitlements as string[])].sort() } : {}),
    ...(Array.isArray(spec.members) ? { members: sortedSet((spec.members as Member[]).map(canonicalMember)) } : {}),
  }),

  rules: {},
};
