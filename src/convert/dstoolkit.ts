import { type Dirent, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { Document, isMap, isScalar, type Pair, type YAMLMap } from "yaml";
import { z } from "zod";
import { isPrivilegedRole, roleDefinitionGuid } from "../azure/roles.js";
import { validateConfig } from "../config/config.js";
import { cluster as clusterSchema } from "../config/schema/compute.js";
import { job as jobSchema } from "../config/schema/jobs.js";
import { GIT_PROVIDERS, gitCredential as gitCredentialSchema, repo as repoSchema } from "../config/schema/workspace.js";
import { didYouMean } from "../config/suggest.js";
import { writeFileAtomic } from "../engine/state.js";
import { UserError } from "../lib/errors.js";
import { type JsonPath, JsonSyntaxError, type LocatedJson, parseLocatedJson } from "./json.js";
import { canonical, identifier, isObj, isScalarValue, type Merged, Merger, NotShareable, type Obj } from "./merge.js";
import { type DroppedSecret, envReference, scrubSecrets } from "./secrets.js";

/**
 * `lakeforge convert dstoolkit`: reads the per-environment parameter files of Microsoft's
 * dstoolkit-mlops-databricks accelerator and writes one `lakeforge.yaml`.
 *
 * Two layouts are read:
 * - `Pipeline_Param/<Env>.json` (under `.github/workflows/` in the accelerator), one file per
 *   environment with `Clusters`, `Jobs`, `WheelFiles`, `Git_Configuration`, `Repo_Configuration`,
 *   `RBAC_Assignments` and Azure deployment settings;
 * - `databricks_configs/<env>/{clusters,rbac,repos}.json` (under `infrastructure/databricks/`),
 *   the same keys split over three files per environment.
 *
 * Resources found in every environment become shared definitions; values that differ become
 * variables (scalars) or environment overrides (everything else). Secret values are never copied:
 * git tokens become `from_env` sources. Each environment's `Bicep.parameters.json` and role
 * assignments become its `azure:` section (Owner at subscription scope refused and reported).
 * Whatever has no Lakeforge equivalent (custom roles, wheel builds, unknown keys) is reported, on the
 * conversion result and at the top of the written file. See docs/convert-dstoolkit.md.
 */

export type DstoolkitLayout = "pipeline_param" | "databricks_configs";

export interface ConvertOptions {
  /** `project.name`; by default the name of the repository folder holding the parameter files. */
  project?: string;
  /**
   * The workspace of each environment: a URL, or `local` for the local workspace. Environments not
   * listed read their URL from `<ENV>_DATABRICKS_HOST`.
   */
  workspaceHosts?: Readonly<Record<string, string>>;
  /** Directory the parameter files are shown relative to in error messages (default: the current directory). */
  relativeTo?: string;
}

/** Something in the parameter files that the written configuration does not carry. */
export interface ReportItem {
  /** What it is, as written in the parameter files: `RBAC_Assignments[1]`, `Jobs[0].foo`, ... */
  subject: string;
  message: string;
  /** The environments it was found in. */
  environments: string[];
  /** `file:line:col` of each occurrence, files relative to the folder holding the layout folder. */
  locations: string[];
}

/** An environment variable the written configuration reads. */
export interface EnvironmentVariable {
  name: string;
  purpose: string;
  /** Holds a secret value (a token). */
  secret: boolean;
  environments: string[];
}

export interface ConvertedResource {
  section: string;
  name: string;
  /** Shared by every environment, or defined in the listed environments only. */
  shared: boolean;
  environments: string[];
}

export interface DstoolkitConversion {
  layout: DstoolkitLayout;
  /** The folder the parameter files were read from (absolute). */
  source: string;
  environments: string[];
  resources: ConvertedResource[];
  variables: string[];
  environmentVariables: EnvironmentVariable[];
  notConverted: ReportItem[];
  /** Problems a check of the written configuration found (`field.path: message`); empty when it is valid. */
  problems: string[];
  /** The `lakeforge.yaml` text. */
  text: string;
}

// -------------------------------------------------------------------------------------------------
// Names, paths and values

/** An environment variable name made of `parts`. */
const envVarName = (...parts: string[]) =>
  parts
    .join("_")
    .toUpperCase()
    .replace(/[^A-Z0-9_]+/g, "_")
    .replace(/_+/g, "_")
    .replace(/^_|_$/g, "");

function pathText(path: JsonPath): string {
  let out = "";
  for (const seg of path) out += typeof seg === "number" ? `[${seg}]` : out === "" ? seg : `.${seg}`;
  return out;
}

function brief(value: unknown, max = 160): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** Values copied from the parameter files: `${` would start a Lakeforge reference, so it is escaped. */
const escapeRefs = (s: string) => s.replaceAll("${", () => "$${");

/** Removes JSON nulls and empty mappings and lists (the APIs treat them as absent) and escapes `${`. */
function prune(v: unknown): unknown {
  if (typeof v === "string") return escapeRefs(v);
  if (Array.isArray(v)) {
    const items = v.map(prune).filter((x) => x !== undefined);
    return items.length === 0 ? undefined : items;
  }
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) {
      const p = prune(x);
      if (p !== undefined) out[k] = p;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  return v === null ? undefined : v;
}

/** String maps of the APIs take strings only: JSON numbers and booleans become their text. */
function stringMap(v: unknown): unknown {
  if (!isObj(v)) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, isScalarValue(x) ? String(x) : x]));
}

// -------------------------------------------------------------------------------------------------
// Finding the parameter files

const LAYOUT_DIRS: Record<string, DstoolkitLayout> = {
  pipeline_param: "pipeline_param",
  databricks_configs: "databricks_configs",
};
const SKIP_DIRS = new Set(["node_modules", ".git", ".venv", "venv", "__pycache__", "dist", ".lakeforge"]);
const MAX_DEPTH = 5;

interface SourceFile {
  /** Absolute path. */
  path: string;
  /** Path relative to the folder holding the layout folder (`Pipeline_Param/UAT.json`). */
  shown: string;
  /** Path as error messages show it (relative to the current directory). */
  display: string;
  json: LocatedJson;
}

interface EnvironmentSource {
  name: string;
  /** `Pipeline_Param/UAT.json` or `databricks_configs/uat/`. */
  label: string;
  files: SourceFile[];
}

function layoutOf(dir: string): DstoolkitLayout | undefined {
  return LAYOUT_DIRS[basename(dir).toLowerCase()];
}

/** A folder's entries sorted by name; none when it cannot be read. */
function entriesOf(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  } catch {
    return [];
  }
}

/** Layout folders at or under `dir` (a bounded walk that skips dependency and VCS folders). */
function findLayoutDirs(dir: string): { dir: string; layout: DstoolkitLayout }[] {
  const own = layoutOf(dir);
  if (own) return [{ dir, layout: own }];
  const found: { dir: string; layout: DstoolkitLayout }[] = [];
  const walk = (d: string, depth: number) => {
    for (const e of entriesOf(d)) {
      if (!e.isDirectory() || SKIP_DIRS.has(e.name)) continue;
      const child = join(d, e.name);
      const layout = layoutOf(child);
      if (layout) found.push({ dir: child, layout });
      else if (depth < MAX_DEPTH) walk(child, depth + 1);
    }
  };
  walk(dir, 1);
  return found;
}

const ENV_ORDER = [
  "development",
  "dev",
  "sandbox",
  "test",
  "uat",
  "staging",
  "preproduction",
  "preprod",
  "ppe",
  "production",
  "prod",
];

function environmentName(raw: string, where: string): string {
  const name = raw
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (!/^[a-z_][a-z0-9_-]*$/.test(name)) {
    throw new UserError(
      `${where}: cannot name an environment after "${raw}"`,
      "rename the file or folder to start with a letter",
    );
  }
  return name;
}

function orderEnvironments<T extends { name: string }>(envs: T[]): T[] {
  const rank = (n: string) => {
    const i = ENV_ORDER.indexOf(n);
    return i < 0 ? ENV_ORDER.length : i;
  };
  return [...envs].sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

function readJsonFile(path: string, shown: string, relativeTo: string): SourceFile {
  const text = readFileSync(path, "utf8");
  try {
    return { path, shown, display: displayFile(path, relativeTo), json: parseLocatedJson(text) };
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      throw new UserError(
        `${displayFile(path, relativeTo)}:${e.line}:${e.col}: malformed JSON: ${e.message}`,
        "fix the file (it must be valid JSON), then run the conversion again",
      );
    }
    throw e;
  }
}

