import { z } from "zod";
import { didYouMean } from "../config/suggest.js";

/**
 * The options of the ML project template: what `lakeforge init` asks, what `.lakeforge/project.json`
 * records and what the template files see as `it`.
 *
 * Three shapes:
 * - `OptionsInput`: what a user writes (options.yaml, flags, prompts); every field optional but the
 *   project name, plus the `host` shorthand and the aliases in `ALIASES`.
 * - `ProjectAnswers`: every choice made, defaults filled in, targets keyed by name. Recorded in the
 *   manifest, so a later `lakeforge update` renders from exactly the same choices.
 * - `TemplateContext` (`it`): the answers plus what is derived from them (the target list in order,
 *   with mode, trigger and approval), and the template version.
 */

export const CLOUDS = ["azure", "aws", "gcp"] as const;
export const CICD_PLATFORMS = ["github_actions", "azure_devops", "gitlab"] as const;
export const PRESETS = ["staging_prod", "four"] as const;
export const COMPUTE = ["serverless", "job_clusters"] as const;
export const CI_AUTH = ["github_oidc", "oauth_m2m", "azure_sp"] as const;
export const PYTHON_VERSIONS = ["3.10", "3.11", "3.12"] as const;
export const DEPLOY_FROM = ["manual", "pull_request", "default_branch", "release_branch", "tag"] as const;

export type Cloud = (typeof CLOUDS)[number];
export type CicdPlatform = (typeof CICD_PLATFORMS)[number];
export type Preset = (typeof PRESETS)[number];
export type Compute = (typeof COMPUTE)[number];
export type CiAuth = (typeof CI_AUTH)[number];
export type DeployFrom = (typeof DEPLOY_FROM)[number];

/** The role of each target of a preset, in deployment order. */
export interface TargetRole {
  name: string;
  mode: "development" | "production";
  /** What deploys it: developers by hand, pull requests (CI integration tests), the default branch, the release branch or a `v*` tag. */
  deploy_from: DeployFrom;
  approval: boolean;
}

export const PRESET_TARGETS: Record<Preset, readonly TargetRole[]> = {
  staging_prod: [
    { name: "dev", mode: "development", deploy_from: "manual", approval: false },
    { name: "test", mode: "production", deploy_from: "pull_request", approval: false },
    { name: "staging", mode: "production", deploy_from: "default_branch", approval: false },
    { name: "prod", mode: "production", deploy_from: "release_branch", approval: true },
  ],
  four: [
    { name: "development", mode: "development", deploy_from: "manual", approval: false },
    { name: "uat", mode: "production", deploy_from: "pull_request", approval: false },
    { name: "preproduction", mode: "production", deploy_from: "default_branch", approval: false },
    { name: "production", mode: "production", deploy_from: "tag", approval: true },
  ],
};

/** A workspace host that cannot be reached: rendered when none is given, replaced by the team before the first deploy. */
export const PLACEHOLDER_HOSTS: Record<Cloud, string> = {
  azure: "https://adb-0000000000000000.0.azuredatabricks.net",
  aws: "https://dbc-00000000-0000.cloud.databricks.com",
  gcp: "https://0000000000000000.0.gcp.databricks.com",
};

/** The application id rendered for a target's deployment service principal when none is given. */
export const PLACEHOLDER_SERVICE_PRINCIPAL = "00000000-0000-0000-0000-000000000000";

export interface TargetAnswers {
  host: string;
  catalog: string;
  /** Application id of the service principal that deploys the target and runs its jobs (not used by development targets). */
  service_principal_id: string;
  approval: boolean;
}

export interface ProjectAnswers {
  project_name: string;
  package_name: string;
  cloud: Cloud;
  cicd: CicdPlatform;
  default_branch: string;
  release_branch: string;
  environments_preset: Preset;
  targets: Record<string, TargetAnswers>;
  schema: string;
  model_name: string;
  inference_table: string;
  read_groups: string[];
  code_owners: string[];
  include_feature_store: boolean;
  include_monitoring: boolean;
  include_serving: boolean;
  compute: Compute;
  ci_auth: CiAuth;
  python_version: string;
}

