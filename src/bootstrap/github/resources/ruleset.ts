import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { type GithubCtx, gh, ghList, ghMaybe } from "../context.js";
import { sorted, splitId, str, strings } from "./common.js";

/**
 * `github.ruleset`: a repository ruleset protecting one branch, GitHub's current form of branch
 * protection (it also works for repositories of a user account). Spec: `{ owner, repo, branch, name,
 * requiredApprovals, requireCodeOwnerReviews, dismissStaleReviews, enforceAdmins, requiredChecks }`.
 * The ruleset always requires a pull request and refuses force pushes and deletion; with
 * `enforceAdmins: false` repository admins may bypass it. Found by its name; an equal ruleset is never
 * written, a different one is replaced in place (PUT). Id `owner/repo/<ruleset id>`.
 */

/** Names of the rulesets a bootstrap makes: this prefix and the branch. */
export const RULESET_PREFIX = "lakeforge: ";

/** The repository role of admins, as a ruleset's bypass actor names it. */
const ADMIN_ROLE_ID = 5;

interface Rule {
  type: string;
  parameters?: Record<string, unknown>;
}

interface RulesetData {
  id: number;
  name: string;
  target?: string;
  source_type?: string;
  enforcement: string;
  bypass_actors?: { actor_id?: number | null; actor_type: string; bypass_mode?: string }[];
  conditions?: { ref_name?: { include?: string[]; exclude?: string[] } } | null;
  rules?: Rule[];
}

const parse = (id: string) => {
  const [owner, repo, rid] = splitId(id, 3, "github.ruleset") as [string, string, string];
  if (!/^\d+$/.test(rid)) throw new UserError(`github.ruleset: malformed id ${id}`);
  return { owner, repo, ruleset_id: Number(rid) };
};

function remoteOf(owner: string, repo: string, d: RulesetData): Record<string, unknown> {
  const rules = d.rules ?? [];
  const pr = rules.find((r) => r.type === "pull_request")?.parameters ?? {};
  const checks = rules.find((r) => r.type === "required_status_checks")?.parameters ?? {};
  const include = d.conditions?.ref_name?.include ?? [];
  const bypass = d.bypass_actors ?? [];
  return {
    owner,
    repo,
    name: d.name,
    branch: include.length === 1 ? str(include[0]).replace(/^refs\/heads\//, "") : include.join(","),
    active: d.enforcement === "active",
    pullRequest: rules.some((r) => r.type === "pull_request"),
    blocksForcePushes: rules.some((r) => r.type === "non_fast_forward"),
    blocksDeletion: rules.some((r) => r.type === "deletion"),
    requiredApprovals: Number(pr.required_approving_review_count ?? 0),
    requireCodeOwnerReviews: pr.require_code_owner_review === true,
    dismissStaleReviews: pr.dismiss_stale_reviews_on_push === true,
    enforceAdmins: !bypass.some((b) => b.actor_type === "RepositoryRole" && b.actor_id === ADMIN_ROLE_ID),
    requiredChecks: sorted(
      ((checks.required_status_checks as { context?: string }[] | undefined) ?? []).map((c) => str(c.context)),
    ),
  };
}

function body(spec: Record<string, unknown>) {
  const checks = strings(spec.requiredChecks);
  const rules: Rule[] = [
    { type: "deletion" },
    { type: "non_fast_forward" },
    {
      type: "pull_request",
      parameters: {
        required_approving_review_count: Number(spec.requiredApprovals ?? 1),
        dismiss_stale_reviews_on_push: spec.dismissStaleReviews === true,
        require_code_owner_review: spec.requireCodeOwnerReviews === true,
        require_last_push_approval: false,
        required_review_thread_resolution: false,
      },
    },
  ];
  if (checks.length > 0)
    rules.push({
      type: "required_status_checks",
      parameters: { strict_required_status_checks_policy: true, required_status_checks: checks.map((context) => ({ context })) },
    });
  return {
    name: str(spec.name),
    target: "branch",
    enforcement: "active",
    bypass_actors:
      spec.enforceAdmins === true ? [] : [{ actor_id: ADMIN_ROLE_ID, actor_type: "RepositoryRole", bypass_mode: "always" }],
    conditions: { ref_name: { include: [`refs/heads/${str(spec.branch)}`], exclude: [] } },
    rules,
  };
}

export const rulesetAdapter: ResourceAdapter<GithubCtx> = {
  kind: "github.ruleset",
  naturalKey: (spec) => `${str(spec.owner)}/${str(spec.repo)}:${str(spec.name)}`.toLowerCase(),
  async read(ctx, id) {
    const p = parse(id);
    const d = await ghMaybe<RulesetData>(ctx, "GET /repos/{owner}/{repo}/rulesets/{ruleset_id}", p);
    return d ? remoteOf(p.owner, p.repo, d) : undefined;
  },
  async find(ctx, spec) {
    const owner = str(spec.owner);
    const repo = str(spec.repo);
    let list: RulesetData[];
    try {
      list = await ghList<RulesetData>(ctx, "GET /repos/{owner}/{repo}/rulesets", { owner, repo, includes_parents: false });
    } catch (e) {
      if ((e as { status?: number }).status === 404) return undefined;
      throw e;
    }
    const hit = list.find(
      (r) => r.name.toLowerCase() === str(spec.name).toLowerCase() && (r.source_type ?? "Repository") === "Repository",
    );
    if (!hit) return undefined;
    const id = `${owner}/${repo}/${hit.id}`;
    const remote = await rulesetAdapter.read(ctx, id);
    return remote ? { id, remote } : undefined;
  },
  async create(ctx, spec) {
    const owner = str(spec.owner);
    const repo = str(spec.repo);
    const { data } = await gh<RulesetData>(ctx, "POST /repos/{owner}/{repo}/rulesets", { owner, repo, ...body(spec) });
    return { id: `${owner}/${repo}/${data.id}`, remote: remoteOf(owner, repo, data) };
  },
  async update(ctx, id, spec) {
    const p = parse(id);
    const { data } = await gh<RulesetData>(ctx, "PUT /repos/{owner}/{repo}/rulesets/{ruleset_id}", { ...p, ...body(spec) });
    return remoteOf(p.owner, p.repo, data);
  },
  async delete(ctx, id) {
    await gh(ctx, "DELETE /repos/{owner}/{repo}/rulesets/{ruleset_id}", parse(id));
  },
  normalizeDesired: (spec) => ({
    owner: spec.owner,
    repo: spec.repo,
    name: str(spec.name),
    branch: str(spec.branch),
    active: true,
    pullRequest: true,
    blocksForcePushes: true,
    blocksDeletion: true,
    requiredApprovals: Number(spec.requiredApprovals ?? 1),
    requireCodeOwnerReviews: spec.requireCodeOwnerReviews === true,
    dismissStaleReviews: spec.dismissStaleReviews === true,
    enforceAdmins: spec.enforceAdmins === true,
    requiredChecks: sorted(strings(spec.requiredChecks)),
  }),
  rules: { recreateOn: ["owner", "repo"] },
};
