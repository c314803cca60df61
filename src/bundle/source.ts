import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { ConfigError, type ConfigIssue } from "../config/errors.js";
import { didYouMean } from "../config/suggest.js";
import { issueAt, type LNode, type MapNode, parseYamlFile, type SeqNode } from "../config/tree.js";
import { globToRegExp } from "../template/glob.js";

/**
 * The first stage of reading a Databricks Asset Bundle: `databricks.yml` and its includes parsed
 * into one located tree, the target chosen and its overrides merged in, and everything checked that
 * can be checked without a workspace (unknown keys, unsupported resource kinds, references to
 * undeclared variables or resources, local files named by tasks). Sends no request.
 *
 * Merging follows the Databricks CLI: mappings merge key by key, sequences are concatenated, other
 * values are replaced; then the keyed arrays of jobs (tasks, job clusters, parameters, environments)
 * keep one element per key, later definitions merged over earlier ones.
 */

export const BUNDLE_FILE_NAMES = ["databricks.yml", "databricks.yaml", "bundle.yml", "bundle.yaml"] as const;

/** Resource kinds Lakeforge deploys, with the engine kind each maps to. */
export const SUPPORTED_KINDS: Record<string, string> = {
  jobs: "databricks.job",
  experiments: "databricks.experiment",
  registered_models: "databricks.registered_model",
  schemas: "databricks.schema",
  volumes: "databricks.volume",
  model_serving_endpoints: "databricks.model_serving_endpoint",
};

/** Kinds the bundle format has that Lakeforge does not deploy (reported as such, located). */
const KNOWN_UNSUPPORTED = [
  "pipelines",
  "models",
  "quality_monitors",
  "clusters",
  "dashboards",
  "apps",
  "secret_scopes",
  "sql_warehouses",
  "database_instances",
  "database_catalogs",
  "synced_database_tables",
  "alerts",
  "genie_spaces",
  "postgres_projects",
  "vector_search_endpoints",
  "instance_pools",
];

const TOP_LEVEL = [
  "bundle",
  "include",
  "variables",
  "workspace",
  "resources",
  "targets",
  "environments",
  "permissions",
  "run_as",
  "sync",
  "presets",
  "artifacts",
  "experimental",
  "scripts",
];
const TARGET_KEYS = [
  "default",
  "mode",
  "bundle",
  "workspace",
  "variables",
  "resources",
  "permissions",
  "run_as",
  "sync",
  "presets",
  "artifacts",
  "compute_id",
  "cluster_id",
  "git",
];
const WORKSPACE_KEYS = [
  "host",
  "profile",
  "root_path",
  "file_path",
  "artifact_path",
  "state_path",
  "resource_path",
  "auth_type",
  "client_id",
  "azure_client_id",
  "azure_tenant_id",
  "azure_workspace_resource_id",
  "azure_environment",
  "google_service_account",
  "account_id",
];
const VARIABLE_KEYS = ["default", "description", "lookup", "type"];
export const LOOKUP_KINDS = [
  "alert",
  "cluster",
  "cluster_policy",
  "dashboard",
  "instance_pool",
  "job",
  "metastore",
  "notification_destination",
  "pipeline",
  "query",
  "service_principal",
  "warehouse",
];
const PRESET_KEYS = [
  "name_prefix",
  "jobs_max_concurrent_runs",
  "trigger_pause_status",
  "tags",
  "pipelines_development",
  "source_linked_deployment",
  "artifacts_dynamic_version",
];
const PERMISSION_LEVELS = ["CAN_MANAGE", "CAN_VIEW", "CAN_RUN"];
/** The levels a resource's own permissions may use, for kinds checked before deploying. */
const RESOURCE_LEVELS: Record<string, string[]> = { model_serving_endpoints: ["CAN_MANAGE", "CAN_QUERY", "CAN_VIEW"] };
const PRINCIPALS = ["user_name", "group_name", "service_principal_name"];

/** Arrays of a job merged by key (the same element defined twice is merged into one). */
export const JOB_KEYED_ARRAYS: Record<string, string> = {
  tasks: "task_key",
  job_clusters: "job_cluster_key",
  parameters: "name",
  environments: "environment_key",
};

