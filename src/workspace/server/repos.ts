import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ApiError, bool, invalid, type JsonObject, notFound, page, type Router, requireStr, str } from "../http.js";
import type { Principal } from "../identity.js";
import type { Collection } from "../store/store.js";
import {
  classifyFile,
  displayPath,
  joinPath,
  parentOf,
  type ResolvedPath,
  resolveWorkspacePath,
  type TreeNode,
  type WorkspaceTree,
  workspaceTree,
} from "../tree.js";
import type { Workspace } from "../workspace.js";

/**
 * Git folders (`/api/2.0/repos`) and Git credentials (`/api/2.0/git-credentials`).
 *
 * A Git folder is a REPO object in the workspace tree. When its URL names a local Git repository (an
 * absolute path or a `file://` URL) it is really cloned with the `git` binary and its files appear in
 * the tree (notebooks detected as on import); checking out a branch or tag replaces them. Remote URLs
 * keep only metadata with a head commit derived from the URL and ref, since the workspace does not
 * reach out to Git hosts. Any caller may clone any repository readable by the workspace process, so
 * serve the workspace to trusted users only.
 */

interface RepoRecord {
  id: number;
  /** Canonical path (without the `/Workspace` prefix). */
  path: string;
  url: string;
  provider: string;
  /** Absent when a tag is checked out (detached HEAD). */
  branch?: string;
  tag?: string;
  head_commit_id?: string;
  sparse_checkout?: { patterns: string[] };
  /** The URL is a local repository that is cloned for real. */
  local: boolean;
}

interface GitCredentialRecord {
  credential_id: number;
  /** `user:<scim id>` or `service_principal:<scim id>`. */
  owner: string;
  git_provider: string;
  git_username?: string;
  git_email?: string;
  name?: string;
  is_default_for_provider: boolean;
  /** A fingerprint of the personal access token; the token itself is never kept or returned. */
  token_fingerprint?: string;
}

/** Git providers as the API spells them; requests may use any letter case. */
const PROVIDERS = [
  "gitHub",
  "bitbucketCloud",
  "gitLab",
  "azureDevOpsServices",
  "gitHubEnterprise",
  "bitbucketServer",
  "gitLabEnterpriseEdition",
  "awsCodeCommit",
];

function canonicalProvider(raw: string): string {
  const hit = PROVIDERS.find((p) => p.toLowerCase() === raw.toLowerCase());
  if (!hit) throw invalid(`Invalid Git provider: ${raw}. Supported providers: ${PROVIDERS.join(", ")}.`);
  return hit;
}

/** The provider a well-known host implies, for create calls that omit it. */
function providerFromUrl(url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  if (host === "github.com") return "gitHub";
  if (host === "gitlab.com") return "gitLab";
  if (host === "bitbucket.org") return "bitbucketCloud";
  if (host === "dev.azure.com" || host.endsWith(".visualstudio.com")) return "azureDevOpsServices";
  if (host.startsWith("git-codecommit.")) return "awsCodeCommit";
  return undefined;
}

/** The local path of a `file://` URL or an absolute path; undefined for remote URLs. */
function localRepository(url: string): string | undefined {
  if (url.startsWith("file://")) {
    try {
      return fileURLToPath(url);
    } catch {
      throw invalid(`Invalid repository URL: ${url}`);
    }
  }
  return url.startsWith("/") ? url : undefined;
}

const REPOS_PAGE_SIZE = 20;

