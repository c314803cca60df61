import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import type { AzureDevopsCtx } from "../context.js";
import { branchHead, branchOf, heads, needRepository, repositoryByName, splitBranchId, str, ZERO_ID } from "./common.js";

/**
 * `azure-devops.branch`: a branch, created from another branch's head (`from`), and optionally the
 * repository's default branch (`default: true`). Spec: `{ project, repository, branch, from?, default }`.
 * Only the branch's existence and default flag are managed, not its head. Deleting removes the ref,
 * except of the repository's current default branch. Id `project/repository:branch`.
 */

const idOf = (spec: Record<string, unknown>) => `${str(spec.project)}/${str(spec.repository)}:${str(spec.branch)}`;

async function read(ctx: AzureDevopsCtx, id: string) {
  const { project, repo, branch } = splitBranchId(id, "azure-devops.branch");
  const r = await repositoryByName(ctx, project, repo);
  if (!r?.id) return undefined;
  const sha = await branchHead(ctx, project, r.id, branch);
  if (!sha) return undefined;
  return { project, repository: repo, branch, default: branchOf(r.defaultBranch) === branch, sha, repoId: r.id };
}

async function makeDefault(ctx: AzureDevopsCtx, project: string, repoId: string, branch: string) {
  const git = await ctx.git();
  await ctx.call(`PATCH /${project}/_apis/git/repositories/${repoId}`, () =>
    git.updateRepository({ defaultBranch: heads(branch) }, repoId, project),
  );
}

async function updateRef(ctx: AzureDevopsCtx, project: string, repoId: string, branch: string, from: string, to: string) {
  const git = await ctx.git();
  const results = await ctx.call(`POST /${project}/_apis/git/repositories/${repoId}/refs`, () =>
    git.updateRefs([{ name: heads(branch), oldObjectId: from, newObjectId: to }], repoId, project),
  );
  const r = results?.[0];
  if (!r?.success)
    throw new UserError(
      `azure-devops.branch ${project}/${repoId}:${branch}: the ref update was rejected (${str(r?.customMessage) || "no reason given"})`,
    );
}

export const branchAdapter: ResourceAdapter<AzureDevopsCtx> = {
  kind: "azure-devops.branch",
  naturalKey: (spec) => idOf(spec).toLowerCase(),
  read,
  async find(ctx, spec) {
    const remote = await read(ctx, idOf(spec));
    return remote ? { id: idOf(spec), remote } : undefined;
  },
  async create(ctx, spec) {
    const id = idOf(spec);
    const { project, repo, branch } = splitBranchId(id, "azure-devops.branch");
    const repository = await needRepository(ctx, project, repo, `azure-devops.branch ${id}`);
    if (!(await branchHead(ctx, project, repository.id, branch))) {
      const from = str(spec.from);
      if (!from)
        throw new UserError(`azure-devops.branch ${id}: the branch does not exist and has no "from" branch to start from`);
      const source = await branchHead(ctx, project, repository.id, from);
      if (!source) throw new UserError(`azure-devops.branch ${id}: branch ${from} to start from does not exist`);
      await updateRef(ctx, project, repository.id, branch, ZERO_ID, source);
    }
    if (spec.default === true && branchOf(repository.defaultBranch) !== branch)
      await makeDefault(ctx, project, repository.id, branch);
    return { id, remote: await read(ctx, id) };
  },
  async update(ctx, id, spec, remote) {
    const { project, branch } = splitBranchId(id, "azure-devops.branch");
    if (spec.default === true && remote.default !== true) await makeDefault(ctx, project, str(remote.repoId), branch);
    return read(ctx, id);
  },
  async delete(ctx, id) {
    const current = await read(ctx, id);
    if (!current || current.default) return;
    await updateRef(ctx, current.project, current.repoId, current.branch, current.sha, ZERO_ID);
  },
  normalize: (remote) => ({
    project: remote.project,
    repository: remote.repository,
    branch: remote.branch,
    default: remote.default,
  }),
  normalizeDesired: (spec) => ({
    project: spec.project,
    repository: spec.repository,
    branch: spec.branch,
    default: spec.default === true,
  }),
  rules: { recreateOn: ["project", "repository", "branch"] },
};
