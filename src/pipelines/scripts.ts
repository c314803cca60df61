// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell variables and GitHub expressions are written as ${...}
import type { PipelineEnvironment, Strategy } from "./strategy.js";

/**
 * Shell steps shared by the GitHub Actions and Azure DevOps pipelines. They never enable tracing
 * (`set -x`) and never put a secret on a command line: credentials reach Lakeforge through its
 * environment only.
 */

/** The Azure Databricks first-party application: the resource a Databricks access token is requested for. */
export const AZURE_DATABRICKS_RESOURCE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";

/** The `lakeforge` command, pinned to the strategy's version through `$LAKEFORGE_VERSION`. */
export const LAKEFORGE = 'npx --yes "lakeforge@${LAKEFORGE_VERSION}"';

export interface ScriptPaths {
  /** Shell expression of a temporary folder (`$RUNNER_TEMP`, `$AGENT_TEMPDIRECTORY`). */
  temp: string;
}

/** Files a plan step leaves for the steps after it. */
export const planFiles = (temp: string) => ({
  json: `${temp}/lakeforge-plan.json`,
  text: `${temp}/lakeforge-plan.txt`,
  markdown: `${temp}/lakeforge-plan.md`,
});

/**
 * `lakeforge plan --detailed-exitcode --out`: the saved plan, its text, a Markdown rendering (for the job
 * summary and the pull request comment) and whether anything changes (`setOutput`).
 */
export function planScript(s: Strategy, env: PipelineEnvironment, temp: string, setChanges: (value: string) => string): string {
  const f = planFiles(temp);
  return [
    "set +e",
    `${LAKEFORGE} plan --config ${s.configDir} --environment ${env.name} --out "${f.json}" --detailed-exitcode 2>&1 | tee "${f.text}"`,
    'code="${PIPESTATUS[0]}"',
    "set -e",
    'if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then exit "$code"; fi',
    'if [ "$code" -eq 2 ]; then changes=true; else changes=false; fi',
    setChanges("$changes"),
    "{",
    `  echo "### Lakeforge plan: ${env.name}"`,
    "  echo",
    `  echo '\`\`\`'`,
    `  head -c 60000 "${f.text}"`,
    `  echo '\`\`\`'`,
    `} > "${f.markdown}"`,
  ].join("\n");
}

/** `lakeforge apply <saved plan> --auto-approve`: applies exactly what was planned. */
export function applyScript(s: Strategy, env: PipelineEnvironment, temp: string): string {
  const f = planFiles(temp);
  return `${LAKEFORGE} apply --config ${s.configDir} --environment ${env.name} --auto-approve "${f.json}"`;
}

/** Git wildmatch pattern of the remote release branches, e.g. `origin/release/*`. */
export const remoteReleasePattern = (s: Strategy) => `origin/${s.releaseBranch.replace(/\*\*/g, "*")}`;

/**
 * Fails unless the commit a tag points to is on a release branch. Needs the whole history with the
 * remote branches (`fetch-depth: 0`). `sha` and `tag` are shell expressions; `error` formats an error
 * line for the platform's log.
 */
export function releaseTagScript(s: Strategy, sha: string, tag: string, error: (message: string) => string): string {
  return [
    `branches="$(git branch --remotes --contains "${sha}" --list "${remoteReleasePattern(s)}")"`,
    'if [ -z "$branches" ]; then',
    `  ${error(`tag ${tag} is not on a release branch (${s.releaseBranch}): ${s.deploy.tag} is deployed only from release branches`)}`,
    "  exit 1",
    "fi",
    `echo "Tag ${tag} is on:"`,
    'echo "$branches"',
  ].join("\n");
}

/** `lakeforge validate`: every environment's structure, this one's in full (its variables and secrets set). */
export function validateScript(s: Strategy, env: PipelineEnvironment): string {
  return `${LAKEFORGE} validate --config ${s.configDir} --environment ${env.name}`;
}

/** Fails when the committed pipelines are not what the configuration generates. */
export function pipelinesCheckScript(s: Strategy, platform: "github" | "azure-devops"): string {
  const where = s.configDir === "." ? "" : ` --config ${s.configDir} --out .`;
  return `${LAKEFORGE} pipelines generate --platform ${platform}${where} --check`;
}
