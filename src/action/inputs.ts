/**
 * The inputs of the GitHub Action (`action.yml`) and how each becomes an argument of the same
 * command the CLI runs: a flag, the positional project name, or an environment variable (secrets
 * and connection settings, which the CLI reads from the environment only).
 */

export type ActionCommand = "init" | "plan" | "apply";
export const COMMANDS: readonly ActionCommand[] = ["init", "plan", "apply"];

export type InputKind =
  /** Chooses the command. */
  | "command"
  /** The positional argument of `init` (the project name). */
  | "positional"
  /** A flag with a value: `--flag <value>`. */
  | "flag"
  /** A list, one flag per item (lines, or commas where `commaList`): `--var a=1 --var b=2`. */
  | "repeat"
  /** A yes/no switch: `--flag` when true (or `--no-flag` when `negate` and false). */
  | "switch"
  /** A plain value for the environment variable `env`. */
  | "env"
  /** A secret for the environment variable `env`: masked before anything runs. */
  | "secret";

export interface ActionInput {
  name: string;
  kind: InputKind;
  /** The commands the input applies to. */
  commands: readonly ActionCommand[];
  flag?: string;
  env?: string;
  /** For switches: the flag is `--no-<x>`, given when the input is false. */
  negate?: boolean;
}

const INIT: readonly ActionCommand[] = ["init"];
const ENV: readonly ActionCommand[] = ["plan", "apply"];
const ALL = COMMANDS;

/** Template options of `lakeforge init` taken as inputs, by their option (or accepted compatibility) name. */
const TEMPLATE_OPTIONS = [
  "package_name",
  "cloud",
  "cicd",
  "environments_preset",
  "host",
  "schema",
  "model_name",
  "inference_table",
  "include_feature_store",
  "include_monitoring",
  "include_serving",
  "compute",
  "ci_auth",
  "default_branch",
  "release_branch",
  "python_version",
  // The use-case workflow's names, accepted as they were.
  "model_schema",
  "use_databricks_service_principal",
  "databricks_staging_workspace_host",
  "databricks_prod_workspace_host",
  "databricks_staging_client_id",
  "databricks_prod_client_id",
  // Repository settings (teams, tenant ids), also options of `lakeforge init`.
  "github_contributor_group",
  "github_admins_group",
  "arm_tenant_id",
  "databricks_staging_tenant_id",
  "databricks_prod_tenant_id",
] as const;

const flagOf = (name: string) => `--${name.replace(/_/g, "-")}`;

export const ACTION_INPUTS: readonly ActionInput[] = [
  { name: "command", kind: "command", commands: ALL },
  // init
  { name: "project_name", kind: "positional", commands: INIT },
  { name: "forge", kind: "flag", commands: INIT, flag: "--forge" },
  { name: "org", kind: "flag", commands: INIT, flag: "--org" },
  { name: "options_file", kind: "flag", commands: INIT, flag: "--options" },
  { name: "dir", kind: "flag", commands: INIT, flag: "--dir" },
  { name: "forge_dir", kind: "flag", commands: INIT, flag: "--forge-dir" },
  { name: "protection", kind: "flag", commands: INIT, flag: "--protection" },
  { name: "dry_run", kind: "switch", commands: INIT, flag: "--dry-run" },
  { name: "rollback", kind: "switch", commands: INIT, flag: "--no-rollback", negate: true },
  { name: "force", kind: "switch", commands: INIT, flag: "--force" },
  ...TEMPLATE_OPTIONS.map((name): ActionInput => ({ name, kind: "flag", commands: INIT, flag: flagOf(name) })),
  { name: "read_groups", kind: "repeat", commands: INIT, flag: "--read-groups" },
  { name: "code_owners", kind: "repeat", commands: INIT, flag: "--code-owners" },
  { name: "targets", kind: "repeat", commands: INIT, flag: "--target" },
  { name: "azure_devops_project", kind: "flag", commands: INIT, flag: "--project" },
  { name: "api_url", kind: "env", commands: INIT, env: "GITHUB_API_URL" },
  { name: "azure_devops_token", kind: "secret", commands: INIT, env: "AZURE_DEVOPS_EXT_PAT" },
  { name: "github_token", kind: "secret", commands: INIT, env: "GITHUB_TOKEN" },
  { name: "github_app_id", kind: "env", commands: INIT, env: "GITHUB_APP_ID" },
  { name: "github_app_private_key", kind: "secret", commands: INIT, env: "GITHUB_APP_PRIVATE_KEY" },
  { name: "github_app_installation_id", kind: "env", commands: INIT, env: "GITHUB_APP_INSTALLATION_ID" },
  { name: "databricks_test_client_secret", kind: "secret", commands: INIT, env: "DATABRICKS_TEST_CLIENT_SECRET" },
  { name: "databricks_staging_client_secret", kind: "secret", commands: INIT, env: "DATABRICKS_STAGING_CLIENT_SECRET" },
  { name: "databricks_prod_client_secret", kind: "secret", commands: INIT, env: "DATABRICKS_PROD_CLIENT_SECRET" },
  // plan and apply
  { name: "config", kind: "flag", commands: ENV, flag: "--config" },
  { name: "environment", kind: "flag", commands: ENV, flag: "--environment" },
  { name: "vars", kind: "repeat", commands: ENV, flag: "--var" },
  { name: "auto_approve", kind: "switch", commands: ["apply"], flag: "--auto-approve" },
  { name: "databricks_host", kind: "env", commands: ENV, env: "DATABRICKS_HOST" },
  { name: "databricks_client_id", kind: "env", commands: ENV, env: "DATABRICKS_CLIENT_ID" },
  { name: "databricks_token", kind: "secret", commands: ENV, env: "DATABRICKS_TOKEN" },
  { name: "databricks_client_secret", kind: "secret", commands: ENV, env: "DATABRICKS_CLIENT_SECRET" },
  { name: "arm_client_secret", kind: "secret", commands: ENV, env: "ARM_CLIENT_SECRET" },
];

/** Inputs whose value `action.yml` defaults, so that "given" means "different from the default". */
export const INPUT_DEFAULTS: Readonly<Record<string, string>> = {
  forge: "github",
  dry_run: "false",
  rollback: "true",
  force: "false",
  config: ".",
  auto_approve: "false",
};

/** Names of environment variables holding secrets, masked whatever sets them. */
export const SECRET_ENV = /(^|_)(SECRET|TOKEN|ACCESSTOKEN|PASSWORD|PAT|PRIVATE_KEY)$/;
