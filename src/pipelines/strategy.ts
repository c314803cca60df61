import { relative } from "node:path";
import { ConfigError, type ConfigIssue } from "../config/errors.js";
import { readProject } from "../config/loader.js";
import { type PipelineAuthMethod, type PipelinesSection, pipelinesSection } from "../config/schema/pipelines.js";
import { didYouMean } from "../config/suggest.js";
import { getMap, issueAt, type LNode, type MapNode, toPlain } from "../config/tree.js";
import { VERSION } from "../lib/version.js";

/**
 * The deployment strategy of the platform repository: the `pipelines:` section of lakeforge.yaml with
 * its defaults filled in and checked against the configuration's environments. Both generators render
 * from this one model, so GitHub Actions and Azure DevOps deploy the same environments on the same events.
 */

/** An environment variable the configuration reads, and what the platform calls it. */
export interface EnvBinding {
  /** Name in the process environment (`from_env: X`, `${env.X}`). */
  env: string;
  /** Name of the platform secret or variable holding it. */
  platform: string;
}

export interface PipelineEnvironment {
  /** Lakeforge environment name. */
  name: string;
  /** GitHub environment / Azure DevOps environment. */
  platformName: string;
  approval: boolean;
  reviewers: string[];
  serviceConnection: string;
  variableGroup: string;
  /** Whether the environment's workspace is a remote one (jobs need Databricks credentials). */
  remote: boolean;
  /** Whether jobs need Azure Resource Manager credentials: an `azure:` section or Key Vault secrets. */
  azure: boolean;
  /** `${env.X}` references: platform variables. */
  variables: EnvBinding[];
  /** `from_env: X` secret sources: platform secrets. */
  secrets: EnvBinding[];
}

export interface Strategy {
  /** The configuration file and the path of its folder relative to the pipelines' root (`.` usually). */
  configFile: string;
  configDir: string;
  lakeforgeVersion: string;
  nodeVersion: string;
  runner: string;
  mainBranch: string;
  /** Release branch pattern (`release/*`) and its fixed prefix (`release/`). */
  releaseBranch: string;
  releasePrefix: string;
  /** Whether the release pattern is one branch rather than a pattern. */
  releaseExact: boolean;
  tags: string;
  deploy: { main: string; release: string[]; tag: string };
  /** Every environment of the configuration, in the order it defines them. */
  environments: PipelineEnvironment[];
  auth: PipelineAuthMethod;
  concurrencyPrefix: string;
  repository?: string;
}

export const DEFAULTS = {
  nodeVersion: "22",
  runner: "ubuntu-latest",
  mainBranch: "main",
  releaseBranch: "release/*",
  tags: "v*",
  deploy: { main: "development", release: ["uat", "preproduction"], tag: "production" },
  auth: "azure-oidc" as PipelineAuthMethod,
  concurrencyPrefix: "lakeforge",
} as const;

/** Names GitHub refuses for secrets and variables. */
const RESERVED_PREFIX = /^GITHUB_/;