export interface BundleSource {
  /** The folder holding databricks.yml (the sync root). */
  root: string;
  file: string;
  name: string;
  target: string;
  targets: string[];
  mode?: "development" | "production";
  /** The merged configuration with the target's overrides applied (without `targets`). */
  config: MapNode;
  /** Files read, the main one first. */
  files: string[];
}

/** The bundle file in `dir` (or `dir` itself when it is a file), if any. */
export function findBundleFile(dirOrFile: string): string | undefined {
  const p = resolve(dirOrFile);
  if (/\.ya?ml$/.test(p)) return (BUNDLE_FILE_NAMES as readonly string[]).includes(basename(p)) && existsSync(p) ? p : undefined;
  for (const name of BUNDLE_FILE_NAMES) if (existsSync(join(p, name))) return join(p, name);
  return undefined;
}

const scalarString = (n: LNode | undefined): string | undefined =>
  n?.t === "scalar" && typeof n.value === "string" ? n.value : undefined;

/** Reads and checks a bundle for one target. Throws a ConfigError listing every problem found. */
export function readBundle(dirOrFile: string, opts: { target?: string } = {}): BundleSource {
  const file = findBundleFile(dirOrFile);
  if (!file) {
    throw new ConfigError([
      {
        loc: { file: resolve(dirOrFile, BUNDLE_FILE_NAMES[0]), line: 1, col: 1 },
        path: "",
        message: "no databricks.yml here",
      },
    ]);
  }
  const root = dirname(file);
  const issues: ConfigIssue[] = [];
  const fail = () => {
    if (issues.length > 0) throw new ConfigError(issues);
  };
  const parse = (f: string): MapNode | undefined => {
    const res = parseYamlFile(f, readFileSync(f, "utf8"));
    issues.push(...res.issues);
    return res.tree;
  };
  const main = parse(file);
  fail();
  const tree = main as MapNode;
  checkKeys(tree, TOP_LEVEL, issues);

  // Includes: globs relative to the bundle root, files in sorted order.
  const files = [file];
  let merged: MapNode = tree;
  const include = tree.entries.get("include");
  if (include) {
    if (include.t !== "seq") issues.push(issueAt(include, "expected a list of file paths or globs"));
    else {
      const all = listFiles(root);
      for (const item of include.items) {
        const glob = scalarString(item);
        if (!glob) {
          issues.push(issueAt(item, "expected a path or glob"));
          continue;
        }
        const re = globToRegExp(glob.replace(/^\.\//, ""));
        const matched = all.filter((f) => re.test(f) && /\.ya?ml$/.test(f)).sort();
        if (matched.length === 0 && !/[*?{]/.test(glob)) issues.push(issueAt(item, `${glob} does not exist`));
        for (const rel of matched) {
          const abs = join(root, rel);
          if (files.includes(abs)) continue;
          files.push(abs);
          const t = parse(abs);
          if (!t) continue;
          checkKeys(
            t,
            TOP_LEVEL.filter((k) => k !== "bundle" && k !== "include"),
            issues,
            "an included file",
          );
          merged = mergeIncluded(merged, t, issues);
        }
      }
    }
  }
  fail();

  // bundle.name
  const bundle = merged.entries.get("bundle");
  const name = bundle?.t === "map" ? scalarString(bundle.entries.get("name")) : undefined;
  if (bundle?.t !== "map") issues.push(issueAt(merged, "bundle: a bundle needs a `bundle:` mapping with its name"));
  else if (!name) issues.push(issueAt(bundle.entries.get("name") ?? bundle, "bundle.name: expected the bundle's name"));

  // Targets
  const targetsNode = merged.entries.get("targets") ?? merged.entries.get("environments");
  const targets = new Map<string, MapNode>();
  if (targetsNode) {
    if (targetsNode.t !== "map") issues.push(issueAt(targetsNode, "expected a mapping of targets"));
    else
      for (const [k, v] of targetsNode.entries) {
        if (v.t === "scalar" && v.value === null) targets.set(k, { t: "map", entries: new Map(), loc: v.loc, path: v.path });
        else if (v.t !== "map") issues.push(issueAt(v, "expected a mapping"));
        else {
          checkKeys(v, TARGET_KEYS, issues);
          targets.set(k, v);
        }
      }
  }
  fail();
  let target = opts.target;
  if (target === undefined) {
    const defaults = [...targets].filter(
      ([, t]) => t.entries.get("default")?.t === "scalar" && (t.entries.get("default") as { value: unknown }).value === true,
    );
    if (defaults.length > 1) issues.push(issueAt(defaults[1]?.[1] as LNode, "more than one target is marked default: true"));
    target =
      defaults[0]?.[0] ??
      (targets.size === 1 ? [...targets.keys()][0] : undefined) ??
      (targets.size === 0 ? "default" : undefined);
    if (target === undefined) {
      throw new ConfigError([
        {
          ...issueAt(targetsNode as LNode, `choose a target with -t: ${[...targets.keys()].join(", ")}`),
          hint: "or mark one target with default: true",
        },
      ]);
    }
  } else if (targets.size > 0 && !targets.has(target)) {
    throw new ConfigError([
      {
        ...issueAt(targetsNode as LNode, `no target named "${target}"${didYouMean(target, targets.keys())}`, undefined, true),
        hint: `targets: ${[...targets.keys()].join(", ")}`,
      },
    ]);
  }
  let config: MapNode = {
    ...merged,
    entries: new Map([...merged.entries].filter(([k]) => k !== "targets" && k !== "environments")),
  };
  const chosen = targets.get(target);
  let mode: BundleSource["mode"];
  if (chosen) {
    for (const [k, v] of chosen.entries) {
      if (k === "default") continue;
      if (k === "mode") {
        const m = scalarString(v);
        if (m !== "development" && m !== "production") issues.push(issueAt(v, "expected development or production"));
        else mode = m;
        continue;
      }
      if (k === "compute_id" || k === "cluster_id" || k === "git") {
        config = setEntry(config, "bundle", mergeNodes(config.entries.get("bundle") ?? emptyLike(v), mapOf(v, k)));
        continue;
      }
      if (k === "variables") {
        config = setEntry(config, "variables", overrideVariables(config.entries.get("variables"), v, issues));
        continue;
      }
      if (k === "run_as") {
        config = setEntry(config, k, v);
        continue;
      }
      const base = config.entries.get(k);
      config = setEntry(config, k, base ? mergeNodes(base, v) : v);
    }
  }
  const bundleMode = config.entries.get("bundle");
  if (!mode && bundleMode?.t === "map") {
    const m = scalarString(bundleMode.entries.get("mode"));
    if (m === "development" || m === "production") mode = m;
  }
  validateConfig(config, root, issues);
  fail();
  return { root, file, name: name as string, target, targets: [...targets.keys()], ...(mode ? { mode } : {}), config, files };
}

function mapOf(v: LNode, key: string): MapNode {
  return { t: "map", entries: new Map([[key, v]]), loc: v.loc, path: v.path.slice(0, -1) };
}

function emptyLike(v: LNode): MapNode {
  return { t: "map", entries: new Map(), loc: v.loc, path: [] };
}

function setEntry(m: MapNode, key: string, v: LNode): MapNode {
  const entries = new Map(m.entries);
  entries.set(key, v);
  return { ...m, entries };
}

/** The Databricks CLI's merge: mappings key by key, sequences concatenated, anything else replaced. */
export function mergeNodes(base: LNode, over: LNode): LNode {
  if (base.t === "map" && over.t === "map") {
    const entries = new Map(base.entries);
    for (const [k, v] of over.entries) {
      const b = entries.get(k);
      entries.set(k, b ? mergeNodes(b, v) : v);
    }
    return { ...base, entries };
  }
  if (base.t === "seq" && over.t === "seq") return { ...base, items: [...base.items, ...over.items] };
  return over;
}

/** An included file's sections merged in; a resource defined twice is an error naming both places. */
function mergeIncluded(into: MapNode, from: MapNode, issues: ConfigIssue[]): MapNode {
  const entries = new Map(into.entries);
  for (const [k, v] of from.entries) {
    const existing = entries.get(k);
    if (!existing) {
      entries.set(k, v);
      continue;
    }
    if (k === "resources" && existing.t === "map" && v.t === "map") {
      const kinds = new Map(existing.entries);
      for (const [kind, defs] of v.entries) {
        const have = kinds.get(kind);
        if (have?.t !== "map" || defs.t !== "map") {
          kinds.set(kind, have ? mergeNodes(have, defs) : defs);
          continue;
        }
        const byKey = new Map(have.entries);
        for (const [key, def] of defs.entries) {
          const prior = byKey.get(key);
          if (prior) {
            issues.push(
              issueAt(
                def,
                `resource ${kind}.${key} is already defined at ${where(prior)}`,
                "define each resource in one file only",
                true,
              ),
            );
          } else byKey.set(key, def);
        }
        kinds.set(kind, { ...have, entries: byKey });
      }
      entries.set(k, { ...existing, entries: kinds });
      continue;
    }
    entries.set(k, mergeNodes(existing, v));
  }
  return { ...into, entries };
}

const where = (n: LNode) => {
  const at = n.keyLoc ?? n.loc;
  return `${at.file.split(sep).pop()}:${at.line}:${at.col}`;
};

/** A target's `variables:` (a value, or `{default | lookup}`) set over the declared ones. */
function overrideVariables(base: LNode | undefined, over: LNode, issues: ConfigIssue[]): LNode {
  if (over.t !== "map") {
    issues.push(issueAt(over, "expected a mapping of variable values"));
    return base ?? over;
  }
  const declared = base?.t === "map" ? base : undefined;
  const entries = new Map(declared?.entries ?? []);
  for (const [k, v] of over.entries) {
    const prior = entries.get(k);
    if (!prior) {
      issues.push(
        issueAt(
          v,
          `variable "${k}" is not declared${didYouMean(k, entries.keys())}`,
          "declare it under the top-level variables:",
          true,
        ),
      );
      continue;
    }
    const isSpec = v.t === "map" && [...v.entries.keys()].some((x) => x === "default" || x === "lookup");
    const valueNode: MapNode = isSpec
      ? (v as MapNode)
      : { t: "map", entries: new Map([["default", v]]), loc: v.loc, path: v.path };
    if (prior.t !== "map") {
      entries.set(k, valueNode);
      continue;
    }
    const kept = new Map([...prior.entries].filter(([x]) => x !== "default" && x !== "lookup"));
    for (const [x, y] of valueNode.entries) kept.set(x, y);
    entries.set(k, { ...prior, entries: kept });
  }
  return { ...(declared ?? over), entries } as MapNode;
}

function checkKeys(node: MapNode, allowed: readonly string[], issues: ConfigIssue[], what?: string): void {
  for (const [k, v] of node.entries) {
    if (allowed.includes(k)) continue;
    const inFile =
      what && TOP_LEVEL.includes(k) ? ` is not allowed in ${what}` : ` is not a known field${didYouMean(k, allowed)}`;
    issues.push(issueAt(v, `${k}${inFile}`, undefined, true));
  }
}

/** Every file below `root`, as `/`-separated relative paths (skipping `.git` and `node_modules`). */
export function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name === ".git" || e.name === "node_modules" || e.name === ".databricks") continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(relative(root, p).split(sep).join("/"));
    }
  };
  walk(root);
  return out.sort();
}

