/**
 * Structure checks for the CI/CD files of rendered projects: what GitHub Actions, Azure DevOps and
 * GitLab need from a pipeline file, beyond being valid YAML. Each returns a list of problems (empty
 * when the file is fine), phrased for a test failure message.
 */
import { parse as parseYaml } from "yaml";
import type { TemplateContext } from "../../src/template/options.js";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Every value of `key` anywhere in a parsed document. */
export function valuesOf(doc: unknown, key: string): unknown[] {
  const out: unknown[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isObj(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (k === key) out.push(x);
        walk(x);
      }
    }
  };
  walk(doc);
  return out;
}

const roleOf = (ctx: TemplateContext, role: string[]) => ctx.targets.find((t) => role.includes(t.deploy_from));

/** GitHub Actions workflows: versions quoted, OIDC permission where used, the configured branches, guarded deploys. */
export function checkGithub(files: Map<string, string>, ctx: TemplateContext): string[] {
  const problems: string[] = [];
  const ci = parseYaml(files.get(".github/workflows/ci.yml") ?? "null") as Obj | null;
  const deploy = parseYaml(files.get(".github/workflows/deploy.yml") ?? "null") as Obj | null;
  if (!ci || !deploy) return ["missing .github/workflows/ci.yml or deploy.yml"];
  for (const [name, doc] of [
    ["ci.yml", ci],
    ["deploy.yml", deploy],
  ] as const) {
    for (const v of valuesOf(doc, "python-version")) {
      if (v !== ctx.python_version)
        problems.push(`${name}: python-version ${JSON.stringify(v)} is not the string "${ctx.python_version}"`);
    }
    const permissions = doc.permissions as Obj | undefined;
    const oidc = permissions?.["id-token"] === "write";
    if (oidc !== (ctx.ci_auth === "github_oidc"))
      problems.push(`${name}: id-token: write is ${oidc} with ci_auth ${ctx.ci_auth}`);
    const jobs = doc.jobs as Record<string, Obj>;
    for (const [id, job] of Object.entries(jobs)) {
      const env = job.env as Obj | undefined;
      if (env && ctx.ci_auth === "github_oidc" && env.DATABRICKS_AUTH_TYPE !== "github-oidc")
        problems.push(`${name} ${id}: not github-oidc`);
      if (job.environment !== undefined && !isObj(job.concurrency))
        problems.push(`${name} ${id}: a deployment without concurrency`);
      if (isObj(job.concurrency) && job.concurrency["cancel-in-progress"] !== false) {
        problems.push(`${name} ${id}: a deployment that can be cancelled half-way`);
      }
    }
  }
  const on = (d: Obj) => d.on as Obj;
  const prBranches = (on(ci).pull_request as Obj).branches as string[];
  if (!prBranches.includes(ctx.default_branch)) problems.push(`ci.yml: pull requests into ${ctx.default_branch} are not checked`);
  if (!isObj(ci.concurrency) || ci.concurrency["cancel-in-progress"] !== true) problems.push("ci.yml: no concurrency guard");
  const pushes = on(deploy).push as Obj;
  const prod = roleOf(ctx, ["tag", "release_branch"]);
  const staging = roleOf(ctx, ["default_branch"]);
  const pr = roleOf(ctx, ["pull_request"]);
  if (!prod || !staging || !pr) return [...problems, "targets lack a role"];
  if (!(pushes.branches as string[]).includes(ctx.default_branch))
    problems.push(`deploy.yml: pushes to ${ctx.default_branch} deploy nothing`);
  if (prod.deploy_from === "tag") {
    if (!asList(pushes.tags).includes("v*")) problems.push("deploy.yml: v* tags deploy nothing");
  } else if (!(pushes.branches as string[]).includes(ctx.release_branch)) {
    problems.push(`deploy.yml: pushes to ${ctx.release_branch} deploy nothing`);
  }
  const jobs = deploy.jobs as Record<string, Obj>;
  if (jobs[prod.name]?.environment !== prod.name)
    problems.push(`deploy.yml: ${prod.name} is not deployed in its protected environment`);
  if (jobs[staging.name]?.environment !== staging.name) problems.push(`deploy.yml: ${staging.name} has no environment`);
  const validateTargets = ((((ci.jobs as Obj).validate as Obj).strategy as Obj).matrix as Obj).target as string[];
  if (JSON.stringify(validateTargets) !== JSON.stringify(ctx.targets.map((t) => t.name))) {
    problems.push(`ci.yml: validates ${validateTargets} instead of every target`);
  }
  const integration = (ci.jobs as Obj).integration as Obj;
  const runs = asList(integration.steps).map((s) => String((s as Obj).run ?? ""));
  if (!runs.some((r) => r.includes(`bundle deploy --target ${pr.name}`))) problems.push(`ci.yml: no deploy to ${pr.name}`);
  if (!runs.some((r) => r.includes(`bundle run --target ${pr.name} model_training_job`)))
    problems.push("ci.yml: the training job is not run");
  problems.push(...branchNames(files, ctx));
  return problems;
}

