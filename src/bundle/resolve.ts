import { readFileSync } from "node:fs";
import { dirname, extname, relative, resolve, sep } from "node:path";
import { ConfigError, type ConfigIssue } from "../config/errors.js";
import { Ref, Template } from "../config/refs.js";
import { issueAt, type LNode, type MapNode } from "../config/tree.js";
import { type BundleSource, isLocalPath, JOB_KEYED_ARRAYS, SUPPORTED_KINDS, TASK_PATHS } from "./source.js";

/**
 * The second stage of reading a bundle, once the deploying user (and the workspace, for `lookup`
 * variables) is known: variables get their values, `${...}` references are replaced, workspace paths
 * get their defaults, the target mode and presets are applied (name prefixes, tags, paused
 * schedules), top-level permissions and `run_as` are spread onto the resources, and task paths are
 * rewritten to where the files are synchronised. References to other resources' fields known from
 * the configuration (a schema's name) are replaced; those known only once the object exists (a job's
 * id) stay as references for the engine.
 */

export type Obj = Record<string, unknown>;

export interface CurrentUser {
  userName: string;
  short_name: string;
  displayName?: string;
  id?: string;
  /** Whether the user is a service principal (its user name is an application id). */
  servicePrincipal?: boolean;
}

export interface WorkspacePaths {
  host?: string;
  profile?: string;
  root_path: string;
  file_path: string;
  artifact_path: string;
  state_path: string;
  resource_path: string;
}

export interface Permission {
  level: string;
  user_name?: string;
  group_name?: string;
  service_principal_name?: string;
}

export interface Grant {
  principal: string;
  privileges: string[];
}

/** One resource of the bundle, final: what will be deployed. */
export interface BundleResource {
  kind: string;
  key: string;
  spec: Obj;
  permissions: Permission[];
  grants: Grant[];
  /** Resources this one's configuration refers to, as `<kind>.<key>`. */
  uses: Set<string>;
  source: { file: string; line: number; col: number };
}

export interface ResolvedBundle {
  source: BundleSource;
  name: string;
  target: string;
  mode?: "development" | "production";
  user: CurrentUser;
  workspace: WorkspacePaths;
  variables: Record<string, unknown>;
  permissions: Permission[];
  runAs?: { user_name?: string; service_principal_name?: string };
  presets: Obj;
  sync: { include: string[]; exclude: string[] };
  resources: BundleResource[];
}

export type LookupKind = string;
/** Resolves `lookup: {<kind>: <name>}` to the object's id (throws a UserError when none is found). */
export type Lookup = (kind: LookupKind, name: string) => Promise<string>;

export interface ResolveOptions {
  user: CurrentUser;
  /** `--var name=value`: wins over `BUNDLE_VAR_<name>`, the target's value and the default. */
  variables?: Record<string, string>;
  env?: Record<string, string | undefined>;
  lookup?: Lookup;
}

/** A `${resources.<kind>.<key>.<field...>}` reference, kept until the resources are final. */
class ResRef {
  constructor(
    readonly kind: string,
    readonly key: string,
    readonly path: string[],
    readonly node: LNode,
  ) {}
}

/** A string holding resource references among literal text. */
class Pending {
  constructor(readonly parts: (string | ResRef)[]) {}
}

const REF = /\$\{([^{}]*)\}/g;

const isPlain = (v: unknown): v is Obj =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** The short name the Databricks CLI derives from a user name: the local part, lower case, `_` for anything else. */
export function shortName(userName: string, displayName?: string, servicePrincipal = false): string {
  const name = servicePrincipal && displayName ? displayName : userName;
  const local = name.split("@")[0] ?? name;
  return local
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, "_")
    .replace(/_+/g, "_")
    .replace(/^_+|_+$/g, "");
}

/** The prefix of Unity Catalog names in development mode: `[dev jane] ` → `dev_jane_`. */
export function normalizePrefix(prefix: string): string {
  const p = prefix.replaceAll("[", "").trim();
  const suffix = p.endsWith("]") ? "_" : "";
  return (
    p
      .toLowerCase()
      .replace(/[^\p{L}\p{N}]/gu, "_")
      .replace(/_+/g, "_")
      .replace(/^_+|_+$/g, "") + suffix
  );
}

