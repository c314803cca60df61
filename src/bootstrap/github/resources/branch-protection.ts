import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { type GithubCtx, gh, ghMaybe } from "../context.js";
import { str } from "./common.js";

/**
 * `github.branch_protection`: classic branch protection. Spec: `{ owner, repo, branch,
 * requiredApprovals, requireCodeOwnerReviews, dismissStaleReviews, enforceAdmins, requiredChecks }`.
 * Force pushes and deletions are always refused. Id `owner/repo:branch`.
 */

interface ProtectionData {
  required_status_checks?: { contexts?: string[] } | null;
  required_pull_request_reviews?: {
    required_approving_review_count?: number;
    require_code_owner_reviews?: boolean;
    dismiss_stale_reviews?: boolean;
  } | null;
  enforce_admins?: { enabled: boolean } | null;
}

const idOf = (spec: Record<string, unknown>) => `${str(spec.owner)}/${str(spec.repo)}:${str(spec.branch)}`;
const parse = (id: string) => {
  const m = /^([^/]+)\/([^/:]+):(.+)$/.exec(id);
  if (!m) throw new UserError(`github.branch_protection: malformed id ${id}`);
  return { owner: m[1] as string, repo: m[2] as string, branch: m[3] as string };
};

const remoteOf = (p: ReturnType<typeof parse>, d: ProtectionData) => ({
  ...p,
  requiredApprovals: d.required_pull_request_reviews?.required_approving_review_count ?? 0,
  requireCodeOwnerReviews: d.required_pull_request_reviews?.require_code_owner_reviews ?? false,
  dismissStaleReviews: d.required_pull_request_reviews?.dismiss_stale_reviews ?? false,
  enforceAdmins: d.enforce_admins?.enabled ?? false,
  requiredChecks: [...(d.required_status_checks?.contexts ?? [])].sort(),
});

async function put(ctx: GithubCtx, spec: Record<string, unknown>) {
  const p = parse(idOf(spec));
  const checks = Array.isArray(spec.requiredChecks) ? (spec.requiredChecks as string[]) : [];
  const { data } = await gh<ProtectionData>(ctx, "PUT /repos/{owner}/{repo}/branches/{branch}/protection", {
    ...p,
    required_status_checks: checks.length > 0 ? { strict: true, contexts: checks } : null,
    enforce_admins: spec.enforceAdmins === true,
    required_pull_request_reviews: {
      required_approving_review_count: Number(spec.requiredApprovals ?? 1),
      require_code_owner_reviews: spec.requireCodeOwnerReviews === true,
      dismiss_stale_reviews: spec.dismissStaleReviews === true,
    },
    restrictions: null,
    allow_force_pushes: false,
    allow_deletions: false,
  });
  return remoteOf(p, data);
}

export const branchProtectionAdapter: ResourceAdapter<GithubCtx> = {
  kind: "github.branch_protection",
  naturalKey: (spec) => idOf(spec).toLowerCase(),
  async read(ctx, id) {
    const p = parse(id);
    const d = await ghMaybe<ProtectionData>(ctx, "GET /repos/{owner}/{repo}/branches/{branch}/protection", p);
    return d ? remoteOf(p, d) : undefined;
  },
  async find(ctx, spec) {
    const remote = await branchProtectionAdapter.read(ctx, idOf(spec));
    return remote ? { id: idOf(spec), remote } : undefined;
  },
  async create(ctx, spec) {
    return { id: idOf(spec), remote: await put(ctx, spec) };
  },
  async update(ctx, _id, spec) {
    return put(ctx, spec);
  },
  async delete(ctx, id) {
    await gh(ctx, "DELETE /repos/{owner}/{repo}/branches/{branch}/protection", parse(id));
  },
  normalizeDesired: (spec) => ({
    ...spec,
    requiredApprovals: Number(spec.requiredApprovals ?? 1),
    requireCodeOwnerReviews: spec.requireCodeOwnerReviews === true,
    dismissStaleReviews: spec.dismissStaleReviews === true,
    enforceAdmins: spec.enforceAdmins === true,
    requiredChecks: [...((spec.requiredChecks as string[] | undefined) ?? [])].sort(),
  }),
  rules: { recreateOn: ["owner", "repo", "branch"] },
};