function displayFile(file: string, relativeTo: string): string {
  const rel = relative(relativeTo, file);
  if (rel === "" || rel.startsWith(`..${sep}..${sep}..`)) return file;
  return sep === "/" ? rel : rel.split(sep).join("/");
}

const jsonFilesIn = (dir: string) =>
  readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith(".json"))
    .map((e) => e.name)
    .sort();

function readEnvironments(layoutDir: string, layout: DstoolkitLayout, relativeTo: string): EnvironmentSource[] {
  const base = dirname(layoutDir);
  const shownOf = (p: string) => relative(base, p).split(sep).join("/");
  const envs: EnvironmentSource[] = [];
  const seen = new Map<string, string>();
  const add = (raw: string, label: string, files: SourceFile[], where: string) => {
    const name = environmentName(raw, where);
    const other = seen.get(name);
    if (other !== undefined) {
      throw new UserError(`${where}: environment "${name}" is also read from ${other}`, "keep one set of files per environment");
    }
    seen.set(name, label);
    envs.push({ name, label, files });
  };
  if (layout === "pipeline_param") {
    for (const f of jsonFilesIn(layoutDir)) {
      const path = join(layoutDir, f);
      add(
        f.replace(/\.json$/i, ""),
        shownOf(path),
        [readJsonFile(path, shownOf(path), relativeTo)],
        displayFile(path, relativeTo),
      );
    }
  } else {
    for (const e of readdirSync(layoutDir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (!e.isDirectory()) continue;
      const envDir = join(layoutDir, e.name);
      const files = jsonFilesIn(envDir).map((f) => readJsonFile(join(envDir, f), shownOf(join(envDir, f)), relativeTo));
      if (files.length === 0) continue;
      add(e.name, `${shownOf(envDir)}/`, files, displayFile(envDir, relativeTo));
    }
  }
  if (envs.length === 0) {
    throw new UserError(
      `${displayFile(layoutDir, relativeTo)}: no parameter files`,
      layout === "pipeline_param"
        ? "expected one <Environment>.json per environment"
        : "expected one folder per environment holding clusters.json, rbac.json and repos.json",
    );
  }
  return orderEnvironments(envs);
}

// -------------------------------------------------------------------------------------------------
// Finding the Bicep parameter files of the environments

const BICEP_PARAMS = /^bicep\.parameters\.json$/i;

/** Folders from `from` upwards: at most `max` of them, none above a folder holding `.git`. */
function ancestors(from: string, max: number): string[] {
  const out: string[] = [];
  let d = from;
  for (let i = 0; i < max; i++) {
    out.push(d);
    if (existsSync(join(d, ".git")) || dirname(d) === d) break;
    d = dirname(d);
  }
  return out;
}

/**
 * Each environment's `Bicep.parameters.json`: the file its Pipeline_Param names in
 * `TemplateParamFilePath` (a path from the repository's root), else a `<Env>/Bicep.parameters.json`
 * found near the parameter files (`Bicep_Params/<Env>/`, `bicep/params/<env>/`): the search starts
 * beside the layout folder and goes up to the folder given (two folders up when the layout folder
 * itself was given), stopping at the first folder under which any is found.
 */
function findBicepParams(
  layoutDir: string,
  root: string,
  sources: EnvironmentSource[],
  relativeTo: string,
  collector: Collector,
): Map<string, SourceFile> {
  const out = new Map<string, SourceFile>();
  const read = (path: string, base: string) => readJsonFile(path, relative(base, path).split(sep).join("/"), relativeTo);
  const repoDirs = ancestors(dirname(layoutDir), 6);
  const rest: EnvironmentSource[] = [];
  for (const s of sources) {
    const named = s.files
      .map((f) => (isObj(f.json.value) ? f.json.value.TemplateParamFilePath : undefined))
      .find((v): v is string => typeof v === "string" && v !== "");
    if (named === undefined) {
      rest.push(s);
      continue;
    }
    const base = repoDirs.find((d) => existsSync(join(d, named)) && statSync(join(d, named)).isFile());
    if (base) out.set(s.name, read(join(base, named), base));
  }
  if (rest.length === 0) return out;

  const inside = root !== layoutDir && !relative(root, layoutDir).startsWith("..");
  const bases: string[] = [];
  for (const d of ancestors(dirname(layoutDir), 8)) {
    bases.push(d);
    if (inside ? d === root : bases.length >= 2) break;
  }
  for (const base of bases) {
    const found = new Map<string, string[]>();
    const walk = (d: string, depth: number) => {
      for (const e of entriesOf(d)) {
        const child = join(d, e.name);
        if (e.isDirectory() && !SKIP_DIRS.has(e.name) && child !== layoutDir && depth < MAX_DEPTH) walk(child, depth + 1);
        else if (e.isFile() && BICEP_PARAMS.test(e.name)) {
          const raw = basename(d);
          const env = /^[A-Za-z]/.test(raw) ? raw.toLowerCase().replace(/[^a-z0-9_-]+/g, "_") : undefined;
          if (env) found.set(env, [...(found.get(env) ?? []), child]);
        }
      }
    };
    walk(base, 1);
    if (found.size === 0) continue;
    for (const s of rest) {
      const files = found.get(s.name) ?? [];
      if (files.length === 1) out.set(s.name, read(files[0] as string, base));
      else if (files.length > 1) {
        const shown = files.map((f) => relative(base, f).split(sep).join("/"));
        collector.note(
          s.name,
          "Bicep.parameters.json",
          `several Bicep parameter files for ${s.name} (${shown.join(", ")}); its \`azure:\` section is not converted: remove the stale ones or pass the folder of one set`,
          shown[0] as string,
        );
      }
    }
    break;
  }
  return out;
}

// -------------------------------------------------------------------------------------------------
// Schema-driven field filter

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else return s;
  }
}

/**
 * Drops fields the schema does not know (at any depth), calling `onUnknown` for each. Values the
 * schema describes loosely (unions, unknowns) are kept as they are.
 */
function keepKnown(
  schema: z.ZodType,
  value: unknown,
  path: string[],
  onUnknown: (path: string[], value: unknown) => void,
): unknown {
  const s = unwrap(schema);
  if (s instanceof z.ZodObject && isObj(value)) {
    const shape = s.shape as Record<string, z.ZodType>;
    const out: Obj = {};
    for (const [k, v] of Object.entries(value)) {
      const field = shape[k];
      if (!field) {
        onUnknown([...path, k], v);
        continue;
      }
      out[k] = keepKnown(field, v, [...path, k], onUnknown);
    }
    return out;
  }
  if (s instanceof z.ZodArray && Array.isArray(value)) {
    return value.map((v, i) => keepKnown(s.element as z.ZodType, v, [...path, String(i)], onUnknown));
  }
  if (s instanceof z.ZodRecord && isObj(value)) {
    const inner = s._zod.def.valueType as z.ZodType;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, keepKnown(inner, v, [...path, k], onUnknown)]));
  }
  return value;
}

/** Fields a cluster has when it is read back from a workspace: not settings, never sent. */
const CLUSTER_OUTPUTS = new Set([
  "cluster_id",
  "cluster_source",
  "creator_user_name",
  "state",
  "state_message",
  "start_time",
  "terminated_time",
  "last_state_loss_time",
  "last_activity_time",
  "last_restarted_time",
  "termination_reason",
  "default_tags",
  "spark_context_id",
  "jdbc_port",
  "cluster_memory_mb",
  "cluster_cores",
  "driver",
  "executors",
  "effective_spark_version",
  "disk_spec",
  "init_scripts_safe_mode",
  "spec",
]);

// -------------------------------------------------------------------------------------------------
// One environment

const SECTIONS = ["git_credentials", "clusters", "repos", "jobs"] as const;
type Section = (typeof SECTIONS)[number];

interface Origin {
  file: string;
  subject: string;
  line: number;
}

interface Entry {
  spec: Obj;
  origin: Origin;
}

