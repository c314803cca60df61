import { UserError } from "../lib/errors.js";
import type { GeneratedFile } from "./github.js";
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
 * The Azure DevOps pipeline of the platform repository (`azure-pipelines.yml`): one stage per
 * environment and operation, deployment jobs in Azure DevOps environments (where approvals and the
 * exclusive lock are set), a variable group per environment and a workload identity federation service
 * connection (`AzureCLI@2` with `addSpnToEnvironment`). Stage conditions on `Build.Reason` and
 * `Build.SourceBranch` give the same strategy as the GitHub workflows; runtime parameters choose the
 * environment and operation of manual runs.
 */

export const AZURE_PIPELINE = "azure-pipelines.yml";

const TEMP = "$AGENT_TEMPDIRECTORY";

/** Stage names allow letters, digits and `_`. */
export const stageName = (operation: "plan" | "apply", env: string) => `${operation}_${env.replace(/-/g, "_")}`;

const CI = "in(variables['Build.Reason'], 'IndividualCI', 'BatchedCI')";
const PR = "eq(variables['Build.Reason'], 'PullRequest')";
const TARGET = "variables['System.PullRequest.TargetBranch']";
const SOURCE = "variables['Build.SourceBranch']";

/** The target branch is `refs/heads/x` for Azure Repos and `x` for GitHub repositories. */
function prInto(s: Strategy, release: boolean): string {
  if (!release || s.releaseExact) {
    const b = release ? s.releaseBranch : s.mainBranch;
    return `in(${TARGET}, ${lit(`refs/heads/${b}`)}, ${lit(b)})`;
  }
  return `or(startsWith(${TARGET}, ${lit(`refs/heads/${s.releasePrefix}`)}), startsWith(${TARGET}, ${lit(s.releasePrefix)}))`;
}

const onBranch = (b: string) => `eq(${SOURCE}, ${lit(`refs/heads/${b}`)})`;
const onRelease = (s: Strategy) =>
  s.releaseExact ? onBranch(s.releaseBranch) : `startsWith(${SOURCE}, ${lit(`refs/heads/${s.releasePrefix}`)})`;
const ON_TAG = `startsWith(${SOURCE}, 'refs/tags/')`;
const manual = (env: string, operation: string) =>
  `and(eq(variables['Build.Reason'], 'Manual'), eq('\${{ parameters.environment }}', ${lit(env)}), eq('\${{ parameters.operation }}', ${lit(operation)}))`;

/** Whether a step must run in the service connection (`AzureCLI@2`). */
const azureStep = (s: Strategy, env: PipelineEnvironment) => env.azure || (env.remote && s.auth === "azure-oidc");

function stepEnv(s: Strategy, env: PipelineEnvironment): string[] {
  const out: string[] = [];
  if (env.remote && s.auth === "databricks-m2m") {
    out.push(
      "DATABRICKS_AUTH_TYPE: oauth-m2m",
      "DATABRICKS_CLIENT_ID: $(DATABRICKS_CLIENT_ID)",
      "DATABRICKS_CLIENT_SECRET: $(DATABRICKS_CLIENT_SECRET)",
    );
  }
  // Secret variables of a group reach a script only when mapped here.
  for (const v of [...env.variables, ...env.secrets]) out.push(`${v.env}: $(${v.platform})`);
  return out;
}

const needsGroup = (s: Strategy, env: PipelineEnvironment) =>
  env.variables.length > 0 || env.secrets.length > 0 || (env.remote && s.auth === "databricks-m2m");

/** A step running `script` with Lakeforge's environment: in the service connection when it needs Azure. */
function lakeforgeStep(
  s: Strategy,
  env: PipelineEnvironment,
  script: string,
  displayName: string,
  extra: { name?: string; condition?: string } = {},
): string {
  const vars = stepEnv(s, env);
  const envBlock = vars.length > 0 ? `\n  env:\n${indent(vars.join("\n"), 4)}` : "";
  const head = [
    extra.name ? `  name: ${extra.name}` : undefined,
    extra.condition ? `  condition: ${extra.condition}` : undefined,
  ].filter((l) => l !== undefined);
  if (!azureStep(s, env)) {
    return [`- bash: ${block(script, 4)}`, `  displayName: ${q(displayName)}`, ...head].join("\n") + envBlock;
  }
  const signIn = [
    "# Workload identity federation: the service connection's token, for Lakeforge's Azure clients.",
    `printf '%s' "$idToken" > "${TEMP}/azure-federated-token"`,
    `export AZURE_CLIENT_ID="$servicePrincipalId" AZURE_TENANT_ID="$tenantId" AZURE_FEDERATED_TOKEN_FILE="${TEMP}/azure-federated-token"`,
  ];
  if (env.remote && s.auth === "azure-oidc") {
    signIn.push(
      `DATABRICKS_TOKEN="$(az account get-access-token --resource ${AZURE_DATABRICKS_RESOURCE} --query accessToken --output tsv)"`,
      "export DATABRICKS_TOKEN",
    );
  }
  return (
    [
      "- task: AzureCLI@2",
      `  displayName: ${q(displayName)}`,
      ...head,
      "  inputs:",
      `    azureSubscription: ${q(env.serviceConnection)}`,
      "    scriptType: bash",
      "    scriptLocation: inlineScript",
      "    addSpnToEnvironment: true",
      `    inlineScript: ${block([...signIn, script].join("\n"), 6)}`,
    ].join("\n") + envBlock
  );
}

