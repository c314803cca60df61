import type { ResourceAdapter } from "../../engine/types.js";
import { canonicalJson, type DatabricksCtx, deleting, type Obj, orMissing, pick, single } from "./common.js";

/**
 * `databricks.cluster_policy` (Cluster Policies API). The spec's `definition` and
 * `policy_family_definition_overrides` are objects; the API takes and returns JSON strings. Both are
 * compared as whole documents in canonical form (key order and formatting do not matter), so a rule
 * added behind Lakeforge's back is drift too.
 */

const API = "/api/2.0/policies/clusters";
const FIELDS = [
  "name",
  "description",
  "definition",
  "max_clusters_per_user",
  "policy_family_id",
  "policy_family_definition_overrides",
  "libraries",
];
const DOCUMENTS = ["definition", "policy_family_definition_overrides"] as const;

/** The request body: the spec with its documents as JSON strings. */
function body(spec: Obj): Obj {
  const out = pick(spec, FIELDS);
  for (const k of DOCUMENTS) if (out[k] !== undefined) out[k] = JSON.stringify(out[k]);
  return out;
}

function parseDocument(v: unknown): unknown {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** Documents as canonical JSON strings, so that they compare as wholes. */
function comparable(o: Obj): Obj {
  const out = { ...o };
  for (const k of DOCUMENTS) if (out[k] !== undefined) out[k] = canonicalJson(parseDocument(out[k]));
  return out;
}

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  return orMissing(ctx.client.get<Obj>(`${API}/get`, { policy_id: id }));
}

export const clusterPolicyAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.cluster_policy",
  naturalKey: (spec) => String(spec.name),

  read,

  async find(ctx, spec) {
    const res = await ctx.client.get<{ policies?: Obj[] }>(`${API}/list`);
    const matches = (res.policies ?? []).filter((p) => p.name === spec.name);
    const hit = single(matches, `cluster policies named "${String(spec.name)}"`, (p) => String(p.policy_id));
    return hit ? { id: String(hit.policy_id), remote: hit } : undefined;
  },

  async create(ctx, spec) {
    const res = await ctx.client.post<{ policy_id: string }>(`${API}/create`, body(spec));
    return { id: res.policy_id };
  },

  async update(ctx, id, spec) {
    // `edit` replaces the whole policy: replaying it is harmless.
    await ctx.client.post(`${API}/edit`, { ...body(spec), policy_id: id }, { idempotent: true });
    return undefined;
  },

  async delete(ctx, id) {
    await deleting(ctx.client.post(`${API}/delete`, { policy_id: id }, { idempotent: true }));
  },

  normalize: (remote) => comparable(pick(remote, FIELDS)),
  normalizeDesired: (spec) => comparable(spec),
  outputs: (id) => ({ policy_id: id }),
  rules: {},
};