interface EnvResult {
  name: string;
  label: string;
  sections: Record<Section, Map<string, Entry>>;
  /** The `azure:` section of the environment, from its Bicep parameter file and role assignments. */
  azure?: Obj;
}

/** What all environments contribute to besides resources: notes, variables, environment variables. */
class Collector {
  readonly notes = new Map<string, ReportItem>();
  readonly envVars = new Map<string, EnvironmentVariable>();
  /** Variables without a value from the parameter files (an environment must set them). */
  readonly openVariables = new Map<string, { description: string; default?: string }>();

  note(env: string, subject: string, message: string, location: string): void {
    const key = `${subject}\0${message}`;
    const item = this.notes.get(key) ?? { subject, message, environments: [], locations: [] };
    if (!item.environments.includes(env)) item.environments.push(env);
    if (!item.locations.includes(location)) item.locations.push(location);
    this.notes.set(key, item);
  }

  envVar(name: string, purpose: string, env: string, secret: boolean): void {
    const v = this.envVars.get(name) ?? { name, purpose, secret, environments: [] };
    if (!v.environments.includes(env)) v.environments.push(env);
    this.envVars.set(name, v);
  }
}

const KNOWN_KEYS = ["Clusters", "Jobs", "WheelFiles", "Git_Configuration", "Repo_Configuration", "RBAC_Assignments"];

const AZURE_HINT =
  "no Bicep parameter file was found for this environment: convert the repository holding Bicep_Params/<Env>/Bicep.parameters.json to get an `azure:` section, or write it by hand (docs/azure.md)";
/** Pipeline_Param keys that go into the `azure:` section when the environment's Bicep parameters are found. */
const AZURE_SECTION_KEYS = new Set(["SubscriptionId", "Location", "ResourceGroupName", "TemplateParamFilePath"]);
const AUTH_HINT = "not needed: Lakeforge's Azure authentication uses it by itself";

/** Settings of the Azure deployment (Bicep/ARM) kept in the same files: what each is, and what to do. */
const AZURE_KEYS: Record<string, [string, string]> = {
  SubscriptionId: ["the Azure subscription the resources are deployed to", AZURE_HINT],
  Location: ["the Azure region of the deployment", AZURE_HINT],
  TemplateFilePath: ["the Bicep template of the Azure resources", AZURE_HINT],
  TemplateParamFilePath: ["the parameters of the Bicep template", AZURE_HINT],
  ResourceGroupName: ["the Azure resource group of the deployment", AZURE_HINT],
  AZURE_DATABRICKS_APP_ID: ["the Azure AD application id of Azure Databricks, for workspace tokens", AUTH_HINT],
  MANAGEMENT_RESOURCE_ENDPOINT: ["the Azure management endpoint, for the management-token header", AUTH_HINT],
};

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const PRINCIPAL_TYPES = ["User", "Group", "ServicePrincipal"];
const STORAGE_SKUS = ["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS"];

const GIT_HOSTS: Record<string, string> = {
  "github.com": "gitHub",
  "gitlab.com": "gitLab",
  "bitbucket.org": "bitbucketCloud",
  "dev.azure.com": "azureDevOpsServices",
};

function canonicalProvider(raw: unknown): string | undefined {
  if (typeof raw !== "string") return undefined;
  return GIT_PROVIDERS.find((p) => p.toLowerCase() === raw.toLowerCase());
}

function providerFromUrl(url: string): string | undefined {
  try {
    const host = new URL(url).hostname.toLowerCase();
    return GIT_HOSTS[host] ?? (host.endsWith(".visualstudio.com") ? "azureDevOpsServices" : undefined);
  } catch {
    return undefined;
  }
}

/** The default environment variable of a provider's token; `PAT_GITHUB` is what the accelerator's pipelines set. */
const tokenVariable = (provider: string) => `PAT_${envVarName(provider === "gitHub" ? "github" : provider)}`;

/** Keys of a Git_Configuration entry that hold a token (literal, never copied) or name where it is. */
const TOKEN_VALUE_KEYS = ["personal_access_token", "personalAccessToken", "token", "pat", "git_token", "access_token"];
const TOKEN_ENV_KEYS = [
  "personal_access_token_env",
  "token_env",
  "token_env_var",
  "pat_env",
  "pat_env_var",
  "env_var",
  "token_variable",
];
const TOKEN_SECRET_KEYS = ["token_secret_name", "pat_secret_name", "secret_name", "key_vault_secret_name"];

const TASK_LEVEL = new Set([
  "notebook_task",
  "spark_python_task",
  "python_wheel_task",
  "spark_jar_task",
  "spark_submit_task",
  "pipeline_task",
  "sql_task",
  "dbt_task",
  "run_job_task",
  "existing_cluster_id",
  "new_cluster",
  "job_cluster_key",
  "libraries",
  "max_retries",
  "min_retry_interval_millis",
  "retry_on_timeout",
  "cluster_name",
]);

const TASK_KEY = /[^\w\-.]+/g;
const taskKeyOf = (raw: string) => raw.replace(TASK_KEY, "_").slice(0, 100) || "main";

class EnvironmentConverter {
  readonly sections: Record<Section, Map<string, Entry>> = {
    git_credentials: new Map(),
    clusters: new Map(),
    repos: new Map(),
    jobs: new Map(),
  };
  /** Cluster name → resource key. */
  private readonly clusterKeys = new Map<string, string>();
  /** Cluster id (when the parameter file was exported from a workspace) → resource key. */
  private readonly clusterIds = new Map<string, string>();
  private firstRepo: { key: string; provider?: string; url: string } | undefined;
  private readonly secretsDropped = new Map<SourceFile, DroppedSecret[]>();
  /** Dropped secrets already reported by the part that expected them (a git token). */
  private readonly reportedSecrets = new Set<string>();

  /** Pipeline_Param values the `azure:` section takes (subscription, location, resource group). */
  private readonly azureKeys = new Map<string, unknown>();
  private readonly roles: Obj[] = [];

  constructor(
    private readonly env: EnvironmentSource,
    private readonly out: Collector,
    private readonly needsReposFolder: { value: boolean },
    /** The environment's `Bicep.parameters.json`, when found: it then gets an `azure:` section. */
    private readonly bicep?: SourceFile,
  ) {}

  private at(file: SourceFile, path: JsonPath): string {
    const p = file.json.loc(path);
    return `${file.shown}:${p.line}:${p.col}`;
  }

  private note(file: SourceFile, path: JsonPath, message: string, subject = pathText(path)): void {
    this.out.note(this.env.name, subject, message, this.at(file, path));
  }

  private origin(file: SourceFile, path: JsonPath): Origin {
    return { file: file.shown, subject: pathText(path), line: file.json.loc(path).line };
  }

  private add(section: Section, rawKey: string, fallback: string, spec: Obj, origin: Origin): string {
    const map = this.sections[section];
    const base = identifier(rawKey, fallback);
    let key = base;
    for (let n = 2; map.has(key); n++) key = `${base}_${n}`;
    map.set(key, { spec, origin });
    return key;
  }

