import { randomBytes } from "node:crypto";
import {
  ApiError,
  alreadyExists,
  bool,
  denied,
  invalid,
  type JsonObject,
  notFound,
  type RequestContext,
  type Router,
  requireStr,
} from "../http.js";
import type { Principal } from "../identity.js";
import type { Workspace } from "../workspace.js";
import { unityCatalog } from "./unity-catalog.js";

/**
 * Model serving endpoints (`/api/2.0/serving-endpoints/...`): create, get, list, delete, config
 * updates, tags, AI gateway settings, notifications, and permissions (object type
 * `serving-endpoints`, by the endpoint's id: CAN_VIEW, CAN_QUERY, CAN_MANAGE).
 *
 * An endpoint serves Unity Catalog model versions (`catalog.schema.model` + version, which must exist
 * and be READY) or external models. No model server runs: a new configuration is `IN_PROGRESS` (as
 * `pending_config`) for the workspace's serving update delay (default 0: settled by the next read),
 * then becomes the live `config`. A configuration update while another is in progress is refused,
 * as the service does. Invocations are not served.
 */

type Tag = { key: string; value: string };

interface StoredConfig {
  config_version: number;
  /** Served entities or (legacy) served models, as given, with the service's defaults filled in. */
  served_entities?: JsonObject[];
  served_models?: JsonObject[];
  traffic_config: JsonObject;
  auto_capture_config?: JsonObject;
  creator: string;
  created: number;
}

export interface StoredEndpoint {
  id: string;
  name: string;
  creator: string;
  created: number;
  updated: number;
  /** The live configuration (absent until the first one is ready). */
  config?: StoredConfig;
  /** A configuration being applied, live once `due` has passed. */
  pending?: StoredConfig & { start_time: number; due: number };
  tags: Tag[];
  route_optimized: boolean;
  description: string;
  budget_policy_id?: string;
  ai_gateway?: JsonObject;
  email_notifications?: JsonObject;
}

const TYPE = "serving-endpoints";
const LEVELS = ["CAN_VIEW", "CAN_QUERY", "CAN_MANAGE"];
const LEVEL_WORDS: Record<string, string> = { CAN_VIEW: "View", CAN_QUERY: "Query", CAN_MANAGE: "Manage" };
const NAME = /^[A-Za-z0-9_-]{1,63}$/;
const WORKLOAD_SIZES = ["Small", "Medium", "Large"];
const AI_GATEWAY_FIELDS = ["guardrails", "inference_table_config", "rate_limits", "usage_tracking_config", "fallback_config"];
/** Fields of a served entity that are accepted but never returned. */
const INPUT_ONLY = ["burst_scaling_enabled"];

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

export const missingEndpoint = (name: string) => notFound(`Endpoint with name '${name}' does not exist.`);

