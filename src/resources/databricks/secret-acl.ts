import type { ResourceAdapter } from "../../engine/types.js";
import { type DatabricksCtx, deleting, type Obj, orMissing } from "./common.js";

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