  run(): EnvResult {
    // Every file's top level, secrets removed; items of a key are gathered over the environment's files.
    const items = new Map<string, { file: SourceFile; value: unknown }[]>();
    for (const file of this.env.files) {
      const top = file.json.value;
      if (!isObj(top)) {
        const p = file.json.loc([]);
        throw new UserError(
          `${file.display}:${p.line}:${p.col}: expected a JSON object at the top of the file`,
          "a parameter file holds one object with keys such as Clusters, Jobs and Repo_Configuration",
        );
      }
      const dropped: DroppedSecret[] = [];
      const clean = scrubSecrets(top, [], dropped) as Obj;
      this.secretsDropped.set(file, dropped);
      for (const [key, value] of Object.entries(clean)) {
        const list = items.get(key) ?? [];
        list.push({ file, value });
        items.set(key, list);
      }
    }
    const each = (key: string, fn: (file: SourceFile, item: unknown, path: JsonPath) => void) => {
      for (const { file, value } of items.get(key) ?? []) {
        if (!Array.isArray(value)) {
          this.note(file, [key], `expected a list; not converted (value: ${brief(value)})`);
          continue;
        }
        for (const [i, item] of value.entries()) fn(file, item, [key, i]);
      }
    };
    each("Clusters", (f, v, p) => this.cluster(f, v, p));
    each("Repo_Configuration", (f, v, p) => this.repo(f, v, p));
    each("Git_Configuration", (f, v, p) => this.gitCredential(f, v, p));
    each("Jobs", (f, v, p) => this.job(f, v, p));
    each("WheelFiles", (f, v, p) => this.wheel(f, v, p));
    each("RBAC_Assignments", (f, v, p) => this.roleAssignment(f, v, p));
    for (const [key, list] of items) {
      if (KNOWN_KEYS.includes(key)) continue;
      for (const { file, value } of list) {
        const azure = AZURE_KEYS[key];
        if (this.bicep && AZURE_SECTION_KEYS.has(key)) this.azureKeys.set(key, value);
        else if (this.bicep && key === "TemplateFilePath") {
          this.note(file, [key], `the accelerator's Bicep template (${brief(value)}); replaced by the \`azure:\` section`);
        } else if (azure) this.note(file, [key], `${azure[0]}: ${brief(value)}; ${azure[1]}`);
        else {
          this.note(
            file,
            [key],
            `unknown key${didYouMean(key, [...KNOWN_KEYS, ...Object.keys(AZURE_KEYS)])}; not converted (value: ${brief(value)})`,
          );
        }
      }
    }
    // Secrets found anywhere else than where a git token is expected.
    for (const [file, dropped] of this.secretsDropped) {
      for (const d of dropped) {
        if (this.reportedSecrets.has(`${file.path}\0${canonical(d.path)}`)) continue;
        this.note(
          file,
          d.path,
          "holds a literal secret value; not copied (Lakeforge reads secrets from the environment, e.g. a secret scope's `from_env`, or {{secrets/<scope>/<key>}} in Spark settings)",
        );
      }
    }
    const azure = this.bicep ? this.azureSection(this.bicep) : undefined;
    return { name: this.env.name, label: this.env.label, sections: this.sections, ...(azure ? { azure } : {}) };
  }

  private fieldFilter(file: SourceFile, path: JsonPath, what: string, outputs?: Set<string>) {
    return (p: string[], value: unknown) => {
      const top = p[0] ?? "";
      if (p.length === 1 && outputs?.has(top)) {
        this.note(file, [...path, ...p], `read-only field of a ${what} as a workspace returns it; not needed, not copied`);
        return;
      }
      this.note(file, [...path, ...p], `not a ${what} field Lakeforge knows; not copied (value: ${brief(value)})`);
    };
  }

  private cluster(file: SourceFile, raw: unknown, path: JsonPath): void {
    if (!isObj(raw) || typeof raw.cluster_name !== "string" || raw.cluster_name === "") {
      this.note(file, path, `a cluster needs a cluster_name; not converted (value: ${brief(raw)})`);
      return;
    }
    const spec = (prune(raw) ?? {}) as Obj;
    for (const k of ["spark_conf", "spark_env_vars", "custom_tags"]) if (spec[k] !== undefined) spec[k] = stringMap(spec[k]);
    if (spec.autoscale !== undefined && spec.num_workers !== undefined) {
      this.note(
        file,
        [...path, "num_workers"],
        "both num_workers and autoscale are set; autoscale is kept (the Clusters API takes one of them)",
      );
      delete spec.num_workers;
    }
    const known = keepKnown(clusterSchema, spec, [], this.fieldFilter(file, path, "cluster", CLUSTER_OUTPUTS)) as Obj;
    delete known.permissions;
    delete known.prevent_destroy;
    const key = this.add("clusters", raw.cluster_name, "cluster", known, this.origin(file, path));
    this.clusterKeys.set(raw.cluster_name, key);
    if (typeof raw.cluster_id === "string" && raw.cluster_id !== "") this.clusterIds.set(raw.cluster_id, key);
  }

