import type { ResourceAdapter } from "../../engine/types.js";
import { UserError } from "../../lib/errors.js";
import { type DatabricksCtx, deleting, isObject, type Obj, orMissing, sleep, touches } from "./common.js";

/**
 * `databricks.model_serving_endpoint`: a model serving endpoint (`/api/2.0/serving-endpoints`), named
 * and addressed by its name (the id). The spec is the create request: `name`, `config`
 * (`served_entities`, or the older `served_models`, which are sent as served entities;
 * `traffic_config`; `auto_capture_config`), `tags`, `route_optimized`, `ai_gateway`, `description`,
 * `budget_policy_id`, `email_notifications`.
 *
 * Changes go through the endpoint's own calls: `PUT .../config` for the configuration (after waiting
 * for an update in progress, and waiting again for the new one to finish), `PATCH .../tags` for tags,
 * `PUT .../ai-gateway` and `PATCH .../notifications`. The name, the description, `route_optimized`
 * and the inference table of `auto_capture_config` are fixed at creation: changing them replaces the
 * endpoint. `budget_policy_id` has no update call and is not compared.
 *
 * Compared: the configuration being applied (`pending_config`) or else the live one, served entities
 * by name (a served entity without a name gets the service's default, `<model>-<version>`), traffic
 * routes by served entity, tags by key. Credentials given in plain text (`*_plaintext`) are never
 * returned by the service and are left out of the comparison.
 */

const API = "/api/2.0/serving-endpoints";
const url = (name: string) => `${API}/${encodeURIComponent(name)}`;
const FAILED = new Set(["UPDATE_FAILED", "UPDATE_CANCELED"]);

/** The `served_models` form of a served entity, as a served entity (`model_name` → `entity_name`, ...). */
export function servedModelAsEntity(model: Obj): Obj {
  const { model_name, model_version, ...rest } = model;
  return {
    ...rest,
    ...(model_name !== undefined ? { entity_name: model_name } : {}),
    ...(model_version !== undefined ? { entity_version: model_version } : {}),
  };
}

/** A configuration with `served_models` turned into `served_entities`. */
export function withServedEntities(config: Obj): Obj {
  if (!Array.isArray(config.served_models) || config.served_models.length === 0) return config;
  const { served_models, ...rest } = config;
  return { ...rest, served_entities: served_models.filter(isObject).map(servedModelAsEntity) };
}

/** The service's default name of a served entity. */
function defaultName(e: Obj): string | undefined {
  if (typeof e.name === "string" && e.name !== "") return e.name;
  if (isObject(e.external_model) && typeof e.external_model.name === "string") {
    return e.external_model.name.replace(/[.:]/g, "-");
  }
  if (typeof e.entity_name === "string" && e.entity_version !== undefined) {
    return `${e.entity_name.split(".").pop()}-${String(e.entity_version)}`;
  }
  return undefined;
}

function withoutPlaintext(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutPlaintext);
  if (!isObject(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) if (!k.endsWith("_plaintext")) out[k] = withoutPlaintext(x);
  return out;
}

/** The comparison form of a configuration (desired or remote). */
function comparableConfig(config: Obj): Obj {
  const c = withServedEntities(config);
  const out: Obj = {};
  if (Array.isArray(c.served_entities)) {
    out.served_entities = c.served_entities.filter(isObject).map((e) => {
      const { state: _s, creator: _c, creation_timestamp: _t, burst_scaling_enabled: _b, ...rest } = e;
      const entity = withoutPlaintext(rest) as Obj;
      const name = defaultName(e);
      return name !== undefined ? { ...entity, name } : entity;
    });
  }
  if (isObject(c.traffic_config)) {
    const routes = Array.isArray(c.traffic_config.routes) ? c.traffic_config.routes.filter(isObject) : undefined;
    out.traffic_config = {
      ...c.traffic_config,
      ...(routes
        ? {
            routes: routes.map((r) => ({
              served_entity_name: r.served_entity_name ?? r.served_model_name,
              traffic_percentage: r.traffic_percentage,
            })),
          }
        : {}),
    };
  }
  if (c.auto_capture_config !== undefined) out.auto_capture_config = c.auto_capture_config;
  return out;
}

const tagsOf = (v: unknown): { key: string; value: string }[] =>
  (Array.isArray(v) ? v : [])
    .filter(isObject)
    .map((t) => ({ key: String(t.key), value: t.value === undefined || t.value === null ? "" : String(t.value) }));

async function read(ctx: DatabricksCtx, id: string): Promise<Obj | undefined> {
  return orMissing(ctx.client.get<Obj>(url(id)));
}

/**
 * Waits until no configuration update is in progress; a failed one is an error. Reads again after a
 * short wait that doubles up to the poll interval: an update takes from moments to many minutes.
 */