export function register(r: Router, ws: Workspace): void {
  const endpoints = ws.store.collection<StoredEndpoint>("serving_endpoints");
  const delayMs = () => Math.max(0, ws.settings.servingUpdateDelayMs ?? 0);

  ws.permissions.register(TYPE, {
    levels: LEVELS,
    objectType: "serving-endpoint",
    idPrefix: "/serving-endpoints/",
    exists: (id) => endpoints.find((e) => e.id === id) !== undefined,
    missing: (id) => `Serving endpoint with id ${id} does not exist.`,
  });

  /** The endpoint with a pending configuration that is due made live. */
  const settled = (name: string): StoredEndpoint | undefined => {
    const rec = endpoints.get(name);
    if (!rec?.pending || rec.pending.due > Date.now()) return rec;
    const { due: _due, start_time: _start, ...config } = rec.pending;
    const next: StoredEndpoint = { ...rec, config };
    delete next.pending;
    endpoints.set(name, next);
    return next;
  };

  /** The endpoint, after checking the caller's level on it (403 before 404 only for existing ones). */
  const access = (c: RequestContext, level: string): StoredEndpoint => {
    const name = c.params.name as string;
    const rec = settled(name);
    if (!rec) throw missingEndpoint(name);
    requireLevel(c.principal, rec, level);
    return rec;
  };
  const requireLevel = (p: Principal, rec: StoredEndpoint, level: string) => {
    if (!ws.permissions.has(p, TYPE, rec.id, level)) {
      throw denied(`User ${p.name} does not have permission '${LEVEL_WORDS[level]}' on endpoint ${rec.name}.`);
    }
  };

  // -- input checks ---------------------------------------------------------------------------

  /** A served entity (or legacy served model) checked against the workspace's Unity Catalog. */
  const servedEntity = (p: Principal, raw: unknown, legacy: boolean, now: number): JsonObject => {
    if (!isObject(raw)) throw invalid("Each served entity must be an object.");
    const nameKey = legacy ? "model_name" : "entity_name";
    const versionKey = legacy ? "model_version" : "entity_version";
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(raw)) if (v !== undefined && v !== null && !INPUT_ONLY.includes(k)) out[k] = v;
    const external = !legacy && isObject(raw.external_model);
    if (external) {
      const em = raw.external_model as JsonObject;
      requireStr(em, "name");
      requireStr(em, "provider");
      // Credentials given in plain text are kept as secrets and never returned.
      out.external_model = stripPlaintext(em);
      if (raw.entity_name !== undefined) throw invalid("A served entity takes either external_model or entity_name, not both.");
      if (typeof out.name !== "string" || out.name === "") out.name = String(em.name).replace(/[.:]/g, "-");
    } else {
      const entity = typeof raw[nameKey] === "string" ? (raw[nameKey] as string) : "";
      const version = raw[versionKey] === undefined || raw[versionKey] === null ? "" : String(raw[versionKey]);
      if (!entity) throw invalid(`Missing required field: ${nameKey}`);
      if (!version) throw invalid(`Missing required field: ${versionKey} (for ${entity})`);
      if (!/^\d+$/.test(version)) throw invalid(`Invalid ${versionKey} '${version}' for ${entity}: expected a version number.`);
      out[versionKey] = version;
      const parts = entity.split(".");
      if (parts.length !== 3 || parts.some((x) => x === "")) {
        throw invalid(
          `Cannot serve '${entity}': this workspace serves Unity Catalog models only; name the model as <catalog>.<schema>.<model>.`,
        );
      }
      const uc = unityCatalog(ws);
      const { catalog, schema, model } = uc.resolveModel(entity);
      uc.requireVisible(p, uc.modelSec(catalog, schema, model));
      const full = `${catalog.name}.${schema.name}.${model.name}`;
      const v = uc.requireVersion(model, full, Number(version));
      if (v.status !== "READY") {
        throw invalid(`Model version ${version} of model '${full}' is not ready to be served (status ${v.status}).`);
      }
      const sized = typeof raw.workload_size === "string" && raw.workload_size !== "";
      const provisioned = ["min_provisioned_concurrency", "max_provisioned_concurrency", "provisioned_model_units"].some(
        (k) => raw[k] !== undefined && raw[k] !== null,
      );
      if (sized && !WORKLOAD_SIZES.includes(raw.workload_size as string)) {
        throw invalid(`Invalid workload_size '${String(raw.workload_size)}': use one of ${WORKLOAD_SIZES.join(", ")}.`);
      }
      if (!sized && !provisioned) {
        throw invalid(
          `Served entity '${entity}' needs a workload_size or min_provisioned_concurrency and max_provisioned_concurrency.`,
        );
      }
      if (sized && provisioned) {
        throw invalid("workload_size cannot be combined with min_provisioned_concurrency or max_provisioned_concurrency.");
      }
      if (raw.scale_to_zero_enabled !== undefined) bool(raw, "scale_to_zero_enabled");
      out.scale_to_zero_enabled = raw.scale_to_zero_enabled === true || raw.scale_to_zero_enabled === "true";
      out.workload_type ??= "CPU";
      if (typeof out.name !== "string" || out.name === "") out.name = `${parts[2]}-${version}`;
    }
    if (!NAME.test(String(out.name))) {
      throw invalid(
        `Invalid served entity name '${String(out.name)}': use letters, digits, dashes and underscores (at most 63).`,
      );
    }
    return { ...out, creator: p.name, creation_timestamp: now };
  };

  /** Checks and completes a configuration (served entities, traffic) against the one it replaces. */
  const configOf = (p: Principal, input: JsonObject, previous: StoredConfig | undefined, now: number): StoredConfig => {
    const hasEntities = Array.isArray(input.served_entities) && input.served_entities.length > 0;
    const hasModels = Array.isArray(input.served_models) && input.served_models.length > 0;
    if (hasEntities && hasModels) throw invalid("Only one of served_entities and served_models can be specified.");
    if (input.served_entities !== undefined && !Array.isArray(input.served_entities))
      throw invalid("served_entities must be a list.");
    if (input.served_models !== undefined && !Array.isArray(input.served_models)) throw invalid("served_models must be a list.");
    let entities: JsonObject[] | undefined;
    let models: JsonObject[] | undefined;
    if (hasEntities) entities = (input.served_entities as unknown[]).map((e) => servedEntity(p, e, false, now));
    else if (hasModels) models = (input.served_models as unknown[]).map((e) => servedEntity(p, e, true, now));
    else if (previous) {
      entities = previous.served_entities;
      models = previous.served_models;
    } else throw invalid("The endpoint's config needs served_entities (or served_models).");
    const served = entities ?? models ?? [];
    const names = served.map((e) => String(e.name));
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw invalid(`Served entity names must be unique within an endpoint; '${dup}' is used twice.`);
    const externals = served.filter((e) => isObject(e.external_model)).length;
    if (externals > 0 && externals < served.length) {
      throw invalid("An endpoint serves either external models or Unity Catalog models, not both.");
    }

    let traffic: JsonObject;
    if (input.traffic_config !== undefined && input.traffic_config !== null) {
      if (!isObject(input.traffic_config)) throw invalid("traffic_config must be an object.");
      traffic = trafficOf(input.traffic_config, names);
    } else if (previous && !hasEntities && !hasModels) traffic = previous.traffic_config;
    else if (names.length === 1) traffic = { routes: [route(names[0] as string, 100)] };
    else if (previous && sameNames(previous, names)) traffic = previous.traffic_config;
    else throw invalid("A traffic_config is required for an endpoint serving more than one entity.");

    const capture =
      input.auto_capture_config !== undefined && input.auto_capture_config !== null
        ? captureOf(input.auto_capture_config, previous?.auto_capture_config)
        : previous?.auto_capture_config;
    return {
      config_version: (previous?.config_version ?? 0) + 1,
      ...(entities ? { served_entities: entities } : {}),
      ...(models ? { served_models: models } : {}),
      traffic_config: traffic,
      ...(capture ? { auto_capture_config: capture } : {}),
      creator: p.name,
      created: now,
    };
  };

  const tagsOf = (raw: unknown): Tag[] => {
    if (raw === undefined || raw === null) return [];
    if (!Array.isArray(raw)) throw invalid("tags must be a list of {key, value}.");
    return raw.map((t) => {
      if (!isObject(t)) throw invalid("Each tag must be an object with a key.");
      const key = requireStr(t, "key");
      return t.value === undefined || t.value === null ? { key, value: "" } : { key, value: String(t.value) };
    });
  };

  const aiGatewayOf = (input: JsonObject): JsonObject | undefined => {
    const out: JsonObject = {};
    for (const k of AI_GATEWAY_FIELDS) if (input[k] !== undefined && input[k] !== null) out[k] = input[k];
    if (out.rate_limits !== undefined) {
      if (!Array.isArray(out.rate_limits)) throw invalid("rate_limits must be a list.");
      for (const l of out.rate_limits) {
        if (!isObject(l)) throw invalid("Each rate limit must be an object.");
        if (l.renewal_period !== "minute") throw invalid("A rate limit's renewal_period must be 'minute'.");
        if (l.calls === undefined && l.tokens === undefined) throw invalid("A rate limit needs calls or tokens.");
      }
    }
    return Object.keys(out).length > 0 ? out : undefined;
  };

  // -- rendering ------------------------------------------------------------------------------

  const stateOf = (rec: StoredEndpoint) => ({
    ready: rec.config ? "READY" : "NOT_READY",
    config_update: rec.pending ? "IN_PROGRESS" : "NOT_UPDATING",
  });

  const servedOut = (list: JsonObject[] | undefined, deployment: string) =>
    list?.map((e) => ({
      ...e,
      state: {
        deployment,
        deployment_state_message:
          deployment === "DEPLOYMENT_READY" ? "" : "Creating the served entity: the new configuration is being applied.",
      },
    }));

  const configOut = (cfg: StoredConfig, deployment: string): JsonObject => ({
    ...(cfg.served_entities ? { served_entities: servedOut(cfg.served_entities, deployment) } : {}),
    ...(cfg.served_models ? { served_models: servedOut(cfg.served_models, deployment) } : {}),
    traffic_config: cfg.traffic_config,
    ...(cfg.auto_capture_config ? { auto_capture_config: cfg.auto_capture_config } : {}),
    config_version: cfg.config_version,
  });

  const common = (rec: StoredEndpoint): JsonObject => ({
    name: rec.name,
    id: rec.id,
    creator: rec.creator,
    creation_timestamp: rec.created,
    last_updated_timestamp: rec.updated,
    state: stateOf(rec),
    ...(rec.tags.length > 0 ? { tags: rec.tags } : {}),
    ...(rec.ai_gateway ? { ai_gateway: rec.ai_gateway } : {}),
    ...(rec.budget_policy_id ? { budget_policy_id: rec.budget_policy_id } : {}),
    description: rec.description,
  });

  const detailed = (rec: StoredEndpoint, p: Principal): JsonObject => ({
    ...common(rec),
    ...(rec.config ? { config: configOut(rec.config, "DEPLOYMENT_READY") } : {}),
    ...(rec.pending
      ? { pending_config: { ...configOut(rec.pending, "DEPLOYMENT_CREATING"), start_time: rec.pending.start_time } }
      : {}),
    permission_level: ws.permissions.effectiveLevel(p, TYPE, rec.id) ?? "CAN_VIEW",
    route_optimized: rec.route_optimized,
    ...(rec.route_optimized ? { endpoint_url: `${ws.url}/serving-endpoints/${rec.name}/invocations` } : {}),
    ...(rec.email_notifications ? { email_notifications: rec.email_notifications } : {}),
  });

  const summary = (rec: StoredEndpoint): JsonObject => {
    const cfg = rec.config ?? rec.pending;
    const spec = (e: JsonObject, legacy: boolean) =>
      legacy
        ? { name: e.name, model_name: e.model_name, model_version: e.model_version }
        : {
            name: e.name,
            ...(e.entity_name !== undefined ? { entity_name: e.entity_name, entity_version: e.entity_version } : {}),
            ...(e.external_model !== undefined ? { external_model: e.external_model } : {}),
          };
    return {
      ...common(rec),
      ...(cfg
        ? {
            config: {
              ...(cfg.served_entities ? { served_entities: cfg.served_entities.map((e) => spec(e, false)) } : {}),
              ...(cfg.served_models ? { served_models: cfg.served_models.map((e) => spec(e, true)) } : {}),
            },
          }
        : {}),
    };
  };

  // -- routes ---------------------------------------------------------------------------------

  const base = "/api/2.0/serving-endpoints";

  r.post(base, (c) => {
    const name = requireStr(c.input, "name");
    if (!NAME.test(name)) {
      throw invalid(
        `Invalid endpoint name '${name}': an endpoint name consists of letters, digits, dashes and underscores, at most 63 characters.`,
      );
    }
    if (endpoints.has(name)) throw alreadyExists(`Endpoint with name '${name}' already exists.`);
    const now = Date.now();
    const config = isObject(c.input.config) ? configOf(c.principal, c.input.config, undefined, now) : undefined;
    if (c.input.config !== undefined && c.input.config !== null && !isObject(c.input.config))
      throw invalid("config must be an object.");
    const aiGateway = isObject(c.input.ai_gateway) ? aiGatewayOf(c.input.ai_gateway) : undefined;
    let id: string;
    do id = randomBytes(16).toString("hex");
    while (endpoints.find((e) => e.id === id));
    const routeOptimized = bool(c.input, "route_optimized") ?? false;
    const rec: StoredEndpoint = {
      id,
      name,
      creator: c.principal.name,
      created: now,
      updated: now,
      ...(config ? { pending: { ...config, start_time: now, due: now + delayMs() } } : {}),
      tags: tagsOf(c.input.tags),
      route_optimized: routeOptimized,
      description: typeof c.input.description === "string" ? c.input.description : "",
      ...(typeof c.input.budget_policy_id === "string" && c.input.budget_policy_id
        ? { budget_policy_id: c.input.budget_policy_id }
        : {}),
      ...(aiGateway ? { ai_gateway: aiGateway } : {}),
      ...(isObject(c.input.email_notifications) ? { email_notifications: c.input.email_notifications } : {}),
    };
    endpoints.set(name, rec);
    ws.permissions.grantCreator(TYPE, id, c.principal);
    return detailed(rec, c.principal);
  });

  r.get(base, (c) => {
    const visible: JsonObject[] = [];
    for (const name of [...endpoints.keys()].sort()) {
      const rec = settled(name);
      if (rec && ws.permissions.has(c.principal, TYPE, rec.id, "CAN_VIEW")) visible.push(summary(rec));
    }
    return { endpoints: visible };
  });

  r.get(`${base}/:name`, (c) => detailed(access(c, "CAN_VIEW"), c.principal));

  r.delete(`${base}/:name`, (c) => {
    const rec = access(c, "CAN_MANAGE");
    endpoints.delete(rec.name);
    ws.permissions.drop(TYPE, rec.id);
    return {};
  });

  r.put(`${base}/:name/config`, (c) => {
    const rec = access(c, "CAN_MANAGE");
    if (rec.pending) {
      throw new ApiError(
        409,
        "RESOURCE_CONFLICT",
        `Endpoint '${rec.name}' is currently updating: wait for the update to finish before changing its config again.`,
      );
    }
    const given = ["served_entities", "served_models", "traffic_config", "auto_capture_config"].filter(
      (k) => c.input[k] !== undefined && c.input[k] !== null,
    );
    if (given.length === 0) {
      throw invalid("Give at least one of served_entities, served_models, traffic_config, auto_capture_config.");
    }
    const now = Date.now();
    const config = configOf(c.principal, c.input, rec.config, now);
    const next: StoredEndpoint = { ...rec, updated: now, pending: { ...config, start_time: now, due: now + delayMs() } };
    endpoints.set(rec.name, next);
    return detailed(next, c.principal);
  });

  r.patch(`${base}/:name/tags`, (c) => {
    const rec = access(c, "CAN_MANAGE");
    const add = tagsOf(c.input.add_tags);
    const remove = c.input.delete_tags ?? [];
    if (!Array.isArray(remove) || remove.some((k) => typeof k !== "string")) throw invalid("delete_tags must be a list of keys.");
    const byKey = new Map(rec.tags.map((t) => [t.key, t]));
    for (const k of remove as string[]) byKey.delete(k);
    for (const t of add) byKey.set(t.key, t);
    const tags = [...byKey.values()];
    endpoints.set(rec.name, { ...rec, tags, updated: Date.now() });
    return { tags };
  });

  r.put(`${base}/:name/ai-gateway`, (c) => {
    const rec = access(c, "CAN_MANAGE");
    const aiGateway = aiGatewayOf(c.input);
    const next: StoredEndpoint = { ...rec, updated: Date.now() };
    if (aiGateway) next.ai_gateway = aiGateway;
    else delete next.ai_gateway;
    endpoints.set(rec.name, next);
    return aiGateway ?? {};
  });

  r.put(`${base}/:name/rate-limits`, (c) => {
    access(c, "CAN_MANAGE");
    throw invalid("Endpoint rate limits are no longer supported; set rate_limits in the endpoint's AI gateway.");
  });

  r.patch(`${base}/:name/notifications`, (c) => {
    const rec = access(c, "CAN_MANAGE");
    const next: StoredEndpoint = { ...rec, updated: Date.now() };
    if (isObject(c.input.email_notifications)) next.email_notifications = c.input.email_notifications;
    else delete next.email_notifications;
    endpoints.set(rec.name, next);
    return { name: rec.name, ...(next.email_notifications ? { email_notifications: next.email_notifications } : {}) };
  });

  const logs = (c: RequestContext) => {
    const rec = access(c, "CAN_VIEW");
    const served = c.params.served as string;
    const cfg = rec.pending ?? rec.config;
    const all = [...(cfg?.served_entities ?? []), ...(cfg?.served_models ?? [])];
    if (!all.some((e) => e.name === served)) {
      throw notFound(`Served model '${served}' does not exist in endpoint '${rec.name}'.`);
    }
    return { logs: "" };
  };
  r.get(`${base}/:name/served-models/:served/logs`, logs);
  r.get(`${base}/:name/served-models/:served/build-logs`, logs);
}

