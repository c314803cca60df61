import { readFileSync } from "node:fs";
import { repositorySetting, secretSettingName } from "../bootstrap/request.js";
import { displayPath } from "../config/errors.js";
import { closest } from "../config/suggest.js";
import { descend, type LNode, parseYamlFile, toPlain } from "../config/tree.js";
import { UserError } from "../lib/errors.js";
import {
  CI_AUTH,
  CICD_PLATFORMS,
  CLOUDS,
  COMPUTE,
  type OptionProblem,
  PRESETS,
  type ProjectAnswers,
  PYTHON_VERSIONS,
  resolveAnswers,
} from "./options.js";

/**
 * Where the options come from and how a problem is reported: an options file (`file:line:col
 * field: message`), a flag (`--flag: message`), an answer to a prompt, or the manifest. Options are
 * accepted under their own names and under the names of the inputs of Databricks MLOps Stacks and of
 * the GitHub workflow that used to bootstrap use cases (see `ALIASES`), so their users keep their files.
 */

export type OptionKind = "text" | "enum" | "bool" | "list";

export interface OptionDef {
  key: string;
  kind: OptionKind;
  values?: readonly string[];
  help: string;
}

/** The options a user sets directly, in the order they are asked. */
export const OPTION_DEFS: readonly OptionDef[] = [
  { key: "project_name", kind: "text", help: "project name: lowercase letters, digits, - and _ (e.g. churn-model)" },
  { key: "package_name", kind: "text", help: "Python package name (default: the project name with _ for -)" },
  { key: "cloud", kind: "enum", values: CLOUDS, help: "cloud of the Databricks workspaces" },
  { key: "cicd", kind: "enum", values: CICD_PLATFORMS, help: "CI/CD platform" },
  {
    key: "environments_preset",
    kind: "enum",
    values: PRESETS,
    help: "targets: dev, test, staging, prod (staging_prod) or development, uat, preproduction, production (four)",
  },
  { key: "host", kind: "text", help: "workspace URL of every target not given its own (targets.<name>.host)" },
  { key: "schema", kind: "text", help: "Unity Catalog schema of the project's tables and model" },
  { key: "model_name", kind: "text", help: "registered model name (default: the package name)" },
  { key: "inference_table", kind: "text", help: "table the batch inference job writes (default: <model>_predictions)" },
  {
    key: "read_groups",
    kind: "list",
    help: "groups that may read the project's jobs, experiment, model and schema (comma-separated)",
  },
  { key: "code_owners", kind: "list", help: "code owners: @user, @org/team or e-mail addresses (comma-separated)" },
  { key: "include_feature_store", kind: "bool", help: "feature engineering job and feature table" },
  { key: "include_monitoring", kind: "bool", help: "monitoring job that triggers retraining on drift" },
  { key: "include_serving", kind: "bool", help: "model serving endpoint (created once a champion version exists)" },
  { key: "compute", kind: "enum", values: COMPUTE, help: "serverless jobs, or job clusters in single-user mode" },
  {
    key: "ci_auth",
    kind: "enum",
    values: CI_AUTH,
    help: "how CI authenticates (default: github_oidc on GitHub, azure_sp on Azure)",
  },
  { key: "default_branch", kind: "text", help: "default branch: merges deploy staging" },
  { key: "release_branch", kind: "text", help: "release branch: pushes deploy production (staging_prod preset)" },
  { key: "python_version", kind: "enum", values: PYTHON_VERSIONS, help: "Python version of CI and the dev container" },
];

interface AliasDef {
  /** Canonical path the value goes to. */
  to: string[];
  convert?: (v: unknown) => unknown;
  /** Values add up (read groups) instead of replacing each other. */
  append?: boolean;
  /** Only meaningful with this environments preset. */
  preset?: "staging_prod";
}

