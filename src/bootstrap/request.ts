import { Secret } from "../lib/secret.js";
import { type DeployFrom, PRESET_TARGETS, type ProjectAnswers } from "../template/options.js";
import type { BootstrapEnvironment, BootstrapRequest } from "./types.js";

/**
 * The bootstrap request for a rendered project: one environment per target that CI deploys (not
 * the development target), with the plain values as variables and the credentials as secrets.
 *
 * Credentials and groups come from environment variables named as in the use-case workflow this
 * replaces, per target `<T>` (upper case, e.g. STAGING, PROD):
 * `DATABRICKS_<T>_CLIENT_SECRET` (secret `DATABRICKS_CLIENT_SECRET`, or `AZURE_CLIENT_SECRET` with
 * `ci_auth: azure_sp`; `AZURE_<T>_CLIENT_SECRET` is accepted too), `DATABRICKS_<T>_CLIENT_ID`
 * (overrides the target's service principal as `DATABRICKS_CLIENT_ID` / `AZURE_CLIENT_ID`),
 * `DATABRICKS_<T>_WORKSPACE_HOST` (overrides the target's host), `DATABRICKS_<T>_TENANT_ID` (else
 * `AZURE_TENANT_ID`, else `ARM_TENANT_ID`), and `GITHUB_CONTRIBUTOR_GROUP` / `GITHUB_ADMINS_GROUP`
 * (teams with push and admin; the admins review deployments to targets that need approval).
 *
 * The plain ones (groups and tenant ids, not secrets) may also be given as options of `lakeforge init`
 * (options file or flags, under the workflow's names in any case): those are the repository settings
 * below, and they win over the environment.
 */

/** Repository settings accepted as options, by the environment variable they stand for. */
const FIXED_SETTINGS: Record<string, string> = {
  github_contributor_group: "GITHUB_CONTRIBUTOR_GROUP",
  github_admins_group: "GITHUB_ADMINS_GROUP",
  azure_tenant_id: "AZURE_TENANT_ID",
  arm_tenant_id: "ARM_TENANT_ID",
};

const TARGET_TENANT = /^databricks_([a-z][a-z0-9_]*)_tenant_id$/;

/**
 * The environment variable a repository setting stands for (`github_admins_group` →
 * `GITHUB_ADMINS_GROUP`, `DATABRICKS_PROD_TENANT_ID` → itself), or `undefined` for any other name.
 */
export function repositorySetting(name: string): string | undefined {
  const key = name.toLowerCase().replace(/-/g, "_");
  const fixed = FIXED_SETTINGS[key];
  if (fixed) return fixed;
  return TARGET_TENANT.test(key) ? key.toUpperCase() : undefined;
}

/** Names of the repository settings that have a flag of their own (`--github-admins-group`, ...). */
export const REPOSITORY_SETTING_FLAGS: readonly string[] = [
  ...Object.keys(FIXED_SETTINGS),
  ...["test", "staging", "prod", "uat", "preproduction", "production"].map((t) => `databricks_${t}_tenant_id`),
];

const SECRET_NAME = /(^|_)(client_secret|secret|token|password|pat)$/;

/**
 * The environment variable to use instead when `name` is a credential written where only plain
 * options belong (an options file, a flag): `DATABRICKS_PROD_CLIENT_SECRET`, `github_token`, ...
 * Secrets are read from the environment only, so they stay out of files, shell history and argv.
 */
export function secretSettingName(name: string): string | undefined {
  const key = name.toLowerCase().replace(/-/g, "_");
  return SECRET_NAME.test(key) ? key.toUpperCase() : undefined;
}

export interface RequestFromProject {
  request: BootstrapRequest;
  /** Things worth telling the user (a credential the CI will need but was not given). */
  warnings: string[];
}

const envKey = (target: string) => target.toUpperCase().replace(/[^A-Z0-9]/g, "_");

function deployFrom(answers: ProjectAnswers, how: DeployFrom): BootstrapEnvironment["deployFrom"] {
  if (how === "default_branch") return { branches: [answers.default_branch] };
  if (how === "release_branch") return { branches: [answers.release_branch] };
  if (how === "tag") return { tags: ["v*"] };
  return {};
}

