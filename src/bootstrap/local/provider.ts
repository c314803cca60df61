import { existsSync, rmSync } from "node:fs";
import { FileStateBackend, type StateBackend } from "../../engine/state.js";
import { addressOf, type DesiredResource, type ResourceAdapter } from "../../engine/types.js";
import type { BootstrapRequest, ForgeProvider, PreflightIssue } from "../types.js";
import {
  branchAdapter,
  environmentAdapter,
  filesAdapter,
  filesDigest,
  type LocalForgeCtx,
  repositoryAdapter,
  repositorySecretsAdapter,
} from "./adapters.js";
import { git } from "./git.js";
import { forgePaths } from "./store.js";

export type { LocalForgeCtx } from "./adapters.js";

/** A state file that can be removed once nothing is left in it (after a complete rollback). */
export class RemovableFileStateBackend extends FileStateBackend {
  async remove(): Promise<void> {
    rmSync(this.file, { force: true });
  }
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const BRANCH = /^(?!\/|.*\/$|.*\/\/|.*\.\.|.*@\{|.*\.lock$|.*\.$)[A-Za-z0-9._/-]+$/;

export const LOCAL_KINDS = {
  repository: "local.repository",
  files: "local.files",
  branch: "local.branch",
  environment: "local.environment",
  secrets: "local.secrets",
} as const;

/**
 * The local forge: bare git repositories, environment manifests and an encrypted secrets store
 * under one directory (layout in store.ts). Needs no account; `git` must be on the PATH.
 */
export function localProvider(): ForgeProvider<LocalForgeCtx> {
  // The rendered files of each request, by digest: specs carry only the digest.
  const contents = new Map<string, Map<string, Buffer>>();
  const files = filesAdapter((digest) => contents.get(digest));
  return {
    name: "local",

    async preflight(ctx, req) {
      const issues: PreflightIssue[] = [];
      if (!NAME.test(req.name) || req.name.endsWith(".git")) {
        issues.push({
          message: `repository name "${req.name}" is not valid in the local forge`,
          hint: "use letters, digits, -, _ and .",
        });
      }
      for (const b of [req.defaultBranch, req.releaseBranch]) {
        if (!BRANCH.test(b)) issues.push({ message: `branch name "${b}" is not a valid git branch name` });
      }
      for (const e of req.environments) {
        if (!NAME.test(e.name))
          issues.push({ message: `environment name "${e.name}" is not valid`, hint: "use letters, digits, -, _ and ." });
      }
      try {
        await git(process.cwd(), ["--version"]);
      } catch {
        issues.push({ message: "git is not installed or not on the PATH", hint: "the local forge keeps repositories with git" });
      }
      if (NAME.test(req.name)) {
        const paths = forgePaths(ctx.forgeDir, req.name);
        if (existsSync(paths.repo) || existsSync(paths.meta)) {
          const state = await new FileStateBackend(paths.state).load();
          const owned = state?.resources[addressOf(LOCAL_KINDS.repository, req.name)]?.id === req.name;
          if (!owned) {
            issues.push({
              message: `repository ${req.name} already exists in the local forge (${paths.repo}) and was not created by a bootstrap`,
              hint: "choose another name, or remove that repository first",
            });
          }
        }
      }
      return issues;
    },

    desired(req: BootstrapRequest): DesiredResource[] {
      const digest = filesDigest(req.files);
      contents.set(digest, req.files);
      const repoRef = { kind: LOCAL_KINDS.repository, name: req.name, field: "id" };
      const filesRef = { kind: LOCAL_KINDS.files, name: "content", field: "id" };
      const out: DesiredResource[] = [
        {
          kind: LOCAL_KINDS.repository,
          name: req.name,
          spec: {
            name: req.name,
            description: req.description ?? "",
            topics: [...(req.topics ?? [])].sort(),
            teams: [...req.teams].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
            variables: req.variables,
            defaultBranch: req.defaultBranch,
          },
          dependsOn: [],
        },
        {
          kind: LOCAL_KINDS.files,
          name: "content",
          spec: {
            repository: req.name,
            branch: req.defaultBranch,
            files: req.files.size,
            digest,
            message: "Initial project rendered by lakeforge init",
          },
          dependsOn: [repoRef],
        },
      ];
      for (const branch of [...new Set([req.defaultBranch, req.releaseBranch])]) {
        out.push({
          kind: LOCAL_KINDS.branch,
          name: branch,
          spec: { repository: req.name, branch, from: req.defaultBranch },
          dependsOn: [repoRef, filesRef],
        });
      }
      if (Object.keys(req.secrets ?? {}).length > 0)
        out.push({
          kind: LOCAL_KINDS.secrets,
          name: "repository",
          spec: { repository: req.name, secretNames: Object.keys(req.secrets ?? {}).sort(), secrets: { ...req.secrets } },
          dependsOn: [repoRef, filesRef],
        });
      for (const env of req.environments) {
        out.push({
          kind: LOCAL_KINDS.environment,
          name: env.name,
          spec: {
            repository: req.name,
            name: env.name,
            reviewers: [...env.reviewers].sort(),
            deployFrom: env.deployFrom,
            ...(env.waitTimerMinutes !== undefined ? { waitTimerMinutes: env.waitTimerMinutes } : {}),
            variables: env.variables,
            secretNames: Object.keys(env.secrets).sort(),
            secrets: { ...env.secrets },
          },
          // Secrets only ever land in a repository that already holds the project.
          dependsOn: [repoRef, filesRef],
        });
      }
      return out;
    },

    adapters() {
      return new Map<string, ResourceAdapter<LocalForgeCtx>>([
        [repositoryAdapter.kind, repositoryAdapter],
        [files.kind, files],
        [branchAdapter.kind, branchAdapter],
        [environmentAdapter.kind, environmentAdapter],
        [repositorySecretsAdapter.kind, repositorySecretsAdapter],
      ]);
    },

    stateBackend(ctx, req): StateBackend {
      return new RemovableFileStateBackend(forgePaths(ctx.forgeDir, req.name).state);
    },
  };
}
