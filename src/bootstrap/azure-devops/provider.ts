import type { StateBackend } from "../../engine/state.js";
import type { DesiredResource, Ref, ResourceAdapter } from "../../engine/types.js";
import { UserError } from "../../lib/errors.js";
import { FileSet, normalizePath } from "../github/fileset.js";
import type { BootstrapRequest, ForgeProvider, PreflightIssue } from "../types.js";
import { type AzureDevopsCtx, projectOf, teamsOf } from "./context.js";
import { branchAdapter } from "./resources/branch.js";
import { branchPolicyAdapter } from "./resources/branch-policy.js";
import { branchOf, repositoryByName } from "./resources/common.js";
import { approvalCheckAdapter, environmentAdapter } from "./resources/environment.js";
import { blobsOf, filesAdapter, head } from "./resources/files.js";
import { pipelineAdapter } from "./resources/pipeline.js";
import { pipelinePermissionAdapter } from "./resources/pipeline-permission.js";
import { repositoryAdapter } from "./resources/repository.js";
import { repositoryPermissionAdapter } from "./resources/repository-permission.js";
import { variableGroupAdapter } from "./resources/variable-group.js";

/**
 * The Azure DevOps forge: a bootstrap request becomes resources of the `azure-devops.*` kinds in an
 * existing project, reconciled by the engine with the adapters in ./resources. The request's `owner`
 * is the project. See docs/bootstrap-azure-devops.md.
 */

export interface AzureDevopsProviderOptions {
  /**
   * A file marking a repository as holding a Lakeforge project: pre-flight accepts an existing
   * repository only when its default branch has it, or when the bootstrap's state records it.
   * Default `.lakeforge/project.json` (the project manifest `lakeforge init` writes).
   */
  markerFile?: string;
  /** Message of the commit holding the project. Default "Initial project from Lakeforge". */
  commitMessage?: string;
  /** Approvals a pull request into the default or release branch needs. Default 1. */
  minimumApprovers?: number;
  /** The pipeline file (base name, no extension) run as build validation of pull requests. Default "ci". */
  buildValidation?: string | false;
  /** How long a deployment waits for approval, in minutes. Default 43,200 (30 days). */
  approvalTimeoutMinutes?: number;
  /** The bootstrap's state: where it is kept, and which repository an earlier run made. */
  state?: StateBackend;
}

export const AZURE_DEVOPS_KINDS = [
  "azure-devops.repository",
  "azure-devops.files",
  "azure-devops.branch",
  "azure-devops.variable_group",
  "azure-devops.environment",
  "azure-devops.approval_check",
  "azure-devops.pipeline",
  "azure-devops.branch_policy",
  "azure-devops.pipeline_permission",
  "azure-devops.repository_permission",
] as const;

const ref = (kind: string, name: string): Ref => ({ kind, name, field: "id" });
const PIPELINE_FILE = /^azure-pipelines\/([^/]+)\.ya?ml$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Names of what a request makes in its project (project-wide names, prefixed by the repository). */
export function azureDevopsNames(req: BootstrapRequest) {
  const pipelines = [...req.files.keys()]
    .map((p) => PIPELINE_FILE.exec(normalizePath(p)))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ file: m[0], base: m[1] as string, name: `${req.name}-${m[1]}` }))
    .sort((a, b) => a.file.localeCompare(b.file));
  return {
    group: (env: string) => `${req.name}-${env}`,
    environment: (env: string) => `${req.name}-${env}`,
    /** The group the pull-request pipeline's validation job reads: repository-level values and secrets. */
    ciGroup: `${req.name}-ci`,
    folder: `\\${req.name}`,
    pipelines,
  };
}

