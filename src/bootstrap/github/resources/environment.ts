import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { type GithubCtx, gh, ghMaybe } from "../context.js";
import { sorted, splitId, str, strings } from "./common.js";

/**
 * `github.environment`: a deployment environment with its protection. Spec: `{ owner, repo,
 * environment, reviewers, waitTimer, branches, tags }`. Reviewers are user logins or teams of the
 * repository's organisation written `org/team` (or `@org/team`); they are resolved to ids when
 * written. Branch and tag name patterns become custom deployment branch policies; with none, any
 * branch may deploy. Id `owner/repo/environment`.
 */

interface EnvironmentData {
  name: string;
  protection_rules?: {
    type: string;
    wait_timer?: number;
    reviewers?: { type?: string; reviewer?: { login?: string; slug?: string } }[];
  }[];
  deployment_branch_policy?: { protected_branches: boolean; custom_branch_policies: boolean } | null;
}

interface PolicyData {
  id: number;
  name: string;
  type?: "branch" | "tag";
}

/** A reviewer's canonical form: a login, or `org/team` for a team (lower-case). */
export function canonicalReviewer(name: string): string {
  return name.trim().replace(/^@/, "").toLowerCase();
}

export const isTeamReviewer = (name: string) => canonicalReviewer(name).includes("/");

/** Resolves a reviewer to the id GitHub's environment API takes (read once per run). */
export function reviewerId(ctx: GithubCtx, name: string): Promise<{ type: "User" | "Team"; id: number }> {
  const key = canonicalReviewer(name);
  let p = ctx.reviewerIds.get(key);
  if (!p) {
    p = (async () => {
      if (isTeamReviewer(key)) {
        const [org, team_slug] = key.split("/") as [string, string];
        const t = await ghMaybe<{ id: number }>(ctx, "GET /orgs/{org}/teams/{team_slug}", { org, team_slug });
        if (!t) throw new UserError(`reviewer team ${key} does not exist`, "create the team or fix the reviewer name");
        return { type: "Team" as const, id: t.id };
      }
      const u = await ghMaybe<{ id: number; type?: string }>(ctx, "GET /users/{username}", { username: key });
      if (!u || u.type === "Organization") throw new UserError(`reviewer ${key} is not a GitHub user`, "write teams as org/team");
      return { type: "User" as const, id: u.id };
    })();
    p.catch(() => ctx.reviewerIds.delete(key));
    ctx.reviewerIds.set(key, p);
  }
  return p;
}

const idOf = (spec: Record<string, unknown>) => `${str(spec.owner)}/${str(spec.repo)}/${str(spec.environment)}`;
const parse = (id: string) => {
  const [owner, repo, environment_name] = splitId(id, 3, "github.environment") as [string, string, string];
  return { owner, repo, environment_name };
};

async function readEnvironment(ctx: GithubCtx, id: string) {
  const p = parse(id);
  const env = await ghMaybe<EnvironmentData>(ctx, "GET /repos/{owner}/{repo}/environments/{environment_name}", p);
  if (!env) return undefined;
  let policies: PolicyData[] = [];
  if (env.deployment_branch_policy?.custom_branch_policies) {
    const { data } = await gh<{ branch_policies: PolicyData[] }>(
      ctx,
      "GET /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
      { ...p, per_page: 100 },
    );
    policies = data.branch_policies;
  }
  const reviewers: string[] = [];
  let waitTimer = 0;
  for (const rule of env.protection_rules ?? []) {
    if (rule.type === "wait_timer") waitTimer = rule.wait_timer ?? 0;
    if (rule.type === "required_reviewers")
      for (const r of rule.reviewers ?? []) {
        if (r.type === "Team" && r.reviewer?.slug) reviewers.push(`${p.owner}/${r.reviewer.slug}`.toLowerCase());
        else if (r.reviewer?.login) reviewers.push(r.reviewer.login.toLowerCase());
      }
  }
  return {
    owner: p.owner,
    repo: p.repo,
    environment: env.name,
    reviewers: sorted(reviewers),
    waitTimer,
    branches: sorted(policies.filter((x) => (x.type ?? "branch") === "branch").map((x) => x.name)),
    tags: sorted(policies.filter((x) => x.type === "tag").map((x) => x.name)),
    policies,
  };
}

async function write(ctx: GithubCtx, spec: Record<string, unknown>): Promise<Record<string, unknown>> {
  const id = idOf(spec);
  const p = parse(id);
  const reviewers = await Promise.all(strings(spec.reviewers).map((r) => reviewerId(ctx, r)));
  const branches = strings(spec.branches);
  const tags = strings(spec.tags);
  const custom = branches.length + tags.length > 0;
  await gh(ctx, "PUT /repos/{owner}/{repo}/environments/{environment_name}", {
    ...p,
    wait_timer: Number(spec.waitTimer ?? 0),
    reviewers: reviewers.map((r) => ({ type: r.type, id: r.id })),
    deployment_branch_policy: custom ? { protected_branches: false, custom_branch_policies: true } : null,
  });
  if (custom) {
    const current = (await readEnvironment(ctx, id))?.policies ?? [];
    const want = [
      ...branches.map((name) => ({ name, type: "branch" as const })),
      ...tags.map((name) => ({ name, type: "tag" as const })),
    ];
    for (const old of current)
      if (!want.some((w) => w.name === old.name && w.type === (old.type ?? "branch")))
        await gh(
          ctx,
          "DELETE /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies/{branch_policy_id}",
          {
            ...p,
            branch_policy_id: old.id,
          },
        );
    for (const w of want)
      if (!current.some((old) => old.name === w.name && (old.type ?? "branch") === w.type))
        await gh(ctx, "POST /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies", { ...p, ...w });
  }
  const { policies: _policies, ...remote } = (await readEnvironment(ctx, id)) ?? {};
  return remote;
}

export const environmentAdapter: ResourceAdapter<GithubCtx> = {
  kind: "github.environment",
  naturalKey: (spec) => idOf(spec).toLowerCase(),
  async read(ctx, id) {
    const env = await readEnvironment(ctx, id);
    if (!env) return undefined;
    const { policies: _policies, ...remote } = env;
    return remote;
  },
  async find(ctx, spec) {
    const remote = await environmentAdapter.read(ctx, idOf(spec));
    return remote ? { id: idOf(spec), remote } : undefined;
  },
  async create(ctx, spec) {
    return { id: idOf(spec), remote: await write(ctx, spec) };
  },
  async update(ctx, _id, spec) {
    return write(ctx, spec);
  },
  async delete(ctx, id) {
    await gh(ctx, "DELETE /repos/{owner}/{repo}/environments/{environment_name}", parse(id));
  },
  normalizeDesired: (spec) => ({
    ...spec,
    reviewers: sorted(strings(spec.reviewers).map(canonicalReviewer)),
    waitTimer: Number(spec.waitTimer ?? 0),
    branches: sorted(strings(spec.branches)),
    tags: sorted(strings(spec.tags)),
  }),
  rules: { recreateOn: ["owner", "repo", "environment"] },
};
