import type { ResourceAdapter } from "../../engine/types.js";
import {
  type DatabricksCtx,
  deleting,
  isObject,
  listByIds,
  listPages,
  matchByName,
  type Obj,
  orMissing,
  single,
} from "./common.js";

/**
 * `databricks.job` (Jobs API 2.2). The spec is the job's settings. `jobs/get` pages the arrays
 * `tasks`, `job_clusters`, `parameters` and `environments` (100 per answer): the pages are merged.
 * Updates use `jobs/reset`, which replaces every setting (so removing a field from the configuration
 * removes it from the job). Arrays of tasks, job clusters, parameters and environments are compared
 * by key, so their order does not matter.
 *
 * A plan reads many jobs from `jobs/list` with `expand_tasks` (100 jobs a page, each with its full
 * settings); a job flagged `has_more` (an array longer than 100) is read with `jobs/get` instead.
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

/** A job of `jobs/list` (with `expand_tasks`) in the form `read` gives; undefined when its arrays were cut. */
function fromList(job: Obj): Obj | undefined {
  if (job.has_more === true) return undefined;
  const { has_more: _more, ...rest } = job;
  return { ...rest, settings: isObject(job.settings) ? job.settings : {} };
}

const LIST_QUERY = { limit: 100, expand_tasks: true };

export const jobAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.job",
  naturalKey: (spec) => String(spec.name),

  read,

  async readMany(ctx, ids, limit) {
    const listed = await limit(() => listByIds(ctx, `${API}/list`, LIST_QUERY, "jobs", ids, (j) => String(j.job_id)));
    const out = new Map<string, Obj>();
    for (const [id, job] of listed) {
      const remote = fromList(job); // arrays cut at 100 elements: left to `read`
      if (remote) out.set(id, remote);
    }
    return out;
  },

  /** The whole list, when it has no more pages than there are names to look for. */
  async findMany(ctx, specs, limit) {
    const names = new Set(specs.map((s) => String(s.name)));
    const out = new Map<string, { id: string; remote: Obj } | undefined>();
    if (names.size < 2) return out;
    const listed = await limit(() => listPages(ctx, `${API}/list`, LIST_QUERY, "jobs", names.size));
    for (const [name, job] of matchByName(names, listed, (j) => (isObject(j.settings) ? String(j.settings.name) : undefined))) {
      const remote = job && fromList(job);
      if (!job) out.set(name, undefined);
      else if (remote) out.set(name, { id: String(job.job_id), remote });
    }
    return out;
  },

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