/** With custom branch names, no file may fall back to the usual `main` / `release`. */
function branchNames(files: Map<string, string>, ctx: TemplateContext): string[] {
  const problems: string[] = [];
  for (const [path, text] of files) {
    if (ctx.default_branch !== "main" && /(?<!@)\bmain\b/.test(text))
      problems.push(`${path}: mentions "main" (default branch is ${ctx.default_branch})`);
    if (ctx.release_branch !== "release" && /refs\/heads\/release\b|- "?release"?$/m.test(text)) {
      problems.push(`${path}: mentions "release" (release branch is ${ctx.release_branch})`);
    }
    if (!text.includes(ctx.default_branch)) problems.push(`${path}: does not name the default branch ${ctx.default_branch}`);
  }
  return problems;
}

/** Azure DevOps pipelines: triggers, stages → jobs → steps, deployment jobs in environments, sequential deploys. */
export function checkAzureDevops(files: Map<string, string>, ctx: TemplateContext): string[] {
  const problems: string[] = [];
  const ci = parseYaml(files.get("azure-pipelines/ci.yml") ?? "null") as Obj | null;
  const deploy = parseYaml(files.get("azure-pipelines/deploy.yml") ?? "null") as Obj | null;
  if (!ci || !deploy) return ["missing azure-pipelines/ci.yml or deploy.yml"];
  const stepOk = (s: unknown) =>
    isObj(s) && ["bash", "script", "task", "checkout", "pwsh", "powershell", "template"].filter((k) => k in s).length === 1;
  const jobsOf = (doc: Obj, name: string) => {
    const stages = asList(doc.stages) as Obj[];
    if (stages.length === 0) problems.push(`${name}: no stages`);
    const all: Obj[] = [];
    for (const stage of stages) {
      if (typeof stage.stage !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(stage.stage))
        problems.push(`${name}: bad stage name ${stage.stage}`);
      const jobs = asList(stage.jobs) as Obj[];
      if (jobs.length === 0) problems.push(`${name} ${stage.stage}: no jobs`);
      for (const job of jobs) {
        const id = (job.job ?? job.deployment) as unknown;
        if (typeof id !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(id)) problems.push(`${name}: bad job id ${String(id)}`);
        const steps = job.deployment
          ? ((((job.strategy as Obj)?.runOnce as Obj)?.deploy as Obj)?.steps as unknown[])
          : (job.steps as unknown[]);
        if (!Array.isArray(steps) || steps.length === 0) problems.push(`${name} ${String(id)}: no steps`);
        for (const s of asList(steps))
          if (!stepOk(s)) problems.push(`${name} ${String(id)}: malformed step ${JSON.stringify(s)}`);
        if (job.deployment) {
          if (typeof job.environment !== "string") problems.push(`${name} ${String(id)}: deployment job without environment`);
          if (!asList(steps).some((s) => isObj(s) && s.checkout === "self")) problems.push(`${name} ${String(id)}: no checkout`);
        }
        all.push(job);
      }
    }
    return all;
  };
  if (ci.trigger !== "none") problems.push("ci.yml: runs on pushes (trigger should be none)");
  const prInclude = (((ci.pr as Obj)?.branches as Obj)?.include as string[]) ?? [];
  if (!prInclude.includes(ctx.default_branch)) problems.push(`ci.yml: pull requests into ${ctx.default_branch} are not checked`);
  const ciJobs = jobsOf(ci, "ci.yml");
  const matrix = (ciJobs.find((j) => j.job === "validate")?.strategy as Obj)?.matrix as Obj;
  if (!matrix || JSON.stringify(Object.keys(matrix)) !== JSON.stringify(ctx.targets.map((t) => t.name))) {
    problems.push("ci.yml: does not validate every target");
  }
  const pr = roleOf(ctx, ["pull_request"]);
  if (!ciJobs.some((j) => j.environment === `${ctx.project_name}-${pr?.name}`))
    problems.push("ci.yml: no deployment to the test target");
  const deployJobs = jobsOf(deploy, "deploy.yml");
  if (deploy.lockBehavior !== "sequential") problems.push("deploy.yml: deployments may overlap (lockBehavior)");
  if (deploy.pr !== "none") problems.push("deploy.yml: runs for pull requests");
  const prod = roleOf(ctx, ["tag", "release_branch"]);
  if (!deployJobs.some((j) => j.environment === `${ctx.project_name}-${prod?.name}`))
    problems.push("deploy.yml: production has no environment");
  const trigger = deploy.trigger as Obj;
  if (!asList((trigger.branches as Obj)?.include).includes(ctx.default_branch))
    problems.push("deploy.yml: merges deploy nothing");
  if (prod?.deploy_from === "tag" && !asList((trigger.tags as Obj)?.include).includes("v*"))
    problems.push("deploy.yml: tags deploy nothing");
  for (const v of valuesOf(ci, "versionSpec"))
    if (v !== ctx.python_version) problems.push(`versionSpec ${String(v)} is not quoted`);
  problems.push(...branchNames(files, ctx));
  return problems;
}