export function register(r: Router, ws: Workspace): void {
  const tree = workspaceTree(ws);
  const repos = ws.store.collection<RepoRecord>("repos");
  const credentials = ws.store.collection<GitCredentialRecord>("git_credentials");
  tree.onRemove((node) => repos.delete(node.object_id));

  const repoId = (raw: string | undefined): number => {
    if (!raw || !/^\d+$/.test(raw)) throw invalid(`Invalid repo id: ${raw}`);
    return Number(raw);
  };
  const existingRepo = (id: number): { record: RepoRecord; node: TreeNode } => {
    const record = repos.get(id);
    const node = record ? tree.get(record.path) : undefined;
    if (!record || !node || node.object_id !== id) throw notFound(`Repo ${id} does not exist.`);
    return { record, node };
  };

  r.post("/api/2.0/repos", async (c) => {
    tree.ensureHomes();
    const url = requireStr(c.input, "url");
    const providerInput = str(c.input, "provider");
    const provider = providerInput ? canonicalProvider(providerInput) : providerFromUrl(url);
    if (!provider) throw invalid("Missing required field: provider");
    const sparse = sparseCheckout(c.input.sparse_checkout);
    const credentialId = c.input.git_credential_id;
    if (credentialId !== undefined && credentialId !== null) {
      const cred = credentials.get(String(credentialId));
      if (!cred || cred.owner !== ownerKey(c.principal)) throw notFound(`Git credential ${credentialId} does not exist.`);
    }
    const rawPath = str(c.input, "path") ?? `/Repos/${c.principal.name}/${repoNameFromUrl(url)}`;
    const target = { ...resolveWorkspacePath(rawPath), shown: rawPath };
    checkRepoPath(tree, c.principal, target);

    const local = localRepository(url);
    let snapshot: Snapshot | undefined;
    if (local) snapshot = await cloneSnapshot(local, {}, sparse?.patterns);

    // The clone ran asynchronously: check the target again before changing anything.
    checkRepoPath(tree, c.principal, target);
    const branch = snapshot ? snapshot.branch : "main";
    const head = snapshot ? snapshot.head : remoteHead(url, `refs/heads/${branch}`);
    const node = tree.add({ path: target.path, object_type: "REPO" });
    tree.grantCreator(c.principal, node);
    const record: RepoRecord = {
      id: node.object_id,
      path: node.path,
      url,
      provider,
      ...(branch ? { branch } : {}),
      ...(head ? { head_commit_id: head } : {}),
      ...(sparse ? { sparse_checkout: sparse } : {}),
      local: local !== undefined,
    };
    repos.set(record.id, record);
    if (snapshot) importSnapshot(tree, node, snapshot);
    return repoJson(record);
  });

  r.get("/api/2.0/repos", (c) => {
    tree.ensureHomes();
    const rawPrefix = str(c.input, "path_prefix");
    // No prefix (or an effectively empty one) lists the Git folders under /Repos.
    let prefix = "/Repos";
    if (rawPrefix && rawPrefix !== "/" && rawPrefix !== "/Workspace" && rawPrefix !== "/Workspace/") {
      const resolved = resolveWorkspacePath(rawPrefix);
      prefix = rawPrefix.endsWith("/") && resolved.path !== "/" ? `${resolved.path}/` : resolved.path;
    }
    const visible = [...repos.values()]
      .filter((rec) => rec.path.startsWith(prefix))
      .filter((rec) => {
        const node = tree.get(rec.path);
        return node !== undefined && tree.has(c.principal, node, "CAN_MANAGE");
      })
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const { items, next } = page(visible, str(c.input, "next_page_token"), REPOS_PAGE_SIZE);
    return { repos: items.map(repoJson), ...(next ? { next_page_token: next } : {}) };
  });

  r.get("/api/2.0/repos/:id", (c) => {
    tree.ensureHomes();
    const { record, node } = existingRepo(repoId(c.params.id));
    tree.require(c.principal, node, "CAN_READ", record.path);
    return repoJson(record);
  });

  r.patch("/api/2.0/repos/:id", async (c) => {
    tree.ensureHomes();
    const id = repoId(c.params.id);
    const { record, node } = existingRepo(id);
    tree.require(c.principal, node, "CAN_EDIT", record.path);
    const branch = str(c.input, "branch");
    const tag = str(c.input, "tag");
    if (branch && tag) throw invalid("Only one of branch and tag may be given.");
    const sparseUpdate = c.input.sparse_checkout;
    let patterns = record.sparse_checkout?.patterns;
    if (sparseUpdate !== undefined && sparseUpdate !== null) {
      if (!record.sparse_checkout) throw invalid("Sparse checkout is not enabled for this repo.");
      patterns = sparseCheckout(sparseUpdate)?.patterns ?? [];
    }
    let update: Partial<RepoRecord>;
    let snapshot: Snapshot | undefined;
    const local = record.local ? localRepository(record.url) : undefined;
    if (local) {
      // Without branch or tag: pull the branch that is checked out (or stay on the tag).
      const ref = tag
        ? { tag }
        : branch
          ? { branch }
          : record.branch
            ? { branch: record.branch }
            : record.tag
              ? { tag: record.tag }
              : {};
      snapshot = await cloneSnapshot(local, ref, patterns);
      update = snapshot.branch ? { branch: snapshot.branch } : { tag: tag ?? record.tag };
      update.head_commit_id = snapshot.head;
    } else if (tag || (!branch && !record.branch && record.tag)) {
      // A tag, or a pull while a tag is checked out (which stays on it).
      const t = (tag ?? record.tag) as string;
      update = { tag: t, head_commit_id: remoteHead(record.url, `refs/tags/${t}`) };
    } else {
      const b = branch ?? record.branch ?? "main";
      update = { branch: b, head_commit_id: remoteHead(record.url, `refs/heads/${b}`) };
    }

    // The fetch ran asynchronously: apply only if the Git folder is still there.
    const current = repos.get(id);
    const currentNode = current ? tree.get(current.path) : undefined;
    if (!current || !currentNode || currentNode.object_id !== id) throw notFound(`Repo ${id} does not exist.`);
    const next: RepoRecord = { ...current, ...update };
    if (update.branch) delete next.tag;
    else delete next.branch; // a tag: detached HEAD
    if (patterns && current.sparse_checkout) next.sparse_checkout = { patterns };
    repos.set(id, next);
    if (snapshot) {
      for (const child of tree.list(currentNode.path)) tree.removeSubtree(child.path);
      importSnapshot(tree, currentNode, snapshot);
    }
    return {};
  });

  r.delete("/api/2.0/repos/:id", (c) => {
    tree.ensureHomes();
    const { record, node } = existingRepo(repoId(c.params.id));
    tree.require(c.principal, node, "CAN_MANAGE", record.path);
    tree.removeSubtree(node.path);
    repos.delete(record.id);
    return {};
  });

  registerGitCredentials(r, ws, credentials);
}