const cicdAlias = (v: unknown) => (v === "github_actions_for_github_enterprise_servers" ? "github_actions" : v);
const lastPart = (v: unknown) => (typeof v === "string" && v.includes(".") ? v.slice(v.lastIndexOf(".") + 1) : v);
const spFlag = (v: unknown) => {
  const s = String(v).toLowerCase();
  if (["true", "yes", "1"].includes(s)) return "oauth_m2m";
  if (["false", "no", "0"].includes(s)) return "azure_sp";
  return v;
};

/** Other names accepted for the options: MLOps Stacks inputs and the use-case workflow's inputs and variables. */
export const ALIASES: Record<string, AliasDef> = {
  input_project_name: { to: ["project_name"] },
  input_cloud: { to: ["cloud"] },
  databricks_cloud: { to: ["cloud"] },
  cicd_platform: { to: ["cicd"], convert: cicdAlias },
  input_cicd_platform: { to: ["cicd"], convert: cicdAlias },
  databricks_cicd_platform: { to: ["cicd"], convert: cicdAlias },
  input_default_branch: { to: ["default_branch"] },
  input_release_branch: { to: ["release_branch"] },
  model_schema: { to: ["schema"] },
  schema_name: { to: ["schema"] },
  input_schema_name: { to: ["schema"] },
  inference_table_name: { to: ["inference_table"], convert: lastPart },
  input_inference_table_name: { to: ["inference_table"], convert: lastPart },
  input_include_feature_store: { to: ["include_feature_store"] },
  read_user_group: { to: ["read_groups"], append: true },
  input_read_user_group: { to: ["read_groups"], append: true },
  databricks_read_user_group: { to: ["read_groups"], append: true },
  unity_catalog_read_user_group: { to: ["read_groups"], append: true },
  input_unity_catalog_read_user_group: { to: ["read_groups"], append: true },
  databricks_unity_catalog_read_user_group: { to: ["read_groups"], append: true },
  use_databricks_service_principal: { to: ["ci_auth"], convert: spFlag },
  ...targetAliases("staging"),
  ...targetAliases("prod"),
  ...targetAliases("test"),
};

function targetAliases(env: "staging" | "prod" | "test"): Record<string, AliasDef> {
  const out: Record<string, AliasDef> = {};
  for (const prefix of ["", "input_", "databricks_"]) {
    out[`${prefix}${env}_catalog_name`] = { to: ["targets", env, "catalog"], preset: "staging_prod" };
  }
  if (env !== "test") {
    for (const name of [`databricks_${env}_workspace_host`, `input_databricks_${env}_workspace_host`]) {
      out[name] = { to: ["targets", env, "host"], preset: "staging_prod" };
    }
    // The workflow's client id is the application id of the service principal deploying the target.
    out[`databricks_${env}_client_id`] = { to: ["targets", env, "service_principal_id"], preset: "staging_prod" };
  }
  return out;
}

/** The staging workspace also hosts the dev and test targets in MLOps Stacks. */
const SHARED_HOST: Record<string, string[]> = { staging: ["dev", "test"] };

/** Inputs of those tools that have no meaning for the rendered project. */
export const IGNORED: Record<string, string> = {
  input_root_dir: "the project is rendered into --dir",
  input_setup_cicd_and_project: "the project always comes with its CI/CD",
  input_include_models_in_unity_catalog: "models are always registered in Unity Catalog",
  input_include_mlflow_recipes: "MLflow Recipes are not used",
  input_docker_image: "CI jobs use the platform's hosted images",
};

const CANONICAL = new Set([...OPTION_DEFS.map((d) => d.key), "targets"]);

/** `--flag-name` of an option. */
export const flagOf = (key: string) => `--${key.replace(/_/g, "-")}`;

// ---------------------------------------------------------------------------------------------
// Origins: where each value was written, to locate problems

type Origin =
  | { kind: "file"; file: string; node: LNode }
  | { kind: "flag"; flag: string; order?: number }
  | { kind: "prompt"; key: string }
  | { kind: "manifest"; file: string };

