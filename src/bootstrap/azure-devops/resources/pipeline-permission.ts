import type { ResourceAdapter } from "../../../engine/types.js";
import { UserError } from "../../../lib/errors.js";
import { type AzureDevopsCtx, rawRequest } from "../context.js";
import { sorted, splitProjectId, str, strings } from "./common.js";
import { environmentAdapter } from "./environment.js";
import { variableGroupAdapter } from "./variable-group.js";

/**
 * `azure-devops.pipeline_permission`: which pipelines may use a protected resource (a variable group
 * or an environment) without a project administrator permitting them on their first run. Spec:
 * `{ project, resourceType: "variablegroup" | "environment", resourceName, folder, pipelines }` with
 * `pipelines` the names of pipelines in `folder`. Only those pipelines are managed: others keep
 * whatever permission they have. Written through the pipeline permissions API
 * (`_apis/pipelines/pipelinePermissions`), which the Node library has no client for. Id
 * `project/<resourceType>/<resource id>/<folder, URI-encoded>`.
 */

const API_VERSION = "7.1-preview.1";

/** A pipeline's permission on a resource, as the REST API (Pipeline Permissions) takes and returns it. */
export interface PipelinePermission {
  id: number;
  authorized: boolean;
  authorizedBy?: unknown;
  authorizedOn?: string;
}

/** The permissions of pipelines on one resource (REST reference: ResourcePipelinePermissions). */
export interface ResourcePipelinePermissions {
  resource?: { type: string; id: string; name?: string };
  pipelines?: PipelinePermission[];
  allPipelines?: { authorized: boolean; authorizedBy?: unknown; authorizedOn?: string } | null;
}

const normFolder = (f: string) => `\\${f.replace(/^[\\/]+/, "").replace(/\//g, "\\")}`;

const parse = (id: string) => {
  const { project, rest } = splitProjectId(id, "azure-devops.pipeline_permission");
  const [type, resourceId, folder] = rest.split("/");
  if (!type || !resourceId || folder === undefined) throw new UserError(`azure-devops.pipeline_permission: malformed id ${id}`);
  return { project, type, resourceId, folder: decodeURIComponent(folder) };
};
const idOf = (project: string, type: string, resourceId: string, folder: string) =>
  `${project}/${type}/${resourceId}/${encodeURIComponent(normFolder(folder))}`;

const path = (project: string, type: string, resourceId: string) =>
  `${encodeURIComponent(project)}/_apis/pipelines/pipelinePermissions/${type}/${resourceId}`;

/** Pipeline ids of the project's folder by lower-case name. */
async function pipelinesOf(ctx: AzureDevopsCtx, project: string, folder: string): Promise<Map<string, number>> {
  const api = await ctx.pipelines();
  const out = new Map<string, number>();
  let token: string | undefined;
  for (let page = 0; page < 100; page++) {
    const batch = await ctx.call(`GET /${project}/_apis/pipelines`, () => api.listPipelines(project, undefined, 100, token));
    for (const p of batch ?? [])
      if (p.id !== undefined && normFolder(str(p.folder)).toLowerCase() === normFolder(folder).toLowerCase())
        out.set(str(p.name).toLowerCase(), p.id);
    token = (batch as unknown as { continuationToken?: string })?.continuationToken;
    if (!token || !batch || batch.length === 0) break;
  }
  return out;
}

async function resourceId(ctx: AzureDevopsCtx, spec: Record<string, unknown>): Promise<string | undefined> {
  const project = str(spec.project);
  const name = str(spec.resourceName);
  const found =
    spec.resourceType === "environment"
      ? await environmentAdapter.find(ctx, { project, name })
      : await variableGroupAdapter.find(ctx, { project, name });
  return found ? splitProjectId(found.id, "azure-devops.pipeline_permission").rest : undefined;
}

async function current(ctx: AzureDevopsCtx, project: string, type: string, id: string) {
  return rawRequest<ResourcePipelinePermissions>(ctx, "GET", path(project, type, id), API_VERSION);
}

async function write(ctx: AzureDevopsCtx, project: string, type: string, id: string, pipelines: PipelinePermission[]) {
  if (pipelines.length === 0) return;
  await rawRequest<ResourcePipelinePermissions>(ctx, "PATCH", path(project, type, id), API_VERSION, {
    resource: { type, id },
    pipelines,
  } satisfies ResourcePipelinePermissions);
}

