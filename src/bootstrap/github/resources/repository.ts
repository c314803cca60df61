import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { type GithubCtx, gh, ghMaybe, viewerLogin } from "../context.js";
import { sorted, splitId, str, strings } from "./common.js";

/**
 * `github.repository`: a repository in an organisation, or of the token's user when `owner` is that
 * user. Spec: `{ owner, name, visibility: "private" | "internal", description, topics }`. Created with an initial commit (GitHub's Git Data API refuses an empty
 * repository), which `github.files` then replaces. Renaming or moving is refused.
 */

interface RepoData {
  name: string;
  owner: { login: string; type: string };
  visibility?: string;
  private: boolean;
  description: string | null;
  topics?: string[];
}

const toRemote = (r: RepoData): Record<string, unknown> => ({
  owner: r.owner.login,
  name: r.name,
  visibility: r.visibility ?? (r.private ? "private" : "public"),
  description: r.description ?? "",
  topics: sorted(r.topics ?? []),
});

const idOf = (spec: Record<string, unknown>) => `${str(spec.owner)}/${str(spec.name)}`;

async function setTopics(ctx: GithubCtx, owner: string, repo: string, topics: string[]) {
  await gh(ctx, "PUT /repos/{owner}/{repo}/topics", { owner, repo, names: sorted(topics) });
}

export const repositoryAdapter: ResourceAdapter<GithubCtx> = {
  kind: "github.repository",
  naturalKey: (spec) => idOf(spec).toLowerCase(),
  async read(ctx, id) {
    const [owner, repo] = splitId(id, 2, "github.repository") as [string, string];
    const data = await ghMaybe<RepoData>(ctx, "GET /repos/{owner}/{repo}", { owner, repo });
    return data ? toRemote(data) : undefined;
  },
  async find(ctx, spec) {
    const remote = await repositoryAdapter.read(ctx, idOf(spec));
    return remote ? { id: `${str(remote.owner)}/${str(remote.name)}`, remote } : undefined;
  },
  async create(ctx, spec) {
    const owner = str(spec.owner);
    const name = str(spec.name);
    const body = {
      name,
      description: str(spec.description),
      ...(spec.visibility === "internal" ? { visibility: "internal" } : { private: true }),
      auto_init: true,
      has_wiki: false,
    };
    const { data } =
      owner.toLowerCase() === (await viewerLogin(ctx)).toLowerCase()
        ? await gh<RepoData>(ctx, "POST /user/repos", body)
        : await gh<RepoData>(ctx, "POST /orgs/{org}/repos", { org: owner, ...body });
    const topics = strings(spec.topics);
    if (topics.length > 0) await setTopics(ctx, data.owner.login, data.name, topics);
    return { id: `${data.owner.login}/${data.name}`, remote: toRemote({ ...data, topics }) };
  },
  async update(ctx, id, spec, remote) {
    const [owner, repo] = splitId(id, 2, "github.repository") as [string, string];
    if (str(spec.owner).toLowerCase() !== owner.toLowerCase() || str(spec.name).toLowerCase() !== repo.toLowerCase())
      throw new UserError(
        `github.repository ${id}: renaming or moving a repository is not supported`,
        "rename it on GitHub first, or remove it from state and create a new one",
      );
    const patch: Record<string, unknown> = {};
    if (str(spec.description) !== str(remote.description)) patch.description = str(spec.description);
    if (spec.visibility !== remote.visibility) {
      if (spec.visibility === "internal") patch.visibility = "internal";
      else patch.private = true;
    }
    let after = remote;
    if (Object.keys(patch).length > 0)
      after = toRemote((await gh<RepoData>(ctx, "PATCH /repos/{owner}/{repo}", { owner, repo, ...patch })).data);
    const topics = sorted(strings(spec.topics));
    if (JSON.stringify(topics) !== JSON.stringify(sorted(strings(remote.topics)))) await setTopics(ctx, owner, repo, topics);
    return { ...after, topics };
  },
  async delete(ctx, id) {
    const [owner, repo] = splitId(id, 2, "github.repository") as [string, string];
    await gh(ctx, "DELETE /repos/{owner}/{repo}", { owner, repo });
  },
  normalizeDesired: (spec) => ({ ...spec, description: str(spec.description), topics: sorted(strings(spec.topics)) }),
  outputs: (id, remote) => ({ full_name: id, ...(remote ? { owner: remote.owner, name: remote.name } : {}) }),
  rules: {},
};