interface Collected {
  data: Record<string, unknown>;
  /** Origin of each canonical path set (joined with "."). */
  origins: Map<string, Origin>;
  problems: string[];
  warnings: string[];
  /** Aliases that only make sense with one preset: checked once the preset is known. */
  presetOnly: { preset: string; label: string }[];
  /** Values that apply only where nothing else sets the field (the staging host for dev and test). */
  soft: { path: string[]; value: unknown; origin: Origin; label: string }[];
  /** Repository settings (teams, tenant ids) by the environment variable they stand for. */
  settings: Record<string, string>;
}

export class OptionsError extends UserError {
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1 ? (problems[0] as string) : `${problems.length} problems in the options:\n  ${problems.join("\n  ")}`,
      "run `lakeforge init --help` for the options and their values (docs/init.md)",
    );
    this.name = "OptionsError";
  }
}

function emptyCollected(): Collected {
  return { data: {}, origins: new Map(), problems: [], warnings: [], presetOnly: [], soft: [], settings: {} };
}

function setPath(c: Collected, path: string[], value: unknown, origin: Origin, append: boolean, what: string): void {
  let obj = c.data;
  for (const seg of path.slice(0, -1)) {
    const next = obj[seg];
    if (typeof next !== "object" || next === null || Array.isArray(next)) obj[seg] = {};
    obj = obj[seg] as Record<string, unknown>;
  }
  const last = path[path.length - 1] as string;
  const key = path.join(".");
  const prior = c.origins.get(key);
  if (append && obj[last] !== undefined) {
    const asList = (v: unknown) => (Array.isArray(v) ? v : typeof v === "string" ? v.split(",").map((s) => s.trim()) : [v]);
    obj[last] = [...asList(obj[last]), ...asList(value)];
    return;
  }
  if (prior && prior.kind === origin.kind && obj[last] !== undefined && JSON.stringify(obj[last]) !== JSON.stringify(value)) {
    c.problems.push(`${where(prior)}${what}: set twice with different values (also as ${describeOrigin(prior)})`);
    return;
  }
  obj[last] = value;
  c.origins.set(key, origin);
}

const where = (o: Origin) => (o.kind === "file" ? `${locOf(o.node)} ` : "");
function locOf(node: LNode): string {
  const loc = node.keyLoc ?? node.loc;
  return `${displayPath(loc.file, process.cwd())}:${loc.line}:${loc.col}`;
}
function describeOrigin(o: Origin): string {
  if (o.kind === "file") return `${o.node.path.join(".")} at ${locOf(o.node)}`;
  if (o.kind === "flag") return o.flag;
  if (o.kind === "prompt") return `the answer to ${o.key}`;
  return o.file;
}

/** Adds one option as written (a canonical name or an alias) to the collection. */
function addOption(c: Collected, written: string, value: unknown, origin: Origin, label: string): void {
  const name = written.replace(/-/g, "_");
  if (CANONICAL.has(name)) {
    setPath(c, [name], value, origin, name === "read_groups" || name === "code_owners", label);
    return;
  }
  const alias = ALIASES[name.toLowerCase()];
  if (alias) {
    const converted = alias.convert ? alias.convert(value) : value;
    if (alias.preset) c.presetOnly.push({ preset: alias.preset, label });
    setPath(c, alias.to, converted, origin, alias.append === true, label);
    const shared = alias.to[0] === "targets" && alias.to[2] === "host" ? (SHARED_HOST[alias.to[1] as string] ?? []) : [];
    for (const t of shared) c.soft.push({ path: ["targets", t, "host"], value: converted, origin, label });
    return;
  }
  const setting = repositorySetting(name);
  if (setting) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") c.settings[setting] = String(value);
    else c.problems.push(`${label}: expected a single value (a name)`);
    return;
  }
  const secret = secretSettingName(name);
  if (secret) {
    c.problems.push(
      `${label}: a secret is never read from ${origin.kind === "flag" ? "a flag" : "the options file"}; set the environment variable ${secret} instead (and remove it here)`,
    );
    return;
  }
  const ignored = IGNORED[name.toLowerCase()];
  if (ignored !== undefined) {
    c.warnings.push(`${label}: ignored (${ignored})`);
    return;
  }
  const suggestion = closest(name, [...CANONICAL, ...Object.keys(ALIASES)]);
  c.problems.push(
    `${label}: unknown option${suggestion ? `; did you mean ${origin.kind === "flag" ? flagOf(suggestion) : `"${suggestion}"`}?` : ""}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Sources

/** Reads an options file (YAML or JSON) into the collection. */
function collectFile(c: Collected, file: string): void {
  let source: string;
  try {
    source = readFileSync(file, "utf8");
  } catch (e) {
    throw new UserError(`${file}: cannot read the options file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { tree, issues } = parseYamlFile(file, source);
  if (!tree) {
    throw new OptionsError(
      issues.map((i) => `${displayPath(i.loc.file, process.cwd())}:${i.loc.line}:${i.loc.col} ${i.message}`),
    );
  }
  for (const [key, node] of tree.entries) {
    const origin: Origin = { kind: "file", file, node };
    addOption(c, key, toPlain(node), origin, `${locOf(node)} ${key}`);
  }
}

