import type { PolicyConfiguration } from "azure-devops-node-api/interfaces/PolicyInterfaces.js";
import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import type { AzureDevopsCtx } from "../context.js";
import { heads, needRepository, repositoryByName, splitProjectId, str } from "./common.js";

/**
 * `azure-devops.branch_policy`: a blocking policy on a branch of the repository. Spec:
 * `{ project, repository, branch, policy, ... }` with `policy` one of
 *  - `minimum_reviewers` (`minimumApprovers`, `resetOnSourcePush`): pull requests need that many approvals;
 *  - `build_validation` (`pipeline`, `folder`): pull requests must pass that pipeline of the project.
 * Id `project/<policy configuration id>`.
 */

/** Policy type ids (the same in every organisation). */
export const POLICY_TYPES = {
  minimum_reviewers: "fa4e907d-c16b-4a4c-9dfa-4906e5d171dd",
  build_validation: "0609b952-1397-4640-95ec-e00a01b2c241",
} as const;
export type PolicyKind = keyof typeof POLICY_TYPES;

/** The scope of a branch policy (REST reference: Policy Configurations). */
export interface PolicyScope {
  repositoryId: string;
  refName: string;
  matchKind: "Exact" | "Prefix";
}
/** Settings of the minimum number of reviewers policy. */
export interface MinimumReviewersSettings {
  minimumApproverCount: number;
  creatorVoteCounts: boolean;
  allowDownvotes: boolean;
  resetOnSourcePush: boolean;
  scope: PolicyScope[];
}
/** Settings of the build validation policy. */
export interface BuildValidationSettings {
  buildDefinitionId: number;
  displayName: string;
  manualQueueOnly: boolean;
  queueOnSourceUpdateOnly: boolean;
  validDuration: number;
  scope: PolicyScope[];
}

const kindOf = (spec: Record<string, unknown>): PolicyKind => {
  const p = str(spec.policy);
  if (p !== "minimum_reviewers" && p !== "build_validation")
    throw new UserError(`azure-devops.branch_policy: unknown policy ${p}`);
  return p;
};

async function pipelineByName(ctx: AzureDevopsCtx, project: string, name: string, folder: string) {
  const api = await ctx.pipelines();
  const list = await ctx.call(`GET /${project}/_apis/pipelines`, () => api.listPipelines(project, undefined, 1000));
  const f = (x: string) => x.replace(/^[\\/]+/, "").toLowerCase();
  return (list ?? []).find((p) => str(p.name).toLowerCase() === name.toLowerCase() && f(str(p.folder)) === f(folder));
}

async function pipelineName(ctx: AzureDevopsCtx, project: string, id: number) {
  const api = await ctx.pipelines();
  const p = await ctx.call(`GET /${project}/_apis/pipelines/${id}`, () => api.getPipeline(project, id));
  return p?.name;
}

