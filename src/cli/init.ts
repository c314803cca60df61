import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Command, Option } from "commander";
import { azureDevopsProvider, createAzureDevopsContext } from "../bootstrap/azure-devops/index.js";
import { createGithubContext, githubProvider, withGithubOwner } from "../bootstrap/github/index.js";
import { localProvider, RemovableFileStateBackend } from "../bootstrap/local/provider.js";
import { defaultForgeDir, forgePaths } from "../bootstrap/local/store.js";
import { type BootstrapOptions, type BootstrapResult, bootstrap } from "../bootstrap/orchestrate.js";
import { REPOSITORY_SETTING_FLAGS, requestFromProject } from "../bootstrap/request.js";
import type { BootstrapRequest, ForgeProvider } from "../bootstrap/types.js";
import type { ProgressEvent } from "../engine/engine.js";
import { UserError } from "../lib/errors.js";
import { Secret } from "../lib/secret.js";
import { ALIASES, flagOf, IGNORED, OPTION_DEFS, resolveOptions } from "../template/input.js";
import type { ProjectAnswers } from "../template/options.js";
import { buildManifest, type InitResult, initProject, MANIFEST_PATH, manifestText, renderProject } from "../template/project.js";
import { promptOptions } from "../template/prompt.js";
import type { Output } from "./output.js";

/** Declares the template options as flags: `--cloud <value>`, `--include-serving [yes|no]`, aliases hidden. */
export function optionFlags(cmd: Command): Command {
  const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
  for (const def of OPTION_DEFS) {
    if (def.kind === "bool") cmd.option(`${flagOf(def.key)} [yes|no]`, def.help);
    else if (def.kind === "list") cmd.option(`${flagOf(def.key)} <list>`, `${def.help}; repeatable`, collect);
    else cmd.option(`${flagOf(def.key)} <${def.values ? def.values.join("|") : "value"}>`, def.help);
  }
  cmd.option(
    "--target <name.field=value>",
    "one field of one target: host, catalog, service_principal_id or approval (repeatable)",
    collect,
  );
  for (const alias of [...Object.keys(ALIASES), ...Object.keys(IGNORED), ...REPOSITORY_SETTING_FLAGS]) {
    cmd.addOption(new Option(`${flagOf(alias)} <value>`).hideHelp());
  }
  return cmd;
}

/** Flags of the commands themselves, not template options. */
const NOT_TEMPLATE_FLAGS = [
  "--dir",
  "--options",
  "--input",
  "--no-input",
  "--force",
  "--json",
  "--check",
  "--forge",
  "--org",
  "--project",
  "--dry-run",
  "--no-rollback",
  "--forge-dir",
  "--protection",
];

/** The template option flags given on the command line, as `[--flag, value]` pairs. */
export function givenFlags(cmd: Command): [string, string | boolean][] {
  const out: [string, string | boolean][] = [];
  const opts = cmd.opts() as Record<string, unknown>;
  for (const option of cmd.options) {
    const attr = option.attributeName();
    if (cmd.getOptionValueSource(attr) !== "cli") continue;
    const long = option.long;
    if (!long || NOT_TEMPLATE_FLAGS.includes(long)) continue;
    const value = opts[attr];
    if (Array.isArray(value)) {
      if (long === "--target") for (const v of value) out.push([long, String(v)]);
      else out.push([long, value.join(",")]);
    } else if (value === true) out.push([long, "yes"]);
    else out.push([long, value as string]);
  }
  return out;
}

interface InitOptions {
  dir?: string;
  options?: string;
  input: boolean;
  force?: boolean;
  json?: boolean;
  forge: string;
  org?: string;
  project?: string;
  dryRun?: boolean;
  rollback: boolean;
  forgeDir?: string;
  protection: string;
  /** Repository settings given among the options (set once they are resolved). */
  settings?: Record<string, string>;
}

const FORGES = ["local", "github", "azure-devops", "none"];
const PROTECTIONS = ["rulesets", "branch-protection"];

