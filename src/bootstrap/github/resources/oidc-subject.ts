import type { ResourceAdapter } from "../../../engine/types.js";
import { type GithubCtx, gh, ghMaybe } from "../context.js";
import { splitId, str, strings } from "./common.js";

/**
 * `github.oidc_subject`: the repository's customised OIDC subject claim (federated credentials match
 * on it). Spec: `{ owner, repo, claims }` (e.g. `["repo", "context"]`). Deleting restores GitHub's
 * default template. Id `owner/repo`.
 */

interface SubData {
  use_default: boolean;
  include_claim_keys?: string[];
}

const idOf = (spec: Record<string, unknown>) => `${str(spec.owner)}/${str(spec.repo)}`;

async function read(ctx: GithubCtx, id: string) {
  const [owner, repo] = splitId(id, 2, "github.oidc_subject") as [string, string];
  const d = await ghMaybe<SubData>(ctx, "GET /repos/{owner}/{repo}/actions/oidc/customization/sub", { owner, repo });
  if (!d) return undefined;
  return { owner, repo, claims: d.use_default ? [] : (d.include_claim_keys ?? []) };
}

async function put(ctx: GithubCtx, spec: Record<string, unknown>) {
  const [owner, repo] = splitId(idOf(spec), 2, "github.oidc_subject") as [string, string];
  await gh(ctx, "PUT /repos/{owner}/{repo}/actions/oidc/customization/sub", {
    owner,
    repo,
    use_default: false,
    include_claim_keys: strings(spec.claims),
  });
  return { owner, repo, claims: strings(spec.claims) };
}

export const oidcSubjectAdapter: ResourceAdapter<GithubCtx> = {
  kind: "github.oidc_subject",
  naturalKey: (spec) => idOf(spec).toLowerCase(),
  read,
  async find(ctx, spec) {
    const remote = await read(ctx, idOf(spec));
    // A repository on GitHub's default template has no customisation to adopt.
    return remote && remote.claims.length > 0 ? { id: idOf(spec), remote } : undefined;
  },
  async create(ctx, spec) {
    return { id: idOf(spec), remote: await put(ctx, spec) };
  },
  async update(ctx, _id, spec) {
    return put(ctx, spec);
  },
  async delete(ctx, id) {
    const [owner, repo] = splitId(id, 2, "github.oidc_subject") as [string, string];
    await gh(ctx, "PUT /repos/{owner}/{repo}/actions/oidc/customization/sub", { owner, repo, use_default: true });
  },
  rules: { recreateOn: ["owner", "repo"] },
};
