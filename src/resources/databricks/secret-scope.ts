import type { ResourceAdapter } from "../../engine/types.js";
import { compact, type DatabricksCtx, deleting, type Obj } from "./common.js";

/**
 * `databricks.secret_scope` (Secrets API). The id is the scope's name. Nothing about a scope can be
 * changed in place: a change of name, backend or Key Vault replaces it (with its secrets).
 * `initial_manage_principal` is read back from the last applied spec, as the API never returns it.
 * The Secrets API reads a scope only by listing them all: one list answers a plan's reads.
 */

async function list(ctx: DatabricksCtx): Promise<Obj[]> {
  const res = await ctx.client.get<{ scopes?: Obj[] }>("/api/2.0/secrets/scopes/list");
  return res.scopes ?? [];
}

async function read(ctx: DatabricksCtx, name: string): Promise<Obj | undefined> {
  return (await list(ctx)).find((s) => s.name === name);
}

export const secretScopeAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.secret_scope",
  naturalKey: (spec) => String(spec.name),

  read,

  /** One list answers for every scope. */
  async readMany(ctx, ids, limit) {
    const scopes = new Map((await limit(() => list(ctx))).map((s) => [String(s.name), s]));
    return new Map(ids.map((id) => [id, scopes.get(id)]));
  },

  async findMany(ctx, specs, limit) {
    const scopes = new Map((await limit(() => list(ctx))).map((s) => [String(s.name), s]));
    return new Map(
      specs.map((spec) => {
        const remote = scopes.get(String(spec.name));
        return [String(spec.name), remote && { id: String(spec.name), remote }];
      }),
    );
  },

  async find(ctx, spec) {
    const remote = await read(ctx, String(spec.name));
    return remote ? { id: String(spec.name), remote } : undefined;
  },

  async create(ctx, spec) {
    await ctx.client.post(
      "/api/2.0/secrets/scopes/create",
      compact({
        scope: spec.name,
        scope_backend_type: spec.backend_type,
        backend_azure_keyvault: spec.keyvault_metadata,
        initial_manage_principal: spec.initial_manage_principal,
      }),
    );
    return { id: String(spec.name) };
  },

  async update(_ctx, _id, _spec, remote) {
    // Every field forces a replacement; nothing is left to change in place.
    return remote;
  },

  async delete(ctx, id) {
    await deleting(ctx.client.post("/api/2.0/secrets/scopes/delete", { scope: id }, { idempotent: true }));
  },

  normalize: (remote, previous) =>
    compact({
      name: remote.name,
      backend_type: remote.backend_type,
      keyvault_metadata: remote.keyvault_metadata,
      initial_manage_principal: previous?.initial_manage_principal,
    }),

  rules: { recreateOn: ["name", "backend_type", "keyvault_metadata", "initial_manage_principal"] },
};