// -------------------------------------------------------------------------------------------------
// Checks that need no workspace

const REF = /\$\{([^{}]*)\}/g;
const REF_PATH = /^[A-Za-z_][A-Za-z0-9_-]*(\[[0-9]+\])*(\.[A-Za-z_][A-Za-z0-9_-]*(\[[0-9]+\])*)*$/;
const BUNDLE_FIELDS = ["name", "target", "environment", "mode", "git", "compute_id", "cluster_id", "uuid"];
const WORKSPACE_FIELDS = [...WORKSPACE_KEYS, "current_user"];

function validateConfig(config: MapNode, root: string, issues: ConfigIssue[]): void {
  const variables = config.entries.get("variables");
  const declared = new Set<string>();
  if (variables) {
    if (variables.t !== "map") issues.push(issueAt(variables, "expected a mapping of variables"));
    else
      for (const [k, v] of variables.entries) {
        declared.add(k);
        if (v.t === "map") {
          checkKeys(v, VARIABLE_KEYS, issues);
          const lookup = v.entries.get("lookup");
          if (lookup) {
            if (lookup.t !== "map" || lookup.entries.size !== 1)
              issues.push(issueAt(lookup, `expected one of: ${LOOKUP_KINDS.join(", ")}`));
            else {
              const [kind, value] = [...lookup.entries][0] as [string, LNode];
              if (!LOOKUP_KINDS.includes(kind))
                issues.push(issueAt(value, `${kind} is not a lookup kind${didYouMean(kind, LOOKUP_KINDS)}`, undefined, true));
              else if (!scalarString(value)) issues.push(issueAt(value, `expected the name of the ${kind}`));
            }
          }
          const type = v.entries.get("type");
          if (type && scalarString(type) !== "complex") issues.push(issueAt(type, 'the only variable type is "complex"'));
          const dflt = v.entries.get("default");
          if (dflt && dflt.t !== "scalar" && scalarString(type) !== "complex")
            issues.push(issueAt(dflt, "a variable holding a mapping or list needs type: complex"));
        }
      }
  }
  const resources = config.entries.get("resources");
  const known = new Map<string, Set<string>>();
  if (resources) {
    if (resources.t !== "map") issues.push(issueAt(resources, "expected a mapping of resource kinds"));
    else
      for (const [kind, defs] of resources.entries) {
        if (!(kind in SUPPORTED_KINDS)) {
          const msg = KNOWN_UNSUPPORTED.includes(kind)
            ? `resources of kind ${kind} are not supported by lakeforge deploy`
            : `${kind} is not a resource kind${didYouMean(kind, [...Object.keys(SUPPORTED_KINDS), ...KNOWN_UNSUPPORTED])}`;
          issues.push({
            ...issueAt(defs, msg, undefined, true),
            hint: `supported: ${Object.keys(SUPPORTED_KINDS).join(", ")}; deploy the others with the Databricks CLI`,
          });
          continue;
        }
        if (defs.t === "scalar" && defs.value === null) continue;
        if (defs.t !== "map") {
          issues.push(issueAt(defs, "expected a mapping of resources by key"));
          continue;
        }
        known.set(kind, new Set(defs.entries.keys()));
        for (const [key, def] of defs.entries) validateResource(kind, key, def, root, issues);
      }
  }
  for (const name of ["permissions"]) {
    const p = config.entries.get(name);
    if (p) validatePermissions(p, issues, PERMISSION_LEVELS);
  }
  const runAs = config.entries.get("run_as");
  if (runAs) {
    if (runAs.t !== "map") issues.push(issueAt(runAs, "expected user_name or service_principal_name"));
    else {
      checkKeys(runAs, ["user_name", "service_principal_name"], issues);
      if (runAs.entries.size !== 1) issues.push(issueAt(runAs, "run_as names exactly one of user_name, service_principal_name"));
    }
  }
  const ws = config.entries.get("workspace");
  if (ws?.t === "map") checkKeys(ws, WORKSPACE_KEYS, issues);
  const presets = config.entries.get("presets");
  if (presets?.t === "map") {
    checkKeys(presets, PRESET_KEYS, issues);
    const tps = presets.entries.get("trigger_pause_status");
    if (tps && !["PAUSED", "UNPAUSED"].includes(scalarString(tps) ?? ""))
      issues.push(issueAt(tps, "expected PAUSED or UNPAUSED"));
  }
  const sync = config.entries.get("sync");
  if (sync?.t === "map") checkKeys(sync, ["include", "exclude", "paths"], issues);

  // References anywhere.
  const visit = (n: LNode) => {
    if (n.t === "map") for (const v of n.entries.values()) visit(v);
    else if (n.t === "seq") for (const v of n.items) visit(v);
    else if (typeof n.value === "string" && n.value.includes("${")) checkRefs(n.value, n, declared, known, issues);
  };
  visit(config);
}

