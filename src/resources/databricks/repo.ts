import type { ResourceAdapter } from "../../engine/types.js";
import {
  canonicalWorkspacePath,
  compact,
  type DatabricksCtx,
  deleting,
  mkdirs,
  type Obj,
  orMissing,
  parentPath,
  single,
} from "./common.js";

/**
 * `databricks.repo`: a Git folder (Repos API) checked out on a branch or a tag. Created with
 * `POST /api/2.0/repos`, then moved to the configured branch or tag; updates check out the branch or
 * tag again (`PATCH`). The API does not say which tag is checked out: while the repo is on no branch,
 * the tag applied last is taken as the current one. Paths compare without the `/Workspace` prefix.
 * A change of URL, provider or path replaces the Git folder.
 */

const API = "/api/2.0/repos";

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  return orMissing(ctx.client.get<Obj>(`${API}/${encodeURIComponent(id)}`));
}

/** The checkout request for the spec's branch or tag, when one is set. */
function checkout(spec: Obj): Obj | undefined {
  if (typeof spec.tag === "string") return { tag: spec.tag };
  if (typeof spec.branch === "string") return { branch: spec.branch };
  return undefined;
}

export const repoAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.repo",
  naturalKey: (spec) => canonicalWorkspacePath(String(spec.path)),

  read,

  async find(ctx, spec) {
    const path = canonicalWorkspacePath(String(spec.path));
    const matches: Obj[] = [];
    // The Repos API pages with `next_page_token` as the request parameter too.
    let token: string | undefined;
    const seen = new Set<string>();
    do {
      const res = await ctx.client.get<{ repos?: Obj[]; next_page_token?: string }>(
        API,
        compact({ path_prefix: String(spec.path), next_page_token: token }),
      );
      for (const r of res.repos ?? []) if (canonicalWorkspacePath(String(r.path)) === path) matches.push(r);
      token = res.next_page_token;
      if (token && seen.has(token)) break;
      if (token) seen.add(token);
    } while (token);
    const hit = single(matches, `Git folders at ${path}`, (r) => String(r.id));
    return hit ? { id: String(hit.id), remote: hit } : undefined;
  },

  async create(ctx, spec) {
    await mkdirs(ctx, parentPath(String(spec.path)));
    const created = await ctx.client.post<Obj>(
      API,
      compact({ url: spec.url, provider: spec.provider, path: spec.path, sparse_checkout: spec.sparse_checkout }),
    );
    const id = String(created.id);
    const ref = checkout(spec);
    if (ref && !(ref.branch !== undefined && created.branch === ref.branch)) {
      await ctx.client.patch(`${API}/${encodeURIComponent(id)}`, ref, { idempotent: true });
      return { id, remote: (await read(ctx, id)) ?? created };
    }
    return { id, remote: created };
  },

  async update(ctx, id, spec, remote) {
    const body: Obj = { ...(checkout(spec) ?? (typeof remote.branch === "string" ? { branch: remote.branch } : {})) };
    if (spec.sparse_checkout !== undefined) body.sparse_checkout = spec.sparse_checkout;
    await ctx.client.patch(`${API}/${encodeURIComponent(id)}`, body, { idempotent: true });
    return read(ctx, id);
  },

  async delete(ctx, id) {
    await deleting(ctx.client.delete(`${API}/${encodeURIComponent(id)}`));
  },

  normalize(remote, previous) {
    const onBranch = typeof remote.branch === "string" && remote.branch !== "";
    return compact({
      url: remote.url,
      provider: remote.provider,
      path: typeof remote.path === "string" ? canonicalWorkspacePath(remote.path) : undefined,
      branch: onBranch ? remote.branch : undefined,
      tag: onBranch ? undefined : (remote.tag ?? previous?.tag),
      sparse_checkout: remote.sparse_checkout,
    });
  },

  normalizeDesired: (spec) => (typeof spec.path === "string" ? { ...spec, path: canonicalWorkspacePath(spec.path) } : spec),

  outputs: (_id, remote) => compact({ head_commit_id: remote?.head_commit_id }),
  rules: { recreateOn: ["url", "provider", "path"] },
};
