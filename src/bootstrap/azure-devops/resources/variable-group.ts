import type {
  VariableGroup,
  VariableGroupParameters,
  VariableValue,
} from "azure-devops-node-api/interfaces/TaskAgentInterfaces.js";
import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { Secret } from "../../../lib/secret.js";
import { type AzureDevopsCtx, projectId } from "../context.js";
import { sorted, splitProjectId, str, strings } from "./common.js";

/**
 * `azure-devops.variable_group`: a variable group of a project (a library group pipelines use with
 * `- group: <name>`). Spec: `{ project, name, description, variables, secrets, secretNames }`: plain
 * values as variables, `secrets` (`Secret`s) as secret variables. Azure DevOps never returns a secret
 * variable's value, so a change of one is found by the fingerprint kept in state, and a secret removed
 * or added by `secretNames`. Every write sends every value (secrets included), so an update never
 * blanks a secret. Id `project/<group id>`.
 */

const idOf = (project: string, id: number | undefined) => `${project}/${id}`;

function remoteOf(project: string, g: VariableGroup): Record<string, unknown> {
  const variables: Record<string, string> = {};
  const secretNames: string[] = [];
  for (const [name, v] of Object.entries(g.variables ?? {})) {
    if (v?.isSecret) secretNames.push(name);
    else variables[name] = str(v?.value);
  }
  return { project, name: str(g.name), description: str(g.description), variables, secretNames: sorted(secretNames) };
}

async function parameters(ctx: AzureDevopsCtx, spec: Record<string, unknown>, what: string): Promise<VariableGroupParameters> {
  const project = str(spec.project);
  const variables: Record<string, VariableValue> = {};
  for (const [name, value] of Object.entries((spec.variables as Record<string, unknown>) ?? {}))
    variables[name] = { value: str(value), isSecret: false };
  for (const [name, value] of Object.entries((spec.secrets as Record<string, unknown>) ?? {})) {
    if (!Secret.isSecret(value)) throw new UserError(`${what}: secret ${name} must be a secret value`);
    variables[name] = { value: value.reveal(), isSecret: true };
  }
  const description = str(spec.description);
  return {
    name: str(spec.name),
    description,
    type: "Vsts",
    variables,
    variableGroupProjectReferences: [
      { name: str(spec.name), description, projectReference: { id: await projectId(ctx, project), name: project } },
    ],
  };
}

async function findByName(ctx: AzureDevopsCtx, project: string, name: string): Promise<VariableGroup | undefined> {
  const agent = await ctx.taskAgent();
  const groups = await ctx.call(`GET /${project}/_apis/distributedtask/variablegroups`, () =>
    agent.getVariableGroups(project, name),
  );
  return (groups ?? []).find((g) => str(g.name).toLowerCase() === name.toLowerCase());
}

export const variableGroupAdapter: ResourceAdapter<AzureDevopsCtx> = {
  kind: "azure-devops.variable_group",
  naturalKey: (spec) => `${str(spec.project)}/${str(spec.name)}`.toLowerCase(),
  async read(ctx, id) {
    const { project, rest } = splitProjectId(id, "azure-devops.variable_group");
    const agent = await ctx.taskAgent();
    const g = await ctx.call(`GET /${project}/_apis/distributedtask/variablegroups/${rest}`, () =>
      agent.getVariableGroup(project, Number(rest)),
    );
    return g?.id !== undefined ? remoteOf(project, g) : undefined;
  },
  async find(ctx, spec) {
    const project = str(spec.project);
    const g = await findByName(ctx, project, str(spec.name));
    return g?.id !== undefined ? { id: idOf(project, g.id), remote: remoteOf(project, g) } : undefined;
  },
  async create(ctx, spec) {
    const project = str(spec.project);
    const what = `azure-devops.variable_group ${project}/${str(spec.name)}`;
    const params = await parameters(ctx, spec, what);
    const agent = await ctx.taskAgent();
    const g = await ctx.call("POST /_apis/distributedtask/variablegroups", () => agent.addVariableGroup(params));
    if (g?.id === undefined) throw new Error(`${what}: the create answered no id`);
    return { id: idOf(project, g.id), remote: remoteOf(project, g) };
  },
  async update(ctx, id, spec) {
    const { project, rest } = splitProjectId(id, "azure-devops.variable_group");
    const params = await parameters(ctx, spec, `azure-devops.variable_group ${id}`);
    const agent = await ctx.taskAgent();
    const g = await ctx.call(`PUT /_apis/distributedtask/variablegroups/${rest}`, () =>
      agent.updateVariableGroup(params, Number(rest)),
    );
    return g ? remoteOf(project, g) : undefined;
  },
  async delete(ctx, id) {
    const { project, rest } = splitProjectId(id, "azure-devops.variable_group");
    const pid = await projectId(ctx, project);
    const agent = await ctx.taskAgent();
    await ctx.call(`DELETE /_apis/distributedtask/variablegroups/${rest}`, () => agent.deleteVariableGroup(Number(rest), [pid]));
  },
  normalizeDesired: (spec) => ({
    project: spec.project,
    name: spec.name,
    description: str(spec.description),
    variables: spec.variables ?? {},
    secretNames: sorted(strings(spec.secretNames)),
    ...(spec.secrets !== undefined ? { secrets: spec.secrets } : {}),
  }),
  rules: { recreateOn: ["project"] },
};