export function azureDevopsProvider(options: AzureDevopsProviderOptions = {}): ForgeProvider<AzureDevopsCtx> {
  const markerFile = options.markerFile ?? ".lakeforge/project.json";

  const preflight = async (ctx: AzureDevopsCtx, req: BootstrapRequest): Promise<PreflightIssue[]> => {
    const issues: PreflightIssue[] = [];
    try {
      const data = await ctx.call("GET /_apis/connectionData", () => ctx.api.connect());
      if (!data?.authenticatedUser?.id || /^0{8}-/.test(data.authenticatedUser.id))
        return [
          {
            message: `Azure DevOps (${ctx.orgUrl}) did not accept the token`,
            hint: "check that the token is valid, not expired and made for this organisation",
          },
        ];
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 401 || status === 203)
        return [
          {
            message: `Azure DevOps (${ctx.orgUrl}) rejected the token`,
            hint: "check that the token is valid, not expired and made for this organisation",
          },
        ];
      throw e;
    }
    const project = req.owner;
    if (!project) return [{ message: "no Azure DevOps project given", hint: "name the project (--project)" }];
    if (!(await projectOf(ctx, project)))
      return [
        {
          message: `project ${project} does not exist in ${ctx.orgUrl} or the token cannot see it`,
          hint: "create the project first, or fix its name",
        },
      ];

    const names = azureDevopsNames(req);
    const repo = await repositoryByName(ctx, project, req.name);
    let owned = false;
    if (repo?.id) {
      const state = await options.state?.load();
      const recorded = state?.resources["azure-devops.repository.repository"]?.id;
      owned = recorded?.toLowerCase() === `${project}/${repo.id}`.toLowerCase();
      if (!owned && repo.defaultBranch) {
        const h = await head(ctx, project, req.name, branchOf(repo.defaultBranch));
        if (h?.tree) owned = (await blobsOf(ctx, project, repo.id, h.tree)).has(markerFile);
      }
      if (!owned)
        issues.push({
          message: `repository ${project}/${req.name} already exists and was not created by a Lakeforge bootstrap`,
          hint: `choose another name, or commit ${markerFile} to its default branch to adopt it`,
        });
    } else {
      // A new repository: nothing else of its names may exist yet (it would be adopted, then removed by a rollback).
      const taken: string[] = [];
      for (const env of req.environments) {
        if (await variableGroupAdapter.find(ctx, { project, name: names.group(env.name) }))
          taken.push(`variable group ${names.group(env.name)}`);
        if (await environmentAdapter.find(ctx, { project, name: names.environment(env.name) }))
          taken.push(`environment ${names.environment(env.name)}`);
      }
      if (Object.keys(req.variables).length > 0 || Object.keys(req.secrets ?? {}).length > 0)
        if (await variableGroupAdapter.find(ctx, { project, name: names.ciGroup })) taken.push(`variable group ${names.ciGroup}`);
      for (const p of names.pipelines)
        if (await pipelineAdapter.find(ctx, { project, name: p.name, folder: names.folder }))
          taken.push(`pipeline ${names.folder}\\${p.name}`);
      for (const t of taken)
        issues.push({
          message: `${t} already exists in project ${project}, but repository ${req.name} does not`,
          hint: "remove it, or choose another repository name",
        });
    }

    // Teams granted access to the repository, and approvers named as teams, must be teams of the project.
    if (req.teams.length > 0) {
      const teams = await teamsOf(ctx, project);
      for (const t of req.teams)
        if (!teams.has(t.name.toLowerCase()))
          issues.push({
            message: `team ${t.name} (${t.permission} access to ${req.name}) is not a team of project ${project}`,
            hint: "create the team in the project, or fix its name",
          });
    }
    const reviewers = [...new Set(req.environments.flatMap((e) => e.reviewers))].filter((r) => !GUID.test(r));
    if (reviewers.length > 0) {
      const teams = await teamsOf(ctx, project);
      for (const env of req.environments)
        for (const r of env.reviewers)
          if (!GUID.test(r) && !teams.has(r.toLowerCase()))
            issues.push({
              message: `environment ${env.name}: approver ${r} is not a team of project ${project}`,
              hint: "create the team in the project, or fix its name",
            });
    }
    return issues;
  };

  const desired = (req: BootstrapRequest): DesiredResource[] => {
    const project = req.owner;
    if (!project)
      throw new UserError(`Azure DevOps bootstrap of ${req.name}: no project`, "name the project (the request's owner)");
    const names = azureDevopsNames(req);
    const base = { project, repository: req.name };
    const repoRef = [ref("azure-devops.repository", "repository")];
    const out: DesiredResource[] = [
      { kind: "azure-devops.repository", name: "repository", spec: { project, name: req.name }, dependsOn: [] },
      {
        kind: "azure-devops.files",
        name: req.defaultBranch,
        spec: {
          ...base,
          branch: req.defaultBranch,
          message: options.commitMessage ?? "Initial project from Lakeforge",
          files: new FileSet(req.files),
        },
        dependsOn: repoRef,
      },
      {
        kind: "azure-devops.branch",
        name: req.defaultBranch,
        spec: { ...base, branch: req.defaultBranch, default: true },
        dependsOn: [ref("azure-devops.files", req.defaultBranch)],
      },
    ];
    // Each team's access to the repository (an entry of its access control list).
    for (const t of req.teams)
      out.push({
        kind: "azure-devops.repository_permission",
        name: t.name,
        spec: { ...base, team: t.name, permission: t.permission },
        dependsOn: repoRef,
      });
    if (req.releaseBranch !== req.defaultBranch)
      out.push({
        kind: "azure-devops.branch",
        name: req.releaseBranch,
        spec: { ...base, branch: req.releaseBranch, from: req.defaultBranch, default: false },
        dependsOn: [ref("azure-devops.branch", req.defaultBranch)],
      });

    const group = (
      name: string,
      description: string,
      variables: Record<string, string>,
      secrets: BootstrapRequest["environments"][number]["secrets"],
    ) => ({
      kind: "azure-devops.variable_group",
      name,
      spec: { project, name, description, variables, secrets, secretNames: Object.keys(secrets).sort() },
      dependsOn: repoRef,
    });
    const repoSecrets = req.secrets ?? {};
    const hasCiGroup = Object.keys(req.variables).length > 0 || Object.keys(repoSecrets).length > 0;
    if (hasCiGroup)
      out.push(
        group(names.ciGroup, `CI values of ${req.name}, read outside any environment (Lakeforge)`, req.variables, repoSecrets),
      );
    for (const env of req.environments) {
      out.push(group(names.group(env.name), `${env.name} values of ${req.name} (Lakeforge)`, env.variables, env.secrets));
      const envName = names.environment(env.name);
      out.push({
        kind: "azure-devops.environment",
        name: env.name,
        spec: { project, name: envName, description: `${env.name} deployments of ${req.name} (Lakeforge)` },
        dependsOn: repoRef,
      });
      if (env.reviewers.length > 0)
        out.push({
          kind: "azure-devops.approval_check",
          name: env.name,
          spec: {
            project,
            environment: envName,
            approvers: [...env.reviewers],
            instructions: `Approve the deployment of ${req.name} to ${env.name}.`,
            timeoutMinutes: options.approvalTimeoutMinutes ?? 43200,
          },
          dependsOn: [ref("azure-devops.environment", env.name)],
        });
    }

    const envRefs = req.environments.flatMap((e) => [
      ref("azure-devops.environment", e.name),
      ref("azure-devops.variable_group", names.group(e.name)),
    ]);
    for (const p of names.pipelines)
      out.push({
        kind: "azure-devops.pipeline",
        name: p.base,
        spec: { ...base, name: p.name, folder: names.folder, path: p.file },
        // The file must be on the default branch; the groups and environments it names should exist first.
        dependsOn: [ref("azure-devops.branch", req.defaultBranch), ...envRefs],
      });
    // Authorise the repository's pipelines for the groups and environments they use, so their first
    // run does not wait for a project administrator to permit them.
    if (names.pipelines.length > 0) {
      const pipelineNames = names.pipelines.map((p) => p.name);
      const pipelineRefs = names.pipelines.map((p) => ref("azure-devops.pipeline", p.base));
      const permit = (resourceType: "variablegroup" | "environment", resourceName: string, resource: Ref) =>
        out.push({
          kind: "azure-devops.pipeline_permission",
          name: `${resourceType}/${resourceName}`,
          spec: { project, resourceType, resourceName, folder: names.folder, pipelines: pipelineNames },
          dependsOn: [resource, ...pipelineRefs],
        });
      if (hasCiGroup) permit("variablegroup", names.ciGroup, ref("azure-devops.variable_group", names.ciGroup));
      for (const env of req.environments) {
        permit("variablegroup", names.group(env.name), ref("azure-devops.variable_group", names.group(env.name)));
        permit("environment", names.environment(env.name), ref("azure-devops.environment", env.name));
      }
    }
    const validation =
      options.buildValidation === false ? undefined : names.pipelines.find((p) => p.base === (options.buildValidation ?? "ci"));
    for (const branch of new Set([req.defaultBranch, req.releaseBranch])) {
      out.push({
        kind: "azure-devops.branch_policy",
        name: `${branch}/minimum_reviewers`,
        spec: {
          ...base,
          branch,
          policy: "minimum_reviewers",
          minimumApprovers: options.minimumApprovers ?? 1,
          resetOnSourcePush: true,
        },
        dependsOn: [ref("azure-devops.branch", branch)],
      });
      if (validation)
        out.push({
          kind: "azure-devops.branch_policy",
          name: `${branch}/build_validation`,
          spec: { ...base, branch, policy: "build_validation", pipeline: validation.name, folder: names.folder },
          dependsOn: [ref("azure-devops.branch", branch), ref("azure-devops.pipeline", validation.base)],
        });
    }
    return out;
  };

  const adapters = (): Map<string, ResourceAdapter<AzureDevopsCtx>> =>
    new Map(
      [
        repositoryAdapter,
        filesAdapter,
        branchAdapter,
        variableGroupAdapter,
        environmentAdapter,
        approvalCheckAdapter,
        pipelineAdapter,
        branchPolicyAdapter,
        pipelinePermissionAdapter,
        repositoryPermissionAdapter,
      ].map((a) => [a.kind, a]),
    );

  const provider: ForgeProvider<AzureDevopsCtx> = { name: "azure-devops", preflight, desired, adapters };
  if (options.state) {
    const state = options.state;
    provider.stateBackend = () => state;
  }
  return provider;
}