const GITLAB_JOB_KEYWORDS = new Set([
  "stage",
  "script",
  "before_script",
  "after_script",
  "extends",
  "image",
  "rules",
  "environment",
  "resource_group",
  "interruptible",
  "timeout",
  "parallel",
  "cache",
  "variables",
  "needs",
  "allow_failure",
  "when",
  "artifacts",
  "id_tokens",
]);
const GITLAB_GLOBAL = new Set(["stages", "workflow", "variables", "default", "include"]);

/** GitLab CI: stages declared and used, every job with a script, rules, protected deploys serialised. */
export function checkGitlab(files: Map<string, string>, ctx: TemplateContext): string[] {
  const problems: string[] = [];
  const doc = parseYaml(files.get(".gitlab-ci.yml") ?? "null") as Obj | null;
  if (!doc) return ["missing .gitlab-ci.yml"];
  const stages = asList(doc.stages) as string[];
  const templates = new Map<string, Obj>();
  for (const [k, v] of Object.entries(doc)) if (k.startsWith(".") && isObj(v)) templates.set(k, v);
  const jobs = Object.entries(doc).filter(([k]) => !k.startsWith(".") && !GITLAB_GLOBAL.has(k)) as [string, Obj][];
  for (const [name, job] of jobs) {
    for (const k of Object.keys(job)) if (!GITLAB_JOB_KEYWORDS.has(k)) problems.push(`${name}: unknown keyword ${k}`);
    if (!stages.includes(job.stage as string)) problems.push(`${name}: stage ${String(job.stage)} is not declared`);
    if (!Array.isArray(job.script) || job.script.length === 0) problems.push(`${name}: no script`);
    if (job.extends !== undefined && !templates.has(job.extends as string))
      problems.push(`${name}: extends a missing ${job.extends}`);
    if (job.environment !== undefined && typeof job.resource_group !== "string")
      problems.push(`${name}: a deployment without resource_group`);
    for (const r of asList(job.rules)) if (!isObj(r) || typeof r.if !== "string") problems.push(`${name}: a rule without if`);
  }
  const prod = roleOf(ctx, ["tag", "release_branch"]);
  const prodJob = jobs.find(([, j]) => (j.environment as Obj | undefined)?.name === prod?.name)?.[1];
  if (!prodJob) problems.push("no production deployment job");
  else if (!asList(prodJob.rules).some((r) => isObj(r) && r.when === "manual"))
    problems.push("production deploys without approval");
  const validate = doc.validate as Obj;
  const targets = ((asList((validate?.parallel as Obj)?.matrix)[0] as Obj)?.TARGET as string[]) ?? [];
  if (JSON.stringify(targets) !== JSON.stringify(ctx.targets.map((t) => t.name))) problems.push("validate: not every target");
  const image = (doc.default as Obj)?.image;
  if (image !== `python:${ctx.python_version}`) problems.push(`default image ${String(image)}`);
  problems.push(...branchNames(files, ctx));
  return problems;
}