export function initCommand(program: Command, out: Output): void {
  const cmd = program
    .command("init")
    .description("render a new ML project (Databricks bundle, Python package, tests, CI/CD) from the ml-project template")
    .argument("[name]", "project name (lowercase letters, digits, - and _)")
    .option("--dir <path>", "folder to render into (default: ./<name>)")
    .option("--options <file>", "options file (YAML or JSON); flags win over it")
    .option("--no-input", "never ask: options not given take their defaults (for CI)")
    .option("--force", "render into a folder that is not empty (files the template writes are overwritten)")
    .option("--json", "print the result as JSON on stdout")
    .option(
      "--forge <local|github|azure-devops|none>",
      "where to create the repository around the project (none: render only)",
      "local",
    )
    .option("--org <name>", "organisation or owner of the repository (GitHub), or organisation URL (Azure DevOps)")
    .option("--project <name>", "Azure DevOps project holding the repository (default: $AZURE_DEVOPS_PROJECT)")
    .option("--dry-run", "render in memory and print the repository plan; write nothing")
    .option("--no-rollback", "on a failure, keep what this run created instead of removing it")
    .option("--forge-dir <path>", "the local forge's directory (default: $LAKEFORGE_FORGE_DIR or ~/.lakeforge/forge)")
    .option(
      "--protection <rulesets|branch-protection>",
      "GitHub: protect the default and release branches with repository rulesets or classic branch protection",
      "rulesets",
    );
  optionFlags(cmd);
  cmd.addHelpText("after", "\nThe options, their defaults and the names accepted for them are in docs/init.md.");
  cmd.action(async (name: string | undefined, o: InitOptions) => {
    if (!FORGES.includes(o.forge)) throw new UserError(`--forge: expected one of ${FORGES.join(", ")}, got "${o.forge}"`);
    if (!PROTECTIONS.includes(o.protection))
      throw new UserError(`--protection: expected one of ${PROTECTIONS.join(", ")}, got "${o.protection}"`);
    // Checked before anything is rendered or written.
    const github = o.forge === "github" ? githubConnection(out, o.org) : undefined;
    const azure = o.forge === "azure-devops" ? azureDevopsConnection(o.org, o.project) : undefined;
    const flags = givenFlags(cmd);
    if (name !== undefined) flags.unshift(["--project-name", name]);
    const sources = { ...(o.options ? { file: o.options } : {}), flags };
    const interactive = o.input && process.stdin.isTTY === true;
    const prompted = interactive ? await promptOptions(sources, { input: process.stdin, output: process.stderr }) : [];
    const { answers, warnings, settings } = resolveOptions({ ...sources, prompted });
    for (const w of warnings) out.warn(w);
    o.settings = settings;
    const dir = resolve(o.dir ?? answers.project_name);
    const result = o.dryRun ? renderInMemory(dir, answers) : initProject(dir, answers, { force: o.force === true });
    const forge =
      o.forge === "none"
        ? undefined
        : github
          ? await runGithubForge(out, answers, result, o, github)
          : azure
            ? await runAzureDevopsForge(out, answers, result, o, azure)
            : await runForge(out, answers, result, o);
    if (o.json) {
      out.json({
        dir: result.dir,
        template: result.manifest.template,
        template_version: result.manifest.template_version,
        options: answers,
        files: result.files.map((f) => f.path),
        ...(forge ? { forge } : {}),
      });
      return;
    }
    if (o.dryRun) {
      out.info(`Dry run: ${answers.project_name} rendered in memory (${result.files.length} files); nothing was written.`);
      return;
    }
    out.info(
      `Rendered ${answers.project_name} (template ${result.manifest.template} ${result.manifest.template_version}, ${result.files.length} files) into ${dir}`,
    );
    out.info(`  targets: ${Object.keys(answers.targets).join(", ")}; CI/CD: ${answers.cicd}; compute: ${answers.compute}`);
    out.info(`  options recorded in ${MANIFEST_PATH}; re-render with \`lakeforge update\``);
    if (forge) out.info(`  repository: ${forge.repository} (branches ${answers.default_branch}, ${answers.release_branch})`);
    out.info("Next: read README.md, then `pytest` and `databricks bundle validate`.");
  });
}