export interface TargetContext extends TargetAnswers, TargetRole {}

export interface TemplateContext extends Omit<ProjectAnswers, "targets"> {
  targets: TargetContext[];
  template_version: string;
}

// ---------------------------------------------------------------------------------------------
// Validation rules

const PROJECT_NAME = /^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$/;
const PYTHON_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const UC_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const BRANCH = /^(?!\/|.*\/$|.*\/\/|.*\.\.|.*@\{|.*\.lock$|.*\.$)[A-Za-z0-9._/-]+$/;
const GROUP = /^[^\s,][^,]*$/;
const OWNER = /^@[A-Za-z0-9][A-Za-z0-9._/-]*$|^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const PYTHON_KEYWORDS = new Set(
  (
    "False None True and as assert async await break class continue def del elif else except finally for from global if " +
    "import in is lambda nonlocal not or pass raise return try while with yield match case type"
  ).split(" "),
);
/** Package names that would shadow a module the project imports. */
const SHADOWED_MODULES = new Set(["mlflow", "pyspark", "sklearn", "lightgbm", "pandas", "numpy", "databricks", "test", "tests"]);

/** `churn-model` → `churn_model`. */
export function derivePackageName(projectName: string): string {
  return projectName
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "");
}

const text = (what: string, pattern: RegExp, rule: string) =>
  z
    .string({ error: `expected ${what}` })
    .min(1, { error: "must not be empty" })
    .regex(pattern, { error: rule });

const yesNo = z.preprocess(
  (v) => {
    if (typeof v !== "string") return v;
    const s = v.trim().toLowerCase();
    if (["yes", "y", "true", "on", "1"].includes(s)) return true;
    if (["no", "n", "false", "off", "0"].includes(s)) return false;
    return v;
  },
  z.boolean({ error: (iss) => `expected yes or no, got ${JSON.stringify(iss.input)}` }),
);

/** A list given as a YAML list, or as one comma-separated string (flags, prompts, workflow inputs). */
const list = (item: z.ZodType<string>) =>
  z.preprocess(
    (v) =>
      typeof v === "string"
        ? v
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s.length > 0)
        : v,
    z.array(item),
  );

const enumOf = <T extends readonly [string, ...string[]]>(values: T) => z.enum(values);

const hostSchema = z
  .string({ error: "expected a URL" })
  .refine((v) => isHost(v), { error: "expected https://<workspace host> (http only for localhost)" });

/** `https://host[:port]` without a path, or an `http://` URL on the local machine (the local workspace). */
export function isHost(v: string): boolean {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return false;
  }
  if (url.pathname !== "/" || url.search || url.hash || url.username || url.password) return false;
  if (v.endsWith("/")) return false;
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
}

const targetInput = z.strictObject({
  host: hostSchema.optional(),
  catalog: text("a catalog name", UC_NAME, "a catalog name holds letters, digits and `_`").optional(),
  service_principal_id: z
    .string({ error: "expected an application id" })
    .regex(UUID, { error: "expected the service principal's application id (a UUID)" })
    .optional(),
  approval: yesNo.optional(),
});