function setupSteps(s: Strategy): string {
  return [
    "- checkout: self",
    "- task: UseNode@1",
    "  displayName: Node.js",
    "  inputs:",
    `    version: ${JSON.stringify(/^\d+$/.test(s.nodeVersion) ? `${s.nodeVersion}.x` : s.nodeVersion)}`,
  ].join("\n");
}

function planSteps(s: Strategy, env: PipelineEnvironment): string {
  const setOutput = (v: string) => `echo "##vso[task.setvariable variable=changes;isOutput=true]${v}"`;
  const script = [
    validateScript(s, env),
    planScript(s, env, TEMP, setOutput),
    `echo "##vso[task.uploadsummary]${planFiles(TEMP).markdown}"`,
  ].join("\n");
  return lakeforgeStep(s, env, script, `Validate and plan ${env.name}`, { name: "plan" });
}

function stage(
  name: string,
  displayName: string,
  dependsOn: string,
  condition: string,
  group: string | undefined,
  jobs: string,
): string {
  return [
    `- stage: ${name}`,
    `  displayName: ${q(displayName)}`,
    `  dependsOn: ${dependsOn}`,
    `  condition: ${condition}`,
    group ? `  variables:\n    - group: ${q(group)}` : undefined,
    "  jobs:",
    indent(jobs, 4),
  ]
    .filter((l) => l !== undefined)
    .join("\n");
}

function planStage(s: Strategy, env: PipelineEnvironment, prCondition: string | undefined): string {
  const when = prCondition ? `or(and(${PR}, ${prCondition}), ${manual(env.name, "plan")})` : manual(env.name, "plan");
  const job = [
    "- job: plan",
    `  displayName: ${q(`Plan ${env.name}`)}`,
    "  timeoutInMinutes: 30",
    "  steps:",
    indent(`${setupSteps(s)}\n${planSteps(s, env)}`, 4),
  ].join("\n");
  return stage(
    stageName("plan", env.name),
    `Plan ${env.name}`,
    "checks",
    `and(succeeded(), ${when})`,
    needsGroup(s, env) ? env.variableGroup : undefined,
    job,
  );
}

function applyStage(s: Strategy, env: PipelineEnvironment, dependsOn: string, ciCondition: string | undefined): string {
  // A manual run deploys the chosen environment alone: the stages it depends on are skipped then.
  const manualRun = `and(not(failed()), not(canceled()), ${manual(env.name, "apply")})`;
  const when = ciCondition ? `or(and(succeeded(), ${CI}, ${ciCondition}), ${manualRun})` : manualRun;
  const who = env.reviewers.length > 0 ? ` (approvers: ${env.reviewers.join(", ")})` : "";
  const job = [
    "- deployment: apply",
    `  displayName: ${q(`Apply ${env.name}`)}`,
    "  timeoutInMinutes: 60",
    env.approval
      ? `  # Approvals${who} and an exclusive lock are checks of the Azure DevOps environment.`
      : "  # An exclusive lock (a check of the Azure DevOps environment) keeps deployments one at a time.",
    `  environment: ${q(env.platformName)}`,
    "  strategy:",
    "    runOnce:",
    "      deploy:",
    "        steps:",
    indent(
      [
        setupSteps(s),
        planSteps(s, env),
        lakeforgeStep(s, env, applyScript(s, env, TEMP), `Apply ${env.name}`, {
          condition: "and(succeeded(), eq(variables['plan.changes'], 'true'))",
        }),
      ].join("\n"),
      10,
    ),
  ].join("\n");
  return stage(
    stageName("apply", env.name),
    `Apply ${env.name}`,
    dependsOn,
    when,
    needsGroup(s, env) ? env.variableGroup : undefined,
    job,
  );
}

