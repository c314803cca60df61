import { UserError } from "../../lib/errors.js";
import { type DatabricksCtx, type Obj, scimQuote } from "./common.js";

/**
 * SCIM helpers shared by the group and service principal adapters: entitlements, PatchOp requests,
 * and members named by user name, group name or application id resolved to and from SCIM ids.
 */

export const SCIM = "/api/2.0/preview/scim/v2";
export const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/** A member as the configuration names it. */
export interface Member {
  user_name?: string;
  group_name?: string;
  service_principal_name?: string;
}

type MemberKind = "Users" | "Groups" | "ServicePrincipals";

const NAME_ATTRIBUTE: Record<MemberKind, string> = {
  Users: "userName",
  Groups: "displayName",
  ServicePrincipals: "applicationId",
};
const CHUNK = 50;

function kindOf(m: Member): [MemberKind, string] {
  if (m.user_name !== undefined) return ["Users", m.user_name];
  if (m.group_name !== undefined) return ["Groups", m.group_name];
  return ["ServicePrincipals", String(m.service_principal_name)];
}

function memberOf(kind: MemberKind, name: string): Member {
  if (kind === "Users") return { user_name: name.toLowerCase() };
  if (kind === "Groups") return { group_name: name };
  return { service_principal_name: name };
}

/** A member in comparison form (user names are case-insensitive). */
export const canonicalMember = (m: Member): Member => {
  const [kind, name] = kindOf(m);
  return memberOf(kind, name);
};

/** Entitlements (`[{value}]`) as a sorted list of names. */
export const entitlementNames = (v: unknown): string[] =>
  (Array.isArray(v) ? v : [])
    .map((e) => (typeof e === "string" ? e : String((e as Obj)?.value ?? "")))
    .filter((e) => e !== "")
    .sort();

/** Looks up `values` of `attribute` in one SCIM collection, `CHUNK` at a time; answers the matching documents. */
async function lookup(
  ctx: DatabricksCtx,
  kind: MemberKind,
  attribute: string,
  values: string[],
  attributes: string,
): Promise<Obj[]> {
  const out: Obj[] = [];
  const unique = [...new Set(values)];
  for (let i = 0; i < unique.length; i += CHUNK) {
    const filter = unique
      .slice(i, i + CHUNK)
      .map((v) => `${attribute} eq ${scimQuote(v)}`)
      .join(" or ");
    out.push(...(await ctx.client.listAll<Obj>(`${SCIM}/${kind}`, { filter, attributes }, "Resources")));
  }
  return out;
}

/** SCIM ids of configured members; a member that does not exist is an error naming it. */
export async function memberIds(ctx: DatabricksCtx, members: Member[]): Promise<string[]> {
  const byKind = new Map<MemberKind, string[]>();
  for (const m of members) {
    const [kind, name] = kindOf(m);
    byKind.set(kind, [...(byKind.get(kind) ?? []), name]);
  }
  const ids: string[] = [];
  for (const [kind, names] of byKind) {
    const attribute = NAME_ATTRIBUTE[kind];
    const docs = await lookup(ctx, kind, attribute, names, `id,${attribute}`);
    for (const name of names) {
      const hit = docs.find((d) =>
        kind === "Users" ? String(d[attribute]).toLowerCase() === name.toLowerCase() : d[attribute] === name,
      );
      if (!hit) {
        const what = { Users: "user", Groups: "group", ServicePrincipals: "service principal" }[kind];
        throw new UserError(`${what} ${name} does not exist in the workspace`, "create it first or fix the member's name");
      }
      ids.push(String(hit.id));
    }
  }
  return ids;
}

/** The configured form of a group's members (`[{value, $ref}]`), resolving ids to names. */
export async function memberNames(ctx: DatabricksCtx, members: unknown): Promise<(Member & { id: string })[]> {
  const list = (Array.isArray(members) ? members : []) as Obj[];
  const byKind = new Map<MemberKind, Obj[]>();
  for (const m of list) {
    const ref = String(m.$ref ?? "");
    const kind: MemberKind = ref.startsWith("Groups/")
      ? "Groups"
      : ref.startsWith("ServicePrincipals/")
        ? "ServicePrincipals"
        : "Users";
    byKind.set(kind, [...(byKind.get(kind) ?? []), m]);
  }
  const out: (Member & { id: string })[] = [];
  for (const [kind, items] of byKind) {
    const attribute = NAME_ATTRIBUTE[kind];
    const docs: Obj[] =
      kind === "Groups" && items.every((m) => typeof m.display === "string")
        ? items.map((m) => ({ id: m.value, displayName: m.display }))
        : await lookup(
            ctx,
            kind,
            "id",
            items.map((m) => String(m.value)),
            `id,${attribute}`,
          );
    for (const m of items) {
      const doc = docs.find((d) => String(d.id) === String(m.value));
      const name = doc?.[attribute];
      if (typeof name === "string") out.push({ ...memberOf(kind, name), id: String(m.value) });
    }
  }
  return out;
}

/** A PatchOp request body. */
export const patchOp = (operations: Obj[]) => ({ schemas: [PATCH_OP], Operations: operations });

/** PatchOp operations that make the entitlements exactly `want`. */
export function entitlementOps(want: string[], current: unknown): Obj[] {
  const wanted = new Set(want);
  const have = new Set(entitlementNames(current));
  const ops: Obj[] = [];
  const add = [...wanted].filter((e) => !have.has(e));
  if (add.length > 0) ops.push({ op: "add", path: "entitlements", value: add.map((value) => ({ value })) });
  for (const e of have) if (!wanted.has(e)) ops.push({ op: "remove", path: `entitlements[value eq ${scimQuote(e)}]` });
  return ops;
}