/** The `git_info` block `get-status` adds (with `return_git_info=true`) for objects in a Git folder. */
export function gitInfo(ws: Workspace, repoNode: TreeNode): JsonObject | undefined {
  const record = ws.store.collection<RepoRecord>("repos").get(repoNode.object_id);
  return record ? gitInfoJson(record) : undefined;
}

function gitInfoJson(record: RepoRecord): JsonObject {
  return {
    id: record.id,
    path: record.path,
    url: record.url,
    provider: record.provider,
    ...(record.branch ? { branch: record.branch } : {}),
    ...(record.head_commit_id ? { head_commit_id: record.head_commit_id } : {}),
  };
}

/** A repo as the Repos API returns it: its `git_info` fields plus the sparse checkout settings. */
function repoJson(record: RepoRecord): JsonObject {
  return { ...gitInfoJson(record), ...(record.sparse_checkout ? { sparse_checkout: record.sparse_checkout } : {}) };
}

const repoNameFromUrl = (url: string) =>
  (
    url
      .replace(/[?#].*$/, "")
      .replace(/\/+$/, "")
      .split(/[/:]/)
      .pop() ?? "repo"
  ).replace(/\.git$/, "") || "repo";

/** A deterministic commit id for a remote repository the workspace does not fetch. */
const remoteHead = (url: string, ref: string) => createHash("sha1").update(`${url}\n${ref}`).digest("hex");

function sparseCheckout(raw: unknown): { patterns: string[] } | undefined {
  if (raw === undefined || raw === null) return undefined;
  const patterns = (raw as { patterns?: unknown }).patterns ?? [];
  if (!Array.isArray(patterns) || patterns.some((p) => typeof p !== "string")) {
    throw invalid("sparse_checkout.patterns must be a list of strings");
  }
  return { patterns: patterns as string[] };
}

/**
 * Where a Git folder may go: under `/Repos` exactly at `/Repos/{folder}/{name}`, elsewhere in any
 * existing folder outside another Git folder; the parent must exist and the caller needs CAN_EDIT on it.
 */
function checkRepoPath(tree: WorkspaceTree, principal: Principal, target: ResolvedPath & { shown: string }): void {
  const path = target.path;
  const segments = path.split("/").filter(Boolean);
  if (segments[0] === "Repos" && segments.length !== 3) {
    throw invalid(`Invalid repo path ${target.shown}: Git folders in /Repos must be at /Repos/{folder}/{repo-name}.`);
  }
  if (path === "/" || segments.length < 2) throw invalid(`Invalid repo path ${target.shown}.`);
  const parent = parentOf(path) as string;
  const folder = tree.get(parent);
  if (folder?.object_type !== "DIRECTORY") {
    if (folder?.object_type === "REPO" || tree.repoOf(parent)) {
      throw invalid(`Invalid repo path ${target.shown}: a Git folder cannot be created inside another Git folder.`);
    }
    throw notFound(`Parent directory ${displayPath(parent, target.prefix)} does not exist.`);
  }
  if (tree.repoOf(parent))
    throw invalid(`Invalid repo path ${target.shown}: a Git folder cannot be created inside another Git folder.`);
  if (tree.get(path)) throw new ApiError(400, "RESOURCE_ALREADY_EXISTS", `Path (${target.shown}) already exists.`);
  tree.require(principal, folder, "CAN_EDIT", displayPath(parent, target.prefix));
}

// ---------------------------------------------------------------------------------------------
// Local clones

interface Snapshot {
  /** Undefined for a detached HEAD (a tag). */
  branch?: string;
  /** Undefined for an empty repository. */
  head?: string;
  files: { path: string; content: Buffer }[];
}

const GIT_TIMEOUT_MS = 120_000;

/** The server's environment without GIT_* variables (a GIT_DIR would redirect every command), never prompting. */
function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("GIT_")) env[key] = value;
  return { ...env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" };
}

function git(args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "git",
      args,
      {
        cwd,
        timeout: GIT_TIMEOUT_MS,
        maxBuffer: 256 * 1024 * 1024,
        encoding: "utf8",
        env: gitEnv(),
      },
      (error, stdout, stderr) => {
        if (error) reject(Object.assign(error, { stderr: String(stderr ?? "") }));
        else resolve(String(stdout));
      },
    );
  });
}

