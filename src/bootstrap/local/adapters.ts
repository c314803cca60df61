import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { ResourceAdapter } from "../../engine/types.js";
import { Secret } from "../../lib/secret.js";
import { blobId, git, gitMaybe, listTree, treeDigest } from "./git.js";
import { forgePaths, readJson, removePath, repositoryKey, sealSecrets, writeJson } from "./store.js";

/** What the local forge's adapters work on: the forge directory. */
export interface LocalForgeCtx {
  forgeDir: string;
}

type Spec = Record<string, unknown>;

/** `<repository>/<rest>` ids of objects inside a repository (branches, environments, content). */
const splitId = (id: string): [string, string] => {
  const i = id.indexOf("/");
  return [id.slice(0, i), id.slice(i + 1)];
};

// ---------------------------------------------------------------------------------------------
// local.repository

interface RepositoryManifest {
  description: string;
  topics: string[];
  teams: { name: string; permission: string }[];
  variables: Record<string, string>;
}

export const repositoryAdapter: ResourceAdapter<LocalForgeCtx> = {
  kind: "local.repository",
  naturalKey: (spec) => String(spec.name),
  async read(ctx, id) {
    const paths = forgePaths(ctx.forgeDir, id);
    if (!existsSync(paths.repo)) return undefined;
    const head = (await gitMaybe(paths.repo, ["symbolic-ref", "HEAD"]))?.trim() ?? "";
    const manifest = readJson<RepositoryManifest>(paths.repositoryManifest);
    return {
      name: id,
      defaultBranch: head.replace(/^refs\/heads\//, ""),
      description: manifest?.description ?? "",
      topics: manifest?.topics ?? [],
      teams: manifest?.teams ?? [],
      variables: manifest?.variables ?? {},
    };
  },
  async find(ctx, spec) {
    const remote = await this.read(ctx, String(spec.name));
    return remote ? { id: String(spec.name), remote } : undefined;
  },
  async create(ctx, spec) {
    const name = String(spec.name);
    const paths = forgePaths(ctx.forgeDir, name);
    mkdirSync(dirname(paths.repo), { recursive: true });
    await git(dirname(paths.repo), ["init", "--bare", "--quiet", `${name}.git`]);
    await writeRepository(paths.repo, paths.repositoryManifest, spec);
    return { id: name, remote: (await this.read(ctx, name)) as Spec };
  },
  async update(ctx, id, spec) {
    const paths = forgePaths(ctx.forgeDir, id);
    await writeRepository(paths.repo, paths.repositoryManifest, spec);
    return this.read(ctx, id);
  },
  async delete(ctx, id) {
    const paths = forgePaths(ctx.forgeDir, id);
    removePath(paths.repo);
    removePath(paths.meta);
    removePath(paths.key);
  },
  rules: { recreateOn: ["name"] },
};

async function writeRepository(repo: string, manifestFile: string, spec: Spec): Promise<void> {
  await git(repo, ["symbolic-ref", "HEAD", `refs/heads/${String(spec.defaultBranch)}`]);
  await writeFile(join(repo, "description"), `${String(spec.description ?? "")}\n`);
  const manifest: RepositoryManifest = {
    description: String(spec.description ?? ""),
    topics: (spec.topics as string[] | undefined) ?? [],
    teams: (spec.teams as RepositoryManifest["teams"] | undefined) ?? [],
    variables: (spec.variables as Record<string, string> | undefined) ?? {},
  };
  await writeJson(manifestFile, manifest);
}

// ---------------------------------------------------------------------------------------------
// local.files

/**
 * The rendered project on a branch. The spec carries a digest of the files (paths and git blob ids),
 * the contents come from `contents(digest)`. Creating or updating commits exactly those files on top
 * of the branch (in a temporary clone, pushed back); a branch already holding them is left alone.
 * Deleting removes the branch.
 */
export function filesAdapter(contents: (digest: string) => Map<string, Buffer> | undefined): ResourceAdapter<LocalForgeCtx> {
  const commit = async (ctx: LocalForgeCtx, spec: Spec) => {
    const repo = String(spec.repository);
    const branch = String(spec.branch);
    const files = contents(String(spec.digest));
    if (!files) throw new Error(`local.files: no content with digest ${String(spec.digest)} in this run`);
    const bare = forgePaths(ctx.forgeDir, repo).repo;
    const tmp = mkdtempSync(join(tmpdir(), "lakeforge-push-"));
    try {
      const work = join(tmp, "w");
      await git(tmp, ["clone", "--quiet", "--no-checkout", bare, "w"]);
      await git(work, ["symbolic-ref", "HEAD", `refs/heads/${branch}`]);
      const parent = await gitMaybe(work, ["rev-parse", "--verify", "--quiet", `refs/remotes/origin/${branch}^{commit}`]);
      if (parent) await git(work, ["update-ref", `refs/heads/${branch}`, parent.trim()]);
      for (const [path, content] of files) {
        const abs = join(work, ...path.split("/"));
        mkdirSync(dirname(abs), { recursive: true });
        writeFileSync(abs, content);
      }
      // The index starts empty (no checkout): it ends up holding exactly the rendered files.
      await git(work, ["add", "--all", "--force", "."]);
      if (parent && (await gitMaybe(work, ["diff", "--cached", "--quiet", "HEAD"])) !== undefined) return;
      await git(work, ["commit", "--quiet", "--no-verify", "-m", String(spec.message)]);
      await git(work, ["push", "--quiet", "origin", `HEAD:refs/heads/${branch}`]);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  };
  const adapter: ResourceAdapter<LocalForgeCtx> = {
    kind: "local.files",
    naturalKey: (spec) => `${String(spec.repository)}/${String(spec.branch)}`,
    async read(ctx, id) {
      const [repo, branch] = splitId(id);
      const bare = forgePaths(ctx.forgeDir, repo).repo;
      if (!existsSync(bare)) return undefined;
      const tree = await listTree(bare, `refs/heads/${branch}`);
      if (!tree) return undefined;
      const head = (await git(bare, ["rev-parse", `refs/heads/${branch}`])).trim();
      return { repository: repo, branch, files: tree.length, digest: treeDigest(tree), commit: head };
    },
    async find(ctx, spec) {
      const id = adapter.naturalKey(spec);
      const remote = await adapter.read(ctx, id);
      return remote ? { id, remote } : undefined;
    },
    async create(ctx, spec) {
      await commit(ctx, spec);
      const id = adapter.naturalKey(spec);
      const remote = await adapter.read(ctx, id);
      return remote ? { id, remote } : { id };
    },
    async update(ctx, id, spec) {
      await commit(ctx, spec);
      return adapter.read(ctx, id);
    },
    async delete(ctx, id) {
      const [repo, branch] = splitId(id);
      const bare = forgePaths(ctx.forgeDir, repo).repo;
      if (existsSync(bare)) await gitMaybe(bare, ["update-ref", "-d", `refs/heads/${branch}`]);
    },
    normalize: (remote) => ({ repository: remote.repository, branch: remote.branch, files: remote.files, digest: remote.digest }),
    outputs: (_id, remote) => (remote?.commit ? { commit: remote.commit } : {}),
    rules: { recreateOn: ["repository", "branch"], ignore: ["message"] },
  };
  return adapter;
}

/** The digest `local.files` compares: paths and git blob ids of `files`. */
export const filesDigest = (files: Map<string, Buffer>) =>
  treeDigest([...files].map(([path, content]) => [path, blobId(content)] as [string, string]));

// ---------------------------------------------------------------------------------------------
// local.branch

/** A branch made from another (the release branch from the default branch's first commit). An existing branch is left where it is. */
export const branchAdapter: ResourceAdapter<LocalForgeCtx> = {
  kind: "local.branch",
  naturalKey: (spec) => `${String(spec.repository)}/${String(spec.branch)}`,
  async read(ctx, id) {
    const [repo, branch] = splitId(id);
    const bare = forgePaths(ctx.forgeDir, repo).repo;
    if (!existsSync(bare)) return undefined;
    const sha = await gitMaybe(bare, ["rev-parse", "--verify", "--quiet", `refs/heads/${branch}^{commit}`]);
    return sha ? { repository: repo, branch, commit: sha.trim() } : undefined;
  },
  async find(ctx, spec) {
    const id = branchAdapter.naturalKey(spec);
    const remote = await branchAdapter.read(ctx, id);
    return remote ? { id, remote } : undefined;
  },
  async create(ctx, spec) {
    const id = branchAdapter.naturalKey(spec);
    const existing = await branchAdapter.read(ctx, id);
    if (existing) return { id, remote: existing };
    const bare = forgePaths(ctx.forgeDir, String(spec.repository)).repo;
    const from = (await git(bare, ["rev-parse", "--verify", `refs/heads/${String(spec.from)}^{commit}`])).trim();
    await git(bare, ["update-ref", `refs/heads/${String(spec.branch)}`, from, ""]);
    return { id, remote: { repository: spec.repository, branch: spec.branch, commit: from } };
  },
  async update(ctx, id) {
    return branchAdapter.read(ctx, id);
  },
  async delete(ctx, id) {
    const [repo, branch] = splitId(id);
    const bare = forgePaths(ctx.forgeDir, repo).repo;
    if (existsSync(bare)) await gitMaybe(bare, ["update-ref", "-d", `refs/heads/${branch}`]);
  },
  normalize: (remote) => ({ repository: remote.repository, branch: remote.branch }),
  outputs: (_id, remote) => (remote?.commit ? { commit: remote.commit } : {}),
  rules: { recreateOn: ["repository", "branch"], ignore: ["from"] },
};

// ---------------------------------------------------------------------------------------------
// local.environment

interface EnvironmentManifest {
  reviewers: string[];
  deployFrom: { branches?: string[]; tags?: string[] };
  waitTimerMinutes?: number;
  variables: Record<string, string>;
  secretNames: string[];
}

/**
 * A deployment environment: its plain settings in a manifest, its secrets sealed with the
 * repository's key (see store.ts). Secret values are compared by fingerprint only.
 */
export const environmentAdapter: ResourceAdapter<LocalForgeCtx> = {
  kind: "local.environment",
  naturalKey: (spec) => `${String(spec.repository)}/${String(spec.name)}`,
  async read(ctx, id) {
    const [repo, env] = splitId(id);
    const m = readJson<EnvironmentManifest>(forgePaths(ctx.forgeDir, repo).environment(env));
    if (!m) return undefined;
    return { repository: repo, name: env, ...m };
  },
  async find(ctx, spec) {
    const id = environmentAdapter.naturalKey(spec);
    const remote = await environmentAdapter.read(ctx, id);
    return remote ? { id, remote } : undefined;
  },
  async create(ctx, spec) {
    await writeEnvironment(ctx, spec);
    const id = environmentAdapter.naturalKey(spec);
    return { id, remote: (await environmentAdapter.read(ctx, id)) as Spec };
  },
  async update(ctx, id, spec) {
    await writeEnvironment(ctx, spec);
    return environmentAdapter.read(ctx, id);
  },
  async delete(ctx, id) {
    const [repo, env] = splitId(id);
    const paths = forgePaths(ctx.forgeDir, repo);
    removePath(paths.secrets(env));
    removePath(paths.environment(env));
  },
  rules: { recreateOn: ["repository", "name"] },
};

async function writeEnvironment(ctx: LocalForgeCtx, spec: Spec): Promise<void> {
  const repo = String(spec.repository);
  const env = String(spec.name);
  const paths = forgePaths(ctx.forgeDir, repo);
  const secrets = (spec.secrets as Record<string, unknown> | undefined) ?? {};
  const values: Record<string, Secret> = {};
  for (const [name, v] of Object.entries(secrets)) values[name] = Secret.from(v as Secret | string);
  if (Object.keys(values).length > 0) {
    const key = await repositoryKey(ctx.forgeDir, repo);
    await writeJson(paths.secrets(env), await sealSecrets(key, values));
  } else removePath(paths.secrets(env));
  const manifest: EnvironmentManifest = {
    reviewers: (spec.reviewers as string[] | undefined) ?? [],
    deployFrom: (spec.deployFrom as EnvironmentManifest["deployFrom"] | undefined) ?? {},
    ...(typeof spec.waitTimerMinutes === "number" ? { waitTimerMinutes: spec.waitTimerMinutes } : {}),
    variables: (spec.variables as Record<string, string> | undefined) ?? {},
    secretNames: Object.keys(values).sort(),
  };
  await writeJson(paths.environment(env), manifest);
}

// ---------------------------------------------------------------------------------------------
// local.secrets

/**
 * The repository-level secrets (read by CI outside any environment), sealed with the repository's key
 * into `meta/<name>/secrets.json`. Spec `{ repository, secretNames, secrets }`; id the repository.
 */
export const repositorySecretsAdapter: ResourceAdapter<LocalForgeCtx> = {
  kind: "local.secrets",
  naturalKey: (spec) => String(spec.repository),
  async read(ctx, id) {
    const sealed = readJson<{ secrets: Record<string, unknown> }>(forgePaths(ctx.forgeDir, id).repositorySecrets);
    return sealed ? { repository: id, secretNames: Object.keys(sealed.secrets).sort() } : undefined;
  },
  async find(ctx, spec) {
    const id = String(spec.repository);
    const remote = await repositorySecretsAdapter.read(ctx, id);
    return remote ? { id, remote } : undefined;
  },
  async create(ctx, spec) {
    const id = String(spec.repository);
    await writeRepositorySecrets(ctx, spec);
    return { id, remote: (await repositorySecretsAdapter.read(ctx, id)) as Spec };
  },
  async update(ctx, id, spec) {
    await writeRepositorySecrets(ctx, spec);
    return repositorySecretsAdapter.read(ctx, id);
  },
  async delete(ctx, id) {
    removePath(forgePaths(ctx.forgeDir, id).repositorySecrets);
  },
  rules: { recreateOn: ["repository"] },
};

async function writeRepositorySecrets(ctx: LocalForgeCtx, spec: Spec): Promise<void> {
  const repo = String(spec.repository);
  const values: Record<string, Secret> = {};
  for (const [name, v] of Object.entries((spec.secrets as Record<string, unknown> | undefined) ?? {}))
    values[name] = Secret.from(v as Secret | string);
  const key = await repositoryKey(ctx.forgeDir, repo);
  await writeJson(forgePaths(ctx.forgeDir, repo).repositorySecrets, await sealSecrets(key, values));
}
