import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { type AzureDevopsCtx, projectId } from "../context.js";
import { repositoryByName, splitProjectId, str } from "./common.js";

/**
 * `azure-devops.repository`: a Git repository in an existing project. Spec: `{ project, name }`.
 * Created empty; `azure-devops.files` pushes the project into it. Renaming or moving is refused.
 * Deleting moves it to the project's recycle bin (Azure DevOps keeps it there for 30 days).
 * Id `project/<repository id>`.
 */

const remoteOf = (project: string, r: { name?: string }) => ({ project, name: str(r.name) });

export const repositoryAdapter: ResourceAdapter<AzureDevopsCtx> = {
  kind: "azure-devops.repository",
  naturalKey: (spec) => `${str(spec.project)}/${str(spec.name)}`.toLowerCase(),
  async read(ctx, id) {
    const { project, rest } = splitProjectId(id, "azure-devops.repository");
    const r = await repositoryByName(ctx, project, rest);
    return r ? remoteOf(project, r) : undefined;
  },
  async find(ctx, spec) {
    const project = str(spec.project);
    const r = await repositoryByName(ctx, project, str(spec.name));
    return r?.id ? { id: `${project}/${r.id}`, remote: remoteOf(project, r) } : undefined;
  },
  async create(ctx, spec) {
    const project = str(spec.project);
    const git = await ctx.git();
    const pid = await projectId(ctx, project);
    const r = await ctx.call(`POST /${project}/_apis/git/repositories`, () =>
      git.createRepository({ name: str(spec.name), project: { id: pid } }, project),
    );
    if (!r?.id) throw new Error(`azure-devops.repository ${project}/${str(spec.name)}: the create answered no id`);
    return { id: `${project}/${r.id}`, remote: remoteOf(project, r) };
  },
  async update(_ctx, id, spec, remote) {
    if (str(spec.name).toLowerCase() !== str(remote.name).toLowerCase() || str(spec.project) !== str(remote.project))
      throw new UserError(
        `azure-devops.repository ${id}: renaming or moving a repository is not supported`,
        "rename it in Azure DevOps first, or remove it from state",
      );
    return remote;
  },
  async delete(ctx, id) {
    const { project, rest } = splitProjectId(id, "azure-devops.repository");
    const git = await ctx.git();
    await ctx.call(`DELETE /${project}/_apis/git/repositories/${rest}`, () => git.deleteRepository(rest, project));
  },
  outputs: (id, remote) => ({
    repository_id: splitProjectId(id, "azure-devops.repository").rest,
    ...(remote ? { name: remote.name } : {}),
  }),
  rules: { recreateOn: ["project"] },
};