const gitFailure = (what: string, e: unknown) => {
  const detail = String((e as { stderr?: string }).stderr ?? "")
    .trim()
    .split("\n")
    .pop();
  return invalid(`${what}${detail ? `: ${detail}` : ""}`);
};

/** Refs are passed to git only as full ref names, so no name can be read as an option. */
const validRef = (kind: string, name: string) => {
  if (!name || name.startsWith("-") || /[\s~^:?*[\\\0]|\.\.|@\{/.test(name)) throw invalid(`Invalid ${kind} name: ${name}`);
  return name;
};

/** Clones a local repository into a temporary directory, checks out a ref and reads its files. */
async function cloneSnapshot(source: string, ref: { branch?: string; tag?: string }, patterns?: string[]): Promise<Snapshot> {
  const dir = await mkdtemp(join(tmpdir(), "lakeforge-repo-"));
  const work = join(dir, "w");
  try {
    try {
      await git(["clone", "--quiet", "--no-checkout", "--template=", "--", source, work]);
    } catch (e) {
      throw gitFailure(`Failed to clone repository ${source}`, e);
    }
    let commit: string;
    let branch: string | undefined;
    if (ref.tag) {
      const tag = validRef("tag", ref.tag);
      commit = await git(["rev-parse", "--verify", "--quiet", `refs/tags/${tag}^{commit}`], work).catch(() => {
        throw invalid(`Tag ${tag} does not exist in the remote repository.`);
      });
    } else {
      if (ref.branch) {
        branch = validRef("branch", ref.branch);
      } else {
        const head = await git(["symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"], work).catch(() => "");
        branch = head.trim().replace(/^refs\/remotes\/origin\//, "") || undefined;
        if (!branch) {
          // An empty repository: nothing to check out yet.
          const remoteHead = await git(["ls-remote", "--symref", "--", source, "HEAD"], work).catch(() => "");
          const m = /ref: refs\/heads\/(\S+)\s+HEAD/.exec(remoteHead);
          return { branch: m?.[1] ?? "main", files: [] };
        }
      }
      commit = await git(["rev-parse", "--verify", "--quiet", `refs/remotes/origin/${branch}^{commit}`], work).catch(() => {
        throw invalid(`Branch ${branch} does not exist in the remote repository.`);
      });
    }
    commit = commit.trim();
    await git(["checkout", "--quiet", "--detach", commit], work);
    const listing = await git(["ls-tree", "-r", "-z", "--full-tree", commit], work);
    const files: Snapshot["files"] = [];
    for (const entry of listing.split("\0")) {
      if (!entry) continue;
      const tab = entry.indexOf("\t");
      const [mode, type] = entry.slice(0, tab).split(" ");
      const path = entry.slice(tab + 1);
      // Regular files only: submodules (commits) and symbolic links are not workspace objects.
      if (type !== "blob" || mode === "120000") continue;
      if (patterns && patterns.length > 0 && !inSparseCheckout(path, patterns)) continue;
      files.push({ path, content: await readFile(join(work, path)) });
    }
    return { ...(branch ? { branch } : {}), head: commit, files };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Cone-mode sparse checkout: top-level files and everything under the listed directories. */
function inSparseCheckout(path: string, patterns: string[]): boolean {
  if (!path.includes("/")) return true;
  return patterns.some((p) => {
    const dir = p.replace(/^\/+|\/+$/g, "");
    return dir === "" || path.startsWith(`${dir}/`);
  });
}

/** Writes the files of a checkout below the Git folder (which must be empty). */
function importSnapshot(tree: WorkspaceTree, repo: TreeNode, snapshot: Snapshot): void {
  for (const file of [...snapshot.files].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const target = classifyFile(joinPath(repo.path, file.path), file.content);
    const parent = parentOf(target.path) as string;
    if (tree.blockerOf(target.path) || tree.get(target.path)) continue; // e.g. both `nb.py` (a notebook) and `nb`
    tree.mkdirs(parent);
    tree.add({
      path: target.path,
      object_type: target.type,
      ...(target.language ? { language: target.language } : {}),
      ...(target.format ? { notebook_format: target.format } : {}),
      ...tree.putContent(file.content),
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Git credentials

const ownerKey = (p: Principal) => `${p.kind}:${p.id}`;

function registerGitCredentials(r: Router, ws: Workspace, credentials: Collection<GitCredentialRecord>): void {
  /** The identity whose credentials a call manages: the caller, or (`principal_id`) a service principal. */
  const ownerOf = (c: { principal: Principal; input: JsonObject }): string => {
    const raw = c.input.principal_id;
    if (raw === undefined || raw === null || raw === "") return ownerKey(c.principal);
    const id = String(raw);
    const sp = ws.identity.servicePrincipals.get(id);
    if (!sp) throw notFound(`Service principal ${id} does not exist.`);
    if (!c.principal.admin && !(c.principal.kind === "service_principal" && c.principal.id === id)) {
      throw new ApiError(403, "PERMISSION_DENIED", `Only managers of service principal ${id} may manage its Git credentials.`);
    }
    return `service_principal:${id}`;
  };
  const credentialId = (raw: string | undefined): number => {
    if (!raw || !/^\d+$/.test(raw)) throw invalid(`Invalid credential id: ${raw}`);
    return Number(raw);
  };
  const owned = (owner: string, id: number): GitCredentialRecord => {
    const cred = credentials.get(id);
    if (!cred || cred.owner !== owner) throw notFound("Credential with the given ID could not be found.");
    return cred;
  };
  const conflicts = (owner: string, provider: string, name: string | undefined, except?: number) =>
    credentials.find(
      (cr) =>
        cr.owner === owner &&
        cr.credential_id !== except &&
        cr.git_provider === provider &&
        (!cr.name || !name || cr.name === name),
    );
  const onlyOne = () =>
    new ApiError(
      400,
      "INVALID_STATE",
      "Only one Git credential is supported at this time. If you would like to update your credential, please use the PATCH endpoint.",
    );
  const fingerprint = (token: string) => createHash("sha256").update(`git-credential\n${token}`).digest("hex");
  const json = (cred: GitCredentialRecord): JsonObject => ({
    credential_id: cred.credential_id,
    git_provider: cred.git_provider,
    ...(cred.git_username !== undefined ? { git_username: cred.git_username } : {}),
    ...(cred.git_email !== undefined ? { git_email: cred.git_email } : {}),
    ...(cred.name !== undefined ? { name: cred.name } : {}),
    is_default_for_provider: cred.is_default_for_provider,
  });
  /** Makes `id` the only default credential of its provider for the owner. */
  const makeDefault = (owner: string, provider: string, id: number) => {
    for (const other of credentials.filter(
      (cr) => cr.owner === owner && cr.git_provider === provider && cr.credential_id !== id,
    )) {
      if (other.is_default_for_provider) credentials.set(other.credential_id, { ...other, is_default_for_provider: false });
    }
  };

  r.post("/api/2.0/git-credentials", (c) => {
    const owner = ownerOf(c);
    const provider = canonicalProvider(requireStr(c.input, "git_provider"));
    const name = str(c.input, "name") || undefined;
    if (conflicts(owner, provider, name)) throw onlyOne();
    const first = !credentials.find((cr) => cr.owner === owner && cr.git_provider === provider);
    const token = str(c.input, "personal_access_token");
    const id = ws.store.nextId("git_credential", 90_000_000_000_000);
    const cred: GitCredentialRecord = {
      credential_id: id,
      owner,
      git_provider: provider,
      ...(str(c.input, "git_username") !== undefined ? { git_username: str(c.input, "git_username") } : {}),
      ...(str(c.input, "git_email") !== undefined ? { git_email: str(c.input, "git_email") } : {}),
      ...(name !== undefined ? { name } : {}),
      is_default_for_provider: bool(c.input, "is_default_for_provider") ?? first,
      ...(token ? { token_fingerprint: fingerprint(token) } : {}),
    };
    credentials.set(id, cred);
    if (cred.is_default_for_provider) makeDefault(owner, provider, id);
    return json(cred);
  });

  r.get("/api/2.0/git-credentials", (c) => {
    const owner = ownerOf(c);
    const list = credentials.filter((cr) => cr.owner === owner).sort((a, b) => a.credential_id - b.credential_id);
    return { credentials: list.map(json) };
  });

  r.get("/api/2.0/git-credentials/:id", (c) => json(owned(ownerOf(c), credentialId(c.params.id))));

  r.patch("/api/2.0/git-credentials/:id", (c) => {
    const owner = ownerOf(c);
    const cred = owned(owner, credentialId(c.params.id));
    const provider = canonicalProvider(requireStr(c.input, "git_provider"));
    const name = c.input.name !== undefined ? str(c.input, "name") || undefined : cred.name;
    if (conflicts(owner, provider, name, cred.credential_id)) throw onlyOne();
    const token = str(c.input, "personal_access_token");
    const next: GitCredentialRecord = { ...cred, git_provider: provider };
    if (name !== undefined) next.name = name;
    else delete next.name;
    const username = str(c.input, "git_username");
    if (username !== undefined) next.git_username = username;
    const email = str(c.input, "git_email");
    if (email !== undefined) next.git_email = email;
    const isDefault = bool(c.input, "is_default_for_provider");
    if (isDefault !== undefined) next.is_default_for_provider = isDefault;
    if (token) next.token_fingerprint = fingerprint(token);
    credentials.set(cred.credential_id, next);
    if (next.is_default_for_provider) makeDefault(owner, provider, next.credential_id);
    return {};
  });

  r.delete("/api/2.0/git-credentials/:id", (c) => {
    const cred = owned(ownerOf(c), credentialId(c.params.id));
    credentials.delete(cred.credential_id);
    return {};
  });
}
