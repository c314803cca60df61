import type { EnvironmentInstance } from "azure-devops-node-api/interfaces/TaskAgentInterfaces.js";
import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { type AzureDevopsCtx, rawRequest, teamsOf } from "../context.js";
import { sorted, splitProjectId, str, strings } from "./common.js";

/**
 * `azure-devops.environment`: a pipelines environment of a project (deployment jobs name it with
 * `environment:`). Spec: `{ project, name, description }`. Id `project/<environment id>`.
 *
 * `azure-devops.approval_check`: the approval check of an environment: a deployment waits until one
 * of the approvers approves. Spec: `{ project, environment, approvers, instructions, timeoutMinutes }`
 * where `environment` is the environment's name and `approvers` are teams of the project (by name) or
 * identity ids. Written through the pipelines checks API (`_apis/pipelines/checks/configurations`),
 * which the Node library has no client for: the request goes through the library's own REST client.
 * Id `project/<check id>`.
 */

export const APPROVAL_CHECK_TYPE = { id: "8c6f20a7-a545-4486-9777-f762fafe0d4d", name: "Approval" } as const;
const CHECKS_API_VERSION = "7.1-preview.1";

async function environmentByName(ctx: AzureDevopsCtx, project: string, name: string): Promise<EnvironmentInstance | undefined> {
  const agent = await ctx.taskAgent();
  const list = await ctx.call(`GET /${project}/_apis/distributedtask/environments`, () => agent.getEnvironments(project, name));
  return (list ?? []).find((e) => str(e.name).toLowerCase() === name.toLowerCase());
}

const envRemote = (project: string, e: EnvironmentInstance) => ({ project, name: str(e.name), description: str(e.description) });

export const environmentAdapter: ResourceAdapter<AzureDevopsCtx> = {
  kind: "azure-devops.environment",
  naturalKey: (spec) => `${str(spec.project)}/${str(spec.name)}`.toLowerCase(),
  async read(ctx, id) {
    const { project, rest } = splitProjectId(id, "azure-devops.environment");
    const agent = await ctx.taskAgent();
    const e = await ctx.call(`GET /${project}/_apis/distributedtask/environments/${rest}`, () =>
      agent.getEnvironmentById(project, Number(rest)),
    );
    return e?.id !== undefined ? envRemote(project, e) : undefined;
  },
  async find(ctx, spec) {
    const project = str(spec.project);
    const e = await environmentByName(ctx, project, str(spec.name));
    return e?.id !== undefined ? { id: `${project}/${e.id}`, remote: envRemote(project, e) } : undefined;
  },
  async create(ctx, spec) {
    const project = str(spec.project);
    const agent = await ctx.taskAgent();
    const e = await ctx.call(`POST /${project}/_apis/distributedtask/environments`, () =>
      agent.addEnvironment({ name: str(spec.name), description: str(spec.description) }, project),
    );
    if (e?.id === undefined) throw new Error(`azure-devops.environment ${project}/${str(spec.name)}: the create answered no id`);
    return { id: `${project}/${e.id}`, remote: envRemote(project, e) };
  },
  async update(ctx, id, spec) {
    const { project, rest } = splitProjectId(id, "azure-devops.environment");
    const agent = await ctx.taskAgent();
    const e = await ctx.call(`PATCH /${project}/_apis/distributedtask/environments/${rest}`, () =>
      agent.updateEnvironment({ name: str(spec.name), description: str(spec.description) }, project, Number(rest)),
    );
    return e ? envRemote(project, e) : undefined;
  },
  async delete(ctx, id) {
    const { project, rest } = splitProjectId(id, "azure-devops.environment");
    const agent = await ctx.taskAgent();
    await ctx.call(`DELETE /${project}/_apis/distributedtask/environments/${rest}`, () =>
      agent.deleteEnvironment(project, Number(rest)),
    );
  },
  normalizeDesired: (spec) => ({ ...spec, description: str(spec.description) }),
  rules: { recreateOn: ["project"] },
};

