import type { ResourceAdapter } from "../../engine/types.js";
import { compact, type DatabricksCtx, deleting, type Obj, orMissing, pick, single } from "./common.js";

/**
 * `databricks.git_credential` (Git Credentials API): the calling identity's token for a git provider.
 * Found by provider (and name, when set). The personal access token is write-only: it is compared by
 * fingerprint with the value applied last, and sent again with every update.
 */

const API = "/api/2.0/git-credentials";
const FIELDS = ["git_provider", "git_username", "name", "is_default_for_provider"];

const sameProvider = (a: unknown, b: unknown) => String(a).toLowerCase() === String(b).toLowerCase();

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  return orMissing(ctx.client.get<Obj>(`${API}/${encodeURIComponent(id)}`));
}

function body(spec: Obj): Obj {
  return compact({
    git_provider: spec.git_provider,
    git_username: spec.git_username,
    personal_access_token: spec.personal_access_token,
    name: spec.name,
    is_default_for_provider: spec.is_default_for_provider,
  });
}

export const gitCredentialAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.git_credential",
  naturalKey: (spec) =>
    spec.name === undefined ? String(spec.git_provider) : `${String(spec.git_provider)}/${String(spec.name)}`,

  read,

  async find(ctx, spec) {
    const res = await ctx.client.get<{ credentials?: Obj[] }>(API);
    const matches = (res.credentials ?? []).filter(
      (c) => sameProvider(c.git_provider, spec.git_provider) && (spec.name === undefined || c.name === spec.name),
    );
    const hit = single(matches, `git credentials for ${String(spec.git_provider)}`, (c) => String(c.credential_id));
    return hit ? { id: String(hit.credential_id), remote: hit } : undefined;
  },

  async create(ctx, spec) {
    const res = await ctx.client.post<Obj>(API, body(spec));
    return { id: String(res.credential_id), remote: res };
  },

  async update(ctx, id, spec, _remote, changes) {
    const cleared = new Set((changes ?? []).filter((c) => c.after === undefined).map((c) => c.path));
    await ctx.client.patch(
      `${API}/${encodeURIComponent(id)}`,
      {
        ...body(spec),
        ...(cleared.has("name") ? { name: "" } : {}),
        ...(cleared.has("git_username") ? { git_username: "" } : {}),
      },
      { idempotent: true },
    );
    return undefined;
  },

  async delete(ctx, id) {
    await deleting(ctx.client.delete(`${API}/${encodeURIComponent(id)}`));
  },

  normalize: (remote) => pick(remote, FIELDS),
  outputs: (id) => ({ credential_id: Number(id) }),
  rules: {},
};