function checkRefs(s: string, node: LNode, declared: Set<string>, known: Map<string, Set<string>>, issues: ConfigIssue[]): void {
  for (const m of s.matchAll(REF)) {
    const expr = (m[1] as string).trim();
    if (!REF_PATH.test(expr)) {
      issues.push(issueAt(node, `"\${${expr}}" is not a valid reference`));
      continue;
    }
    const parts = expr.replace(/\[[0-9]+\]/g, "").split(".");
    const head = parts[0] as string;
    if (head === "var" || head === "variables") {
      const v = parts[1];
      if (!v || !declared.has(v))
        issues.push(
          issueAt(
            node,
            `variable "${v ?? ""}" is not declared${v ? didYouMean(v, declared) : ""}`,
            "declare it under the top-level variables:",
          ),
        );
    } else if (head === "resources") {
      const [, kind, key, field] = parts;
      if (!kind || !key || !field) issues.push(issueAt(node, `expected \${resources.<kind>.<key>.<field>}, got "\${${expr}}"`));
      else if (!known.has(kind)) issues.push(issueAt(node, `"\${${expr}}": no resources of kind ${kind} in this bundle`));
      else if (!known.get(kind)?.has(key))
        issues.push(issueAt(node, `"\${${expr}}": no ${kind} named ${key}${didYouMean(key, known.get(kind) ?? [])}`));
    } else if (head === "bundle") {
      if (!parts[1] || !BUNDLE_FIELDS.includes(parts[1]))
        issues.push(issueAt(node, `"\${${expr}}" is not a bundle field${didYouMean(parts[1] ?? "", BUNDLE_FIELDS)}`));
    } else if (head === "workspace") {
      if (!parts[1] || !WORKSPACE_FIELDS.includes(parts[1]))
        issues.push(issueAt(node, `"\${${expr}}" is not a workspace field${didYouMean(parts[1] ?? "", WORKSPACE_FIELDS)}`));
    } else if (head !== "presets" && head !== "artifacts" && head !== "sync") {
      issues.push(
        issueAt(
          node,
          `unknown reference "\${${expr}}"; use \${var.*}, \${bundle.*}, \${workspace.*} or \${resources.<kind>.<key>.<field>}`,
        ),
      );
    }
  }
}