/** Flags as `[flag, value]` pairs (`--cloud`, `aws`); `--target name.field=value` sets one field of a target. */
function collectFlags(c: Collected, flags: readonly [string, string | boolean][]): void {
  for (const [order, [flag, value]] of flags.entries()) {
    if (flag === "--target") {
      const m = /^([^.=]+)\.([^.=]+)=(.*)$/.exec(String(value));
      if (!m) {
        c.problems.push(`--target ${value}: expected <target>.<field>=<value>, e.g. prod.host=https://...`);
        continue;
      }
      const [, target, field, v] = m as unknown as [string, string, string, string];
      const origin: Origin = { kind: "flag", flag: `--target ${target}.${field}`, order };
      setPath(c, ["targets", target, field], v, origin, false, `--target ${target}.${field}`);
      continue;
    }
    addOption(c, flag.replace(/^--/, ""), value, { kind: "flag", flag, order }, flag);
  }
}

export interface OptionSources {
  /** An options.yaml (or .json) file. */
  file?: string;
  /** Flags as given on the command line, in order. */
  flags?: readonly [string, string | boolean][];
  /** Values recorded in a manifest: the base the other sources override. */
  recorded?: { file: string; answers: ProjectAnswers };
  /** Answers to prompts by canonical path (`["cloud"]`, `["targets", "prod", "host"]`); used only where no other source sets the field. */
  prompted?: readonly [string[], unknown][];
}

export interface ResolvedOptions {
  answers: ProjectAnswers;
  warnings: string[];
  /**
   * Settings of the repository around the project given among the options (`github_admins_group`,
   * `DATABRICKS_PROD_TENANT_ID`, ...), by the environment variable they stand for; see `requestFromProject`.
   */
  settings: Record<string, string>;
}

/** What was given so far, by canonical path, before defaults: used to decide what to ask. */
export function givenOptions(sources: OptionSources): Record<string, unknown> {
  return collect(sources).data;
}

function collect(sources: OptionSources): Collected {
  const c = emptyCollected();
  if (sources.recorded) {
    const origin: Origin = { kind: "manifest", file: sources.recorded.file };
    for (const [k, v] of Object.entries(sources.recorded.answers)) setPath(c, [k], structuredClone(v), origin, false, k);
  }
  const fromFile = emptyCollected();
  if (sources.file) collectFile(fromFile, sources.file);
  const fromFlags = emptyCollected();
  if (sources.flags) collectFlags(fromFlags, sources.flags);
  // Later sources win: the manifest, then the file, then flags; within a source a value set twice is an error.
  for (const layer of [fromFile, fromFlags]) {
    merge(c, layer);
    c.problems.push(...layer.problems);
    c.warnings.push(...layer.warnings);
    c.presetOnly.push(...layer.presetOnly);
    Object.assign(c.settings, layer.settings);
  }
  for (const layer of [fromFlags, fromFile]) {
    for (const s of layer.soft) if (!c.origins.has(s.path.join("."))) setPath(c, s.path, s.value, s.origin, false, s.label);
  }
  for (const [path, v] of sources.prompted ?? []) {
    if (!c.origins.has(path.join(".")) && getPath(c.data, path) === undefined) {
      setPath(c, path, v, { kind: "prompt", key: path.join(".") }, false, path.join("."));
    }
  }
  return c;
}

