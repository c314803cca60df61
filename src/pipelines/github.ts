// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell variables and GitHub expressions are written as ${...}
import {
  AZURE_DATABRICKS_RESOURCE,
  applyScript,
  pipelinesCheckScript,
  planFiles,
  planScript,
  releaseTagScript,
  validateScript,
} from "./scripts.js";
import { environmentOf, type PipelineEnvironment, type Strategy } from "./strategy.js";
import { block, indent, lit, q } from "./text.js";

/**
 * GitHub Actions workflows of the platform repository (`.github/workflows/`):
 *  - lakeforge-plan.yml: pull requests into main plan the main environment, pull requests into release
 *    branches plan the first release environment; the plan goes to the job summary and a PR comment;
 *  - lakeforge-deploy.yml: a push to main applies the main environment, a push to a release branch the
 *    release environments in order, a tag on a release branch the tag environment;
 *  - lakeforge-manual.yml: plan or apply any environment by hand.
 * Deploys use `push` events only, so a pull request closed without merging deploys nothing.
 */

export interface GeneratedFile {
  path: string;
  content: string;
}

export const GITHUB_WORKFLOWS = {
  plan: ".github/workflows/lakeforge-plan.yml",
  deploy: ".github/workflows/lakeforge-deploy.yml",
  manual: ".github/workflows/lakeforge-manual.yml",
} as const;

const CHECKOUT = "actions/checkout@v4";
const SETUP_NODE = "actions/setup-node@v4";
const AZURE_LOGIN = "azure/login@v2";

function header(s: Strategy, what: string): string {
  const config = s.configDir === "." ? "" : ` --config ${s.configDir} --out .`;
  return [
    `# ${what}`,
    "#",
    "# Generated from the `pipelines:` section of lakeforge.yaml; do not edit by hand. Regenerate with:",
    `#   npx lakeforge pipelines generate --platform github${config}`,
    "# The strategy and the repository settings it needs are described in Lakeforge's docs/pipelines.md.",
  ].join("\n");
}

const needsOidc = (s: Strategy, env: PipelineEnvironment) =>
  env.azure || (env.remote && (s.auth === "azure-oidc" || s.auth === "databricks-oidc"));

function permissions(s: Strategy, env: PipelineEnvironment | undefined, extra: string[] = []): string {
  const list = ["contents: read", ...extra];
  if (env && needsOidc(s, env)) list.push("id-token: write");
  return `permissions:\n${indent(list.join("\n"), 2)}`;
}

/** The environment variables Lakeforge reads in this environment, from the environment's variables and secrets. */
function lakeforgeEnv(s: Strategy, env: PipelineEnvironment): string[] {
  const out: string[] = [];
  if (env.remote && s.auth === "databricks-oidc") {
    out.push("DATABRICKS_AUTH_TYPE: github-oidc", "DATABRICKS_CLIENT_ID: ${{ vars.DATABRICKS_CLIENT_ID }}");
  } else if (env.remote && s.auth === "databricks-m2m") {
    out.push(
      "DATABRICKS_AUTH_TYPE: oauth-m2m",
      "DATABRICKS_CLIENT_ID: ${{ vars.DATABRICKS_CLIENT_ID }}",
      "DATABRICKS_CLIENT_SECRET: ${{ secrets.DATABRICKS_CLIENT_SECRET }}",
    );
  }
  for (const v of env.variables) out.push(`${v.env}: \${{ vars.${v.platform} }}`);
  for (const v of env.secrets) out.push(`${v.env}: \${{ secrets.${v.platform} }}`);
  return out;
}

function envBlock(entries: string[]): string {
  return entries.length === 0 ? "" : `\nenv:\n${indent(entries.join("\n"), 2)}`;
}

