import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { type GithubCtx, gh, ghMaybe } from "../context.js";
import { str } from "./common.js";

/**
 * `github.branch`: a branch, created from another branch's head (`from`), and optionally the
 * repository's default branch (`default: true`). Spec: `{ owner, repo, branch, from?, default }`.
 * Only the branch's existence and default flag are managed, not its head. Deleting removes the ref,
 * except of the repository's current default branch, which GitHub keeps. Id `owner/repo:branch`.
 */

const idOf = (spec: Record<string, unknown>) => `${str(spec.owner)}/${str(spec.repo)}:${str(spec.branch)}`;
const parse = (id: string) => {
  const m = /^([^/]+)\/([^/:]+):(.+)$/.exec(id);
  if (!m) throw new UserError(`github.branch: malformed id ${id}`);
  return { owner: m[1] as string, repo: m[2] as string, branch: m[3] as string };
};

async function read(ctx: GithubCtx, id: string) {
  const { owner, repo, branch } = parse(id);
  const repoData = await ghMaybe<{ default_branch: string }>(ctx, "GET /repos/{owner}/{repo}", { owner, repo });
  if (!repoData) return undefined;
  const b = await ghMaybe<{ name: string; commit: { sha: string } }>(ctx, "GET /repos/{owner}/{repo}/branches/{branch}", {
    owner,
    repo,
    branch,
  });
  if (!b) return undefined;
  return { owner, repo, branch: b.name, default: repoData.default_branch === b.name, sha: b.commit.sha };
}

async function makeDefault(ctx: GithubCtx, owner: string, repo: string, branch: string) {
  await gh(ctx, "PATCH /repos/{owner}/{repo}", { owner, repo, default_branch: branch });
}

export const branchAdapter: ResourceAdapter<GithubCtx> = {
  kind: "github.branch",
  naturalKey: (spec) => idOf(spec).toLowerCase(),
  read,
  async find(ctx, spec) {
    const remote = await read(ctx, idOf(spec));
    return remote ? { id: idOf(spec), remote } : undefined;
  },
  async create(ctx, spec) {
    const id = idOf(spec);
    const { owner, repo, branch } = parse(id);
    if (!(await read(ctx, id))) {
      const from = str(spec.from);
      if (!from) throw new UserError(`github.branch ${id}: the branch does not exist and has no "from" branch to start from`);
      const source = await ghMaybe<{ commit: { sha: string } }>(ctx, "GET /repos/{owner}/{repo}/branches/{branch}", {
        owner,
        repo,
        branch: from,
      });
      if (!source) throw new UserError(`github.branch ${id}: branch ${from} to start from does not exist`);
      await gh(ctx, "POST /repos/{owner}/{repo}/git/refs", { owner, repo, ref: `refs/heads/${branch}`, sha: source.commit.sha });
    }
    if (spec.default === true) await makeDefault(ctx, owner, repo, branch);
    return { id, remote: await read(ctx, id) };
  },
  async update(ctx, id, spec) {
    const { owner, repo, branch } = parse(id);
    if (spec.default === true) await makeDefault(ctx, owner, repo, branch);
    return read(ctx, id);
  },
  async delete(ctx, id) {
    const current = await read(ctx, id);
    if (!current || current.default) return;
    await gh(ctx, "DELETE /repos/{owner}/{repo}/git/refs/{ref}", {
      owner: current.owner,
      repo: current.repo,
      ref: `heads/${current.branch}`,
    });
  },
  normalize: (remote) => ({ owner: remote.owner, repo: remote.repo, branch: remote.branch, default: remote.default }),
  normalizeDesired: (spec) => ({ owner: spec.owner, repo: spec.repo, branch: spec.branch, default: spec.default === true }),
  rules: { recreateOn: ["owner", "repo", "branch"] },
};