/** The user-facing options, every one optional but the name (checked separately for a better message). */
export const optionsInputSchema = z.object({
  project_name: text(
    "a project name",
    PROJECT_NAME,
    "a project name holds lowercase letters, digits, `-` and `_`, starts with a letter, e.g. churn-model",
  )
    .max(64, { error: "must be at most 64 characters long" })
    .optional(),
  package_name: text(
    "a Python package name",
    PYTHON_IDENTIFIER,
    "a Python package name holds lowercase letters, digits and `_` and starts with a letter",
  ).optional(),
  cloud: enumOf(CLOUDS).optional(),
  cicd: enumOf(CICD_PLATFORMS).optional(),
  default_branch: text("a branch name", BRANCH, "not a valid git branch name").optional(),
  release_branch: text("a branch name", BRANCH, "not a valid git branch name").optional(),
  environments_preset: enumOf(PRESETS).optional(),
  host: hostSchema.optional(),
  targets: z.record(z.string(), targetInput).optional(),
  schema: text("a schema name", UC_NAME, "a schema name holds letters, digits and `_`").optional(),
  model_name: text("a model name", UC_NAME, "a model name holds letters, digits and `_`").optional(),
  inference_table: text("a table name", UC_NAME, "a table name holds letters, digits and `_`").optional(),
  read_groups: list(z.string().regex(GROUP, { error: "a group name may not be empty or hold commas" })).optional(),
  code_owners: list(z.string().regex(OWNER, { error: "expected @user, @org/team or an e-mail address" })).optional(),
  include_feature_store: yesNo.optional(),
  include_monitoring: yesNo.optional(),
  include_serving: yesNo.optional(),
  compute: enumOf(COMPUTE).optional(),
  ci_auth: enumOf(CI_AUTH).optional(),
  python_version: z
    .unknown()
    .superRefine((v, ctx) => {
      if (typeof v === "number") {
        ctx.addIssue({
          code: "custom",
          message: `expected a quoted version such as "3.11", got the number ${v} (YAML reads 3.10 as 3.1)`,
        });
      } else if (typeof v !== "string" || !(PYTHON_VERSIONS as readonly string[]).includes(v)) {
        ctx.addIssue({
          code: "custom",
          message: `expected one of ${PYTHON_VERSIONS.join(", ")}, got ${JSON.stringify(v)}`,
        });
      }
    })
    .transform((v) => v as string)
    .optional(),
});

export type OptionsInput = z.input<typeof optionsInputSchema>;
type ParsedInput = z.output<typeof optionsInputSchema>;

/** A problem with one option: `path` is the canonical field path (`targets.prod.host`). */
export interface OptionProblem {
  path: (string | number)[];
  message: string;
}

/** Default CI authentication: OIDC federation on GitHub, the Azure service principal on Azure, OAuth M2M elsewhere. */
export function defaultCiAuth(cicd: CicdPlatform, cloud: Cloud): CiAuth {
  if (cicd === "github_actions") return "github_oidc";
  return cloud === "azure" ? "azure_sp" : "oauth_m2m";
}

/**
 * Fills in defaults and checks the options together. Returns the answers, or the problems found (each
 * with the canonical path of the offending field).
 */