function validatePermissions(p: LNode, issues: ConfigIssue[], levels?: string[]): void {
  if (p.t !== "seq") {
    issues.push(issueAt(p, "expected a list of permissions"));
    return;
  }
  for (const item of p.items) {
    if (item.t !== "map") {
      issues.push(issueAt(item, "expected a mapping with level and one of user_name, group_name, service_principal_name"));
      continue;
    }
    checkKeys(item, ["level", ...PRINCIPALS], issues);
    const level = item.entries.get("level");
    if (!scalarString(level)) issues.push(issueAt(level ?? item, "level: expected a permission level"));
    else if (levels && !levels.includes(scalarString(level) as string))
      issues.push(issueAt(level as LNode, `${scalarString(level)} is not a bundle permission level; use ${levels.join(", ")}`));
    const who = PRINCIPALS.filter((k) => item.entries.has(k));
    if (who.length !== 1) issues.push(issueAt(item, "name exactly one of user_name, group_name, service_principal_name"));
  }
}

function validateResource(kind: string, key: string, def: LNode, root: string, issues: ConfigIssue[]): void {
  if (def.t !== "map") {
    issues.push(issueAt(def, "expected a mapping"));
    return;
  }
  const need = (field: string) => {
    const n = def.entries.get(field);
    if (!n) issues.push(issueAt(def, `${kind}.${key}: ${field} is required`, undefined, true));
    else if (n.t !== "scalar" || n.value === null) issues.push(issueAt(n, "expected a string"));
  };
  const perms = def.entries.get("permissions");
  if (perms) validatePermissions(perms, issues, RESOURCE_LEVELS[kind]);
  const grants = def.entries.get("grants");
  if (grants) {
    if (kind === "jobs" || kind === "experiments" || kind === "model_serving_endpoints")
      issues.push(issueAt(grants, `${kind} take permissions, not grants`, undefined, true));
    else if (grants.t !== "seq") issues.push(issueAt(grants, "expected a list of grants"));
    else
      for (const g of grants.items) {
        if (g.t !== "map") {
          issues.push(issueAt(g, "expected principal and privileges"));
          continue;
        }
        checkKeys(g, ["principal", "privileges"], issues);
        if (!scalarString(g.entries.get("principal")))
          issues.push(issueAt(g, "principal: expected a user, group or service principal"));
        const pr = g.entries.get("privileges");
        if (pr?.t !== "seq" || pr.items.some((i) => !scalarString(i)))
          issues.push(issueAt(pr ?? g, "privileges: expected a list of privileges"));
      }
  }
  if (kind === "jobs") {
    need("name");
    const tasks = def.entries.get("tasks");
    if (tasks && tasks.t !== "seq") issues.push(issueAt(tasks, "expected a list of tasks"));
    if (tasks?.t === "seq") for (const t of tasks.items) validateTask(t, root, issues);
    for (const [arr, k] of Object.entries(JOB_KEYED_ARRAYS)) {
      const a = def.entries.get(arr);
      if (a && a.t !== "seq") issues.push(issueAt(a, "expected a list"));
      if (a?.t === "seq")
        for (const item of a.items)
          if (item.t !== "map" || !item.entries.get(k) || item.entries.get(k)?.t !== "scalar")
            issues.push(issueAt(item, `every element needs a ${k}`));
    }
  } else if (kind === "experiments") need("name");
  else if (kind === "model_serving_endpoints") validateServingEndpoint(def, issues);
  else if (kind === "schemas") {
    need("name");
    need("catalog_name");
  } else {
    need("name");
    need("catalog_name");
    need("schema_name");
  }
}