const JOB_LEVELS: Record<string, string> = { CAN_MANAGE: "CAN_MANAGE", CAN_VIEW: "CAN_VIEW", CAN_RUN: "CAN_MANAGE_RUN" };
const EXPERIMENT_LEVELS: Record<string, string> = { CAN_MANAGE: "CAN_MANAGE", CAN_VIEW: "CAN_READ" };
/** Top-level permission levels per kind (kinds without ACLs, such as Unity Catalog ones, take none). */
const SERVING_LEVELS: Record<string, string> = { CAN_MANAGE: "CAN_MANAGE", CAN_VIEW: "CAN_VIEW", CAN_RUN: "CAN_QUERY" };
const LEVELS: Record<string, Record<string, string>> = {
  jobs: JOB_LEVELS,
  experiments: EXPERIMENT_LEVELS,
  model_serving_endpoints: SERVING_LEVELS,
};
/** Kinds whose ACL has an owner: the deploying user's CAN_MANAGE becomes IS_OWNER. */
const HAS_OWNER = new Set(["jobs"]);

const LEVEL_ORDER: Record<string, number> = {
  CAN_VIEW: 2,
  CAN_READ: 3,
  CAN_RUN: 5,
  CAN_QUERY: 6,
  CAN_USE: 7,
  CAN_EDIT: 8,
  CAN_ATTACH_TO: 11,
  CAN_RESTART: 12,
  CAN_MANAGE_RUN: 14,
  CAN_MANAGE: 17,
  IS_OWNER: 18,
};

const principalOf = (p: Permission) =>
  p.user_name !== undefined
    ? `user_name:${p.user_name}`
    : p.group_name !== undefined
      ? `group_name:${p.group_name}`
      : `service_principal_name:${p.service_principal_name}`;

const withPrincipal = (principal: string, level: string): Permission => {
  const i = principal.indexOf(":");
  return { level, [principal.slice(0, i)]: principal.slice(i + 1) } as Permission;
};