/** The managed state: which of the folder's pipelines (by name) are authorised. */
async function remoteOf(ctx: AzureDevopsCtx, project: string, type: string, id: string, folder: string) {
  const perms = await current(ctx, project, type, id);
  if (!perms) return undefined;
  const byId = new Map([...(await pipelinesOf(ctx, project, folder))].map(([name, pid]) => [pid, name]));
  const names = (perms.pipelines ?? []).filter((p) => p.authorized && byId.has(p.id)).map((p) => byId.get(p.id) as string);
  return { project, resourceType: type, folder: normFolder(folder), pipelines: sorted(names) };
}

async function apply(ctx: AzureDevopsCtx, project: string, type: string, id: string, spec: Record<string, unknown>) {
  const folder = str(spec.folder);
  const byName = await pipelinesOf(ctx, project, folder);
  const want = new Set<number>();
  for (const name of strings(spec.pipelines)) {
    const pid = byName.get(name.toLowerCase());
    if (pid === undefined)
      throw new UserError(`azure-devops.pipeline_permission ${project}/${type}/${id}: pipeline ${name} does not exist`);
    want.add(pid);
  }
  const inFolder = new Set(byName.values());
  const perms = await current(ctx, project, type, id);
  const had = new Set((perms?.pipelines ?? []).filter((p) => p.authorized).map((p) => p.id));
  const changes: PipelinePermission[] = [
    ...[...want].filter((p) => !had.has(p)).map((p) => ({ id: p, authorized: true })),
    ...[...had].filter((p) => inFolder.has(p) && !want.has(p)).map((p) => ({ id: p, authorized: false })),
  ];
  await write(ctx, project, type, id, changes);
  return {
    project,
    resourceType: type,
    folder: normFolder(folder),
    pipelines: sorted([...byName].filter(([, p]) => want.has(p)).map(([n]) => n)),
  };
}

export const pipelinePermissionAdapter: ResourceAdapter<AzureDevopsCtx> = {
  kind: "azure-devops.pipeline_permission",
  naturalKey: (spec) => `${str(spec.project)}/${str(spec.resourceType)}/${str(spec.resourceName)}`.toLowerCase(),
  async read(ctx, id) {
    const p = parse(id);
    try {
      return await remoteOf(ctx, p.project, p.type, p.resourceId, p.folder);
    } catch (e) {
      if ((e as { status?: number }).status === 404) return undefined;
      throw e;
    }
  },
  async find(ctx, spec) {
    const project = str(spec.project);
    const rid = await resourceId(ctx, spec);
    if (rid === undefined) return undefined;
    const type = str(spec.resourceType);
    const remote = await remoteOf(ctx, project, type, rid, str(spec.folder));
    return remote
      ? { id: idOf(project, type, rid, str(spec.folder)), remote: { ...remote, resourceName: str(spec.resourceName) } }
      : undefined;
  },
  async create(ctx, spec) {
    const project = str(spec.project);
    const type = str(spec.resourceType);
    const rid = await resourceId(ctx, spec);
    if (rid === undefined)
      throw new UserError(`azure-devops.pipeline_permission: ${type} ${str(spec.resourceName)} does not exist in ${project}`);
    const remote = { ...(await apply(ctx, project, type, rid, spec)), resourceName: str(spec.resourceName) };
    return { id: idOf(project, type, rid, str(spec.folder)), remote };
  },
  async update(ctx, id, spec) {
    const p = parse(id);
    return apply(ctx, p.project, p.type, p.resourceId, spec);
  },
  async delete(ctx, id) {
    const p = parse(id);
    let perms: ResourcePipelinePermissions | undefined;
    try {
      perms = await current(ctx, p.project, p.type, p.resourceId);
    } catch (e) {
      // The resource went first: its permissions went with it.
      if ((e as { status?: number }).status === 404) return;
      throw e;
    }
    await write(
      ctx,
      p.project,
      p.type,
      p.resourceId,
      (perms?.pipelines ?? []).filter((x) => x.authorized).map((x) => ({ id: x.id, authorized: false })),
    );
  },
  normalize: (remote, previous) => ({
    project: remote.project,
    resourceType: remote.resourceType,
    // Read back by id: the name applied last time stands.
    ...((remote.resourceName ?? previous?.resourceName) !== undefined
      ? { resourceName: remote.resourceName ?? previous?.resourceName }
      : {}),
    folder: remote.folder,
    pipelines: remote.pipelines,
  }),
  normalizeDesired: (spec) => ({
    project: spec.project,
    resourceType: spec.resourceType,
    resourceName: spec.resourceName,
    folder: normFolder(str(spec.folder)),
    pipelines: sorted(strings(spec.pipelines).map((p) => p.toLowerCase())),
  }),
  rules: { recreateOn: ["project", "resourceType", "resourceName"] },
};