/**
 * A model serving endpoint: a name the service accepts, and a config with served entities or (older)
 * served models, not both, as the Databricks CLI checks.
 */
function validateServingEndpoint(def: MapNode, issues: ConfigIssue[]): void {
  const name = def.entries.get("name");
  if (!name) issues.push(issueAt(def, "name is required", undefined, true));
  else if (name.t !== "scalar" || typeof name.value !== "string") issues.push(issueAt(name, "expected a string"));
  else if (!name.value.includes("${") && !/^[A-Za-z0-9_-]{1,63}$/.test(name.value))
    issues.push(issueAt(name, "an endpoint name consists of letters, digits, dashes and underscores (at most 63)"));
  const config = def.entries.get("config");
  if (!config) return;
  if (config.t !== "map") {
    issues.push(issueAt(config, "expected a mapping with served_entities and traffic_config"));
    return;
  }
  const entities = config.entries.get("served_entities");
  const models = config.entries.get("served_models");
  if (entities && models)
    issues.push(
      issueAt(models, "use served_entities or served_models, not both (served_models is the older form)", undefined, true),
    );
  for (const list of [entities, models]) {
    if (!list) continue;
    if (list.t !== "seq") issues.push(issueAt(list, "expected a list"));
    else for (const item of list.items) if (item.t !== "map") issues.push(issueAt(item, "expected a mapping"));
  }
}