export async function resolveBundle(source: BundleSource, opts: ResolveOptions): Promise<ResolvedBundle> {
  const env = opts.env ?? process.env;
  const issues: ConfigIssue[] = [];
  const config = source.config;
  const get = (m: LNode | undefined, k: string) => (m?.t === "map" ? m.entries.get(k) : undefined);
  const user = opts.user;

  // ---- variables
  const declared = get(config, "variables");
  const varNodes = new Map<string, MapNode | LNode>(declared?.t === "map" ? declared.entries : []);
  const varValues = new Map<string, unknown>();
  const resolvingVars = new Set<string>();
  const lookups = new Map<string, string>();

  const resolveVar = (name: string, at: LNode): unknown => {
    if (varValues.has(name)) return varValues.get(name);
    if (resolvingVars.has(name)) {
      issues.push(issueAt(at, `variable "${name}" refers to itself`));
      return "";
    }
    resolvingVars.add(name);
    try {
      let value: unknown;
      const flag = opts.variables?.[name];
      const fromEnv = env[`BUNDLE_VAR_${name}`];
      const node = varNodes.get(name);
      if (flag !== undefined) value = flag;
      else if (fromEnv !== undefined) value = fromEnv;
      else if (lookups.has(name)) value = lookups.get(name);
      else {
        const dflt = node?.t === "map" ? node.entries.get("default") : node?.t === "scalar" ? node : undefined;
        if (dflt === undefined || (dflt.t === "scalar" && dflt.value === null)) {
          issues.push({
            ...issueAt(node ?? at, `variable "${name}" has no value`, undefined, true),
            hint: `give it a default, a value in the target, --var ${name}=<value> or BUNDLE_VAR_${name}`,
          });
          value = "";
        } else value = toValue(dflt);
      }
      varValues.set(name, value);
      return value;
    } finally {
      resolvingVars.delete(name);
    }
  };

  // ---- workspace paths
  const ws = get(config, "workspace");
  const wsValues = new Map<string, string>();
  const resolvingWs = new Set<string>();
  const prefixWorkspace = (p: string) => {
    let out = p;
    if (out === "~" || out.startsWith("~/")) out = `/Workspace/Users/${user.userName}${out.slice(1)}`;
    if (/^\/(Users|Shared)(\/|$)/.test(out)) out = `/Workspace${out}`;
    return out.replace(/\/+$/, "");
  };
  const wsField = (field: string, at: LNode): string | undefined => {
    if (wsValues.has(field)) return wsValues.get(field);
    if (resolvingWs.has(field)) {
      issues.push(issueAt(at, `workspace.${field} refers to itself`));
      return "";
    }
    resolvingWs.add(field);
    try {
      const node = get(ws, field);
      let value: string | undefined;
      if (node) value = String(toValue(node) ?? "");
      else if (field === "root_path") value = `/Workspace/Users/${user.userName}/.bundle/${source.name}/${source.target}`;
      else if (field === "file_path") value = `${wsField("root_path", at)}/files`;
      else if (field === "artifact_path") value = `${wsField("root_path", at)}/artifacts`;
      else if (field === "state_path") value = `${wsField("root_path", at)}/state`;
      else if (field === "resource_path") value = `${wsField("root_path", at)}/resources`;
      if (value !== undefined && field.endsWith("_path")) value = prefixWorkspace(value);
      if (value !== undefined) wsValues.set(field, value);
      return value;
    } finally {
      resolvingWs.delete(field);
    }
  };

  const bundleField = (field: string): unknown => {
    if (field === "name") return source.name;
    if (field === "target" || field === "environment") return source.target;
    if (field === "mode") return source.mode ?? "";
    const b = get(config, "bundle");
    const n = get(b, field);
    return n ? toValue(n) : "";
  };

  const currentUserField = (rest: string[]): unknown => {
    const o: Obj = {
      userName: user.userName,
      short_name: user.short_name,
      displayName: user.displayName ?? user.userName,
      id: user.id ?? "",
    };
    return rest.length === 0 ? o : o[rest[0] as string];
  };

  /** The value of one reference, or a ResRef for resources. */
  const refValue = (expr: string, node: LNode): unknown => {
    const parts = expr.split(/\.|(?=\[)/).filter((p) => p !== "");
    const head = parts[0];
    const index = (v: unknown, rest: string[]): unknown => {
      let cur = v;
      for (const seg of rest) {
        const m = /^\[(\d+)\]$/.exec(seg);
        if (m) cur = Array.isArray(cur) ? cur[Number(m[1])] : undefined;
        else cur = isPlain(cur) ? cur[seg] : undefined;
        if (cur === undefined) {
          issues.push(issueAt(node, `"\${${expr}}" has no field ${seg}`));
          return "";
        }
      }
      return cur;
    };
    if (head === "var") return index(resolveVar(parts[1] as string, node), parts.slice(2));
    if (head === "variables") {
      const rest = parts.slice(2);
      if (rest[0] === "value") rest.shift();
      return index(resolveVar(parts[1] as string, node), rest);
    }
    if (head === "bundle") return index(bundleField(parts[1] as string), parts.slice(2));
    if (head === "workspace") {
      if (parts[1] === "current_user") return currentUserField(parts.slice(2));
      if (parts[1] === "host") return wsHost ?? "";
      return wsField(parts[1] as string, node) ?? "";
    }
    if (head === "resources") return new ResRef(parts[1] as string, parts[2] as string, parts.slice(3), node);
    if (head === "presets") {
      const p = get(config, "presets");
      return index(p ? toValue(p) : {}, parts.slice(1));
    }
    issues.push(issueAt(node, `cannot resolve "\${${expr}}"`));
    return "";
  };

  const interpolate = (s: string, node: LNode): unknown => {
    const matches = [...s.matchAll(REF)];
    if (matches.length === 0) return s;
    if (matches.length === 1 && matches[0]?.[0] === s) {
      const v = refValue((matches[0][1] as string).trim(), node);
      return typeof v === "string" && v.includes("${") ? interpolate(v, node) : v;
    }
    const parts: (string | ResRef)[] = [];
    let last = 0;
    for (const m of matches) {
      parts.push(s.slice(last, m.index));
      let v = refValue((m[1] as string).trim(), node);
      if (typeof v === "string" && v.includes("${")) v = interpolate(v, node);
      if (v instanceof ResRef) parts.push(v);
      else if (v instanceof Pending) parts.push(...v.parts);
      else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") parts.push(String(v));
      else issues.push(issueAt(node, `"\${${(m[1] as string).trim()}}" is not a string and cannot be part of one`));
      last = (m.index ?? 0) + m[0].length;
    }
    parts.push(s.slice(last));
    const merged: (string | ResRef)[] = [];
    for (const p of parts) {
      const prev = merged[merged.length - 1];
      if (typeof p === "string" && typeof prev === "string") merged[merged.length - 1] = prev + p;
      else if (p !== "") merged.push(p);
    }
    if (merged.every((p) => typeof p === "string")) return merged.join("");
    return new Pending(merged);
  };

  /** Local paths declared in YAML, rewritten to their synchronised workspace paths (by node). */
  const translated = new Map<LNode, string>();
  const toValue = (n: LNode): unknown => {
    if (n.t === "scalar") {
      const t = translated.get(n);
      if (t !== undefined) return t;
      return typeof n.value === "string" ? interpolate(n.value, n) : n.value;
    }
    if (n.t === "seq") return n.items.map(toValue);
    const out: Obj = {};
    for (const [k, v] of n.entries) out[k] = toValue(v);
    return out;
  };

  const wsHostNode = get(ws, "host");
  let wsHost: string | undefined;
  if (wsHostNode) wsHost = String(toValue(wsHostNode));

  // Lookups first: they need the workspace.
  for (const [name, node] of varNodes) {
    if (opts.variables?.[name] !== undefined || env[`BUNDLE_VAR_${name}`] !== undefined) continue;
    const lookup = get(node, "lookup");
    if (lookup?.t !== "map") continue;
    const [kind, what] = [...lookup.entries][0] as [string, LNode];
    const lookupName = String(toValue(what));
    if (!opts.lookup) {
      issues.push(issueAt(what, `cannot look up ${kind} "${lookupName}" without a workspace`));
      continue;
    }
    try {
      lookups.set(name, await opts.lookup(kind, lookupName));
    } catch (e) {
      issues.push(issueAt(what, `lookup of ${kind} "${lookupName}" failed: ${(e as Error).message}`));
    }
  }

  const variables: Record<string, unknown> = {};
  for (const name of varNodes.keys()) variables[name] = resolveVar(name, varNodes.get(name) as LNode);
  const workspace: WorkspacePaths = {
    ...(wsHost ? { host: wsHost } : {}),
    ...(get(ws, "profile") ? { profile: String(toValue(get(ws, "profile") as LNode)) } : {}),
    root_path: wsField("root_path", config) as string,
    file_path: wsField("file_path", config) as string,
    artifact_path: wsField("artifact_path", config) as string,
    state_path: wsField("state_path", config) as string,
    resource_path: wsField("resource_path", config) as string,
  };

  // ---- presets (mode: development sets what it does not find)
  const presetsNode = get(config, "presets");
  const presets: Obj = presetsNode ? (toValue(presetsNode) as Obj) : {};
  if (source.mode === "development") {
    presets.name_prefix ??= `[dev ${user.short_name}] `;
    const tags = isPlain(presets.tags) ? presets.tags : {};
    if (!("dev" in tags)) tags.dev = user.short_name;
    presets.tags = tags;
    if (!presets.jobs_max_concurrent_runs) presets.jobs_max_concurrent_runs = 4;
    presets.trigger_pause_status ??= "PAUSED";
  }

  // ---- permissions, run_as, sync
  const permissionsNode = get(config, "permissions");
  const permissions = permissionsNode ? (toValue(permissionsNode) as Permission[]) : [];
  const runAsNode = get(config, "run_as");
  const runAs = runAsNode ? (toValue(runAsNode) as ResolvedBundle["runAs"]) : undefined;
  const syncNode = get(config, "sync");
  const strings = (n: LNode | undefined) => (n?.t === "seq" ? n.items.map((i) => String(toValue(i))) : []);
  const sync = { include: strings(get(syncNode, "include")), exclude: strings(get(syncNode, "exclude")) };

  // ---- resources
  const resourcesNode = get(config, "resources");
  const resources: BundleResource[] = [];
  const byAddress = new Map<string, BundleResource>();
  if (resourcesNode?.t === "map") {
    for (const [kind, defs] of resourcesNode.entries) {
      if (!(kind in SUPPORTED_KINDS) || defs.t !== "map") continue;
      for (const [key, def] of defs.entries) {
        if (def.t !== "map") continue;
        if (kind === "jobs") markTaskPaths(def, source.root, workspace.file_path, translated);
        const value = toValue(def) as Obj;
        const { permissions: perms, grants, ...spec } = value;
        const r: BundleResource = {
          kind,
          key,
          spec,
          permissions: Array.isArray(perms) ? (perms as Permission[]) : [],
          grants: Array.isArray(grants) ? (grants as Grant[]) : [],
          uses: new Set(),
          source: { file: def.loc.file, line: (def.keyLoc ?? def.loc).line, col: (def.keyLoc ?? def.loc).col },
        };
        if (kind === "jobs") for (const [arr, k] of Object.entries(JOB_KEYED_ARRAYS)) mergeKeyed(r.spec, arr, k);
        resources.push(r);
        byAddress.set(`${kind}.${key}`, r);
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);

  applyPresets(resources, presets);
  if (source.mode === "development") {
    // Nothing else: the Databricks CLI's development mode is its presets and a disabled lock.
  }
  applyPermissions(resources, permissions, user);
  for (const r of resources) {
    if (r.kind !== "jobs") continue;
    if (runAs && r.spec.run_as === undefined) r.spec.run_as = { ...runAs };
    r.spec.deployment = { kind: "BUNDLE", metadata_file_path: `${workspace.state_path}/metadata.json` };
    r.spec.edit_mode = "UI_LOCKED";
    r.spec.format = "MULTI_TASK";
  }

  // ---- resource references
  const finalize = (r: BundleResource) => {
    const seen = new Set<string>();
    const resolveRes = (ref: ResRef, depth: number): unknown => {
      const address = `${ref.kind}.${ref.key}`;
      const target = byAddress.get(address);
      if (!target) {
        issues.push(issueAt(ref.node, `no ${ref.kind} named ${ref.key}`));
        return "";
      }
      r.uses.add(address);
      const field = ref.path.join(".");
      const engineKind = SUPPORTED_KINDS[ref.kind] as string;
      if (field === "id") {
        return ref.kind === "jobs"
          ? new Ref(engineKind, ref.key, "job_id", ref.kind)
          : new Ref(engineKind, ref.key, "id", ref.kind);
      }
      let cur: unknown = target.spec;
      for (const seg of ref.path) cur = isPlain(cur) ? cur[seg] : undefined;
      if (cur !== undefined && depth < 10) return walk(cur, depth + 1);
      const outputs = OUTPUTS[ref.kind] ?? [];
      if (ref.path.length === 1 && outputs.includes(field)) return new Ref(engineKind, ref.key, field, ref.kind);
      issues.push(
        issueAt(
          ref.node,
          `${ref.kind}.${ref.key} has no field ${field} known before deploying (known after: id${outputs.length ? `, ${outputs.join(", ")}` : ""})`,
        ),
      );
      return "";
    };
    const walk = (v: unknown, depth: number): unknown => {
      if (v instanceof ResRef) return resolveRes(v, depth);
      if (v instanceof Pending) {
        const parts: (string | Ref)[] = [];
        for (const p of v.parts) {
          const x = typeof p === "string" ? p : resolveRes(p, depth);
          if (x instanceof Ref) parts.push(x);
          else if (x instanceof Template) parts.push(...x.parts);
          else parts.push(String(x));
        }
        return parts.every((p) => typeof p === "string") ? parts.join("") : new Template(parts);
      }
      if (Array.isArray(v)) return v.map((x) => walk(x, depth));
      if (isPlain(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, depth)]));
      return v;
    };
    void seen;
    return walk;
  };
  const finals = resources.map((r) => {
    const walk = finalize(r);
    return {
      spec: walk(r.spec, 0) as Obj,
      permissions: walk(r.permissions, 0) as Permission[],
      grants: walk(r.grants, 0) as Grant[],
    };
  });
  resources.forEach((r, i) => {
    const f = finals[i] as (typeof finals)[number];
    r.spec = f.spec;
    r.permissions = f.permissions;
    r.grants = f.grants;
  });
  if (issues.length > 0) throw new ConfigError(issues);

  return {
    source,
    name: source.name,
    target: source.target,
    ...(source.mode ? { mode: source.mode } : {}),
    user,
    workspace,
    variables,
    permissions,
    ...(runAs ? { runAs } : {}),
    presets,
    sync,
    resources,
  };
}

/** Fields of a resource known only after it is deployed (the engine adapters' outputs). */
const OUTPUTS: Record<string, string[]> = {
  jobs: ["job_id"],
  experiments: ["experiment_id"],
  schemas: ["full_name", "storage_location"],
  volumes: ["full_name", "volume_id"],
  registered_models: ["full_name"],
  model_serving_endpoints: ["endpoint_id"],
};

/** Keeps one element per key in a job's keyed array, later definitions merged over earlier ones. */
function mergeKeyed(spec: Obj, arr: string, key: string): void {
  const list = spec[arr];
  if (!Array.isArray(list)) return;
  const out: Obj[] = [];
  const index = new Map<string, number>();
  for (const item of list) {
    if (!isPlain(item)) continue;
    const k = String(item[key]);
    const at = index.get(k);
    if (at === undefined) {
      index.set(k, out.length);
      out.push(item);
    } else out[at] = mergePlain(out[at] as Obj, item) as Obj;
  }
  spec[arr] = out;
}

function mergePlain(a: unknown, b: unknown): unknown {
  if (isPlain(a) && isPlain(b)) {
    const out: Obj = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? mergePlain(out[k], v) : v;
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
  return b;
}

/** Records, by node, the workspace path of every local file a job's tasks name. */
function markTaskPaths(job: MapNode, root: string, filePath: string, out: Map<LNode, string>): void {
  const tasks = job.entries.get("tasks");
  const visitTask = (t: LNode) => {
    if (t.t !== "map") return;
    const each = t.entries.get("for_each_task");
    if (each?.t === "map") {
      const inner = each.entries.get("task");
      if (inner) visitTask(inner);
    }
    for (const path of TASK_PATHS) {
      let n: LNode | undefined = t;
      for (const seg of path) n = n?.t === "map" ? n.entries.get(seg) : undefined;
      if (n?.t !== "scalar" || typeof n.value !== "string" || !isLocalPath(n.value)) continue;
      const section = t.entries.get(path[0] as string);
      if (section?.t === "map") {
        const src = section.entries.get("source");
        if (src?.t === "scalar" && src.value === "GIT") continue;
      }
      const abs = resolve(dirname(n.loc.file), n.value);
      let rel = relative(root, abs).split(sep).join("/");
      if (path[0] === "notebook_task" && isNotebookFile(abs)) rel = rel.slice(0, rel.length - extname(rel).length);
      out.set(n, `${filePath}/${rel}`);
    }
    const libs = t.entries.get("libraries");
    if (libs?.t === "seq")
      for (const lib of libs.items) {
        const req = lib.t === "map" ? lib.entries.get("requirements") : undefined;
        if (req?.t === "scalar" && typeof req.value === "string" && isLocalPath(req.value)) {
          const abs = resolve(dirname(req.loc.file), req.value);
          out.set(req, `${filePath}/${relative(root, abs).split(sep).join("/")}`);
        }
      }
  };
  if (tasks?.t === "seq") for (const t of tasks.items) visitTask(t);
  const envs = job.entries.get("environments");
  if (envs?.t === "seq")
    for (const e of envs.items) {
      const spec = e.t === "map" ? e.entries.get("spec") : undefined;
      const deps = spec?.t === "map" ? spec.entries.get("dependencies") : undefined;
      if (deps?.t !== "seq") continue;
      for (const d of deps.items) {
        if (d.t === "scalar" && typeof d.value === "string" && /^\.\.?\//.test(d.value)) {
          const abs = resolve(dirname(d.loc.file), d.value);
          out.set(d, `${filePath}/${relative(root, abs).split(sep).join("/")}`);
        }
      }
    }
}

const NOTEBOOK_HEADERS: Record<string, string> = {
  ".py": "# Databricks notebook source",
  ".sql": "-- Databricks notebook source",
  ".scala": "// Databricks notebook source",
  ".r": "# Databricks notebook source",
};

/** A notebook kept as a source file (first line marks it) or a Jupyter notebook. */
export function isNotebookFile(abs: string): boolean {
  const ext = extname(abs).toLowerCase();
  if (ext === ".ipynb") return true;
  const header = NOTEBOOK_HEADERS[ext];
  if (!header) return false;
  try {
    const first =
      readFileSync(abs, "utf8")
        .replace(/^\uFEFF/, "")
        .split(/\r?\n/, 1)[0] ?? "";
    return first.trim() === header;
  } catch {
    return false;
  }
}

function applyPresets(resources: BundleResource[], presets: Obj): void {
  const prefix = typeof presets.name_prefix === "string" ? presets.name_prefix : "";
  const tags = isPlain(presets.tags) ? Object.entries(presets.tags).map(([k, v]) => [k, String(v)] as const) : [];
  const pause = typeof presets.trigger_pause_status === "string" ? presets.trigger_pause_status : "";
  const maxRuns = typeof presets.jobs_max_concurrent_runs === "number" ? presets.jobs_max_concurrent_runs : 0;
  const ucPrefix = normalizePrefix(prefix);
  for (const r of resources) {
    const s = r.spec;
    if (r.kind === "jobs") {
      if (typeof s.name === "string") s.name = prefix + s.name;
      if (tags.length > 0) {
        const t: Obj = isPlain(s.tags) ? s.tags : {};
        for (const [k, v] of tags) if (!t[k]) t[k] = v;
        s.tags = t;
      }
      if (!s.max_concurrent_runs && maxRuns) s.max_concurrent_runs = maxRuns;
      if (pause) {
        for (const f of ["schedule", "continuous", "trigger"]) {
          const x = s[f];
          if (isPlain(x) && !x.pause_status) x.pause_status = pause;
        }
      }
    } else if (r.kind === "experiments") {
      if (typeof s.name === "string") {
        const i = s.name.lastIndexOf("/");
        s.name = i < 0 ? prefix + s.name : `${s.name.slice(0, i)}/${prefix}${s.name.slice(i + 1)}`;
      }
      if (tags.length > 0) {
        const list = Array.isArray(s.tags) ? (s.tags as Obj[]) : [];
        for (const [k, v] of tags) if (!list.some((t) => t.key === k)) list.push({ key: k, value: v });
        s.tags = list;
      }
    } else if (r.kind === "registered_models" || r.kind === "schemas" || r.kind === "model_serving_endpoints") {
      // Names without spaces or brackets: the normalised prefix; no preset tags (as the Databricks CLI does).
      if (typeof s.name === "string") s.name = ucPrefix + s.name;
    }
  }
}

/**
 * The top-level permissions mapped onto each resource kind's levels (skipped for a principal the
 * resource names itself), then the deploying user made manager (owner of a job) of every resource
 * with permissions, one entry per principal at its highest level.
 */
function applyPermissions(resources: BundleResource[], top: Permission[], user: CurrentUser): void {
  for (const r of resources) {
    const levels = LEVELS[r.kind];
    if (!levels) continue;
    const own = r.permissions;
    const added: Permission[] = [];
    for (const p of top) {
      const level = levels[p.level];
      if (!level) continue;
      if (own.some((o) => principalOf(o) === principalOf(p))) continue;
      added.push({ ...withPrincipal(principalOf(p), level) });
    }
    let list = [...own, ...added];
    if (list.length === 0) {
      r.permissions = [];
      continue;
    }
    const me = user.userName;
    const isMe = (p: Permission) => p.user_name === me || p.service_principal_name === me;
    const meOwner = list.some((p) => p.level === "IS_OWNER" && isMe(p));
    if (!meOwner) {
      const canOwn = HAS_OWNER.has(r.kind) && !list.some((p) => p.level === "IS_OWNER");
      const manage = list.findIndex((p) => isMe(p) && p.level === "CAN_MANAGE");
      if (canOwn) {
        if (manage >= 0) list[manage] = { ...(list[manage] as Permission), level: "IS_OWNER" };
        else list.push(meAs(user, "IS_OWNER"));
      } else if (manage < 0) list.push(meAs(user, "CAN_MANAGE"));
    }
    const order: string[] = [];
    const best = new Map<string, string>();
    for (const p of list) {
      const who = principalOf(p);
      if (!best.has(who)) order.push(who);
      const prev = best.get(who);
      best.set(who, prev === undefined || (LEVEL_ORDER[p.level] ?? 0) > (LEVEL_ORDER[prev] ?? 0) ? p.level : prev);
    }
    list = order.map((who) => withPrincipal(who, best.get(who) as string));
    r.permissions = list;
  }
}

function meAs(user: CurrentUser, level: string): Permission {
  return user.servicePrincipal ? { level, service_principal_name: user.userName } : { level, user_name: user.userName };
}