/** Checkout, Node.js and the sign-in steps of one environment. */
function setupSteps(s: Strategy, env: PipelineEnvironment | undefined, fetchAll = false): string {
  const steps = [
    `- uses: ${CHECKOUT}\n  with:\n    persist-credentials: false${fetchAll ? "\n    fetch-depth: 0" : ""}`,
    `- uses: ${SETUP_NODE}\n  with:\n    node-version: ${JSON.stringify(s.nodeVersion)}`,
  ];
  if (env && (env.azure || (env.remote && s.auth === "azure-oidc"))) {
    steps.push(
      [
        "# OpenID Connect: the job's token is exchanged for the environment's Azure identity; no secret is stored.",
        "- name: Sign in to Azure",
        `  uses: ${AZURE_LOGIN}`,
        "  with:",
        "    client-id: ${{ vars.AZURE_CLIENT_ID }}",
        "    tenant-id: ${{ vars.AZURE_TENANT_ID }}",
        "    subscription-id: ${{ vars.AZURE_SUBSCRIPTION_ID }}",
      ].join("\n"),
    );
  }
  if (env?.remote && s.auth === "azure-oidc") {
    steps.push(
      [
        "- name: Databricks access token of the Azure identity",
        `  run: ${block(
          [
            `token="$(az account get-access-token --resource ${AZURE_DATABRICKS_RESOURCE} --query accessToken --output tsv)"`,
            'echo "::add-mask::${token}"',
            'echo "DATABRICKS_TOKEN=${token}" >> "$GITHUB_ENV"',
          ].join("\n"),
          4,
        )}`,
      ].join("\n"),
    );
  }
  return steps.join("\n");
}

function planSteps(s: Strategy, env: PipelineEnvironment): string {
  const vars = lakeforgeEnv(s, env);
  return [
    `- name: Validate\n  run: ${validateScript(s, env)}${indent(envBlock(vars), 2)}`,
    `- name: Plan ${env.name}\n  id: plan\n  run: ${block(
      planScript(s, env, "$RUNNER_TEMP", (v) => `echo "changes=${v}" >> "$GITHUB_OUTPUT"`),
      4,
    )}${indent(envBlock(vars), 2)}`,
    `- name: Job summary\n  run: cat "${planFiles("$RUNNER_TEMP").markdown}" >> "$GITHUB_STEP_SUMMARY"`,
  ].join("\n");
}

function commentStep(env: PipelineEnvironment): string {
  const md = planFiles("$RUNNER_TEMP").markdown;
  const script = [
    `marker="<!-- lakeforge-plan: ${env.name} -->"`,
    `body="$RUNNER_TEMP/lakeforge-comment.md"`,
    `{ echo "$marker"; cat "${md}"; } > "$body"`,
    // One comment per environment, updated on every push to the pull request.
    'id="$(gh api "repos/${GITHUB_REPOSITORY}/issues/${PR_NUMBER}/comments" --paginate --jq ".[] | select(.body | startswith(\\"${marker}\\")) | .id" | tail -n 1)"',
    'if [ -n "$id" ]; then',
    '  gh api --method PATCH "repos/${GITHUB_REPOSITORY}/issues/comments/${id}" -F "body=@${body}" > /dev/null',
    "else",
    '  gh api --method POST "repos/${GITHUB_REPOSITORY}/issues/${PR_NUMBER}/comments" -F "body=@${body}" > /dev/null',
    "fi",
  ].join("\n");
  return [
    "- name: Comment the plan on the pull request",
    "  env:",
    "    GH_TOKEN: ${{ github.token }}",
    "    PR_NUMBER: ${{ github.event.pull_request.number }}",
    `  run: ${block(script, 4)}`,
  ].join("\n");
}

function applyStep(s: Strategy, env: PipelineEnvironment, condition: string): string {
  return `- name: Apply ${env.name}\n  if: ${condition}\n  run: ${applyScript(s, env, "$RUNNER_TEMP")}${indent(
    envBlock(lakeforgeEnv(s, env)),
    2,
  )}`;
}

/** `environment:` of a job, with a comment naming who approves. */
function environmentLine(env: PipelineEnvironment): string {
  const who = env.reviewers.length > 0 ? ` (required reviewers: ${env.reviewers.join(", ")})` : "";
  const comment = env.approval ? `# A protected environment: the job waits for a reviewer's approval${who}.\n` : "";
  return `${comment}environment: ${q(env.platformName)}`;
}

function concurrency(s: Strategy, env: PipelineEnvironment): string {
  return [
    "# One run at a time per environment, never cancelled half-way.",
    "concurrency:",
    `  group: ${s.concurrencyPrefix}-${env.name}`,
    "  cancel-in-progress: false",
  ].join("\n");
}

