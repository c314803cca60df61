import type { ResourceAdapter } from "../../engine/types.js";
import { type DatabricksCtx, deleting, type Obj, omit, orMissing, pick, single } from "./common.js";

/**
 * `databricks.instance_pool` (Instance Pools API). `instance-pools/edit` changes only the name, node
 * type, sizes, idle timeout and custom tags; a change of any other setting replaces the pool.
 */

const API = "/api/2.0/instance-pools";
const EDITABLE = [
  "instance_pool_name",
  "node_type_id",
  "min_idle_instances",
  "max_capacity",
  "idle_instance_autotermination_minutes",
  "custom_tags",
  "remote_disk_throughput",
  "total_initial_remote_disk_size",
];
const CREATE_ONLY = [
  "aws_attributes",
  "azure_attributes",
  "gcp_attributes",
  "disk_spec",
  "enable_elastic_disk",
  "preloaded_spark_versions",
  "preloaded_docker_images",
];
const OUTPUT_FIELDS = ["instance_pool_id", "default_tags", "state", "stats", "status"];

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  return orMissing(ctx.client.get<Obj>(`${API}/get`, { instance_pool_id: id }));
}

export const instancePoolAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.instance_pool",
  naturalKey: (spec) => String(spec.instance_pool_name),

  read,

  async find(ctx, spec) {
    const res = await ctx.client.get<{ instance_pools?: Obj[] }>(`${API}/list`);
    const matches = (res.instance_pools ?? []).filter((p) => p.instance_pool_name === spec.instance_pool_name);
    const hit = single(matches, `instance pools named "${String(spec.instance_pool_name)}"`, (p) => String(p.instance_pool_id));
    return hit ? { id: String(hit.instance_pool_id), remote: hit } : undefined;
  },

  async create(ctx, spec) {
    const res = await ctx.client.post<{ instance_pool_id: string }>(`${API}/create`, spec);
    return { id: res.instance_pool_id };
  },

  async update(ctx, id, spec) {
    await ctx.client.post(`${API}/edit`, { ...pick(spec, EDITABLE), instance_pool_id: id }, { idempotent: true });
    return undefined;
  },

  async delete(ctx, id) {
    await deleting(ctx.client.post(`${API}/delete`, { instance_pool_id: id }, { idempotent: true }));
  },

  normalize: (remote) => omit(remote, OUTPUT_FIELDS),
  outputs: (id) => ({ instance_pool_id: id }),
  rules: { recreateOn: CREATE_ONLY },
};
