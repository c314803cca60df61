import { z } from "zod";
import { identifier, nonEmpty, withHint } from "./common.js";

/**
 * `pipelines:` — the platform repository's CI/CD that `lakeforge pipelines generate` writes for GitHub
 * Actions and Azure DevOps. Every field is optional: an absent field takes the default strategy (see
 * docs/pipelines.md). Names of environments are checked against `environments:` when generating.
 */

export const PIPELINE_AUTH_METHODS = ["azure-oidc", "databricks-oidc", "databricks-m2m"] as const;
export type PipelineAuthMethod = (typeof PIPELINE_AUTH_METHODS)[number];

const BRANCH = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const PATTERN = /^[A-Za-z0-9._*-]+(\/[A-Za-z0-9._*-]+)*$/;

const branchName = () =>
  z.string().regex(BRANCH, { error: withHint("expected a branch name", "letters, digits, `.`, `_`, `-` and `/` between parts") });

const refPattern = (what: string) =>
  z.string().regex(PATTERN, {
    error: withHint(`expected a ${what} name or pattern`, "letters, digits, `.`, `_`, `-`, `/` between parts and `*`"),
  });

const version = (what: string, example: string) =>
  z
    .union([z.string(), z.number()])
    .transform((v) => String(v))
    .pipe(z.string().regex(/^\d+(\.(\d+|x))*$/, { error: withHint(`expected a ${what} version`, `e.g. "${example}"`) }));

const platformEnvironment = z
  .strictObject({
    name: nonEmpty()
      .optional()
      .describe("Name of the GitHub environment / Azure DevOps environment (default: the Lakeforge environment's name)."),
    approval: z
      .boolean()
      .optional()
      .describe(
        "Whether deployments wait for a reviewer's approval (set on the platform environment). Default: true for every environment a release deploys after the first, and for the tag's.",
      ),
    reviewers: z
      .array(nonEmpty())
      .optional()
      .describe("Who approves: users or teams (org/team) to set as required reviewers of the platform environment."),
    service_connection: nonEmpty()
      .optional()
      .describe("Azure DevOps: the workload identity federation service connection (default: lakeforge-<environment>)."),
    variable_group: nonEmpty()
      .optional()
      .describe(
        "Azure DevOps: the variable group with this environment's variables and secrets (default: lakeforge-<environment>).",
      ),
  })
  .describe("How one environment appears on the CI/CD platform.");

export const pipelinesSection = z
  .strictObject({
    lakeforge_version: z
      .string()
      .regex(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, { error: withHint("expected a version", 'e.g. "0.1.0"') })
      .optional()
      .describe("The lakeforge version the pipelines run (`npx lakeforge@<version>`); default: the generating version."),
    node_version: version("Node.js", "22").optional().describe('Node.js version the pipelines set up (default "22").'),
    runner: nonEmpty().optional().describe("GitHub `runs-on` label / Azure DevOps `vmImage` (default ubuntu-latest)."),
    branches: z
      .strictObject({
        main: branchName().optional().describe("The integration branch (default main)."),
        release: refPattern("branch").optional().describe("Release branches, a pattern with a fixed prefix (default release/*)."),
      })
      .optional()
      .describe("Branch names of the strategy."),
    tags: refPattern("tag").optional().describe("Tags that deploy the tag environment (default v*)."),
    deploy: z
      .strictObject({
        main: identifier()
          .optional()
          .describe("Environment planned by pull requests into main and applied on merge (default development)."),
        release: z
          .array(identifier())
          .min(1)
          .optional()
          .describe(
            "Environments applied in order on a push to a release branch; the first is planned by pull requests into release branches (default [uat, preproduction]).",
          ),
        tag: identifier().optional().describe("Environment applied by a tag on a release branch (default production)."),
      })
      .optional()
      .describe("Which environment each step of the strategy deploys."),
    environments: z
      .record(identifier(), platformEnvironment)
      .optional()
      .describe("Per environment: the platform environment's name, approval, reviewers, service connection, variable group."),
    auth: z
      .strictObject({
        method: z
          .enum(PIPELINE_AUTH_METHODS)
          .optional()
          .describe(
            "azure-oidc (default: azure/login or an Azure DevOps workload identity service connection, no secret), databricks-oidc (Databricks workload identity federation, GitHub only) or databricks-m2m (OAuth client secret).",
          ),
      })
      .optional()
      .describe("How the pipelines authenticate."),
    env_names: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected an environment variable name" }),
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected a secret or variable name" }),
      )
      .optional()
      .describe(
        "Platform secret or variable name for an environment variable the configuration reads (default: the same name; GITHUB_* becomes LAKEFORGE_GITHUB_*, a prefix GitHub reserves).",
      ),
    concurrency_prefix: identifier()
      .optional()
      .describe("Prefix of the concurrency groups (default lakeforge): one group per environment."),
    repository: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, { error: "expected owner/name" })
      .optional()
      .describe("The platform repository (owner/name), used in the printed OIDC federated credential subjects."),
  })
  .describe("The platform repository's CI/CD (lakeforge pipelines generate).");

export type PipelinesInput = z.input<typeof pipelinesSection>;
export type PipelinesSection = z.output<typeof pipelinesSection>;