/** Where a task names a local file, relative to the YAML file that declares it. */
export const TASK_PATHS: readonly (readonly string[])[] = [
  ["spark_python_task", "python_file"],
  ["notebook_task", "notebook_path"],
  ["sql_task", "file", "path"],
];

export const isLocalPath = (p: string) =>
  !p.includes("${") && !/^[a-z][a-z0-9+.-]*:/i.test(p) && !p.startsWith("/") && !p.startsWith("~");

function validateTask(t: LNode, root: string, issues: ConfigIssue[]): void {
  if (t.t !== "map") {
    issues.push(issueAt(t, "expected a task"));
    return;
  }
  if (!scalarString(t.entries.get("task_key")))
    issues.push(issueAt(t.entries.get("task_key") ?? t, "task_key: every task needs a task_key"));
  const each = t.entries.get("for_each_task");
  if (each?.t === "map") {
    const inner = each.entries.get("task");
    if (inner) validateTask(inner, root, issues);
  }
  for (const path of TASK_PATHS) {
    let n: LNode | undefined = t;
    for (const seg of path) n = n?.t === "map" ? n.entries.get(seg) : undefined;
    const value = scalarString(n);
    if (!n || value === undefined || !isLocalPath(value)) continue;
    const section = path[0] as string;
    const source = t.entries.get(section);
    if (source?.t === "map" && scalarString(source.entries.get("source")) === "GIT") continue;
    const abs = resolve(dirname(n.loc.file), value);
    if (!existsSync(abs)) {
      issues.push(
        issueAt(
          n,
          `${value} does not exist (looked for ${relative(root, abs) || abs})`,
          "paths are relative to the file that names them",
        ),
      );
    } else if (relative(root, abs).startsWith("..")) {
      issues.push(issueAt(n, `${value} is outside the bundle folder, which is what gets synchronised`));
    }
  }
}

/** The located node of `seq` (for callers walking merged arrays). */
export type { LNode, MapNode, SeqNode };
