import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { findConfigFile } from "../config/loader.js";
import { azurePipelines } from "./azure-devops.js";
import { type GeneratedFile, githubWorkflows } from "./github.js";
import { loadStrategy, type Strategy } from "./strategy.js";

/**
 * `lakeforge pipelines generate`: the platform repository's CI/CD from the `pipelines:` section of
 * lakeforge.yaml. See docs/pipelines.md.
 */

export { AZURE_PIPELINE, azurePipelines } from "./azure-devops.js";
export { type GeneratedFile, GITHUB_WORKFLOWS, githubWorkflows } from "./github.js";
export { DEFAULTS, type EnvBinding, loadStrategy, type PipelineEnvironment, type Strategy } from "./strategy.js";

export const PLATFORMS = ["github", "azure-devops"] as const;
export type Platform = (typeof PLATFORMS)[number];

export interface GenerateOptions {
  /** lakeforge.yaml or the folder holding it. */
  config: string;
  platform: Platform;
  /** The repository root the files are written under (default: the configuration's folder). */
  out?: string;
  /** Compare only; write nothing. */
  check?: boolean;
  /** Directory error locations are shown relative to (default: the current directory). */
  relativeTo?: string;
}

export interface FileStatus {
  path: string;
  /** Absolute path. */
  file: string;
  status: "unchanged" | "created" | "updated";
}

export interface GenerateResult {
  outDir: string;
  strategy: Strategy;
  files: FileStatus[];
  /** Files that differ from what the configuration generates (with `check`, nothing was written). */
  drifted: string[];
  settings: RepositorySettings;
}

/** The pipeline files of a platform. */
export function renderPipelines(strategy: Strategy, platform: Platform): GeneratedFile[] {
  return platform === "github" ? githubWorkflows(strategy) : azurePipelines(strategy);
}

/** Generates (or, with `check`, compares) the platform's pipeline files. */
export function generatePipelines(options: GenerateOptions): GenerateResult {
  const outDir = resolve(options.out ?? dirname(findConfigFile(options.config)));
  const strategy = loadStrategy(options.config, {
    out: outDir,
    ...(options.relativeTo ? { relativeTo: options.relativeTo } : {}),
  });
  const files: FileStatus[] = [];
  const drifted: string[] = [];
  for (const f of renderPipelines(strategy, options.platform)) {
    const file = join(outDir, f.path);
    const current = existsSync(file) ? readFileSync(file, "utf8") : undefined;
    const status = current === undefined ? "created" : current === f.content ? "unchanged" : "updated";
    if (status !== "unchanged") drifted.push(f.path);
    if (!options.check && status !== "unchanged") {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, f.content);
    }
    files.push({ path: f.path, file, status });
  }
  return { outDir, strategy, files, drifted, settings: repositorySettings(strategy, options.platform) };
}

export interface EnvironmentSettings {
  environment: string;
  platformEnvironment: string;
  approval: boolean;
  reviewers: string[];
  variables: string[];
  secrets: string[];
  /** GitHub: the OIDC subject of the environment's jobs; Azure DevOps: the service connection. */
  federatedSubject?: string;
  serviceConnection?: string;
  variableGroup?: string;
}

export interface RepositorySettings {
  platform: Platform;
  environments: EnvironmentSettings[];
}

/** What the repository (or Azure DevOps project) must hold for the pipelines to run. */
export function repositorySettings(s: Strategy, platform: Platform): RepositorySettings {
  const repo = s.repository ?? "<owner>/<repo>";
  return {
    platform,
    environments: s.environments.map((e) => {
      const variables = e.variables.map((v) => v.platform);
      const secrets = e.secrets.map((v) => v.platform);
      const signIn = e.azure || (e.remote && s.auth === "azure-oidc");
      if (platform === "github") {
        if (signIn) variables.unshift("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID");
        if (e.remote && s.auth !== "azure-oidc") variables.unshift("DATABRICKS_CLIENT_ID");
      } else if (e.remote && s.auth === "databricks-m2m") variables.unshift("DATABRICKS_CLIENT_ID");
      if (e.remote && s.auth === "databricks-m2m") secrets.unshift("DATABRICKS_CLIENT_SECRET");
      const oidc = signIn || (e.remote && s.auth === "databricks-oidc");
      return {
        environment: e.name,
        platformEnvironment: e.platformName,
        approval: e.approval,
        reviewers: e.reviewers,
        variables,
        secrets,
        ...(platform === "github" && oidc ? { federatedSubject: `repo:${repo}:environment:${e.platformName}` } : {}),
        ...(platform === "azure-devops" && signIn ? { serviceConnection: e.serviceConnection } : {}),
        ...(platform === "azure-devops" && (variables.length > 0 || secrets.length > 0)
          ? { variableGroup: e.variableGroup }
          : {}),
      };
    }),
  };
}