function releaseTagStage(s: Strategy): string {
  const script = releaseTagScript(
    s,
    "$BUILD_SOURCEVERSION",
    "$BUILD_SOURCEBRANCHNAME",
    (m) => `echo "##vso[task.logissue type=error]${m}"`,
  );
  const job = [
    "- job: release_tag",
    "  displayName: Tag is on a release branch",
    "  timeoutInMinutes: 10",
    "  steps:",
    "    - checkout: self",
    "      fetchDepth: 0",
    "      fetchTags: true",
    `    - bash: ${block(script, 8)}`,
    "      displayName: Find the release branch holding the tagged commit",
  ].join("\n");
  return stage("release_tag", "Tag is on a release branch", "checks", `and(succeeded(), ${CI}, ${ON_TAG})`, undefined, job);
}

/** The pipeline file for a strategy. */
export function azurePipelines(s: Strategy): GeneratedFile[] {
  if (s.auth === "databricks-oidc") {
    throw new UserError(
      "pipelines.auth.method databricks-oidc is for GitHub Actions",
      "Azure DevOps signs in with a workload identity service connection (azure-oidc, the default) or databricks-m2m",
    );
  }
  const main = environmentOf(s, s.deploy.main);
  const tag = environmentOf(s, s.deploy.tag);
  const firstRelease = s.deploy.release[0] as string;
  const config = s.configDir === "." ? "" : ` --config ${s.configDir} --out .`;
  const names = s.environments.map((e) => e.name);
  const stages: string[] = [];
  stages.push(
    stage(
      "checks",
      "Pipelines are current",
      "[]",
      "succeeded()",
      undefined,
      [
        "- job: checks",
        "  displayName: Compare the pipeline with lakeforge.yaml",
        "  timeoutInMinutes: 10",
        "  steps:",
        indent(`${setupSteps(s)}\n- bash: ${pipelinesCheckScript(s, "azure-devops")}\n  displayName: Pipelines are current`, 4),
      ].join("\n"),
    ),
  );
  for (const env of s.environments) {
    const pr = env.name === main.name ? prInto(s, false) : env.name === firstRelease ? prInto(s, true) : undefined;
    stages.push(planStage(s, env, pr));
  }
  stages.push(applyStage(s, main, "checks", onBranch(s.mainBranch)));
  let previous = "checks";
  for (const name of s.deploy.release) {
    stages.push(applyStage(s, environmentOf(s, name), previous, onRelease(s)));
    previous = stageName("apply", name);
  }
  stages.push(releaseTagStage(s));
  stages.push(applyStage(s, tag, "release_tag", ON_TAG));
  for (const env of s.environments) {
    if (env.name === main.name || env.name === tag.name || s.deploy.release.includes(env.name)) continue;
    stages.push(applyStage(s, env, "checks", undefined));
  }

  const text = [
    `# The platform pipeline: a pull request into ${s.mainBranch} validates and plans ${main.name}, a merge applies it;`,
    `# a pull request into ${s.releaseBranch} plans ${firstRelease}, a push to ${s.releaseBranch} applies ${s.deploy.release.join(" then ")};`,
    `# a ${s.tags} tag on a release branch applies ${tag.name}; manual runs plan or apply the environment chosen.`,
    "#",
    "# Generated from the `pipelines:` section of lakeforge.yaml; do not edit by hand. Regenerate with:",
    `#   npx lakeforge pipelines generate --platform azure-devops${config}`,
    "# The strategy and the project settings it needs are described in Lakeforge's docs/pipelines.md.",
    "",
    "trigger:",
    "  batch: false",
    "  branches:",
    "    include:",
    `      - ${q(s.mainBranch)}`,
    `      - ${q(s.releaseBranch)}`,
    "  tags:",
    "    include:",
    `      - ${q(s.tags)}`,
    "",
    "# Pull request runs of GitHub repositories; for Azure Repos, add this pipeline as build validation",
    `# of ${s.mainBranch} and ${s.releaseBranch} in the branch policies.`,
    "pr:",
    "  branches:",
    "    include:",
    `      - ${q(s.mainBranch)}`,
    `      - ${q(s.releaseBranch)}`,
    "",
    "parameters:",
    "  - name: environment",
    "    displayName: Environment (manual runs)",
    "    type: string",
    `    default: ${q(main.name)}`,
    "    values:",
    ...names.map((n) => `      - ${q(n)}`),
    "  - name: operation",
    "    displayName: Operation (manual runs)",
    "    type: string",
    "    default: plan",
    "    values:",
    "      - plan",
    "      - apply",
    "",
    "# Runs deploying to the same environment wait for each other (with the environments' exclusive lock check).",
    "lockBehavior: sequential",
    "",
    "variables:",
    `  LAKEFORGE_VERSION: ${JSON.stringify(s.lakeforgeVersion)}`,
    '  NO_COLOR: "1"',
    "",
    "pool:",
    `  vmImage: ${q(s.runner)}`,
    "",
    "stages:",
    stages.map((st) => indent(st, 2)).join("\n\n"),
  ].join("\n");
  return [{ path: AZURE_PIPELINE, content: `${text}\n` }];
}
