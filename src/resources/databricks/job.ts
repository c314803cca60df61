import type { ResourceAdapter } from "../../engine/types.js";
import { type DatabricksCtx, deleting, isObject, type Obj, orMissing, single } from "./common.js";

/**
 * `databricks.job` (Jobs API 2.2). The spec is the job's settings. `jobs/get` pages the arrays
 * `tasks`, `job_clusters`, `parameters` and `environments` (100 per answer): the pages are merged.
 * Updates use `jobs/reset`, which replaces every setting (so removing a field from the configuration
 * removes it from the job). Arrays of tasks, job clusters, parameters and environments are compared
 * by key, so their order does not matter.
 */

const API = "/api/2.2/jobs";
const PAGED_ARRAYS = ["tasks", "job_clusters", "parameters", "environments"] as const;
export const JOB_KEYS: Record<string, string> = {
  tasks: "task_key",
  job_clusters: "job_cluster_key",
  parameters: "name",
  environments: "environment_key",
};

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  const first = await orMissing(ctx.client.get<Obj>(`${API}/get`, { job_id: id }));
  if (!first) return undefined;
  const settings: Obj = isObject(first.settings) ? { ...first.settings } : {};
  let token = typeof first.next_page_token === "string" ? first.next_page_token : undefined;
  const seen = new Set<string>();
  while (token && !seen.has(token)) {
    seen.add(token);
    const page = await ctx.client.get<Obj>(`${API}/get`, { job_id: id, page_token: token });
    const more: Obj = isObject(page.settings) ? page.settings : {};
    for (const key of PAGED_ARRAYS) {
      if (Array.isArray(more[key])) settings[key] = [...(Array.isArray(settings[key]) ? settings[key] : []), ...more[key]];
    }
    token = typeof page.next_page_token === "string" ? page.next_page_token : undefined;
  }
  const { next_page_token: _t, ...rest } = first;
  return { ...rest, settings };
}

export const jobAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.job",
  naturalKey: (spec) => String(spec.name),

  read,

  async find(ctx, spec) {
    const matches: Obj[] = [];
    for await (const j of ctx.client.paginate<Obj>(`${API}/list`, { name: String(spec.name), limit: 100 }, "jobs")) {
      if (isObject(j.settings) && j.settings.name === spec.name) matches.push(j);
    }
    const hit = single(matches, `jobs named "${String(spec.name)}"`, (j) => String(j.job_id));
    if (!hit) return undefined;
    const id = String(hit.job_id);
    const remote = await read(ctx, id);
    return remote ? { id, remote } : undefined;
  },

  async create(ctx, spec) {
    const res = await ctx.client.post<{ job_id: number | string }>(`${API}/create`, spec);
    return { id: String(res.job_id) };
  },

  async update(ctx, id, spec) {
    await ctx.client.post(`${API}/reset`, { job_id: Number(id), new_settings: spec }, { idempotent: true });
    return undefined;
  },

  async delete(ctx, id) {
    await deleting(ctx.client.post(`${API}/delete`, { job_id: Number(id) }, { idempotent: true }));
  },

  normalize: (remote) => (isObject(remote.settings) ? remote.settings : {}),
  outputs: (id) => ({ job_id: Number(id) }),
  rules: { keyedArrays: JOB_KEYS },
};