function getPath(data: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = data;
  for (const seg of path) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

function merge(into: Collected, layer: Collected): void {
  const walk = (src: Record<string, unknown>, path: string[]) => {
    for (const [k, v] of Object.entries(src)) {
      const p = [...path, k];
      const origin = layer.origins.get(p.join("."));
      if (origin) {
        let obj = into.data;
        for (const seg of p.slice(0, -1)) {
          if (typeof obj[seg] !== "object" || obj[seg] === null) obj[seg] = {};
          obj = obj[seg] as Record<string, unknown>;
        }
        obj[k] = v;
        into.origins.set(p.join("."), origin);
      } else if (typeof v === "object" && v !== null && !Array.isArray(v)) {
        walk(v as Record<string, unknown>, p);
      }
    }
  };
  walk(layer.data, []);
}

/**
 * Resolves the options from their sources: validates every value, fills in defaults and checks the
 * options together. Throws an `OptionsError` listing every problem, each located where it was written.
 */
export function resolveOptions(sources: OptionSources): ResolvedOptions {
  const c = collect(sources);
  const problems = [...c.problems];
  // Aliases for the targets of the staging_prod preset make no sense with another preset.
  const preset = (c.data.environments_preset as string | undefined) ?? "staging_prod";
  for (const { preset: wanted, label } of c.presetOnly) {
    if (preset !== wanted) problems.push(`${label}: applies to the ${wanted} preset only (environments_preset is ${preset})`);
  }
  if (problems.length > 0) throw new OptionsError(problems);
  const result = resolveAnswers(c.data);
  if (result.problems.length > 0) {
    const located = result.problems.map((p) => locate(p, c.origins));
    // Problems in reading order: the options file by line and column, then flags as given.
    located.sort((a, b) => a.rank[0] - b.rank[0] || a.rank[1] - b.rank[1] || a.rank[2] - b.rank[2]);
    throw new OptionsError(located.map((l) => l.text));
  }
  return { answers: result.answers as ProjectAnswers, warnings: c.warnings, settings: c.settings };
}

interface Located {
  text: string;
  /** Sort key: source rank, then line and column (files) or position (flags). */
  rank: [number, number, number];
}

/** `file:line:col field: message`, `--flag: message` or `field: message`, from the origin of the longest matching path. */
function locate(p: OptionProblem, origins: Map<string, Origin>): Located {
  const path = p.path.map(String);
  for (let n = path.length; n > 0; n--) {
    const origin = origins.get(path.slice(0, n).join("."));
    if (!origin) continue;
    const rest = path.slice(n);
    if (origin.kind === "file") {
      const { node, rest: missing } = descend(origin.node, rest);
      // A scalar is pointed at its value; a mapping or list (or a field missing inside it) at its key.
      const loc = missing.length === 0 && node.t === "scalar" ? node.loc : (node.keyLoc ?? node.loc);
      const field = [...node.path, ...missing].join(".");
      const text = `${displayPath(loc.file, process.cwd())}:${loc.line}:${loc.col} ${field}: ${p.message}`;
      return { text, rank: [0, loc.line, loc.col] };
    }
    if (origin.kind === "flag") {
      return {
        text: `${origin.flag}${rest.length ? ` (${rest.join(".")})` : ""}: ${p.message}`,
        rank: [1, origin.order ?? 0, 0],
      };
    }
    if (origin.kind === "manifest") return { text: `${origin.file} options.${path.join(".")}: ${p.message}`, rank: [2, 0, 0] };
    return { text: `${origin.key}: ${p.message}`, rank: [3, 0, 0] };
  }
  return { text: `${path.join(".")}: ${p.message}`, rank: [4, 0, 0] };
}
