import { randomBytes } from "node:crypto";
import { ApiError, alreadyExists, denied, int, invalid, type JsonObject, type Router, requireStr, str } from "../http.js";
import type { Principal } from "../identity.js";
import type { Workspace } from "../workspace.js";
import { POLICY_FAMILIES, resolveSparkVersion } from "./compute-catalog.js";

/**
 * Cluster policies (`/api/2.0/policies/clusters/...`) and policy families (`/api/2.0/policy-families`).
 * Only workspace admins create, edit and delete policies; other users see and use the policies they
 * hold CAN_USE on. `applyPolicy` enforces a policy's definition on a cluster specification.
 */

export interface StoredPolicy {
  policy_id: string;
  name: string;
  definition: string;
  description?: string;
  max_clusters_per_user?: number;
  policy_family_id?: string;
  policy_family_definition_overrides?: string;
  libraries?: unknown[];
  creator_user_name: string;
  created_at_timestamp: number;
}

const policiesOf = (ws: Workspace) => ws.store.collection<StoredPolicy>("cluster_policies");

export function getPolicy(ws: Workspace, policyId: string): StoredPolicy | undefined {
  return policiesOf(ws).get(policyId);
}

const missingPolicy = (id: string) => new ApiError(400, "RESOURCE_DOES_NOT_EXIST", `Can't find a cluster policy with id: ${id}.`);

export function register(r: Router, ws: Workspace): void {
  const policies = policiesOf(ws);

  ws.permissions.register("cluster-policies", {
    levels: ["CAN_USE"],
    objectType: "cluster-policy",
    idPrefix: "/cluster-policies/",
    exists: (id) => policies.has(id),
    missing: (id) => `Can't find a cluster policy with id: ${id}.`,
  });

  const adminOnly = (p: Principal) => {
    if (!p.admin)
      throw denied(`User ${p.name} is not an admin: only workspace admins can create, edit and delete cluster policies.`);
  };
  const mustExist = (id: string) => {
    const policy = policies.get(id);
    if (!policy) throw missingPolicy(id);
    return policy;
  };
  const nameTaken = (name: string, except?: string) => {
    const lower = name.toLowerCase();
    if (policies.find((p) => p.name.toLowerCase() === lower && p.policy_id !== except)) {
      throw alreadyExists(`Policy named '${name}' already exists.`, 400);
    }
  };

  /** The stored fields of a create or edit request; the definition comes from a family when one is named. */
  const fields = (input: JsonObject): Omit<StoredPolicy, "policy_id" | "name" | "creator_user_name" | "created_at_timestamp"> => {
    const familyId = str(input, "policy_family_id");
    const overrides = str(input, "policy_family_definition_overrides");
    let definition = str(input, "definition") ?? "{}";
    if (familyId) {
      const fam = POLICY_FAMILIES.find((f) => f.policy_family_id === familyId);
      if (!fam) throw invalid(`Policy family ${familyId} does not exist.`);
      if (input.definition !== undefined)
        throw invalid("definition can not be set together with policy_family_id; use policy_family_definition_overrides.");
      definition = JSON.stringify({ ...parseDefinition(fam.definition), ...parseDefinition(overrides ?? "{}") });
    } else if (overrides !== undefined) {
      throw invalid("policy_family_definition_overrides needs policy_family_id.");
    }
    parseDefinition(definition);
    const max = int(input, "max_clusters_per_user");
    if (max !== undefined && max < 1) throw invalid("max_clusters_per_user must be positive.");
    const out: ReturnType<typeof fields> = { definition };
    const description = str(input, "description");
    if (description !== undefined) out.description = description;
    if (max !== undefined) out.max_clusters_per_user = max;
    if (familyId) out.policy_family_id = familyId;
    if (overrides !== undefined) out.policy_family_definition_overrides = overrides;
    if (Array.isArray(input.libraries)) out.libraries = input.libraries;
    return out;
  };

  r.post("/api/2.0/policies/clusters/create", (c) => {
    adminOnly(c.principal);
    const name = requireStr(c.input, "name");
    if (name.length > 100) throw invalid("The policy name must be at most 100 characters long.");
    const rest = fields(c.input);
    nameTaken(name);
    let id: string;
    do id = randomBytes(8).toString("hex").toUpperCase();
    while (policies.has(id));
    policies.set(id, {
      policy_id: id,
      name,
      ...rest,
      creator_user_name: c.principal.name,
      created_at_timestamp: Date.now(),
    });
    return { policy_id: id };
  });

  r.post("/api/2.0/policies/clusters/edit", (c) => {
    adminOnly(c.principal);
    const id = requireStr(c.input, "policy_id");
    const current = mustExist(id);
    const name = str(c.input, "name") ?? current.name;
    const rest = fields(c.input);
    nameTaken(name, id);
    // An edit replaces the policy: fields left out are cleared.
    policies.set(id, {
      policy_id: id,
      name,
      ...rest,
      creator_user_name: current.creator_user_name,
      created_at_timestamp: current.created_at_timestamp,
    });
    return {};
  });

  r.post("/api/2.0/policies/clusters/delete", (c) => {
    adminOnly(c.principal);
    const id = requireStr(c.input, "policy_id");
    mustExist(id);
    policies.delete(id);
    ws.permissions.drop("cluster-policies", id);
    return {};
  });

  r.get("/api/2.0/policies/clusters/get", (c) => {
    const id = requireStr(c.input, "policy_id");
    const policy = mustExist(id);
    if (!ws.permissions.has(c.principal, "cluster-policies", id, "CAN_USE")) {
      throw denied(`User ${c.principal.name} does not have CAN_USE permission on cluster policy ${id}.`);
    }
    return render(policy);
  });

  r.get("/api/2.0/policies/clusters/list", (c) => {
    const column = str(c.input, "sort_column") ?? "POLICY_CREATION_TIME";
    const order = str(c.input, "sort_order") ?? "DESC";
    if (!["POLICY_CREATION_TIME", "POLICY_NAME"].includes(column)) throw invalid(`Invalid sort_column: ${column}`);
    if (!["ASC", "DESC"].includes(order)) throw invalid(`Invalid sort_order: ${order}`);
    const list = policies
      .filter((p) => ws.permissions.has(c.principal, "cluster-policies", p.policy_id, "CAN_USE"))
      .sort((a, b) =>
        column === "POLICY_NAME"
          ? a.name.localeCompare(b.name)
          : a.created_at_timestamp - b.created_at_timestamp || a.policy_id.localeCompare(b.policy_id),
      );
    if (order === "DESC") list.reverse();
    return { policies: list.map(render) };
  });

  r.get("/api/2.0/policy-families", (c) => {
    const max = int(c.input, "max_results") ?? 20;
    if (max < 1 || max > 100) throw invalid("max_results must be between 1 and 100.");
    const token = str(c.input, "page_token");
    const offset = token ? Number(Buffer.from(token, "base64url").toString("utf8")) : 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw invalid(`Invalid page_token: ${token}`);
    const slice = POLICY_FAMILIES.slice(offset, offset + max);
    const next = offset + slice.length;
    return {
      policy_families: slice,
      ...(next < POLICY_FAMILIES.length ? { next_page_token: Buffer.from(String(next)).toString("base64url") } : {}),
    };
  });

  r.get("/api/2.0/policy-families/:id", (c) => {
    const fam = POLICY_FAMILIES.find((f) => f.policy_family_id === c.params.id);
    if (!fam) throw new ApiError(404, "RESOURCE_DOES_NOT_EXIST", `Policy family ${c.params.id} does not exist.`);
    return fam;
  });
}

