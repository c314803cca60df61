import type { ResourceAdapter } from "../../../engine/types.js";
import { type GithubCtx, gh, ghList, ghMaybe } from "../context.js";
import { splitId, str } from "./common.js";

/**
 * `github.team_access`: a team's permission on a repository of its organisation. Spec:
 * `{ owner, repo, team, permission }` (`team` is the slug; `permission` one of pull, triage, push,
 * maintain, admin). Id `owner/repo/team`.
 */

interface TeamData {
  slug: string;
  permission: string;
}

const idOf = (spec: Record<string, unknown>) => `${str(spec.owner)}/${str(spec.repo)}/${str(spec.team)}`;

async function put(ctx: GithubCtx, spec: Record<string, unknown>) {
  await gh(ctx, "PUT /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}", {
    org: str(spec.owner),
    team_slug: str(spec.team),
    owner: str(spec.owner),
    repo: str(spec.repo),
    permission: str(spec.permission),
  });
}

export const teamAccessAdapter: ResourceAdapter<GithubCtx> = {
  kind: "github.team_access",
  naturalKey: (spec) => idOf(spec).toLowerCase(),
  async read(ctx, id) {
    const [owner, repo, team] = splitId(id, 3, "github.team_access") as [string, string, string];
    if (!(await ghMaybe(ctx, "GET /repos/{owner}/{repo}", { owner, repo }))) return undefined;
    const teams = await ghList<TeamData>(ctx, "GET /repos/{owner}/{repo}/teams", { owner, repo });
    const t = teams.find((x) => x.slug.toLowerCase() === team.toLowerCase());
    return t ? { owner, repo, team: t.slug, permission: t.permission } : undefined;
  },
  async find(ctx, spec) {
    const remote = await teamAccessAdapter.read(ctx, idOf(spec));
    return remote ? { id: idOf(spec), remote } : undefined;
  },
  async create(ctx, spec) {
    await put(ctx, spec);
    return { id: idOf(spec), remote: { ...spec } };
  },
  async update(ctx, _id, spec) {
    await put(ctx, spec);
    return { ...spec };
  },
  async delete(ctx, id) {
    const [owner, repo, team] = splitId(id, 3, "github.team_access") as [string, string, string];
    await gh(ctx, "DELETE /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}", { org: owner, team_slug: team, owner, repo });
  },
  rules: { recreateOn: ["owner", "repo", "team"] },
};