export function resolveAnswers(
  input: Record<string, unknown>,
): { answers: ProjectAnswers; problems: [] } | { answers?: undefined; problems: OptionProblem[] } {
  const parsed = optionsInputSchema.safeParse(input, { error: zodMessage });
  const problems: OptionProblem[] = [];
  if (!parsed.success) {
    for (const i of parsed.error.issues) problems.push({ path: i.path as (string | number)[], message: i.message });
    return { problems };
  }
  const o: ParsedInput = parsed.data;
  if (o.project_name === undefined) {
    return { problems: [{ path: ["project_name"], message: "missing: the project name is required" }] };
  }
  const project_name = o.project_name;
  const package_name = o.package_name ?? derivePackageName(project_name);
  if (PYTHON_KEYWORDS.has(package_name) || SHADOWED_MODULES.has(package_name)) {
    problems.push({
      path: [o.package_name === undefined ? "project_name" : "package_name"],
      message: `the Python package name "${package_name}" would shadow a keyword or a module the project imports; choose another`,
    });
  }
  if (!PYTHON_IDENTIFIER.test(package_name)) {
    problems.push({ path: ["project_name"], message: `cannot derive a Python package name from "${project_name}"` });
  }
  const cloud = o.cloud ?? "azure";
  const cicd = o.cicd ?? "github_actions";
  const default_branch = o.default_branch ?? "main";
  const release_branch = o.release_branch ?? "release";
  if (default_branch === release_branch) {
    problems.push({
      path: [o.release_branch !== undefined ? "release_branch" : "default_branch"],
      message: `the default and release branches must differ (both are "${default_branch}")`,
    });
  }
  const environments_preset = o.environments_preset ?? "staging_prod";
  const roles = PRESET_TARGETS[environments_preset];
  const names = roles.map((r) => r.name);
  const targets: Record<string, TargetAnswers> = {};
  for (const name of Object.keys(o.targets ?? {})) {
    if (!names.includes(name)) {
      problems.push({
        path: ["targets", name],
        message: `the ${environments_preset} preset has no target "${name}"; its targets are ${names.join(", ")}`,
      });
    }
  }
  for (const role of roles) {
    const t = o.targets?.[role.name] ?? {};
    targets[role.name] = {
      host: t.host ?? o.host ?? PLACEHOLDER_HOSTS[cloud],
      catalog: t.catalog ?? role.name,
      service_principal_id: t.service_principal_id ?? PLACEHOLDER_SERVICE_PRINCIPAL,
      approval: t.approval ?? role.approval,
    };
  }
  const model_name = o.model_name ?? package_name;
  const ci_auth = o.ci_auth ?? defaultCiAuth(cicd, cloud);
  if (ci_auth === "github_oidc" && cicd !== "github_actions") {
    problems.push({
      path: ["ci_auth"],
      message: `github_oidc needs cicd github_actions (cicd is ${cicd}); use oauth_m2m${cloud === "azure" ? " or azure_sp" : ""}`,
    });
  }
  if (ci_auth === "azure_sp" && cloud !== "azure") {
    problems.push({ path: ["ci_auth"], message: `azure_sp needs cloud azure (cloud is ${cloud}); use oauth_m2m` });
  }
  if (problems.length > 0) return { problems };
  return {
    answers: {
      project_name,
      package_name,
      cloud,
      cicd,
      default_branch,
      release_branch,
      environments_preset,
      targets,
      schema: o.schema ?? "ml",
      model_name,
      inference_table: o.inference_table ?? `${model_name.replace(/_model$/, "")}_predictions`,
      read_groups: dedupe(o.read_groups ?? []),
      code_owners: dedupe(o.code_owners ?? []),
      include_feature_store: o.include_feature_store ?? false,
      include_monitoring: o.include_monitoring ?? true,
      include_serving: o.include_serving ?? false,
      compute: o.compute ?? "serverless",
      ci_auth,
      python_version: o.python_version ?? "3.11",
    },
    problems: [],
  };
}

const dedupe = (xs: string[]) => [...new Set(xs)];

/** The context the templates render with. */
export function templateContext(answers: ProjectAnswers, templateVersion: string): TemplateContext {
  const roles = PRESET_TARGETS[answers.environments_preset];
  const targets = roles.map((role) => {
    const t = answers.targets[role.name];
    if (!t) throw new Error(`answers lack target ${role.name}`);
    return { ...role, ...t };
  });
  return { ...answers, targets, template_version: templateVersion };
}

/** zod messages for the few issues the schema does not word itself. */
function zodMessage(iss: z.core.$ZodRawIssue): string | undefined {
  if (iss.code === "invalid_value") {
    const values = iss.values.map(String);
    return `expected one of ${values.join(", ")}, got ${JSON.stringify(iss.input)}${typeof iss.input === "string" ? didYouMean(iss.input, values) : ""}`;
  }
  if (iss.code === "invalid_type") {
    if (iss.expected === "array") return `expected a list, got ${JSON.stringify(iss.input)}`;
    if (iss.expected === "string") return `expected a string, got ${JSON.stringify(iss.input)}`;
    if (iss.expected === "object" || iss.expected === "record") return "expected a mapping";
  }
  if (iss.code === "unrecognized_keys") return `unknown field${iss.keys.length > 1 ? "s" : ""} ${iss.keys.join(", ")}`;
  return undefined;
}
