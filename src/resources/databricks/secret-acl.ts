import type { Limit, ResourceAdapter } from "../../engine/types.js";
import { type DatabricksCtx, deleting, groupBy, type Obj, orMissing } from "./common.js";

/**
 * `databricks.secret_acl`: one principal's permission (READ, WRITE or MANAGE) on a secret scope. The
 * id is `<scope>/<principal>` (scope names hold no slash).
 */

const idOf = (scope: string, principal: string) => `${scope}/${principal}`;

function split(id: string): { scope: string; principal: string } {
  const i = id.indexOf("/");
  return { scope: id.slice(0, i), principal: id.slice(i + 1) };
}

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  const { scope, principal } = split(id);
  const acl = await orMissing(ctx.client.get<Obj>("/api/2.0/secrets/acls/get", { scope, principal }));
  return acl ? { ...acl, scope } : undefined;
}

/** A scope's ACLs by principal, or undefined when the scope does not exist. */
async function list(ctx: DatabricksCtx, scope: string): Promise<Map<string, Obj> | undefined> {
  const res = await orMissing(ctx.client.get<{ items?: Obj[] }>("/api/2.0/secrets/acls/list", { scope }));
  return res && new Map((res.items ?? []).map((acl) => [String(acl.principal), acl]));
}

/** The ACLs `ids`, by id, listing each scope that holds two or more of them once (the others are left out). */
async function readByScope(ctx: DatabricksCtx, ids: readonly string[], limit: Limit): Promise<Map<string, Obj | undefined>> {
  const out = new Map<string, Obj | undefined>();
  const byScope = groupBy(ids, (id) => split(id).scope);
  await Promise.all(
    [...byScope]
      .filter(([, scopeIds]) => new Set(scopeIds).size > 1)
      .map(async ([scope, scopeIds]) => {
        const acls = await limit(() => list(ctx, scope));
        for (const id of scopeIds) {
          const acl = acls?.get(split(id).principal);
          out.set(id, acl ? { ...acl, scope } : undefined);
        }
      }),
  );
  return out;
}

async function put(ctx: DatabricksCtx, spec: Obj): Promise<void> {
  await ctx.client.post(
    "/api/2.0/secrets/acls/put",
    { scope: spec.scope, principal: spec.principal, permission: spec.permission },
    { idempotent: true },
  );
}

export const secretAclAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.secret_acl",
  naturalKey: (spec) => idOf(String(spec.scope), String(spec.principal)),

  read,

  /** One list per scope holding two or more of the ACLs; a single ACL is read by itself. */
  readMany: (ctx, ids, limit) => readByScope(ctx, ids, limit),

  async findMany(ctx, specs, limit) {
    const found = await readByScope(
      ctx,
      specs.map((s) => idOf(String(s.scope), String(s.principal))),
      limit,
    );
    return new Map([...found].map(([id, remote]) => [id, remote && { id, remote }]));
  },

  async find(ctx, spec) {
    const id = idOf(String(spec.scope), String(spec.principal));
    const remote = await read(ctx, id);
    return remote ? { id, remote } : undefined;
  },

  async create(ctx, spec) {
    await put(ctx, spec);
    return { id: idOf(String(spec.scope), String(spec.principal)) };
  },

  async update(ctx, _id, spec) {
    await put(ctx, spec);
    return undefined;
  },

  async delete(ctx, id) {
    const { scope, principal } = split(id);
    await deleting(ctx.client.post("/api/2.0/secrets/acls/delete", { scope, principal }, { idempotent: true }));
  },

  normalize: (remote) => ({ scope: remote.scope, principal: remote.principal, permission: remote.permission }),
  rules: { recreateOn: ["scope", "principal"] },
};