interface JobSpec {
  id: string;
  name: string;
  needs?: string[];
  if?: string;
  env?: PipelineEnvironment;
  extraPermissions?: string[];
  withConcurrency?: boolean;
  timeout: number;
  steps: string;
  fetchAll?: boolean;
}

function job(s: Strategy, j: JobSpec): string {
  const parts = [
    `${j.id}:`,
    `  name: ${q(j.name)}`,
    j.needs && j.needs.length > 0 ? `  needs: ${j.needs.length === 1 ? j.needs[0] : `[${j.needs.join(", ")}]`}` : undefined,
    j.if ? `  if: ${j.if}` : undefined,
    `  runs-on: ${q(s.runner)}`,
    `  timeout-minutes: ${j.timeout}`,
    j.env ? indent(environmentLine(j.env), 2) : undefined,
    j.env && j.withConcurrency ? indent(concurrency(s, j.env), 2) : undefined,
    indent(permissions(s, j.env, j.extraPermissions), 2),
    "  steps:",
    indent(`${setupSteps(s, j.env, j.fetchAll)}\n${j.steps}`, 4),
  ];
  return parts.filter((p) => p !== undefined).join("\n");
}

const checksJob = (s: Strategy) =>
  job(s, {
    id: "checks",
    name: "Pipelines are current",
    timeout: 10,
    steps: `- name: Compare the pipelines with lakeforge.yaml\n  run: ${pipelinesCheckScript(s, "github")}`,
  });

/** Jobs' `if:` for a branch, and the `on:` filters. */
const onBranch = (branch: string) => `github.ref == ${lit(`refs/heads/${branch}`)}`;
const onRelease = (s: Strategy) =>
  s.releaseExact ? onBranch(s.releaseBranch) : `startsWith(github.ref, ${lit(`refs/heads/${s.releasePrefix}`)})`;
const prInto = (branch: string) => `github.base_ref == ${lit(branch)}`;
const prIntoRelease = (s: Strategy) =>
  s.releaseExact ? prInto(s.releaseBranch) : `startsWith(github.base_ref, ${lit(s.releasePrefix)})`;
/** Pull requests from forks get no secrets and no OIDC token: they are not planned. */
const SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository";

const workflowEnv = (s: Strategy) =>
  ["env:", `  LAKEFORGE_VERSION: ${JSON.stringify(s.lakeforgeVersion)}`, '  NO_COLOR: "1"'].join("\n");

/** A workflow file: what it does, its name and triggers, no default token permissions, Lakeforge's settings, its jobs. */
function workflow(s: Strategy, w: { about: string; name: string; on: string[]; concurrency?: string[]; jobs: string[] }): string {
  return [
    header(s, w.about),
    `name: ${w.name}`,
    "",
    "on:",
    ...w.on,
    "",
    "permissions: {}",
    "",
    ...(w.concurrency ? [...w.concurrency, ""] : []),
    workflowEnv(s),
    "",
    "jobs:",
    w.jobs.map((j) => indent(j, 2)).join("\n\n"),
  ].join("\n");
}

function planWorkflow(s: Strategy): string {
  const main = environmentOf(s, s.deploy.main);
  const release = environmentOf(s, s.deploy.release[0] as string);
  const planJob = (env: PipelineEnvironment, condition: string) =>
    job(s, {
      id: `plan-${env.name}`,
      name: `Plan ${env.name}`,
      needs: ["checks"],
      if: `${condition} && ${SAME_REPO}`,
      env,
      extraPermissions: ["pull-requests: write"],
      timeout: 30,
      steps: `${planSteps(s, env)}\n${commentStep(env)}`,
    });
  return workflow(s, {
    about: `Plans: a pull request into ${s.mainBranch} validates and plans ${main.name}; a pull request into ${s.releaseBranch} plans ${release.name}.`,
    name: "Lakeforge plan",
    on: ["  pull_request:", "    branches:", `      - ${q(s.mainBranch)}`, `      - ${q(s.releaseBranch)}`],
    concurrency: [
      "# A new push to the pull request replaces the plan in progress (plans change nothing).",
      "concurrency:",
      `  group: ${s.concurrencyPrefix}-plan-\${{ github.event.pull_request.number }}`,
      "  cancel-in-progress: true",
    ],
    jobs: [checksJob(s), planJob(main, prInto(s.mainBranch)), planJob(release, prIntoRelease(s))],
  });
}