function renderInMemory(dir: string, answers: ProjectAnswers): InitResult {
  const files = renderProject(answers);
  return { dir, files, manifest: buildManifest(answers, files) };
}

/** The bootstrap request for the rendered project (its files and manifest, credentials from the environment). */
function projectRequest(out: Output, answers: ProjectAnswers, result: InitResult, o: InitOptions): BootstrapRequest {
  const files = new Map(result.files.map((f) => [f.path, f.content]));
  files.set(MANIFEST_PATH, Buffer.from(manifestText(result.manifest)));
  const { request, warnings } = requestFromProject(answers, files, process.env, {
    ...(o.org ? { owner: o.org } : {}),
    ...(o.settings ? { settings: o.settings } : {}),
  });
  for (const w of warnings) out.warn(w);
  return request;
}

function progressTo(out: Output, o: InitOptions): (e: ProgressEvent) => void {
  return (e) => {
    if (!o.json && e.phase !== "start") out.info(`  ${e.address}: ${e.action} ${e.phase}${e.error ? ` (${e.error})` : ""}`);
  };
}

/** Runs the bootstrap with the command's dry-run, rollback and progress choices; prints the plan unless --json. */
async function runBootstrap<Ctx>(
  out: Output,
  o: InitOptions,
  provider: ForgeProvider<Ctx>,
  ctx: Ctx,
  request: BootstrapRequest,
  extra: Pick<BootstrapOptions, "state"> = {},
): Promise<BootstrapResult> {
  const outcome = await bootstrap(provider, ctx, request, {
    dryRun: o.dryRun === true,
    ...(o.rollback === false ? { rollback: false } : {}),
    ...extra,
    progress: progressTo(out, o),
  });
  if (!o.json) {
    for (const line of outcome.rendered.trimEnd().split("\n")) out.info(line);
  }
  return outcome;
}

/** Creates (or converges) the project's repository in the local forge. */
async function runForge(out: Output, answers: ProjectAnswers, result: InitResult, o: InitOptions) {
  const request = projectRequest(out, answers, result, o);
  const forgeDir = resolve(o.forgeDir ?? defaultForgeDir());
  const outcome = await runBootstrap(out, o, localProvider(), { forgeDir }, request);
  return {
    name: o.forge,
    forge_dir: forgeDir,
    repository: forgePaths(forgeDir, request.name).repo,
    dry_run: o.dryRun === true,
    applied: outcome.applied,
    plan: outcome.summary,
    actions: outcome.plan.actions,
  };
}

const GITHUB_API = "https://api.github.com";

interface GithubConnection {
  /** A token, or a GitHub App (`app`). */
  token?: Secret;
  app?: { appId: string; privateKey: Secret; installationId?: number };
  baseUrl: string;
  throttle: boolean;
}

/**
 * A GitHub App from the environment: `GITHUB_APP_ID`, the private key (PEM) from
 * `GITHUB_APP_PRIVATE_KEY` (newlines may be written `\n`) or the file `GITHUB_APP_PRIVATE_KEY_FILE`,
 * and optionally `GITHUB_APP_INSTALLATION_ID`. Undefined when `GITHUB_APP_ID` is not set.
 */