const ENV_REF = /\$\{env\.([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g;

/** Environment variables a part of the configuration reads: `from_env` secrets and `${env.X}` values. */
function scanEnv(node: LNode, skip: (n: LNode) => boolean, out: { vars: Set<string>; secrets: Set<string>; vault: boolean }) {
  if (skip(node)) return;
  if (node.t === "scalar") {
    if (typeof node.value === "string") for (const m of node.value.matchAll(ENV_REF)) out.vars.add(m[1] as string);
    return;
  }
  if (node.t === "seq") {
    for (const item of node.items) scanEnv(item, skip, out);
    return;
  }
  for (const [k, v] of node.entries) {
    if (k === "from_env" && v.t === "scalar" && typeof v.value === "string") out.secrets.add(v.value);
    else if (k === "azure_key_vault" && v.t === "map") out.vault = true;
    scanEnv(v, skip, out);
  }
}

/** The fixed part of a ref pattern before its first `*`. */
export function patternPrefix(pattern: string): string {
  const i = pattern.indexOf("*");
  return i < 0 ? pattern : pattern.slice(0, i);
}

/** Whether a GitHub-style ref pattern (`*` within a path part, `**` across parts) matches a name. */
export function matchesPattern(pattern: string, name: string): boolean {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        re += ".*";
        i++;
      } else re += "[^/]*";
    } else re += c.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`).test(name);
}

export interface LoadStrategyOptions {
  /** Folder the pipeline files are written to (the repository root); default: the configuration's folder. */
  out?: string;
  /** Directory error locations are shown relative to (default: the current directory). */
  relativeTo?: string;
}

/**
 * Reads lakeforge.yaml (a file or its folder) and returns the strategy, or throws `ConfigError` listing
 * every problem with its location.
 */
export function loadStrategy(target: string, options: LoadStrategyOptions = {}): Strategy {
  const relativeTo = options.relativeTo ?? process.cwd();
  const issues: ConfigIssue[] = [];
  const project = readProject(target, relativeTo, issues);
  if (!project || issues.length > 0) throw new ConfigError(issues, relativeTo);
  const { doc } = project;
  const node = doc.entries.get("pipelines");
  const parsed = node ? pipelinesSection.safeParse(toPlain(node)) : undefined;
  const section: PipelinesSection = parsed?.success ? parsed.data : {};
  const at = (path: (string | number)[]): LNode => {
    let cur: LNode | undefined = node;
    for (const seg of path) {
      const next: LNode | undefined =
        cur?.t === "map"
          ? cur.entries.get(String(seg))
          : cur?.t === "seq" && typeof seg === "number"
            ? cur.items[seg]
            : undefined;
      if (!next) break;
      cur = next;
    }
    return cur ?? doc.entries.get("environments") ?? doc;
  };

  const envNodes = getMap(doc, "environments");
  const names = project.environments;
  if (names.length === 0) {
    issues.push(
      issueAt(
        node ?? doc,
        "the pipelines deploy environments, and the configuration defines none",
        "add them under `environments:`",
      ),
    );
    throw new ConfigError(issues, relativeTo);
  }

  const deploy = {
    main: section.deploy?.main ?? DEFAULTS.deploy.main,
    release: section.deploy?.release ?? [...DEFAULTS.deploy.release],
    tag: section.deploy?.tag ?? DEFAULTS.deploy.tag,
  };
  const checkEnv = (name: string, path: (string | number)[], given: boolean) => {
    if (names.includes(name)) return;
    if (given) {
      issues.push(
        issueAt(at(path), `environment "${name}" does not exist${didYouMean(name, names)}`, `environments: ${names.join(", ")}`),
      );
    } else {
      issues.push(
        issueAt(
          node ?? envNodes ?? doc,
          `the default pipeline strategy deploys environment "${name}", which the configuration does not define`,
          `name the environments each step deploys under \`pipelines.deploy\` (main, release, tag); environments: ${names.join(", ")}`,
          envNodes !== undefined && node === undefined,
        ),
      );
    }
  };
  checkEnv(deploy.main, ["deploy", "main"], section.deploy?.main !== undefined);
  deploy.release.forEach((e, i) => {
    checkEnv(e, ["deploy", "release", i], section.deploy?.release !== undefined);
  });
  checkEnv(deploy.tag, ["deploy", "tag"], section.deploy?.tag !== undefined);
  const used = new Map<string, { path: (string | number)[]; given: boolean }>();
  const slots: [string, (string | number)[], boolean][] = [
    [deploy.main, ["deploy", "main"], section.deploy?.main !== undefined],
    ...deploy.release.map((e, i): [string, (string | number)[], boolean] => [
      e,
      ["deploy", "release", i],
      section.deploy?.release !== undefined,
    ]),
    [deploy.tag, ["deploy", "tag"], section.deploy?.tag !== undefined],
  ];
  const slotName = (path: (string | number)[]) => `pipelines.${path.join(".")}`;
  for (const [env, path, given] of slots) {
    const first = used.get(env);
    if (first === undefined) {
      used.set(env, { path, given });
      continue;
    }
    // Point at the value written in the file; a default is named as such.
    const [here, other] = given || !first.given ? [path, first] : [first.path, { path, given }];
    issues.push(
      issueAt(
        at(here),
        `environment "${env}" is also deployed by ${slotName(other.path)}${other.given ? "" : " (its default)"}`,
        `each environment is deployed by one step of the strategy${other.given ? "" : `; set ${slotName(other.path)}`}`,
      ),
    );
  }

  const mainBranch = section.branches?.main ?? DEFAULTS.mainBranch;
  const releaseBranch = section.branches?.release ?? DEFAULTS.releaseBranch;
  const releasePrefix = patternPrefix(releaseBranch);
  if (releasePrefix === "") {
    issues.push(
      issueAt(
        at(["branches", "release"]),
        `release branch pattern "${releaseBranch}" has no fixed prefix`,
        'start it with a fixed part, e.g. "release/*"',
      ),
    );
  } else if (matchesPattern(releaseBranch, mainBranch) || mainBranch.startsWith(releasePrefix)) {
    issues.push(
      issueAt(
        at(["branches", "release"]),
        `release branch pattern "${releaseBranch}" also matches the main branch "${mainBranch}"`,
        "give release branches a prefix of their own, e.g. release/*",
      ),
    );
  }
  const tags = section.tags ?? DEFAULTS.tags;

  const envSettings = section.environments ?? {};
  for (const name of Object.keys(envSettings)) {
    if (!names.includes(name)) {
      const n = at(["environments", name]);
      issues.push({
        ...issueAt(
          n,
          `environment "${name}" does not exist${didYouMean(name, names)}`,
          `environments: ${names.join(", ")}`,
          true,
        ),
      });
    }
  }
  const gated = new Set([...deploy.release.slice(1), deploy.tag]);
  const auth = section.auth?.method ?? DEFAULTS.auth;
  const envNames = section.env_names ?? {};
  const platformNames = new Map<string, string>();
  const environments: PipelineEnvironment[] = names.map((name) => {
    const s = envSettings[name] ?? {};
    const approval = s.approval ?? gated.has(name);
    if (s.reviewers && s.reviewers.length > 0 && !approval) {
      issues.push(
        issueAt(
          at(["environments", name, "reviewers"]),
          "reviewers are set but the environment needs no approval",
          "set `approval: true`, or remove the reviewers",
        ),
      );
    }
    const platformName = s.name ?? name;
    const other = platformNames.get(platformName);
    if (other !== undefined) {
      issues.push(
        issueAt(at(["environments", name, "name"]), `platform environment "${platformName}" is already used by ${other}`),
      );
    }
    platformNames.set(platformName, name);
    // What this environment reads from its process environment: everything but other environments' sections.
    const found = { vars: new Set<string>(), secrets: new Set<string>(), vault: false };
    const otherEnvs = new Set(names.filter((n) => n !== name).map((n) => envNodes?.entries.get(n)));
    scanEnv(doc, (n) => otherEnvs.has(n) || n === node, found);
    const workspace = (envNodes?.entries.get(name) as MapNode | undefined)?.entries?.get("workspace");
    const local = workspace === undefined || (workspace.t === "scalar" && workspace.value === "local");
    const azure =
      doc.entries.has("azure") || (envNodes?.entries.get(name) as MapNode | undefined)?.entries?.has("azure") === true;
    const bind = (env: string): EnvBinding => ({
      env,
      platform: envNames[env] ?? (RESERVED_PREFIX.test(env) ? `LAKEFORGE_${env}` : env),
    });
    for (const secret of found.secrets) found.vars.delete(secret);
    return {
      name,
      platformName,
      approval,
      reviewers: s.reviewers ?? [],
      serviceConnection: s.service_connection ?? `lakeforge-${name}`,
      variableGroup: s.variable_group ?? `lakeforge-${name}`,
      remote: !local,
      azure: azure || found.vault,
      variables: [...found.vars].sort().map(bind),
      secrets: [...found.secrets].sort().map(bind),
    };
  });
  for (const [env, platform] of Object.entries(envNames)) {
    if (RESERVED_PREFIX.test(platform)) {
      issues.push(
        issueAt(at(["env_names", env]), `"${platform}" starts with GITHUB_, which GitHub reserves`, `e.g. LAKEFORGE_${platform}`),
      );
    }
  }
  if (issues.length > 0) throw new ConfigError(issues, relativeTo);

  const configDir =
    relative(options.out ?? project.root, project.root)
      .split("\\")
      .join("/") || ".";
  return {
    configFile: project.file,
    configDir,
    lakeforgeVersion: section.lakeforge_version ?? VERSION,
    nodeVersion: section.node_version ?? DEFAULTS.nodeVersion,
    runner: section.runner ?? DEFAULTS.runner,
    mainBranch,
    releaseBranch,
    releasePrefix,
    releaseExact: !releaseBranch.includes("*"),
    tags,
    deploy,
    environments,
    auth,
    concurrencyPrefix: section.concurrency_prefix ?? DEFAULTS.concurrencyPrefix,
    ...(section.repository ? { repository: section.repository } : {}),
  };
}

/** The settings of one environment by name. */
export function environmentOf(strategy: Strategy, name: string): PipelineEnvironment {
  const env = strategy.environments.find((e) => e.name === name);
  if (!env) throw new Error(`no environment ${name} in the strategy`);
  return env;
}
