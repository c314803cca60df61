import { RemoteError } from "../../clients/http.js";
import type { ResourceAdapter } from "../../engine/types.js";
import { type DatabricksCtx, isObject, mkdirs, type Obj, orMissing, parentPath, removedFields } from "./common.js";

/**
 * `databricks.experiment`: an MLflow experiment, named by its workspace path. A deleted experiment
 * counts as gone. Renaming uses `experiments/update`; tags are set and removed one by one. Tags the
 * service sets itself (`mlflow.*`) are neither compared nor touched; the configured tags are compared
 * by key, so a tag added behind Lakeforge's back shows as drift when `tags` is configured. The artifact
 * location is fixed at creation.
 */

const API = "/api/2.0/mlflow/experiments";

interface Tag {
  key: string;
  value: string;
}

const userTags = (remote: Obj): Tag[] =>
  (Array.isArray(remote.tags) ? remote.tags : [])
    .filter((t): t is Tag => isObject(t) && typeof t.key === "string" && !t.key.startsWith("mlflow."))
    .map((t) => ({ key: t.key, value: String(t.value ?? "") }));

const active = (e: Obj | undefined) => (e && e.lifecycle_stage !== "deleted" ? e : undefined);

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  const res = await orMissing(ctx.client.get<{ experiment?: Obj }>(`${API}/get`, { experiment_id: id }));
  return active(res?.experiment);
}

export const experimentAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.experiment",
  naturalKey: (spec) => String(spec.name),

  read,

  async find(ctx, spec) {
    const res = await orMissing(
      ctx.client.get<{ experiment?: Obj }>(`${API}/get-by-name`, { experiment_name: String(spec.name) }),
    );
    const e = active(res?.experiment);
    return e ? { id: String(e.experiment_id), remote: e } : undefined;
  },

  async create(ctx, spec) {
    await mkdirs(ctx, parentPath(String(spec.name)));
    const res = await ctx.client.post<{ experiment_id: string }>(`${API}/create`, {
      name: spec.name,
      ...(spec.artifact_location !== undefined ? { artifact_location: spec.artifact_location } : {}),
      ...(Array.isArray(spec.tags) ? { tags: spec.tags } : {}),
    });
    return { id: String(res.experiment_id) };
  },

  async update(ctx, id, spec, remote, changes) {
    if (spec.name !== remote.name) {
      await mkdirs(ctx, parentPath(String(spec.name)));
      await ctx.client.post(`${API}/update`, { experiment_id: id, new_name: spec.name }, { idempotent: true });
    }
    const manageTags = Array.isArray(spec.tags) || removedFields(changes).has("tags");
    if (manageTags) {
      const want = new Map(((spec.tags ?? []) as Tag[]).map((t) => [t.key, t.value]));
      const have = new Map(userTags(remote).map((t) => [t.key, t.value]));
      for (const [key, value] of want) {
        if (have.get(key) !== value) {
          await ctx.client.post(`${API}/set-experiment-tag`, { experiment_id: id, key, value }, { idempotent: true });
        }
      }
      for (const key of have.keys()) {
        if (!want.has(key)) {
          await ctx.client.post(`${API}/delete-experiment-tag`, { experiment_id: id, key }, { idempotent: true }).catch((e) => {
            // Already gone is fine; an endpoint the workspace lacks is not.
            if (!(e instanceof RemoteError && e.code === "RESOURCE_DOES_NOT_EXIST")) throw e;
          });
        }
      }
    }
    return undefined;
  },

  async delete(ctx, id) {
    await orMissing(ctx.client.post(`${API}/delete`, { experiment_id: id }, { idempotent: true }));
  },

  normalize: (remote) => ({
    name: remote.name,
    artifact_location: remote.artifact_location,
    tags: userTags(remote),
  }),

  outputs: (id) => ({ experiment_id: id }),
  rules: { recreateOn: ["artifact_location"], keyedArrays: { tags: "key" } },
};