export function githubAppFromEnv(env: NodeJS.ProcessEnv = process.env): GithubConnection["app"] {
  const appId = env.GITHUB_APP_ID?.trim();
  if (!appId) {
    if (env.GITHUB_APP_PRIVATE_KEY?.trim() || env.GITHUB_APP_PRIVATE_KEY_FILE?.trim())
      throw new UserError("GITHUB_APP_ID: not set, but a GitHub App private key is", "set GITHUB_APP_ID to the app's id");
    return undefined;
  }
  if (!/^\d+$/.test(appId) && !/^Iv[0-9A-Za-z._-]+$/.test(appId))
    throw new UserError(
      `GITHUB_APP_ID: "${appId}" is not a GitHub App id`,
      "the number on the app's settings page (or its client id)",
    );
  const inline = env.GITHUB_APP_PRIVATE_KEY?.trim();
  const file = env.GITHUB_APP_PRIVATE_KEY_FILE?.trim();
  if (inline && file)
    throw new UserError("GITHUB_APP_PRIVATE_KEY and GITHUB_APP_PRIVATE_KEY_FILE are both set", "set one of them");
  let pem: string;
  if (inline) pem = inline.includes("\\n") && !inline.includes("\n") ? inline.replace(/\\n/g, "\n") : inline;
  else if (file) {
    try {
      pem = readFileSync(resolve(file), "utf8").trim();
    } catch (e) {
      throw new UserError(
        `GITHUB_APP_PRIVATE_KEY_FILE: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? "error"})`,
        "point it at the .pem file GitHub generated for the app",
      );
    }
  } else
    throw new UserError(
      "GITHUB_APP_ID is set but no private key: set GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE",
      "the PEM file GitHub generated for the app; it is never read from a flag",
    );
  const privateKey = Secret.from(pem);
  try {
    createPrivateKey(privateKey.reveal());
  } catch {
    throw new UserError(
      `${inline ? "GITHUB_APP_PRIVATE_KEY" : "GITHUB_APP_PRIVATE_KEY_FILE"}: not a PEM private key`,
      "use the .pem file GitHub generated for the app (-----BEGIN RSA PRIVATE KEY-----)",
    );
  }
  const inst = env.GITHUB_APP_INSTALLATION_ID?.trim();
  if (inst && !/^\d+$/.test(inst))
    throw new UserError(`GITHUB_APP_INSTALLATION_ID: "${inst}" is not an installation id`, "a number, or leave it unset");
  return { appId, privateKey, ...(inst ? { installationId: Number(inst) } : {}) };
}

/**
 * GitHub's connection from the environment: the token from `GITHUB_TOKEN` (never a flag, so it stays
 * out of shell history and process lists), the API root from `GITHUB_API_URL` (GitHub Enterprise
 * Server: `https://<host>/api/v3`). `LAKEFORGE_GITHUB_THROTTLE=off` stops pacing writes, for local
 * test servers only: it is ignored for api.github.com.
 */
