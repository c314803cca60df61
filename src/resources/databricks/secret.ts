import type { Limit, ResourceAdapter } from "../../engine/types.js";
import { type DatabricksCtx, deleting, groupBy, type Obj, orMissing } from "./common.js";

/**
 * `databricks.secret`: one secret of a scope. The id is `<scope>/<key>` (neither may hold a slash).
 * The value is write-only: it is never read back, and Lakeforge compares the fingerprint of the
 * configured value with the one recorded at the last apply. The value is passed to the HTTP client
 * as a `Secret`, which reveals it only while writing the request body. A secret is read by listing
 * its scope, so a plan lists each scope once for all its secrets.
 */

const idOf = (scope: string, key: string) => `${scope}/${key}`;

function split(id: string): { scope: string; key: string } {
  const i = id.indexOf("/");
  return { scope: id.slice(0, i), key: id.slice(i + 1) };
}

/** The secrets of a scope (their keys, never values), or undefined when the scope does not exist. */
async function list(ctx: DatabricksCtx, scope: string): Promise<Obj[] | undefined> {
  const res = await orMissing(ctx.client.get<{ secrets?: Obj[] }>("/api/2.0/secrets/list", { scope }));
  return res && (res.secrets ?? []);
}

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  const { scope, key } = split(id);
  const hit = (await list(ctx, scope))?.find((s) => s.key === key);
  return hit ? { ...hit, scope } : undefined;
}

/** The secrets `ids`, by id, listing each of their scopes once. */
async function readByScope(ctx: DatabricksCtx, ids: readonly string[], limit: Limit): Promise<Map<string, Obj | undefined>> {
  const out = new Map<string, Obj | undefined>();
  const byScope = groupBy(ids, (id) => split(id).scope);
  await Promise.all(
    [...byScope].map(async ([scope, scopeIds]) => {
      const secrets = new Map(((await limit(() => list(ctx, scope))) ?? []).map((s) => [String(s.key), s]));
      for (const id of scopeIds) {
        const hit = secrets.get(split(id).key);
        out.set(id, hit ? { ...hit, scope } : undefined);
      }
    }),
  );
  return out;
}

async function put(ctx: DatabricksCtx, spec: Obj): Promise<void> {
  // `put` overwrites: replaying it is harmless.
  await ctx.client.post(
    "/api/2.0/secrets/put",
    { scope: spec.scope, key: spec.key, string_value: spec.string_value },
    { idempotent: true },
  );
}

export const secretAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.secret",
  naturalKey: (spec) => idOf(String(spec.scope), String(spec.key)),

  read,

  /** One list per scope answers for all its secrets. */
  readMany: (ctx, ids, limit) => readByScope(ctx, ids, limit),

  async findMany(ctx, specs, limit) {
    const found = await readByScope(
      ctx,
      specs.map((s) => idOf(String(s.scope), String(s.key))),
      limit,
    );
    return new Map([...found].map(([id, remote]) => [id, remote && { id, remote }]));
  },

  async find(ctx, spec) {
    const id = idOf(String(spec.scope), String(spec.key));
    const remote = await read(ctx, id);
    return remote ? { id, remote } : undefined;
  },

  async create(ctx, spec) {
    await put(ctx, spec);
    return { id: idOf(String(spec.scope), String(spec.key)) };
  },

  async update(ctx, _id, spec) {
    await put(ctx, spec);
    return undefined;
  },

  async delete(ctx, id) {
    const { scope, key } = split(id);
    await deleting(ctx.client.post("/api/2.0/secrets/delete", { scope, key }, { idempotent: true }));
  },

  normalize: (remote) => ({ scope: remote.scope, key: remote.key }),
  rules: { recreateOn: ["scope", "key"], sensitive: ["string_value"] },
};