  private repo(file: SourceFile, raw: unknown, path: JsonPath): void {
    if (!isObj(raw) || typeof raw.url !== "string" || raw.url === "") {
      this.note(file, path, `a repo needs a url; not converted (value: ${brief(raw)})`);
      return;
    }
    const spec = (prune(raw) ?? {}) as Obj;
    const url = raw.url;
    const repoName = (url.replace(/\/+$/, "").split("/").pop() ?? "repo").replace(/\.git$/i, "");
    const provider = canonicalProvider(raw.provider) ?? (raw.provider === undefined ? providerFromUrl(url) : undefined);
    if (raw.provider !== undefined && provider === undefined) {
      this.note(
        file,
        [...path, "provider"],
        `unknown git provider ${brief(raw.provider)}; expected one of ${GIT_PROVIDERS.join(", ")}`,
      );
    }
    if (provider) spec.provider = provider;
    else delete spec.provider;
    const rawPath = typeof raw.path === "string" && raw.path.trim() !== "" ? raw.path.trim() : repoName;
    if (/^\/(Repos|Workspace)\//.test(rawPath)) spec.path = escapeRefs(rawPath);
    else {
      // The accelerator creates Git folders at /Repos/<ARM_CLIENT_ID>/<path>.
      spec.path = `/Repos/\${var.repos_folder}/${escapeRefs(rawPath.replace(/^\/+/, ""))}`;
      this.needsReposFolder.value = true;
    }
    const known = keepKnown(repoSchema, spec, [], this.fieldFilter(file, path, "repo")) as Obj;
    delete known.permissions;
    delete known.prevent_destroy;
    const key = this.add("repos", repoName, "repo", known, this.origin(file, path));
    if (this.firstRepo === undefined) this.firstRepo = { key, url, ...(provider ? { provider } : {}) };
    else if (this.firstRepo.url !== url) {
      this.note(
        file,
        path,
        `jobs that run from git use the first repo (${this.firstRepo.url}) for their git_source; set git_source by hand where another is meant`,
      );
    }
  }

  private gitCredential(file: SourceFile, raw: unknown, path: JsonPath): void {
    if (!isObj(raw)) {
      this.note(file, path, `expected a mapping; not converted (value: ${brief(raw)})`);
      return;
    }
    const provider = canonicalProvider(raw.git_provider);
    if (!provider) {
      this.note(
        file,
        [...path, "git_provider"],
        `unknown or missing git provider ${brief(raw.git_provider)}; not converted (expected one of ${GIT_PROVIDERS.join(", ")})`,
      );
      return;
    }
    const key = identifier(provider.toLowerCase(), "git");
    if (this.sections.git_credentials.has(key)) {
      this.note(
        file,
        path,
        `a second git credential for ${provider}; a workspace identity has one per provider, so it is not converted`,
      );
      return;
    }
    // Where the token comes from: a named environment variable or secret, else the accelerator's default.
    let variable: string | undefined;
    let how = "";
    for (const k of TOKEN_ENV_KEYS) {
      const v = raw[k];
      if (typeof v === "string" && v.trim() !== "") {
        variable = envReference(v) ?? envVarName(v);
        how = `named by ${k}`;
        break;
      }
    }
    if (!variable) {
      for (const k of TOKEN_SECRET_KEYS) {
        const v = raw[k];
        if (typeof v === "string" && v.trim() !== "") {
          variable = envReference(v) ?? envVarName(v);
          how = `the secret "${v}" (${k}): put its value in this variable`;
          break;
        }
      }
    }
    const dropped = (this.secretsDropped.get(file) ?? []).filter(
      (d) => d.path[0] === path[0] && d.path[1] === path[1] && d.path.length === 3,
    );
    for (const k of TOKEN_VALUE_KEYS) {
      const v = raw[k];
      if (typeof v === "string" && envReference(v) && !variable) {
        variable = envReference(v);
        how = `referenced by ${k}`;
      }
    }
    variable ??= tokenVariable(provider);
    if (!how) how = provider === "gitHub" ? "as the accelerator's pipelines set it" : "";
    for (const d of dropped) {
      this.reportedSecrets.add(`${file.path}\0${canonical(d.path)}`);
      this.note(
        file,
        d.path,
        `holds a literal token; not copied: the git credential reads it from the environment variable ${variable}`,
      );
    }
    const consumed = new Set([...TOKEN_VALUE_KEYS, ...TOKEN_ENV_KEYS, ...TOKEN_SECRET_KEYS]);
    const spec: Obj = {};
    for (const [k, v] of Object.entries((prune(raw) ?? {}) as Obj)) if (!consumed.has(k)) spec[k] = v;
    spec.git_provider = provider;
    spec.personal_access_token = { from_env: variable };
    const known = keepKnown(gitCredentialSchema, spec, [], this.fieldFilter(file, path, "git credential")) as Obj;
    delete known.prevent_destroy;
    this.add("git_credentials", key, "git", known, this.origin(file, path));
    this.out.envVar(
      variable,
      `personal access token of the ${provider} git credentials${how ? ` (${how})` : ""}`,
      this.env.name,
      true,
    );
  }

  /** `existing_cluster_id` for a cluster named in a job: a reference to the cluster resource. */
  private clusterRef(file: SourceFile, path: JsonPath, name: string): string {
    const key = this.clusterKeys.get(name);
    if (key) return `\${resources.clusters.${key}.id}`;
    const variable = identifier(`${name}_cluster_id`.toLowerCase(), "cluster_id").replace(/-/g, "_");
    this.out.openVariables.set(variable, { description: `Id of the existing cluster "${name}" that jobs run on.` });
    this.note(
      file,
      path,
      `cluster "${name}" is not declared under Clusters in ${this.env.label}; the task uses \${var.${variable}}, which this environment must set`,
    );
    return `\${var.${variable}}`;
  }

  private task(file: SourceFile, raw: Obj, path: JsonPath, fallbackKey: string): Obj {
    const key = typeof raw.task_key === "string" && raw.task_key !== "" ? raw.task_key : taskKeyOf(fallbackKey);
    const t: Obj = { task_key: key, ...raw };
    t.task_key = key;
    if (typeof raw.cluster_name === "string") {
      if (t.existing_cluster_id === undefined && t.new_cluster === undefined && t.job_cluster_key === undefined) {
        t.existing_cluster_id = this.clusterRef(file, [...path, "cluster_name"], raw.cluster_name);
      }
      delete t.cluster_name;
    } else if (typeof raw.existing_cluster_id === "string") {
      // An id is only meaningful in one workspace: use the declared cluster it names, if any.
      const declared = this.clusterIds.get(raw.existing_cluster_id);
      if (declared) t.existing_cluster_id = `\${resources.clusters.${declared}.id}`;
      else {
        this.note(
          file,
          [...path, "existing_cluster_id"],
          `the cluster id "${raw.existing_cluster_id}" belongs to one workspace; kept as is: if the cluster is declared here, use \${resources.clusters.<name>.id} instead`,
        );
      }
    }
    return this.finishTask(t);
  }

  /** String maps of the task's cluster and parameters hold strings only. */
  private finishTask(t: Obj): Obj {
    if (isObj(t.new_cluster)) {
      const nc = t.new_cluster;
      for (const k of ["spark_conf", "spark_env_vars", "custom_tags"]) if (nc[k] !== undefined) nc[k] = stringMap(nc[k]);
    }
    for (const type of ["notebook_task", "sql_task"]) {
      const tt = t[type];
      if (isObj(tt) && tt.base_parameters !== undefined) tt.base_parameters = stringMap(tt.base_parameters);
    }
    return t;
  }

  private job(file: SourceFile, raw: unknown, path: JsonPath): void {
    if (!isObj(raw) || typeof raw.name !== "string" || raw.name === "") {
      this.note(file, path, `a job needs a name; not converted (value: ${brief(raw)})`);
      return;
    }
    const src = (prune(raw) ?? {}) as Obj;
    const multi = Array.isArray(src.tasks);
    const job: Obj = {};
    const single: Obj = {};
    let gitBranch: string | undefined;
    let jobClusterName: string | undefined;
    for (const [k, v] of Object.entries(src)) {
      if (k === "git_branch" && typeof v === "string") gitBranch = v;
      else if (k === "format")
        continue; // implied by the tasks
      else if (k === "cluster_name" && multi && typeof v === "string") jobClusterName = v;
      else if (!multi && TASK_LEVEL.has(k)) single[k] = v;
      else job[k] = v;
    }
    if (multi) {
      job.tasks = (src.tasks as unknown[]).map((t, i) => {
        if (!isObj(t)) return t;
        const hasCompute = ["existing_cluster_id", "new_cluster", "job_cluster_key", "environment_key", "cluster_name"].some(
          (k) => t[k] !== undefined,
        );
        const withCluster = jobClusterName && !hasCompute ? { ...t, cluster_name: jobClusterName } : t;
        return this.task(file, withCluster, [...path, "tasks", i], `task_${i + 1}`);
      });
    } else {
      // Jobs API 2.0 / single-task 2.1: the task's settings sit on the job.
      job.tasks = [this.task(file, single, path, raw.name)];
    }
    if (gitBranch !== undefined && job.git_source === undefined) {
      const repo = this.firstRepo;
      if (!repo) {
        this.note(file, [...path, "git_branch"], "git_branch needs a Repo_Configuration for the job's git_source; not converted");
      } else {
        job.git_source = {
          git_url: `\${resources.repos.${repo.key}.url}`,
          ...(repo.provider ? { git_provider: `\${resources.repos.${repo.key}.provider}` } : {}),
          git_branch: gitBranch,
        };
        if (!repo.provider) {
          this.note(file, [...path, "git_branch"], `the git provider of ${repo.url} is unknown; set git_source.git_provider`);
        }
      }
    }
    const tasks = job.tasks as Obj[];
    if (job.git_source === undefined && tasks.some((t) => isObj(t.notebook_task) && t.notebook_task.source === "GIT")) {
      this.note(
        file,
        path,
        "a task runs a notebook from git (source GIT) but the job has no git_branch or git_source; set git_source by hand",
      );
    }
    const known = keepKnown(jobSchema, job, [], this.fieldFilter(file, path, "job (Jobs API 2.2)")) as Obj;
    delete known.permissions;
    delete known.prevent_destroy;
    this.add("jobs", raw.name, "job", known, this.origin(file, path));
  }

  private wheel(file: SourceFile, raw: unknown, path: JsonPath): void {
    const w = isObj(raw) ? raw : {};
    const setup = typeof w.setup_py_file_path === "string" ? w.setup_py_file_path : undefined;
    const clusterName = typeof w.wheel_cluster === "string" ? w.wheel_cluster : undefined;
    const install = w["upload_to_cluster?"] ?? w.upload_to_cluster;
    const key = clusterName ? this.clusterKeys.get(clusterName) : undefined;
    const target = clusterName ?? "<cluster>";
    const what = setup
      ? `builds a wheel from ${setup} and uploads it to dbfs:/FileStore/${target}/${install === false ? "" : `, installing it on cluster "${target}"`}`
      : `wheel build ${brief(raw)}`;
    this.note(
      file,
      path,
      `${what}; not converted: Lakeforge does not build wheels. Build it in CI, upload it (e.g. as a workspace file) and list it under ${
        key ? `resources.clusters.${key}.libraries` : "the cluster's libraries"
      } as {whl: <path>}`,
    );
  }

  private roleAssignment(file: SourceFile, raw: unknown, path: JsonPath): void {
    if (this.bicep) {
      this.azureRoleAssignment(file, raw, path);
      return;
    }
    if (!isObj(raw)) {
      this.note(file, path, `Azure role assignment ${brief(raw)}; not converted: ${AZURE_HINT}`);
      return;
    }
    const roles = Array.isArray(raw.roles) ? raw.roles.map(String).join(", ") : brief(raw.roles);
    const who = [raw.principalType, raw.roleBeneficiaryObjID].filter((x) => x !== undefined).join(" ");
    const desc = typeof raw.Description === "string" ? ` ("${raw.Description}")` : "";
    const scope = typeof raw.scope === "string" ? raw.scope : "the environment's resource group";
    const extra = Object.keys(raw).filter(
      (k) => !["roles", "principalType", "roleBeneficiaryObjID", "Description", "scope"].includes(k),
    );
    this.note(
      file,
      path,
      `Azure role assignment: ${roles} for ${who || "?"}${desc} on ${scope}${
        extra.length ? ` (also ${extra.map((k) => `${k}=${brief(raw[k], 60)}`).join(", ")})` : ""
      }; not converted: ${AZURE_HINT}`,
    );
  }

  /** `RBAC_Assignments[]` item → `azure.role_assignments` entries (one per role). */
  private azureRoleAssignment(file: SourceFile, raw: unknown, path: JsonPath): void {
    if (!isObj(raw)) {
      this.note(file, path, `Azure role assignment ${brief(raw)}: expected an object; not converted`);
      return;
    }
    const principal = raw.roleBeneficiaryObjID;
    if (typeof principal !== "string" || !GUID.test(principal)) {
      this.note(
        file,
        [...path, "roleBeneficiaryObjID"],
        `expected the principal's object id (a GUID); not converted (value: ${brief(principal)})`,
      );
      return;
    }
    const type = raw.principalType;
    if (type !== undefined && !PRINCIPAL_TYPES.includes(String(type))) {
      this.note(
        file,
        [...path, "principalType"],
        `principal type ${brief(type)}: expected ${PRINCIPAL_TYPES.join(", ")}; not converted`,
      );
      return;
    }
    let scope: "subscription" | undefined;
    if (raw.scope !== undefined) {
      const s = String(raw.scope);
      if (/^subscription$/i.test(s) || /^\/subscriptions\/[^/]+\/?$/i.test(s)) scope = "subscription";
      else if (!/^resource_?group$/i.test(s) && !/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/?$/i.test(s)) {
        this.note(
          file,
          [...path, "scope"],
          `scope ${brief(s)}: Lakeforge assigns roles on the subscription, the resource group or one of its resources; not converted`,
        );
        return;
      }
    }
    for (const k of Object.keys(raw)) {
      if (!["roles", "principalType", "roleBeneficiaryObjID", "Description", "scope"].includes(k)) {
        this.note(file, [...path, k], `not a role assignment field Lakeforge knows; not copied (value: ${brief(raw[k], 60)})`);
      }
    }
    const roles = Array.isArray(raw.roles) ? raw.roles : [raw.roles];
    const who = `${type ?? "ServicePrincipal"} ${principal}`;
    roles.forEach((role, i) => {
      const at: JsonPath = Array.isArray(raw.roles) ? [...path, "roles", i] : [...path, "roles"];
      if (typeof role !== "string" || role === "") {
        this.note(file, at, `expected a role name; not converted (value: ${brief(role)})`);
        return;
      }
      if (scope === "subscription" && isPrivilegedRole(role)) {
        this.note(
          file,
          at,
          `${role} at subscription scope for ${who}: refused, not converted (it can grant anyone anything in the subscription). Least-privilege equivalent: Contributor on the environment's resource group (role_assignments: [{ principal_id: ${principal}, role: Contributor }]), plus Role Based Access Control Administrator on the resource group, limited by a condition to the roles it assigns, if it creates role assignments`,
          `RBAC_Assignments[${String(path[1])}].roles`,
        );
        return;
      }
      if (roleDefinitionGuid(role) === undefined) {
        this.note(
          file,
          at,
          `role "${role}" for ${who} is not a built-in role Lakeforge knows (a custom role?); not converted: create the role definition, then add the assignment with its GUID as \`role\``,
          `RBAC_Assignments[${String(path[1])}].roles`,
        );
        return;
      }
      this.roles.push({
        principal_id: principal,
        ...(type !== undefined ? { principal_type: String(type) } : {}),
        role,
        ...(scope ? { scope } : {}),
        ...(typeof raw.Description === "string" && raw.Description !== "" ? { description: escapeRefs(raw.Description) } : {}),
      });
    });
  }

  /**
   * The environment's `azure:` section: the Bicep parameters of the accelerator's template
   * (`location`, `resourceGroupName`, `workspaceName`, `pricingTier`, `storageAccountName`,
   * `storageConfig`, `containerNames`, `loganalyticswsname`, `appInsightswsname`), the subscription
   * of Pipeline_Param, and the role assignments.
   */
  private azureSection(file: SourceFile): Obj {
    const top = file.json.value;
    const params = isObj(top) && isObj(top.parameters) ? (top.parameters as Obj) : {};
    if (!isObj(top) || !isObj(top.parameters)) {
      this.note(file, [], "expected a deployment parameters file with `parameters`; its Azure settings are not converted");
    }
    const at = (...p: (string | number)[]): JsonPath => ["parameters", ...p];
    const value = (k: string): unknown => (isObj(params[k]) ? (params[k] as Obj).value : undefined);
    const text = (k: string): string | undefined => {
      const v = value(k);
      return typeof v === "string" && v !== "" ? escapeRefs(v) : undefined;
    };
    const az: Obj = {};

    const sub = this.azureKeys.get("SubscriptionId");
    if (typeof sub === "string" && GUID.test(sub)) az.subscription_id = sub;
    else {
      az.subscription_id = `\${env.AZURE_SUBSCRIPTION_ID}`;
      this.out.envVar(
        "AZURE_SUBSCRIPTION_ID",
        "the Azure subscription the environments' infrastructure is deployed to",
        this.env.name,
        false,
      );
    }
    const location =
      text("location") ?? (typeof this.azureKeys.get("Location") === "string" ? this.azureKeys.get("Location") : undefined);
    az.location = location ?? `\${env.AZURE_LOCATION}`;
    if (location === undefined) this.out.envVar("AZURE_LOCATION", "the Azure region of the infrastructure", this.env.name, false);
    const rg = text("resourceGroupName") ?? this.azureKeys.get("ResourceGroupName");
    if (typeof rg === "string" && rg !== "") az.resource_group = rg;

    const databricks: Obj = {};
    if (text("workspaceName")) databricks.name = text("workspaceName");
    const tier = value("pricingTier");
    if (tier !== undefined) {
      if (String(tier).toLowerCase() === "premium") databricks.sku = "premium";
      else {
        this.note(
          file,
          at("pricingTier"),
          `pricing tier ${brief(tier)}: Lakeforge deploys premium workspaces (Unity Catalog and access control need it); not converted`,
        );
      }
    }
    if (Object.keys(databricks).length > 0) az.databricks = databricks;

    az.key_vault = { sku: "premium" };
    this.note(
      file,
      value("environment") !== undefined ? at("environment") : [],
      `the accelerator's template names the Key Vault keyvault-${String(value("environment") ?? "<environment>")}-<4 characters of a hash of the resource group id> (premium, kept as \`key_vault.sku\`); Lakeforge names it from the naming pattern: set \`azure.key_vault.name\` to the existing vault's name to keep it`,
      "Key Vault name",
    );

    const storage: Obj = {};
    if (text("storageAccountName")) storage.name = text("storageAccountName");
    const cfg = value("storageConfig");
    if (isObj(cfg)) {
      for (const [k, v] of Object.entries(cfg)) {
        const where = at("storageConfig", "value", k);
        if (k === "sku_name") {
          if (STORAGE_SKUS.includes(String(v))) storage.sku = String(v);
          else this.note(file, where, `storage SKU ${brief(v)}: expected one of ${STORAGE_SKUS.join(", ")}; not converted`);
        } else if (k === "allowBlobPublicAccess") {
          if (v === true)
            this.note(
              file,
              where,
              "public blob access: Lakeforge's storage account never allows it (anonymous reads stop working)",
            );
        } else if (k === "kind" || k === "isHnsEnabled") {
          if ((k === "kind" && v !== "StorageV2") || (k === "isHnsEnabled" && v !== true)) {
            this.note(
              file,
              where,
              `${brief(v)}: Lakeforge always deploys an ADLS Gen2 account (StorageV2, hierarchical namespace)`,
            );
          }
        } else if (k === "accessTier") {
          if (v !== "Hot") this.note(file, where, `access tier ${brief(v)}: Lakeforge keeps the default (Hot); not converted`);
        } else this.note(file, where, `not a storage setting Lakeforge knows; not converted (value: ${brief(v)})`);
      }
    }
    const containers = value("containerNames");
    if (value("ShouldCreateContainers") === false) storage.containers = [];
    else if (Array.isArray(containers)) storage.containers = containers.map(String);
    if (Object.keys(storage).length > 0) az.storage = storage;

    az.log_analytics = text("loganalyticswsname") ? { name: text("loganalyticswsname") } : {};
    az.app_insights = text("appInsightswsname") ? { name: text("appInsightswsname") } : {};
    if (this.roles.length > 0) az.role_assignments = this.roles;

    const used = new Set([
      "location",
      "environment",
      "resourceGroupName",
      "workspaceName",
      "pricingTier",
      "storageAccountName",
      "storageConfig",
      "containerNames",
      "ShouldCreateContainers",
      "loganalyticswsname",
      "appInsightswsname",
    ]);
    for (const [k, v] of Object.entries(params)) {
      if (used.has(k)) continue;
      const shown = brief(isObj(v) ? v.value : v);
      if (k === "TemplateFilePath" || k === "TemplateParamFilePath") {
        this.note(file, at(k), `the accelerator's Bicep template files (${shown}); replaced by the \`azure:\` section`);
      } else if (AZURE_KEYS[k]) this.note(file, at(k), `${AZURE_KEYS[k][0]}: ${shown}; ${AZURE_KEYS[k][1]}`);
      else if (/^aml/i.test(k)) {
        this.note(
          file,
          at(k),
          `an Azure Machine Learning resource (${shown}); Lakeforge does not deploy Azure Machine Learning: not converted`,
        );
      } else this.note(file, at(k), `not a Bicep parameter Lakeforge knows; not converted (value: ${shown})`);
    }
    return az;
  }
}

// -------------------------------------------------------------------------------------------------
// The conversion

export function convertDstoolkit(dir: string, options: ConvertOptions = {}): DstoolkitConversion {
  const relativeTo = options.relativeTo ?? process.cwd();
  const root = resolve(relativeTo, dir);
  if (!existsSync(root)) throw new UserError(`${dir}: no such folder`, "give the repository folder holding the parameter files");
  if (!statSync(root).isDirectory()) {
    throw new UserError(`${dir}: not a folder`, "give the folder holding Pipeline_Param/ or databricks_configs/");
  }
  const found = findLayoutDirs(root);
  if (found.length === 0) {
    throw new UserError(
      `${dir}: no dstoolkit-mlops-databricks parameter files found`,
      "expected Pipeline_Param/<Environment>.json or databricks_configs/<environment>/{clusters,rbac,repos}.json",
    );
  }
  if (found.length > 1) {
    throw new UserError(
      `${dir}: found several sets of parameter files: ${found.map((f) => displayFile(f.dir, relativeTo)).join(", ")}`,
      "pass the folder of the one to convert",
    );
  }
  const { dir: layoutDir, layout } = found[0] as { dir: string; layout: DstoolkitLayout };
  const sources = readEnvironments(layoutDir, layout, relativeTo);
  const envNames = sources.map((s) => s.name);

  const collector = new Collector();
  const needsReposFolder = { value: false };
  const bicep = findBicepParams(layoutDir, root, sources, relativeTo, collector);
  const results = sources.map((s) => new EnvironmentConverter(s, collector, needsReposFolder, bicep.get(s.name)).run());

  // Workspaces.
  const workspaces = new Map<string, unknown>();
  for (const env of envNames) {
    const given = options.workspaceHosts?.[env];
    if (given === "local") workspaces.set(env, "local");
    else if (given !== undefined) workspaces.set(env, { host: given });
    else {
      const variable = envVarName(env, "DATABRICKS_HOST");
      workspaces.set(env, { host: `\${env.${variable}}` });
      collector.envVar(variable, `URL of the ${env} workspace (https://adb-<id>.<n>.azuredatabricks.net)`, env, false);
    }
  }
  for (const env of Object.keys(options.workspaceHosts ?? {})) {
    if (!envNames.includes(env)) {
      throw new UserError(
        `--workspace-host ${env}=...: no environment "${env}"${didYouMean(env, envNames)}`,
        `environments: ${envNames.join(", ")}`,
      );
    }
  }

  // Shared definitions and overrides.
  const merger = new Merger(envNames);
  if (needsReposFolder.value) merger.reserve("repos_folder");
  for (const name of collector.openVariables.keys()) merger.reserve(name);
  const shared: Record<string, Record<string, unknown>> = {};
  const envResources = new Map<string, Record<string, Record<string, unknown>>>(envNames.map((e) => [e, {}]));
  const comments = new Map<string, string>();
  const converted: ConvertedResource[] = [];
  const setIn = (target: Record<string, Record<string, unknown>>, section: string, key: string, value: unknown) => {
    target[section] ??= {};
    (target[section] as Record<string, unknown>)[key] = value;
  };
  const originText = (entries: { env: string; entry: Entry }[]) => {
    const subjects = [...new Set(entries.map((e) => e.entry.origin.subject))];
    const files = entries.map((e) => `${e.entry.origin.file}:${e.entry.origin.line}`);
    return ` From ${subjects.join(" / ")} of ${files.join(", ")}`;
  };
  for (const section of SECTIONS) {
    const keys = [...new Set(results.flatMap((r) => [...r.sections[section].keys()]))];
    for (const key of keys) {
      const entries = results
        .map((r) => ({ env: r.name, entry: r.sections[section].get(key) }))
        .filter((e): e is { env: string; entry: Entry } => e.entry !== undefined);
      let merged: Merged | undefined;
      if (entries.length === envNames.length) {
        try {
          merged = merger.merge(
            section,
            key,
            entries.map((e) => e.entry.spec),
          );
        } catch (e) {
          if (!(e instanceof NotShareable)) throw e;
        }
      }
      if (merged) {
        setIn(shared, section, key, merged.shared ?? {});
        comments.set(`resources.${section}.${key}`, originText(entries));
        merged.overrides.forEach((o, i) => {
          if (o !== undefined) setIn(envResources.get(envNames[i] as string) ?? {}, section, key, o);
        });
        converted.push({ section, name: key, shared: true, environments: [...envNames] });
      } else {
        for (const { env, entry } of entries) {
          setIn(envResources.get(env) ?? {}, section, key, entry.spec);
          comments.set(`environments.${env}.resources.${section}.${key}`, originText([{ env, entry }]));
        }
        converted.push({ section, name: key, shared: false, environments: entries.map((e) => e.env) });
      }
    }
  }

  // Variables.
  const variables: Obj = {};
  const envVariables = new Map<string, Obj>(envNames.map((e) => [e, {}]));
  if (needsReposFolder.value) {
    variables.repos_folder = {
      description:
        "Folder under /Repos holding the Git folders. The accelerator used the deploying service principal's application id (ARM_CLIENT_ID).",
      default: `\${env.ARM_CLIENT_ID}`,
    };
    for (const env of envNames)
      collector.envVar(
        "ARM_CLIENT_ID",
        "application id of the service principal whose /Repos folder holds the Git folders (variable repos_folder)",
        env,
        false,
      );
  }
  for (const [name, v] of collector.openVariables) variables[name] = { description: v.description };
  for (const v of merger.variables.values()) {
    variables[v.name] = { description: v.description, default: v.default };
    for (const [env, value] of v.values) (envVariables.get(env) as Obj)[v.name] = value;
  }

  // Azure: shared where every environment has a section and agrees, the rest per environment.
  const azureOf = new Map(results.filter((r) => r.azure).map((r) => [r.name, r.azure as Obj]));
  let sharedAzure: Obj | undefined;
  const envAzure = new Map<string, Obj>(azureOf);
  if (azureOf.size === envNames.length && envNames.length > 1) {
    const split = splitShared(envNames.map((e) => azureOf.get(e) as Obj));
    sharedAzure = split.shared;
    envAzure.clear();
    split.rest.forEach((o, i) => {
      if (Object.keys(o).length > 0) envAzure.set(envNames[i] as string, o);
    });
    const files = [...new Set(envNames.map((e) => bicep.get(e)?.shown))].filter(Boolean);
    comments.set("azure", ` Azure infrastructure, from ${files.join(", ")} and the role assignments (RBAC_Assignments)`);
  }
  for (const env of envAzure.keys()) {
    comments.set(`environments.${env}.azure`, ` From ${bicep.get(env)?.shown ?? "the Bicep parameters"} and RBAC_Assignments`);
  }

  // The document.
  const environments: Obj = {};
  for (const env of envNames) {
    const e: Obj = {};
    if (env === envNames[0]) e.default = true;
    e.workspace = workspaces.get(env);
    const az = envAzure.get(env);
    if (az) e.azure = az;
    const vars = envVariables.get(env) as Obj;
    if (Object.keys(vars).length > 0) e.variables = vars;
    const res = envResources.get(env) ?? {};
    if (Object.keys(res).length > 0) e.resources = res;
    environments[env] = e;
    const src = sources.find((s) => s.name === env);
    comments.set(`environments.${env}`, ` From ${src?.label ?? env}`);
  }
  const project = options.project ?? projectName(layoutDir);
  const docValue: Obj = {
    project: {
      name: project,
      description: `Converted from the dstoolkit-mlops-databricks parameter files (${layoutLabel(layout)}).`,
    },
    ...(Object.keys(variables).length > 0 ? { variables } : {}),
    environments,
    ...(sharedAzure ? { azure: sharedAzure } : {}),
    resources: shared,
  };

  const envRank = (e: string) => envNames.indexOf(e);
  const notConverted = [...collector.notes.values()].sort(
    (a, b) => compareSubjects(a.subject, b.subject) || envRank(a.environments[0] ?? "") - envRank(b.environments[0] ?? ""),
  );
  const envVars = [...collector.envVars.values()].sort(
    (a, b) => Number(a.secret) - Number(b.secret) || a.name.localeCompare(b.name),
  );
  const render = (problems: string[]) => {
    const doc = new Document(docValue);
    doc.commentBefore = header(layoutDir, layout, relativeTo, envVars, notConverted, problems);
    applyComments(doc, comments);
    return doc.toString({ lineWidth: 0 });
  };
  let text = render([]);
  const problems = checkOutput(text, envNames, envVars);
  if (problems.length > 0) text = render(problems);

  return {
    layout,
    source: layoutDir,
    environments: envNames,
    resources: converted,
    variables: Object.keys(variables),
    environmentVariables: envVars,
    notConverted,
    problems,
    text,
  };
}

/**
 * What every value has in common (mappings compared key by key, anything else as a whole), and
 * what each value has besides.
 */
function splitShared(values: Obj[]): { shared: Obj; rest: Obj[] } {
  const shared: Obj = {};
  const rest: Obj[] = values.map(() => ({}));
  const keys = [...new Set(values.flatMap((v) => Object.keys(v)))];
  for (const k of keys) {
    const vs = values.map((v) => v[k]);
    const everywhere = vs.every((v) => v !== undefined);
    if (everywhere && vs.every((v) => canonical(v) === canonical(vs[0]))) shared[k] = vs[0];
    else if (everywhere && vs.every((v) => isObj(v))) {
      const sub = splitShared(vs as Obj[]);
      if (Object.keys(sub.shared).length > 0) shared[k] = sub.shared;
      sub.rest.forEach((o, i) => {
        if (Object.keys(o).length > 0) (rest[i] as Obj)[k] = o;
      });
    } else {
      vs.forEach((v, i) => {
        if (v !== undefined) (rest[i] as Obj)[k] = v;
      });
    }
  }
  return { shared, rest };
}

const SUBJECT_ORDER = [...KNOWN_KEYS, ...Object.keys(AZURE_KEYS)];

/** Report order: the parameter files' own keys first (items by index), then Azure settings, then the rest. */
function compareSubjects(a: string, b: string): number {
  const head = (s: string) => /^[^.[]*/.exec(s)?.[0] ?? s;
  const rank = (s: string) => {
    const i = SUBJECT_ORDER.indexOf(head(s));
    return i < 0 ? SUBJECT_ORDER.length : i;
  };
  return rank(a) - rank(b) || a.localeCompare(b, "en", { numeric: true });
}

const layoutLabel = (layout: DstoolkitLayout) =>
  layout === "pipeline_param" ? "Pipeline_Param/<Env>.json" : "databricks_configs/<env>/{clusters,rbac,repos}.json";

/** The repository's folder name: the first folder above the layout folder that is not a known one. */
function projectName(layoutDir: string): string {
  let d = dirname(layoutDir);
  const inner = new Set(["workflows", ".github", "databricks", "infrastructure", ".azuredevops", ".azure_devops", "variables"]);
  while (inner.has(basename(d).toLowerCase()) && dirname(d) !== d) d = dirname(d);
  const name = basename(d).trim();
  return name === "" ? "dstoolkit" : name;
}

function header(
  layoutDir: string,
  layout: DstoolkitLayout,
  relativeTo: string,
  envVars: EnvironmentVariable[],
  notes: ReportItem[],
  problems: string[],
): string {
  const lines: string[] = [
    ` Converted by \`lakeforge convert dstoolkit\` from ${displayFile(layoutDir, relativeTo)} (${layoutLabel(layout)}).`,
    " Comments say which parameter file each part came from. Check it with `lakeforge validate`, then",
    " `lakeforge plan -e <environment>`.",
    "",
    " Environment variables this file reads (their values are never written here):",
    ...envVars.map((v) => `   ${v.name}${v.secret ? " (secret)" : ""}: ${v.purpose}`),
    " Workspace credentials come from Databricks unified auth: DATABRICKS_TOKEN, or ARM_CLIENT_ID,",
    " ARM_CLIENT_SECRET and ARM_TENANT_ID for the service principal the accelerator's pipelines use.",
  ];
  if (problems.length > 0) {
    lines.push("", ` NEEDS ATTENTION: a check of this file found ${problems.length} problem(s):`);
    for (const p of problems) lines.push(`   - ${p}`);
  }
  lines.push("");
  if (notes.length === 0) lines.push(" Everything in the parameter files was converted.");
  else {
    lines.push(` NOT CONVERTED (${notes.length}): Lakeforge applies none of these; handle each by hand.`);
    for (const n of notes) lines.push(...reportLines(n).map((l) => `   ${l}`));
  }
  return lines.join("\n");
}

/** A report item as text: `- subject (environments): message` and where it is written. */
export function reportLines(n: ReportItem): string[] {
  return [`- ${n.subject} (${n.environments.join(", ")}): ${n.message}`, `    at ${n.locations.join(", ")}`];
}

/** Comments before the keys at the given dotted paths (resource names may hold `-` but never `.`). */
function applyComments(doc: Document, comments: Map<string, string>): void {
  for (const [path, comment] of comments) {
    const parts = path.split(".");
    const key = parts.pop() as string;
    const parent = doc.getIn(parts, true);
    if (!isMap(parent)) continue;
    const pair = (parent as YAMLMap).items.find((p: Pair) => isScalar(p.key) && p.key.value === key);
    if (pair && isScalar(pair.key)) pair.key.commentBefore = comment;
  }
  // A blank line between the top-level sections.
  const top = doc.contents;
  if (isMap(top)) {
    for (const p of top.items.slice(1)) if (isScalar(p.key)) p.key.spaceBefore = true;
  }
}

/**
 * Checks the written configuration in every environment, with placeholder values for the
 * environment variables it reads. Returns `field.path: message` for each problem.
 */
function checkOutput(text: string, envs: string[], envVars: EnvironmentVariable[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), "lakeforge-convert-"));
  try {
    const file = join(dir, "lakeforge.yaml");
    writeFileAtomic(file, text, 0o644);
    const env: Record<string, string> = {};
    for (const v of envVars) {
      env[v.name] = v.name.endsWith("_DATABRICKS_HOST")
        ? "https://placeholder.invalid"
        : v.name.endsWith("_SUBSCRIPTION_ID")
          ? "00000000-0000-0000-0000-000000000000"
          : "placeholder";
    }
    const seen = new Set<string>();
    const out: string[] = [];
    for (const environment of envs) {
      for (const issue of validateConfig(file, { environment, env, relativeTo: dir }).issues) {
        const line = `${issue.path ? `${issue.path}: ` : ""}${issue.message}`;
        if (!seen.has(line)) {
          seen.add(line);
          out.push(line);
        }
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes the converted configuration; refuses to replace an existing file unless `force`. */
export function writeConversion(conversion: DstoolkitConversion, file: string, options: { force?: boolean } = {}): void {
  if (existsSync(file) && !options.force) {
    throw new UserError(`${file} already exists`, "pass --force to overwrite it, or --out to write elsewhere");
  }
  writeFileAtomic(file, conversion.text, 0o644);
}
