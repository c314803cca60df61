import {
  type GitChange,
  GitObjectType,
  ItemContentType,
  VersionControlChangeType,
} from "azure-devops-node-api/interfaces/GitInterfaces.js";
import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { FileSet, treeOf } from "../../github/fileset.js";
import type { AzureDevopsCtx } from "../context.js";
import { branchHead, heads, needRepository, repositoryByName, splitBranchId, str, ZERO_ID } from "./common.js";

/**
 * `azure-devops.files`: the project's files as the head commit of a branch, pushed through the Git
 * pushes API (one commit holding every change; no git remote, no token in any URL). Spec:
 * `{ project, repository, branch, message, files }` with `files` a `FileSet`. Compared by the git tree
 * id of the branch head, which equals the tree id computed locally for exactly these files; a change
 * pushes one commit on top of the head (adds, edits and deletes). Deleting keeps the branch's content.
 * Id `project/repository:branch`.
 */

const idOf = (spec: Record<string, unknown>) => `${str(spec.project)}/${str(spec.repository)}:${str(spec.branch)}`;

export async function head(ctx: AzureDevopsCtx, project: string, repo: string, branch: string) {
  const r = await repositoryByName(ctx, project, repo);
  if (!r?.id) return undefined;
  const sha = await branchHead(ctx, project, r.id, branch);
  if (!sha) return { repoId: r.id };
  const git = await ctx.git();
  const commit = await ctx.call(`GET /${project}/_apis/git/repositories/${r.id}/commits/${sha}`, () =>
    git.getCommit(sha, r.id as string, project),
  );
  return { repoId: r.id, commit: sha, tree: str(commit?.treeId) };
}

/** Blob ids by path of a tree (recursive). */
export async function blobsOf(ctx: AzureDevopsCtx, project: string, repoId: string, tree: string): Promise<Map<string, string>> {
  const git = await ctx.git();
  const t = await ctx.call(`GET /${project}/_apis/git/repositories/${repoId}/trees/${tree}`, () =>
    git.getTree(repoId, tree, project, undefined, true),
  );
  const out = new Map<string, string>();
  for (const e of t?.treeEntries ?? [])
    if (e.gitObjectType === GitObjectType.Blob && e.relativePath && e.objectId)
      out.set(e.relativePath.replace(/^\/+/, ""), e.objectId);
  return out;
}

async function push(ctx: AzureDevopsCtx, spec: Record<string, unknown>): Promise<Record<string, unknown>> {
  const id = idOf(spec);
  const { project, repo, branch } = splitBranchId(id, "azure-devops.files");
  const files = spec.files;
  if (!(files instanceof FileSet)) throw new UserError(`azure-devops.files ${id}: files must be given as a FileSet`);
  const repository = await needRepository(ctx, project, repo, `azure-devops.files ${id}`);
  const current = await head(ctx, project, repo, branch);
  if (current?.tree === files.tree) return { project, repository: repo, branch, tree: files.tree, commit: current.commit };
  const before =
    current?.commit && current.tree ? await blobsOf(ctx, project, repository.id, current.tree) : new Map<string, string>();
  const changes: GitChange[] = [];
  for (const [path, content] of files.files) {
    const was = before.get(path);
    if (was === files.blobs.get(path)) continue;
    changes.push({
      changeType: was === undefined ? VersionControlChangeType.Add : VersionControlChangeType.Edit,
      item: { path: `/${path}` },
      newContent: { content: content.toString("base64"), contentType: ItemContentType.Base64Encoded },
    });
  }
  for (const path of before.keys())
    if (!files.files.has(path)) changes.push({ changeType: VersionControlChangeType.Delete, item: { path: `/${path}` } });
  const git = await ctx.git();
  const made = await ctx.call(`POST /${project}/_apis/git/repositories/${repository.id}/pushes`, () =>
    git.createPush(
      {
        refUpdates: [{ name: heads(branch), oldObjectId: current?.commit ?? ZERO_ID }],
        commits: [{ comment: str(spec.message) || "Initial project", changes }],
      },
      repository.id,
      project,
    ),
  );
  const commit = made?.commits?.[0]?.commitId ?? made?.refUpdates?.[0]?.newObjectId;
  const after = await head(ctx, project, repo, branch);
  if (after?.tree !== files.tree)
    throw new Error(`azure-devops.files ${id}: the pushed tree is ${after?.tree}, expected ${files.tree}`);
  return { project, repository: repo, branch, tree: files.tree, commit: commit ?? after.commit };
}

export const filesAdapter: ResourceAdapter<AzureDevopsCtx> = {
  kind: "azure-devops.files",
  naturalKey: (spec) => idOf(spec).toLowerCase(),
  async read(ctx, id) {
    const { project, repo, branch } = splitBranchId(id, "azure-devops.files");
    const h = await head(ctx, project, repo, branch);
    return h?.commit ? { project, repository: repo, branch, tree: h.tree, commit: h.commit } : undefined;
  },
  async find(ctx, spec) {
    const remote = await filesAdapter.read(ctx, idOf(spec));
    return remote ? { id: idOf(spec), remote } : undefined;
  },
  async create(ctx, spec) {
    return { id: idOf(spec), remote: await push(ctx, spec) };
  },
  async update(ctx, _id, spec) {
    return push(ctx, spec);
  },
  async delete() {
    // History is not rewritten: the branch keeps its content (the repository's deletion removes it).
  },
  normalize: (remote) => ({ project: remote.project, repository: remote.repository, branch: remote.branch, tree: remote.tree }),
  normalizeDesired: (spec) => ({
    project: spec.project,
    repository: spec.repository,
    branch: spec.branch,
    tree: treeOf(spec.files),
  }),
  outputs: (_id, remote) => (remote?.commit ? { commit: remote.commit } : {}),
  rules: { recreateOn: ["project", "repository", "branch"] },
};