async function remoteOf(ctx: AzureDevopsCtx, project: string, repository: string, c: PolicyConfiguration) {
  const s = (c.settings ?? {}) as Partial<MinimumReviewersSettings & BuildValidationSettings>;
  const scope = s.scope?.[0];
  const policy = (Object.entries(POLICY_TYPES).find(([, v]) => v === c.type?.id?.toLowerCase())?.[0] ?? "unknown") as PolicyKind;
  const base = {
    project,
    repository,
    branch: (scope?.refName ?? "").replace(/^refs\/heads\//, ""),
    policy,
    enabled: c.isEnabled,
    blocking: c.isBlocking,
  };
  if (policy === "minimum_reviewers")
    return { ...base, minimumApprovers: s.minimumApproverCount ?? 0, resetOnSourcePush: s.resetOnSourcePush === true };
  const name = s.buildDefinitionId !== undefined ? await pipelineName(ctx, project, s.buildDefinitionId) : undefined;
  return { ...base, pipeline: name ?? `#${s.buildDefinitionId}` };
}

async function configuration(ctx: AzureDevopsCtx, spec: Record<string, unknown>, what: string): Promise<PolicyConfiguration> {
  const project = str(spec.project);
  const repo = await needRepository(ctx, project, str(spec.repository), what);
  const scope: PolicyScope[] = [{ repositoryId: repo.id, refName: heads(str(spec.branch)), matchKind: "Exact" }];
  const kind = kindOf(spec);
  if (kind === "minimum_reviewers") {
    const settings: MinimumReviewersSettings = {
      minimumApproverCount: Number(spec.minimumApprovers ?? 1),
      creatorVoteCounts: false,
      allowDownvotes: false,
      resetOnSourcePush: spec.resetOnSourcePush !== false,
      scope,
    };
    return { isEnabled: true, isBlocking: true, type: { id: POLICY_TYPES[kind] }, settings };
  }
  const p = await pipelineByName(ctx, project, str(spec.pipeline), str(spec.folder));
  if (p?.id === undefined) throw new UserError(`${what}: pipeline ${str(spec.pipeline)} does not exist in project ${project}`);
  const settings: BuildValidationSettings = {
    buildDefinitionId: p.id,
    displayName: str(spec.pipeline),
    manualQueueOnly: false,
    queueOnSourceUpdateOnly: true,
    validDuration: 720,
    scope,
  };
  return { isEnabled: true, isBlocking: true, type: { id: POLICY_TYPES[kind] }, settings };
}

const idOf = (project: string, id: number | undefined) => `${project}/${id}`;

export const branchPolicyAdapter: ResourceAdapter<AzureDevopsCtx> = {
  kind: "azure-devops.branch_policy",
  naturalKey: (spec) => `${str(spec.project)}/${str(spec.repository)}:${str(spec.branch)}/${str(spec.policy)}`.toLowerCase(),
  async read(ctx, id) {
    const { project, rest } = splitProjectId(id, "azure-devops.branch_policy");
    const api = await ctx.policy();
    const c = await ctx.call(`GET /${project}/_apis/policy/configurations/${rest}`, () =>
      api.getPolicyConfiguration(project, Number(rest)),
    );
    if (c?.id === undefined || c.isDeleted) return undefined;
    const repoId = ((c.settings ?? {}) as { scope?: PolicyScope[] }).scope?.[0]?.repositoryId;
    const repo = repoId ? await repositoryByName(ctx, project, repoId) : undefined;
    if (!repo) return undefined;
    return remoteOf(ctx, project, str(repo.name), c);
  },
  async find(ctx, spec) {
    const project = str(spec.project);
    const repo = await repositoryByName(ctx, project, str(spec.repository));
    if (!repo?.id) return undefined;
    const kind = kindOf(spec);
    const api = await ctx.policy();
    const list = await ctx.call(`GET /${project}/_apis/policy/configurations`, () =>
      api.getPolicyConfigurations(project, undefined, POLICY_TYPES[kind]),
    );
    const ref = heads(str(spec.branch));
    const c = (list ?? []).find((x) => {
      const scope = ((x.settings ?? {}) as { scope?: PolicyScope[] }).scope?.[0];
      return (
        !x.isDeleted &&
        x.type?.id?.toLowerCase() === POLICY_TYPES[kind] &&
        scope?.repositoryId === repo.id &&
        scope?.refName === ref
      );
    });
    return c?.id !== undefined ? { id: idOf(project, c.id), remote: await remoteOf(ctx, project, str(repo.name), c) } : undefined;
  },
  async create(ctx, spec) {
    const project = str(spec.project);
    const what = `azure-devops.branch_policy ${project}/${str(spec.repository)}:${str(spec.branch)} ${str(spec.policy)}`;
    const body = await configuration(ctx, spec, what);
    const api = await ctx.policy();
    const c = await ctx.call(`POST /${project}/_apis/policy/configurations`, () => api.createPolicyConfiguration(body, project));
    if (c?.id === undefined) throw new Error(`${what}: the create answered no id`);
    return { id: idOf(project, c.id), remote: await remoteOf(ctx, project, str(spec.repository), c) };
  },
  async update(ctx, id, spec) {
    const { project, rest } = splitProjectId(id, "azure-devops.branch_policy");
    const body = await configuration(ctx, spec, `azure-devops.branch_policy ${id}`);
    const api = await ctx.policy();
    const c = await ctx.call(`PUT /${project}/_apis/policy/configurations/${rest}`, () =>
      api.updatePolicyConfiguration(body, project, Number(rest)),
    );
    return c ? remoteOf(ctx, project, str(spec.repository), c) : undefined;
  },
  async delete(ctx, id) {
    const { project, rest } = splitProjectId(id, "azure-devops.branch_policy");
    const api = await ctx.policy();
    await ctx.call(`DELETE /${project}/_apis/policy/configurations/${rest}`, () =>
      api.deletePolicyConfiguration(project, Number(rest)),
    );
  },
  normalizeDesired: (spec) => {
    const base = {
      project: spec.project,
      repository: spec.repository,
      branch: spec.branch,
      policy: spec.policy,
      enabled: true,
      blocking: true,
    };
    return spec.policy === "minimum_reviewers"
      ? { ...base, minimumApprovers: Number(spec.minimumApprovers ?? 1), resetOnSourcePush: spec.resetOnSourcePush !== false }
      : { ...base, pipeline: spec.pipeline };
  },
  normalize: (remote) => remote,
  rules: { recreateOn: ["project", "repository", "branch", "policy"], ignore: ["folder"] },
};