function render(p: StoredPolicy): JsonObject {
  return { ...p, is_default: false };
}

function parseDefinition(text: string): Record<string, PolicyRule> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid(`Invalid policy definition: it is not valid JSON: ${text.slice(0, 100)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw invalid("Invalid policy definition: it must be a JSON object of attribute paths to rules.");
  }
  for (const [path, rule] of Object.entries(parsed)) {
    const type = (rule as PolicyRule | null)?.type;
    if (!RULE_TYPES.includes(type as string)) {
      throw invalid(`Invalid policy definition: the rule for ${path} needs a type, one of ${RULE_TYPES.join(", ")}.`);
    }
  }
  return parsed as Record<string, PolicyRule>;
}

// ---------------------------------------------------------------------------------------------
// Enforcement

interface PolicyRule {
  type: string;
  value?: unknown;
  values?: unknown[];
  defaultValue?: unknown;
  minValue?: number;
  maxValue?: number;
  pattern?: string;
  isOptional?: boolean;
  hidden?: boolean;
}

const RULE_TYPES = ["fixed", "forbidden", "allowlist", "blocklist", "regex", "range", "unlimited"];
/** Attributes whose remaining path is one map key, dots included (`spark_conf.spark.x.y`). */
const MAP_ATTRIBUTES = new Set(["spark_conf", "spark_env_vars", "custom_tags"]);
/** Policy-only attributes that do not exist on a cluster specification. */
const VIRTUAL_ATTRIBUTES = new Set(["cluster_type", "dbus_per_hour"]);

function splitPath(path: string): string[] {
  const dot = path.indexOf(".");
  if (dot !== -1 && MAP_ATTRIBUTES.has(path.slice(0, dot))) return [path.slice(0, dot), path.slice(dot + 1)];
  return path.split(".");
}

function getPath(spec: JsonObject, segments: string[]): unknown {
  let cur: unknown = spec;
  for (const s of segments) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[s];
  }
  return cur;
}

function setPath(spec: JsonObject, segments: string[], value: unknown): void {
  let cur: Record<string, unknown> = spec;
  segments.forEach((s, i) => {
    if (i === segments.length - 1) {
      cur[s] = value;
      return;
    }
    const next = cur[s];
    if (next === null || typeof next !== "object") cur[s] = /^\d+$/.test(segments[i + 1] as string) ? [] : {};
    cur = cur[s] as Record<string, unknown>;
  });
}

/**
 * Applies a policy to a cluster specification, as the service does on cluster create and edit:
 * fixed values are set, defaults filled (all of them with `apply_policy_default_values`, otherwise
 * only for required attributes), and every limit checked. Returns the effective specification.
 * A non-admin needs CAN_USE on the policy.
 */
export function applyPolicy(ws: Workspace, caller: Principal, policyId: string, spec: JsonObject): JsonObject {
  const policy = getPolicy(ws, policyId);
  if (!policy) throw missingPolicy(policyId);
  if (!ws.permissions.has(caller, "cluster-policies", policyId, "CAN_USE")) {
    throw denied(`User ${caller.name} does not have CAN_USE permission on cluster policy ${policyId}.`);
  }
  const out = structuredClone(spec);
  const applyDefaults = out.apply_policy_default_values === true;
  const fail = (path: string, why: string) => {
    throw invalid(`Validation failed for ${path}, ${why} (is ${JSON.stringify(getPath(out, splitPath(path)))})`);
  };
  for (const [path, rule] of Object.entries(parseDefinition(policy.definition))) {
    if (VIRTUAL_ATTRIBUTES.has(path) || path.includes("*")) continue;
    const segments = splitPath(path);
    let value = getPath(out, segments);
    if (value === undefined && rule.type !== "fixed" && rule.type !== "forbidden" && rule.defaultValue !== undefined) {
      if (applyDefaults || rule.isOptional !== true) {
        value = path === "spark_version" ? resolveSparkVersion(String(rule.defaultValue)) : rule.defaultValue;
        setPath(out, segments, value);
      }
    }
    switch (rule.type) {
      case "fixed": {
        const fixed = path === "spark_version" ? resolveSparkVersion(String(rule.value)) : rule.value;
        if (value !== undefined && JSON.stringify(value) !== JSON.stringify(fixed)) {
          fail(path, `the value must be ${JSON.stringify(fixed)}`);
        }
        setPath(out, segments, fixed);
        break;
      }
      case "forbidden":
        if (value !== undefined) fail(path, "the value cannot be present");
        break;
      case "unlimited":
        break;
      default: {
        if (value === undefined) {
          if (rule.isOptional !== true) fail(path, "the value must be present");
          break;
        }
        if (rule.type === "allowlist" && !(rule.values ?? []).some((v) => JSON.stringify(v) === JSON.stringify(value))) {
          fail(path, `the value must be one of ${JSON.stringify(rule.values ?? [])}`);
        }
        if (rule.type === "blocklist" && (rule.values ?? []).some((v) => JSON.stringify(v) === JSON.stringify(value))) {
          fail(path, `the value must not be one of ${JSON.stringify(rule.values ?? [])}`);
        }
        if (rule.type === "regex" && !matches(rule.pattern ?? "", String(value))) {
          fail(path, `the value must match the regex ${rule.pattern}`);
        }
        if (rule.type === "range") {
          const n = Number(value);
          if (rule.minValue !== undefined && !(n >= rule.minValue)) fail(path, `the value must be at least ${rule.minValue}`);
          if (rule.maxValue !== undefined && !(n <= rule.maxValue)) fail(path, `the value must be at most ${rule.maxValue}`);
        }
      }
    }
  }
  return out;
}

function matches(pattern: string, value: string): boolean {
  try {
    return new RegExp(`^(?:${pattern})$`).test(value);
  } catch {
    throw invalid(`Invalid policy definition: ${pattern} is not a valid regular expression.`);
  }
}
