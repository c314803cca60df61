import type { ResourceAdapter } from "../../engine/types.js";
import { type DatabricksCtx, deleting, type Obj, orMissing } from "./common.js";

/**
 * `databricks.secret`: one secret of a scope. The id is `<scope>/<key>` (neither may hold a slash).
 * The value is write-only: it is never read back, and Lakeforge compares the fingerprint of the
 * configured value with the one recorded at the last apply. The value is passed to the HTTP client
 * as a `Secret`, which reveals it only while writing the request body.
 */

const idOf = (scope: string, key: string) => `${scope}/${key}`;

function split(id: string): { scope: string; key: string } {
  const i = id.indexOf("/");
  return { scope: id.slice(0, i), key: id.slice(i + 1) };
}

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  const { scope, key } = split(id);
  const res = await orMissing(ctx.client.get<{ secrets?: Obj[] }>("/api/2.0/secrets/list", { scope }));
  const hit = res?.secrets?.find((s) => s.key === key);
  return hit ? { ...hit, scope } : undefined;
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