export function requestFromProject(
  answers: ProjectAnswers,
  files: Map<string, Buffer>,
  processEnv: NodeJS.ProcessEnv = process.env,
  options: { owner?: string; settings?: Record<string, string> } = {},
): RequestFromProject {
  const warnings: string[] = [];
  // Settings given as options win over the environment.
  const env: NodeJS.ProcessEnv = options.settings ? { ...processEnv, ...options.settings } : processEnv;
  const contributors = env.GITHUB_CONTRIBUTOR_GROUP?.trim();
  const admins = env.GITHUB_ADMINS_GROUP?.trim();
  const teams: BootstrapRequest["teams"] = [];
  if (contributors) teams.push({ name: contributors, permission: "push" });
  if (admins) teams.push({ name: admins, permission: "admin" });

  const environments: BootstrapEnvironment[] = [];
  for (const role of PRESET_TARGETS[answers.environments_preset]) {
    if (role.deploy_from === "manual") continue;
    const target = answers.targets[role.name];
    if (!target) continue;
    const T = envKey(role.name);
    const clientId = env[`DATABRICKS_${T}_CLIENT_ID`]?.trim() || target.service_principal_id;
    const variables: Record<string, string> = {
      DATABRICKS_HOST: env[`DATABRICKS_${T}_WORKSPACE_HOST`]?.trim() || target.host,
      DATABRICKS_CATALOG: target.catalog,
    };
    const secrets: Record<string, Secret> = {};
    const given = Secret.optional(env[`DATABRICKS_${T}_CLIENT_SECRET`] ?? env[`AZURE_${T}_CLIENT_SECRET`]);
    if (answers.ci_auth === "azure_sp") {
      variables.AZURE_CLIENT_ID = clientId;
      const tenant =
        env[`DATABRICKS_${T}_TENANT_ID`]?.trim() || env.AZURE_TENANT_ID?.trim() || env.ARM_TENANT_ID?.trim() || undefined;
      if (tenant) variables.AZURE_TENANT_ID = tenant;
      if (given) secrets.AZURE_CLIENT_SECRET = given;
      else
        warnings.push(
          `no DATABRICKS_${T}_CLIENT_SECRET given: set the ${role.name} environment's AZURE_CLIENT_SECRET before CI deploys it`,
        );
    } else {
      variables.DATABRICKS_CLIENT_ID = clientId;
      if (answers.ci_auth === "oauth_m2m") {
        if (given) secrets.DATABRICKS_CLIENT_SECRET = given;
        else
          warnings.push(
            `no DATABRICKS_${T}_CLIENT_SECRET given: set the ${role.name} environment's DATABRICKS_CLIENT_SECRET before CI deploys it`,
          );
      }
    }
    environments.push({
      name: role.name,
      reviewers: target.approval && admins ? [admins] : [],
      deployFrom: deployFrom(answers, role.deploy_from),
      secrets,
      variables,
    });
  }

  // The pull-request validation job runs outside any environment and validates every target: it reads
  // the credentials of a CI identity that may read every target's workspace at repository level
  // (GitHub repository variables and secrets; the `<name>-ci` variable group on Azure DevOps).
  const ci = ciIdentity(answers, env, warnings);

  return {
    request: {
      name: answers.project_name,
      description: `ML project ${answers.project_name} (model ${answers.model_name})`,
      topics: ["databricks", "mlops"],
      ...(options.owner ? { owner: options.owner } : {}),
      visibility: "private",
      defaultBranch: answers.default_branch,
      releaseBranch: answers.release_branch,
      files,
      teams,
      variables: ci.variables,
      secrets: ci.secrets,
      environments,
    },
    warnings,
  };
}

/**
 * The repository-level CI identity, from `DATABRICKS_CI_CLIENT_ID`, `DATABRICKS_CI_CLIENT_SECRET`
 * (or `AZURE_CI_CLIENT_SECRET`) and `DATABRICKS_CI_TENANT_ID` (else `AZURE_TENANT_ID`/`ARM_TENANT_ID`),
 * named as the generated CI reads them. Nothing without a client id.
 */
function ciIdentity(
  answers: ProjectAnswers,
  env: NodeJS.ProcessEnv,
  warnings: string[],
): { variables: Record<string, string>; secrets: Record<string, Secret> } {
  const variables: Record<string, string> = {};
  const secrets: Record<string, Secret> = {};
  const clientId = env.DATABRICKS_CI_CLIENT_ID?.trim();
  const given = Secret.optional(env.DATABRICKS_CI_CLIENT_SECRET ?? env.AZURE_CI_CLIENT_SECRET);
  const secretName = answers.ci_auth === "azure_sp" ? "AZURE_CLIENT_SECRET" : "DATABRICKS_CLIENT_SECRET";
  if (!clientId) {
    warnings.push(
      given
        ? "DATABRICKS_CI_CLIENT_SECRET is ignored without DATABRICKS_CI_CLIENT_ID: give both for the pull-request validation job"
        : "no DATABRICKS_CI_CLIENT_ID given: the pull-request validation job reads a CI identity that may read every target at repository level; give DATABRICKS_CI_CLIENT_ID (and DATABRICKS_CI_CLIENT_SECRET) and run again",
    );
    return { variables, secrets };
  }
  if (answers.ci_auth === "azure_sp") {
    variables.AZURE_CLIENT_ID = clientId;
    const tenant = env.DATABRICKS_CI_TENANT_ID?.trim() || env.AZURE_TENANT_ID?.trim() || env.ARM_TENANT_ID?.trim();
    if (tenant) variables.AZURE_TENANT_ID = tenant;
  } else variables.DATABRICKS_CLIENT_ID = clientId;
  if (answers.ci_auth !== "github_oidc") {
    if (given) secrets[secretName] = given;
    else
      warnings.push(
        `no DATABRICKS_CI_CLIENT_SECRET given: set the repository's ${secretName} before pull requests are validated`,
      );
  }
  return { variables, secrets };
}