function githubConnection(out: Output, org: string | undefined, env: NodeJS.ProcessEnv = process.env): GithubConnection {
  if (org !== undefined && !/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/.test(org))
    throw new UserError(`--org: "${org}" is not a GitHub organisation or user name`, "letters, digits and single hyphens");
  const app = githubAppFromEnv(env);
  const token = app ? undefined : Secret.optional(env.GITHUB_TOKEN?.trim() || undefined);
  if (app && env.GITHUB_TOKEN?.trim()) out.warn("GITHUB_TOKEN is ignored: authenticating as the GitHub App GITHUB_APP_ID");
  if (app && org === undefined && app.installationId === undefined)
    throw new UserError(
      "--forge github: a GitHub App needs --org (the organisation owning the repository) or GITHUB_APP_INSTALLATION_ID",
      "name the organisation the app is installed on",
    );
  if (!app && !token)
    throw new UserError(
      "--forge github: GITHUB_TOKEN is not set",
      "export GITHUB_TOKEN with a token that may create repositories (scopes repo, workflow, read:org), or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY for a GitHub App; it is never read from a flag",
    );
  const raw = env.GITHUB_API_URL?.trim() || GITHUB_API;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UserError(`GITHUB_API_URL: "${raw}" is not a URL`, `use ${GITHUB_API} or https://<host>/api/v3`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new UserError(`GITHUB_API_URL: "${raw}" is not an http(s) URL`, `use ${GITHUB_API} or https://<host>/api/v3`);
  const baseUrl = raw.replace(/\/+$/, "");
  const off = env.LAKEFORGE_GITHUB_THROTTLE?.trim().toLowerCase() === "off";
  const isGithubCom = url.hostname.toLowerCase() === "api.github.com";
  if (off && isGithubCom) out.warn("LAKEFORGE_GITHUB_THROTTLE=off is ignored for api.github.com");
  return { ...(app ? { app } : { token: token as Secret }), baseUrl, throttle: !off || isGithubCom };
}

/** Creates (or converges) the project's repository on GitHub; state stays in the forge directory. */
async function runGithubForge(out: Output, answers: ProjectAnswers, result: InitResult, o: InitOptions, conn: GithubConnection) {
  const ctx = createGithubContext({
    ...(conn.app ? { app: conn.app } : { token: conn.token }),
    baseUrl: conn.baseUrl,
    throttle: conn.throttle,
  });
  let request = projectRequest(out, answers, result, o);
  try {
    request = await withGithubOwner(ctx, request);
  } catch (e) {
    const status = (e as { status?: number }).status;
    if (status === 401)
      throw new UserError(
        `GitHub (${conn.baseUrl}) rejected the token in GITHUB_TOKEN`,
        "check that the token is valid and not expired",
      );
    throw e;
  }
  const owner = request.owner ?? "";
  const forgeDir = resolve(o.forgeDir ?? defaultForgeDir());
  const stateFile = githubStatePath(forgeDir, owner, request.name);
  const provider = githubProvider({
    protection: { kind: o.protection === "branch-protection" ? "branch-protection" : "rulesets" },
  });
  const outcome = await runBootstrap(
    out,
    o,
    provider,
    ctx,
    request,
    provider.stateBackend ? {} : { state: new RemovableFileStateBackend(stateFile) },
  );
  return {
    name: o.forge,
    api_url: conn.baseUrl,
    auth: conn.app ? "github-app" : "token",
    repository: `${owner}/${request.name}`,
    state: stateFile,
    dry_run: o.dryRun === true,
    applied: outcome.applied,
    plan: outcome.summary,
    actions: outcome.plan.actions,
  };
}

/** Where `init --forge github` keeps a repository's bootstrap state: `<forge-dir>/state/github/<owner>/<name>.json`. */
export function githubStatePath(forgeDir: string, owner: string, name: string): string {
  return join(forgeDir, "state", "github", owner.toLowerCase(), `${name}.json`);
}

interface AzureDevopsConnection {
  token: Secret;
  auth: "pat" | "bearer";
  orgUrl: string;
  project: string;
}

/**
 * Azure DevOps's connection: the organisation URL from `--org` (a URL, or an organisation name of
 * dev.azure.com) or `AZURE_DEVOPS_ORG_URL` (`SYSTEM_COLLECTIONURI` in a pipeline), the project from
 * `--project` or `AZURE_DEVOPS_PROJECT`, and the token from the environment only:
 * `AZURE_DEVOPS_EXT_PAT` (a personal access token) or, in a pipeline, `SYSTEM_ACCESSTOKEN` (a bearer
 * token). Checked before anything is rendered or written.
 */
export function azureDevopsConnection(
  org: string | undefined,
  project: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): AzureDevopsConnection {
  const raw = org?.trim() || env.AZURE_DEVOPS_ORG_URL?.trim() || env.SYSTEM_COLLECTIONURI?.trim();
  const where = org?.trim() ? "--org" : env.AZURE_DEVOPS_ORG_URL?.trim() ? "AZURE_DEVOPS_ORG_URL" : "SYSTEM_COLLECTIONURI";
  if (!raw)
    throw new UserError(
      "--forge azure-devops: no organisation given",
      "pass --org https://dev.azure.com/<organisation> or set AZURE_DEVOPS_ORG_URL",
    );
  let url: URL;
  try {
    url = new URL(/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(raw) ? `https://dev.azure.com/${raw}` : raw);
  } catch {
    throw new UserError(`${where}: "${raw}" is not an organisation URL`, "use https://dev.azure.com/<organisation>");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new UserError(`${where}: "${raw}" is not an http(s) URL`, "use https://dev.azure.com/<organisation>");
  if (url.username || url.password)
    throw new UserError(
      `${where}: the organisation URL must not hold credentials`,
      "put the token in AZURE_DEVOPS_EXT_PAT instead",
    );
  if (url.search || url.hash) throw new UserError(`${where}: the organisation URL must have no query or fragment`);
  const orgUrl = `${url.origin}${url.pathname}`.replace(/\/+$/, "");
  const name = project?.trim() || env.AZURE_DEVOPS_PROJECT?.trim();
  if (!name)
    throw new UserError(
      "--forge azure-devops: no project given",
      "pass --project <name> (the project must exist) or set AZURE_DEVOPS_PROJECT",
    );
  if (/[/\\:*?"<>|;#$@%&+=,]/.test(name))
    throw new UserError(
      `--project: "${name}" is not an Azure DevOps project name`,
      'project names cannot hold / \\ : * ? " < > | ; # $ @ % & + = ,',
    );
  const pat = Secret.optional(env.AZURE_DEVOPS_EXT_PAT?.trim() || undefined);
  const bearer = Secret.optional(env.SYSTEM_ACCESSTOKEN?.trim() || undefined);
  const token = pat ?? bearer;
  if (!token)
    throw new UserError(
      "--forge azure-devops: AZURE_DEVOPS_EXT_PAT is not set",
      "export AZURE_DEVOPS_EXT_PAT with a personal access token (Code, Build, Variable Groups, Environment, Project and Team scopes), or map SYSTEM_ACCESSTOKEN in a pipeline; it is never read from a flag",
    );
  return { token, auth: pat ? "pat" : "bearer", orgUrl, project: name };
}

/** Creates (or converges) the project's repository in an Azure DevOps project; state stays in the forge directory. */
async function runAzureDevopsForge(
  out: Output,
  answers: ProjectAnswers,
  result: InitResult,
  o: InitOptions,
  conn: AzureDevopsConnection,
) {
  const ctx = createAzureDevopsContext({ orgUrl: conn.orgUrl, token: conn.token, auth: conn.auth });
  const request = { ...projectRequest(out, answers, result, { ...o, org: undefined }), owner: conn.project };
  const forgeDir = resolve(o.forgeDir ?? defaultForgeDir());
  const stateFile = azureDevopsStatePath(forgeDir, conn.orgUrl, conn.project, request.name);
  const provider = azureDevopsProvider({ state: new RemovableFileStateBackend(stateFile) });
  const outcome = await runBootstrap(out, o, provider, ctx, request);
  return {
    name: o.forge,
    org_url: conn.orgUrl,
    project: conn.project,
    repository: `${conn.project}/${request.name}`,
    state: stateFile,
    dry_run: o.dryRun === true,
    applied: outcome.applied,
    plan: outcome.summary,
    actions: outcome.plan.actions,
  };
}

/**
 * Where `init --forge azure-devops` keeps a repository's bootstrap state:
 * `<forge-dir>/state/azure-devops/<host and organisation>/<project>/<name>.json`.
 */
export function azureDevopsStatePath(forgeDir: string, orgUrl: string, project: string, name: string): string {
  const url = new URL(orgUrl);
  const org = `${url.host}${url.pathname}`
    .replace(/\/+$/, "")
    .replace(/[^A-Za-z0-9._-]+/g, "_")
    .toLowerCase();
  return join(forgeDir, "state", "azure-devops", org, project.toLowerCase().replace(/[^a-z0-9._-]+/g, "_"), `${name}.json`);
}
