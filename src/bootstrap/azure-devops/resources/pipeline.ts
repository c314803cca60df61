import {
  ConfigurationType,
  type CreatePipelineConfigurationParameters,
  type Pipeline,
  RepositoryType,
} from "azure-devops-node-api/interfaces/PipelinesInterfaces.js";
import type { ResourceAdapter } from "../../../engine/types.js";
import type { AzureDevopsCtx } from "../context.js";
import { needRepository, splitProjectId, str } from "./common.js";

/**
 * `azure-devops.pipeline`: a YAML pipeline defined by a file of the repository. Spec:
 * `{ project, repository, name, folder, path }` (`path` relative to the repository root, e.g.
 * `azure-pipelines/ci.yml`). Pipelines cannot be edited through the Pipelines API, so any change
 * replaces the pipeline; deleting goes through the build definitions API. Id `project/<pipeline id>`.
 */

/**
 * The YAML configuration of a new pipeline as the REST API takes it: the library's
 * `CreatePipelineConfigurationParameters` declares only `type`; the file and repository are
 * documented by the REST reference (Pipelines - Create).
 */
export interface YamlPipelineConfiguration extends CreatePipelineConfigurationParameters {
  path: string;
  repository: { id: string; type: RepositoryType; name?: string };
}

interface PipelineWithYaml extends Pipeline {
  configuration?: Pipeline["configuration"] & { path?: string; repository?: { id?: string; name?: string } };
}

const normPath = (p: string) => `/${p.replace(/^\/+/, "")}`;
const normFolder = (f: string) => `\\${f.replace(/^[\\/]+/, "").replace(/\//g, "\\")}`;

const remoteOf = (project: string, repository: string | undefined, p: PipelineWithYaml) => ({
  project,
  name: str(p.name),
  folder: normFolder(str(p.folder)),
  ...(p.configuration?.path ? { path: normPath(p.configuration.path) } : {}),
  ...(repository ? { repository } : {}),
});

async function list(ctx: AzureDevopsCtx, project: string): Promise<PipelineWithYaml[]> {
  const api = await ctx.pipelines();
  const out: PipelineWithYaml[] = [];
  let token: string | undefined;
  for (let page = 0; page < 100; page++) {
    const batch = await ctx.call(`GET /${project}/_apis/pipelines`, () => api.listPipelines(project, undefined, 100, token));
    out.push(...(batch ?? []));
    token = (batch as unknown as { continuationToken?: string })?.continuationToken;
    if (!token || !batch || batch.length === 0) break;
  }
  return out;
}

export const pipelineAdapter: ResourceAdapter<AzureDevopsCtx> = {
  kind: "azure-devops.pipeline",
  naturalKey: (spec) => `${str(spec.project)}/${normFolder(str(spec.folder))}/${str(spec.name)}`.toLowerCase(),
  async read(ctx, id) {
    const { project, rest } = splitProjectId(id, "azure-devops.pipeline");
    const api = await ctx.pipelines();
    const p = await ctx.call(`GET /${project}/_apis/pipelines/${rest}`, () => api.getPipeline(project, Number(rest)));
    return p?.id !== undefined ? remoteOf(project, undefined, p) : undefined;
  },
  async find(ctx, spec) {
    const project = str(spec.project);
    const p = (await list(ctx, project)).find(
      (x) =>
        str(x.name).toLowerCase() === str(spec.name).toLowerCase() && normFolder(str(x.folder)) === normFolder(str(spec.folder)),
    );
    if (p?.id === undefined) return undefined;
    const full = (await pipelineAdapter.read(ctx, `${project}/${p.id}`)) ?? remoteOf(project, undefined, p);
    return { id: `${project}/${p.id}`, remote: full };
  },
  async create(ctx, spec) {
    const project = str(spec.project);
    const repo = await needRepository(ctx, project, str(spec.repository), `azure-devops.pipeline ${project}/${str(spec.name)}`);
    const configuration: YamlPipelineConfiguration = {
      type: ConfigurationType.Yaml,
      path: normPath(str(spec.path)),
      repository: { id: repo.id, type: RepositoryType.AzureReposGit, name: str(repo.name) },
    };
    const api = await ctx.pipelines();
    const p = await ctx.call(`POST /${project}/_apis/pipelines`, () =>
      api.createPipeline({ name: str(spec.name), folder: normFolder(str(spec.folder)), configuration }, project),
    );
    if (p?.id === undefined) throw new Error(`azure-devops.pipeline ${project}/${str(spec.name)}: the create answered no id`);
    return { id: `${project}/${p.id}`, remote: remoteOf(project, str(spec.repository), p) };
  },
  async update(_ctx, _id, _spec, remote) {
    // Every compared field forces a replacement; an update only records an adopted pipeline.
    return remote;
  },
  async delete(ctx, id) {
    const { project, rest } = splitProjectId(id, "azure-devops.pipeline");
    const build = await ctx.build();
    await ctx.call(`DELETE /${project}/_apis/build/definitions/${rest}`, () => build.deleteDefinition(project, Number(rest)));
  },
  normalize: (remote, previous) => ({
    project: remote.project,
    name: remote.name,
    folder: remote.folder,
    ...(remote.path !== undefined ? { path: remote.path } : {}),
    // The API does not name the repository back by name: the one applied last time stands.
    ...(previous?.repository !== undefined ? { repository: previous.repository } : {}),
  }),
  normalizeDesired: (spec) => ({
    project: spec.project,
    name: spec.name,
    folder: normFolder(str(spec.folder)),
    path: normPath(str(spec.path)),
    repository: spec.repository,
  }),
  outputs: (id) => ({ pipeline_id: Number(splitProjectId(id, "azure-devops.pipeline").rest) }),
  rules: { recreateOn: ["project", "name", "folder", "path"] },
};