async function settle(ctx: DatabricksCtx, name: string, remote?: Obj): Promise<Obj> {
  let current = remote ?? (await ctx.client.get<Obj>(url(name)));
  const deadline = Date.now() + (ctx.settleTimeoutMs ?? 20 * 60_000);
  const interval = ctx.pollIntervalMs ?? 5_000;
  for (let attempt = 0; ; attempt++) {
    const state = isObject(current.state) ? String(current.state.config_update ?? "") : "";
    if (FAILED.has(state)) {
      throw new UserError(
        `serving endpoint ${name}: the configuration update ended ${state}`,
        "see the endpoint's events and build logs in the workspace, fix the configuration and deploy again",
      );
    }
    if (state !== "IN_PROGRESS") return current;
    if (Date.now() > deadline) {
      throw new UserError(
        `serving endpoint ${name} was still updating its configuration after the wait`,
        "deploy again once the update has finished",
      );
    }
    await sleep(Math.min(interval, 100 * 2 ** Math.min(attempt, 10)));
    current = await ctx.client.get<Obj>(url(name));
  }
}

/** The configuration as the config call takes it. */
function configBody(spec: Obj): Obj {
  const config = isObject(spec.config) ? withServedEntities(spec.config) : {};
  const out: Obj = {};
  for (const k of ["served_entities", "traffic_config", "auto_capture_config"]) if (config[k] !== undefined) out[k] = config[k];
  return out;
}

export const servingEndpointAdapter: ResourceAdapter<DatabricksCtx> = {
  kind: "databricks.model_serving_endpoint",
  naturalKey: (spec) => String(spec.name),

  read,

  async find(ctx, spec) {
    const remote = await read(ctx, String(spec.name));
    return remote ? { id: String(remote.name ?? spec.name), remote } : undefined;
  },

  async create(ctx, spec) {
    const body: Obj = { ...spec };
    if (isObject(spec.config)) body.config = { ...spec.config, ...configBody(spec) };
    if (isObject(body.config)) delete (body.config as Obj).served_models;
    const created = await ctx.client.post<Obj>(API, body);
    const name = String(created.name ?? spec.name);
    return { id: name, remote: await settle(ctx, name, created) };
  },

  async update(ctx, id, spec, remote, changes) {
    let current = remote;
    if (touches(changes, ["config"]) && isObject(spec.config)) {
      await settle(ctx, id, current);
      const updated = await ctx.client.put<Obj>(`${url(id)}/config`, configBody(spec), { idempotent: true });
      current = await settle(ctx, id, updated);
    }
    if (touches(changes, ["tags"])) {
      const want = tagsOf(spec.tags);
      const have = tagsOf(current.tags);
      const haveByKey = new Map(have.map((t) => [t.key, t.value]));
      const add = want.filter((t) => haveByKey.get(t.key) !== t.value);
      const remove = have.filter((t) => !want.some((w) => w.key === t.key)).map((t) => t.key);
      if (add.length > 0 || remove.length > 0) {
        await ctx.client.patch(
          `${url(id)}/tags`,
          { ...(add.length > 0 ? { add_tags: add } : {}), ...(remove.length > 0 ? { delete_tags: remove } : {}) },
          { idempotent: true },
        );
      }
    }
    if (touches(changes, ["ai_gateway"])) {
      await ctx.client.put(`${url(id)}/ai-gateway`, isObject(spec.ai_gateway) ? spec.ai_gateway : {}, { idempotent: true });
    }
    if (touches(changes, ["email_notifications"])) {
      await ctx.client.patch(
        `${url(id)}/notifications`,
        isObject(spec.email_notifications) ? { email_notifications: spec.email_notifications } : {},
        { idempotent: true },
      );
    }
    return undefined;
  },

  async delete(ctx, id) {
    await deleting(ctx.client.delete(url(id)));
  },

  normalize(remote) {
    const config = isObject(remote.pending_config) ? remote.pending_config : isObject(remote.config) ? remote.config : undefined;
    return {
      name: remote.name,
      ...(config ? { config: comparableConfig(config) } : {}),
      tags: tagsOf(remote.tags),
      route_optimized: remote.route_optimized === true,
      ...(remote.ai_gateway !== undefined ? { ai_gateway: remote.ai_gateway } : {}),
      description: typeof remote.description === "string" ? remote.description : "",
      ...(remote.email_notifications !== undefined ? { email_notifications: remote.email_notifications } : {}),
    };
  },

  normalizeDesired(spec) {
    const { budget_policy_id: _b, rate_limits: _r, ...rest } = spec;
    return {
      ...rest,
      ...(isObject(spec.config) ? { config: comparableConfig(spec.config) } : {}),
      ...(Array.isArray(spec.tags) ? { tags: tagsOf(spec.tags) } : {}),
    };
  },

  outputs: (id, remote) => ({ name: id, ...(typeof remote?.id === "string" ? { endpoint_id: remote.id } : {}) }),

  rules: {
    recreateOn: [
      "name",
      "description",
      "route_optimized",
      "config.auto_capture_config.catalog_name",
      "config.auto_capture_config.schema_name",
      "config.auto_capture_config.table_name_prefix",
    ],
    keyedArrays: {
      "config.served_entities": "name",
      "config.traffic_config.routes": "served_entity_name",
      tags: "key",
    },
  },
};
