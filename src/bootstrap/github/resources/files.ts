import { mapLimit } from "../../../engine/engine.js";
import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { type GithubCtx, gh, ghMaybe } from "../context.js";
import { FILE_MODE, FileSet, treeOf } from "../fileset.js";
import { str } from "./common.js";

/**
 * `github.files`: the content of a branch, written through the Git Data API (blobs, a tree, a
 * commit, the ref), so no token ever goes into a git URL. Spec: `{ owner, repo, branch, message,
 * files }` with `files` a `FileSet`. Compared by git tree id: when the branch's head commit already
 * has exactly these files, nothing is written. A change commits the whole tree on top of the head
 * (fast-forward only). Id `owner/repo:branch`. Removing the resource leaves the branch and its
 * history as they are (deleting the repository removes them).
 */

interface RefData {
  object: { sha: string };
}
interface CommitData {
  sha: string;
  tree: { sha: string };
}

const idOf = (spec: Record<string, unknown>) => `${str(spec.owner)}/${str(spec.repo)}:${str(spec.branch)}`;
const parse = (id: string) => {
  const m = /^([^/]+)\/([^/:]+):(.+)$/.exec(id);
  if (!m) throw new UserError(`github.files: malformed id ${id}`);
  return { owner: m[1] as string, repo: m[2] as string, branch: m[3] as string };
};

/** The head commit of a branch, or undefined when the repository, or the branch, does not exist. */
async function head(ctx: GithubCtx, owner: string, repo: string, branch: string): Promise<CommitData | undefined> {
  // 409: the repository is empty.
  const ref = await ghMaybe<RefData>(
    ctx,
    "GET /repos/{owner}/{repo}/git/ref/{ref}",
    { owner, repo, ref: `heads/${branch}` },
    [409],
  );
  if (!ref) return undefined;
  const { data } = await gh<CommitData>(ctx, "GET /repos/{owner}/{repo}/git/commits/{commit_sha}", {
    owner,
    repo,
    commit_sha: ref.object.sha,
  });
  return data;
}

async function commit(ctx: GithubCtx, spec: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { owner, repo, branch } = parse(idOf(spec));
  const files = spec.files;
  if (!(files instanceof FileSet)) throw new UserError(`github.files ${idOf(spec)}: files must be given as a FileSet`);
  let parent = await head(ctx, owner, repo, branch);
  const onBranch = parent !== undefined;
  if (parent?.tree.sha === files.tree) return { owner, repo, branch, tree: files.tree, commit: parent.sha };
  if (!parent) {
    // A new branch starts from the default branch's head (the repository's initial commit).
    const r = await gh<{ default_branch: string }>(ctx, "GET /repos/{owner}/{repo}", { owner, repo });
    parent = await head(ctx, owner, repo, r.data.default_branch);
  }
  const entries = [...files.files];
  await mapLimit(entries, 4, async ([, content]) => {
    await gh(ctx, "POST /repos/{owner}/{repo}/git/blobs", {
      owner,
      repo,
      content: content.toString("base64"),
      encoding: "base64",
    });
  });
  const tree = await gh<{ sha: string }>(ctx, "POST /repos/{owner}/{repo}/git/trees", {
    owner,
    repo,
    tree: [...files.blobs].map(([path, sha]) => ({ path, mode: FILE_MODE, type: "blob", sha })),
  });
  if (tree.data.sha !== files.tree)
    throw new Error(`github.files ${idOf(spec)}: GitHub computed tree ${tree.data.sha}, expected ${files.tree}`);
  const made = await gh<{ sha: string }>(ctx, "POST /repos/{owner}/{repo}/git/commits", {
    owner,
    repo,
    message: str(spec.message) || "Initial project",
    tree: tree.data.sha,
    parents: parent ? [parent.sha] : [],
  });
  if (onBranch)
    await gh(ctx, "PATCH /repos/{owner}/{repo}/git/refs/{ref}", {
      owner,
      repo,
      ref: `heads/${branch}`,
      sha: made.data.sha,
      force: false,
    });
  else await gh(ctx, "POST /repos/{owner}/{repo}/git/refs", { owner, repo, ref: `refs/heads/${branch}`, sha: made.data.sha });
  return { owner, repo, branch, tree: files.tree, commit: made.data.sha };
}

export const filesAdapter: ResourceAdapter<GithubCtx> = {
  kind: "github.files",
  naturalKey: (spec) => idOf(spec).toLowerCase(),
  async read(ctx, id) {
    const { owner, repo, branch } = parse(id);
    const h = await head(ctx, owner, repo, branch);
    return h ? { owner, repo, branch, tree: h.tree.sha, commit: h.sha } : undefined;
  },
  async find(ctx, spec) {
    const remote = await filesAdapter.read(ctx, idOf(spec));
    return remote ? { id: idOf(spec), remote } : undefined;
  },
  async create(ctx, spec) {
    return { id: idOf(spec), remote: await commit(ctx, spec) };
  },
  async update(ctx, _id, spec) {
    return commit(ctx, spec);
  },
  async delete() {
    // History is not rewritten: the branch keeps its content.
  },
  normalize: (remote) => ({ owner: remote.owner, repo: remote.repo, branch: remote.branch, tree: remote.tree }),
  normalizeDesired: (spec) => ({ owner: spec.owner, repo: spec.repo, branch: spec.branch, tree: treeOf(spec.files) }),
  outputs: (_id, remote) => (remote?.commit ? { commit: remote.commit } : {}),
  rules: { recreateOn: ["owner", "repo", "branch"] },
};