function applyJob(s: Strategy, env: PipelineEnvironment, needs: string[], condition: string): string {
  return job(s, {
    id: `apply-${env.name}`,
    name: `Apply ${env.name}`,
    needs,
    if: condition,
    env,
    withConcurrency: true,
    timeout: 60,
    steps: `${planSteps(s, env)}\n${applyStep(s, env, "steps.plan.outputs.changes == 'true'")}`,
  });
}

function deployWorkflow(s: Strategy): string {
  const main = environmentOf(s, s.deploy.main);
  const tag = environmentOf(s, s.deploy.tag);
  const jobs = [checksJob(s), applyJob(s, main, ["checks"], onBranch(s.mainBranch))];
  let previous = "checks";
  for (const name of s.deploy.release) {
    const env = environmentOf(s, name);
    jobs.push(applyJob(s, env, [previous], onRelease(s)));
    previous = `apply-${env.name}`;
  }
  const onTag = "startsWith(github.ref, 'refs/tags/')";
  jobs.push(
    job(s, {
      id: "release-tag",
      name: "Tag is on a release branch",
      needs: ["checks"],
      if: onTag,
      timeout: 10,
      fetchAll: true,
      steps: `- name: Find the release branch holding the tagged commit\n  run: ${block(
        releaseTagScript(s, "$GITHUB_SHA", "$GITHUB_REF_NAME", (m) => `echo "::error::${m}"`),
        4,
      )}`,
    }),
  );
  jobs.push(applyJob(s, tag, ["release-tag"], onTag));
  const releaseList = s.deploy.release.join(" then ");
  return workflow(s, {
    about: `Deployments: a merge into ${s.mainBranch} applies ${main.name}; a push to ${s.releaseBranch} applies ${releaseList}; a ${s.tags} tag on a release branch applies ${tag.name}.`,
    name: "Lakeforge deploy",
    on: [
      "  push:",
      "    branches:",
      `      - ${q(s.mainBranch)}`,
      `      - ${q(s.releaseBranch)}`,
      "    tags:",
      `      - ${q(s.tags)}`,
    ],
    jobs,
  });
}

function manualWorkflow(s: Strategy): string {
  const names = s.environments.map((e) => e.name);
  const jobs = [checksJob(s)];
  for (const env of s.environments) {
    jobs.push(
      job(s, {
        id: env.name,
        name: `\${{ inputs.operation == 'apply' && 'Apply' || 'Plan' }} ${env.name}`,
        needs: ["checks"],
        if: `inputs.environment == ${lit(env.name)}`,
        env,
        withConcurrency: true,
        timeout: 60,
        steps: `${planSteps(s, env)}\n${applyStep(s, env, "inputs.operation == 'apply' && steps.plan.outputs.changes == 'true'")}`,
      }),
    );
  }
  return workflow(s, {
    about: "Manual runs: plan or apply any environment (Actions > Lakeforge manual run > Run workflow).",
    name: "Lakeforge manual run",
    on: [
      "  workflow_dispatch:",
      "    inputs:",
      "      environment:",
      "        description: Environment",
      "        type: choice",
      "        required: true",
      "        options:",
      ...names.map((n) => `          - ${q(n)}`),
      "      operation:",
      "        description: Plan only, or plan and apply",
      "        type: choice",
      "        required: true",
      "        default: plan",
      "        options:",
      "          - plan",
      "          - apply",
    ],
    jobs,
  });
}

/** The workflow files for a strategy, in a fixed order. */
export function githubWorkflows(s: Strategy): GeneratedFile[] {
  return [
    { path: GITHUB_WORKFLOWS.plan, content: `${planWorkflow(s)}\n` },
    { path: GITHUB_WORKFLOWS.deploy, content: `${deployWorkflow(s)}\n` },
    { path: GITHUB_WORKFLOWS.manual, content: `${manualWorkflow(s)}\n` },
  ];
}