function route(name: string, percentage: number): JsonObject {
  return { served_model_name: name, served_entity_name: name, traffic_percentage: percentage };
}

function sameNames(previous: StoredConfig, names: string[]): boolean {
  const before = [...(previous.served_entities ?? []), ...(previous.served_models ?? [])].map((e) => String(e.name));
  return before.length === names.length && before.every((n) => names.includes(n));
}

function trafficOf(input: JsonObject, names: string[]): JsonObject {
  const routes = input.routes;
  if (!Array.isArray(routes) || routes.length === 0) throw invalid("traffic_config.routes must list at least one route.");
  let total = 0;
  const out = routes.map((raw) => {
    if (!isObject(raw)) throw invalid("Each route must be an object.");
    const target = typeof raw.served_entity_name === "string" ? raw.served_entity_name : raw.served_model_name;
    if (typeof target !== "string" || target === "") throw invalid("Each route names a served_entity_name.");
    if (!names.includes(target)) {
      throw invalid(`The traffic config routes to '${target}', which is not one of the served entities: ${names.join(", ")}.`);
    }
    const pct = raw.traffic_percentage;
    if (typeof pct !== "number" || !Number.isInteger(pct) || pct < 0 || pct > 100) {
      throw invalid(`The traffic percentage of '${target}' must be an integer between 0 and 100.`);
    }
    total += pct;
    return route(target, pct);
  });
  if (total !== 100) throw invalid(`The traffic percentages must add up to 100, not ${total}.`);
  return { ...input, routes: out };
}

function captureOf(raw: unknown, previous: JsonObject | undefined): JsonObject {
  if (!isObject(raw)) throw invalid("auto_capture_config must be an object.");
  const out: JsonObject = { ...raw, enabled: raw.enabled ?? previous?.enabled ?? true };
  for (const k of ["catalog_name", "schema_name", "table_name_prefix"] as const) {
    if (previous?.[k] !== undefined && out[k] !== undefined && out[k] !== previous[k]) {
      throw invalid(`auto_capture_config.${k} cannot be changed once set.`);
    }
    if (out[k] === undefined && previous?.[k] !== undefined) out[k] = previous[k];
  }
  return out;
}

/** An external model's settings without the credentials given in plain text. */
function stripPlaintext(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripPlaintext);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (!k.endsWith("_plaintext")) out[k] = stripPlaintext(x);
  return out;
}