/** A check configuration as the checks API takes and returns it. */
export interface CheckConfiguration {
  id?: number;
  type: { id: string; name?: string };
  settings?: {
    approvers?: { id: string; displayName?: string }[];
    executionOrder?: string;
    instructions?: string;
    minRequiredApprovers?: number;
    requesterCannotBeApprover?: boolean;
    blockedApprovers?: { id: string }[];
  };
  resource: { type: string; id: string; name?: string };
  timeout?: number;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Approver names → identity ids: teams of the project by name, or ids as given. */
export async function approverIds(ctx: AzureDevopsCtx, project: string, names: string[], what: string) {
  const teams = await teamsOf(ctx, project);
  return names.map((n) => {
    if (GUID.test(n)) return { id: n.toLowerCase() };
    const t = teams.get(n.toLowerCase());
    if (!t) throw new UserError(`${what}: approver ${n} is not a team of project ${project}`, "create the team or fix its name");
    return { id: t.id };
  });
}

async function checkRemote(ctx: AzureDevopsCtx, project: string, environment: string, c: CheckConfiguration) {
  const teams = await teamsOf(ctx, project);
  const byId = new Map([...teams.values()].map((t) => [t.id.toLowerCase(), t.name.toLowerCase()]));
  const s = c.settings ?? {};
  return {
    project,
    environment,
    environmentId: c.resource.id,
    approvers: sorted((s.approvers ?? []).map((a) => byId.get(a.id.toLowerCase()) ?? a.id.toLowerCase())),
    instructions: str(s.instructions),
    timeoutMinutes: c.timeout ?? 43200,
  };
}

async function checksOf(ctx: AzureDevopsCtx, project: string, envId: number | string): Promise<CheckConfiguration[]> {
  const list = await rawRequest<{ value?: CheckConfiguration[] }>(
    ctx,
    "GET",
    `${encodeURIComponent(project)}/_apis/pipelines/checks/configurations?resourceType=environment&resourceId=${envId}&$expand=settings`,
    CHECKS_API_VERSION,
  );
  return (list?.value ?? []).filter((c) => c.type?.id?.toLowerCase() === APPROVAL_CHECK_TYPE.id);
}

async function checkBody(
  ctx: AzureDevopsCtx,
  spec: Record<string, unknown>,
  envId: string,
  what: string,
): Promise<CheckConfiguration> {
  const project = str(spec.project);
  return {
    type: { ...APPROVAL_CHECK_TYPE },
    settings: {
      approvers: await approverIds(ctx, project, strings(spec.approvers), what),
      executionOrder: "anyOrder",
      instructions: str(spec.instructions),
      minRequiredApprovers: 0,
      requesterCannotBeApprover: false,
      blockedApprovers: [],
    },
    resource: { type: "environment", id: envId, name: str(spec.environment) },
    timeout: Number(spec.timeoutMinutes ?? 43200),
  };
}

const checkPath = (project: string, id: string) => `${encodeURIComponent(project)}/_apis/pipelines/checks/configurations/${id}`;

export const approvalCheckAdapter: ResourceAdapter<AzureDevopsCtx> = {
  kind: "azure-devops.approval_check",
  naturalKey: (spec) => `${str(spec.project)}/${str(spec.environment)}`.toLowerCase(),
  async read(ctx, id) {
    const { project, rest } = splitProjectId(id, "azure-devops.approval_check");
    const c = await rawRequest<CheckConfiguration>(
      ctx,
      "GET",
      `${checkPath(project, rest)}?$expand=settings`,
      CHECKS_API_VERSION,
    );
    if (!c?.resource) return undefined;
    const agent = await ctx.taskAgent();
    const env = await ctx.call(`GET /${project}/_apis/distributedtask/environments/${c.resource.id}`, () =>
      agent.getEnvironmentById(project, Number(c.resource.id)),
    );
    if (!env?.id) return undefined;
    return checkRemote(ctx, project, str(env.name), c);
  },
  async find(ctx, spec) {
    const project = str(spec.project);
    const env = await environmentByName(ctx, project, str(spec.environment));
    if (env?.id === undefined) return undefined;
    const c = (await checksOf(ctx, project, env.id))[0];
    return c?.id !== undefined
      ? { id: `${project}/${c.id}`, remote: await checkRemote(ctx, project, str(env.name), c) }
      : undefined;
  },
  async create(ctx, spec) {
    const project = str(spec.project);
    const what = `azure-devops.approval_check ${project}/${str(spec.environment)}`;
    const env = await environmentByName(ctx, project, str(spec.environment));
    if (env?.id === undefined) throw new UserError(`${what}: environment ${str(spec.environment)} does not exist`);
    const body = await checkBody(ctx, spec, String(env.id), what);
    const c = await rawRequest<CheckConfiguration>(
      ctx,
      "POST",
      `${encodeURIComponent(project)}/_apis/pipelines/checks/configurations`,
      CHECKS_API_VERSION,
      body,
    );
    if (c?.id === undefined) throw new Error(`${what}: the create answered no id`);
    return { id: `${project}/${c.id}`, remote: await checkRemote(ctx, project, str(env.name), c) };
  },
  async update(ctx, id, spec, remote) {
    const { project, rest } = splitProjectId(id, "azure-devops.approval_check");
    const body = await checkBody(ctx, spec, str(remote.environmentId), `azure-devops.approval_check ${id}`);
    const c = await rawRequest<CheckConfiguration>(ctx, "PATCH", checkPath(project, rest), CHECKS_API_VERSION, {
      ...body,
      id: Number(rest),
    });
    return c ? checkRemote(ctx, project, str(remote.environment), c) : undefined;
  },
  async delete(ctx, id) {
    const { project, rest } = splitProjectId(id, "azure-devops.approval_check");
    await rawRequest(ctx, "DELETE", checkPath(project, rest), CHECKS_API_VERSION);
  },
  normalize: (remote) => ({
    project: remote.project,
    environment: remote.environment,
    approvers: remote.approvers,
    instructions: remote.instructions,
    timeoutMinutes: remote.timeoutMinutes,
  }),
  normalizeDesired: (spec) => ({
    project: spec.project,
    environment: spec.environment,
    approvers: sorted(strings(spec.approvers).map((a) => a.toLowerCase())),
    instructions: str(spec.instructions),
    timeoutMinutes: Number(spec.timeoutMinutes ?? 43200),
  }),
  rules: { recreateOn: ["project", "environment"] },
};
