import { UserError } from "../lib/errors.js";
import { ConfigError, type ConfigIssue, sortIssues } from "./errors.js";
import { readProject } from "./loader.js";
import { analyseEnvironment, type ResolvedConfig } from "./resolve.js";
import { didYouMean } from "./suggest.js";
import { getMap, issueAt } from "./tree.js";

export interface LoadOptions {
  /** The environment to resolve; by default the one marked `default: true`, or the only one. */
  environment?: string;
  /** Process environment for `${env.*}`, `from_env` secrets and `LAKEFORGE_VAR_*` (default: `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Variable values from the command line (`--var name=value`); they win over every other source. */
  variables?: Readonly<Record<string, string>>;
  /** Directory error locations are shown relative to (default: the current directory). */
  relativeTo?: string;
  /** Values of the Azure infrastructure's outputs for `${azure.<part>.<field>}` (others stay as written). */
  azureOutputs?: Readonly<Record<string, string>>;
}

export interface ValidationResult {
  /** The main configuration file. */
  file: string;
  environments: string[];
  /** The environment that was resolved in full (secrets, local files), if any. */
  environment?: string;
  issues: ConfigIssue[];
  /** The selected environment's configuration when there are no issues. */
  config?: ResolvedConfig;
}

/** The environment used when no environment is configured at all: the local workspace. */
export const IMPLICIT_ENVIRONMENT = "default";

/**
 * Reads and checks a configuration without throwing on configuration problems: every environment is
 * checked (structure, types, references, cycles); the selected one (`options.environment`, else the
 * default one) is also resolved in full. Throws `UserError` only when the file is missing or the
 * environment asked for does not exist.
 */
export function validateConfig(target: string, options: LoadOptions = {}): ValidationResult {
  const relativeTo = options.relativeTo ?? process.cwd();
  const issues: ConfigIssue[] = [];
  const project = readProject(target, relativeTo, issues);
  if (!project) return { file: target, environments: [], issues: sortIssues(issues) };
  const names = project.environments.length > 0 ? project.environments : [IMPLICIT_ENVIRONMENT];
  const selected = selectEnvironment(project.environments, options.environment, project.doc, issues);
  const perIssue = new Map<string, { issue: ConfigIssue; envs: Set<string> }>();
  let config: ResolvedConfig | undefined;
  for (const env of names) {
    const result = analyseEnvironment(project, env, {
      strict: env === selected,
      env: options.env ?? process.env,
      variables: options.variables ?? {},
      ...(options.azureOutputs ? { azureOutputs: options.azureOutputs } : {}),
    });
    if (result.config) config = result.config;
    for (const issue of result.issues) {
      const key = `${issue.loc.file}\0${issue.loc.line}\0${issue.loc.col}\0${issue.path}\0${issue.message}`;
      const entry = perIssue.get(key) ?? { issue, envs: new Set<string>() };
      entry.envs.add(env);
      perIssue.set(key, entry);
    }
  }
  for (const { issue, envs } of perIssue.values()) {
    // Say which environments a shared definition is wrong in, unless it is all of them or just the
    // one being loaded (whose checks, such as secrets, run for it alone).
    const inOwnSection = issue.path.startsWith("environments.");
    const onlySelected = envs.size === 1 && selected !== undefined && envs.has(selected);
    if (names.length > 1 && envs.size < names.length && !inOwnSection && !onlySelected) {
      const list = [...envs];
      issues.push({ ...issue, message: `${issue.message} (in environment${list.length > 1 ? "s" : ""} ${list.join(", ")})` });
    } else issues.push(issue);
  }
  const sorted = sortIssues(issues);
  return {
    file: project.file,
    environments: names,
    environment: selected,
    issues: sorted,
    config: sorted.length === 0 ? config : undefined,
  };
}

/**
 * Loads one environment of a configuration: reads `lakeforge.yaml` (a file or the folder holding it),
 * its includes and environment files, checks everything and returns the environment's desired
 * resources and workspace. Sends no request. Throws `ConfigError` listing every problem found.
 */
export async function loadConfig(target: string, options: LoadOptions = {}): Promise<ResolvedConfig> {
  const result = validateConfig(target, options);
  if (result.issues.length > 0) throw new ConfigError(result.issues, options.relativeTo ?? process.cwd());
  const environment = requireEnvironment(result);
  if (!result.config) throw new Error(`configuration of environment ${environment} was not built`);
  return result.config;
}

function selectEnvironment(
  names: string[],
  asked: string | undefined,
  doc: Parameters<typeof getMap>[0],
  issues: ConfigIssue[],
): string | undefined {
  const envs = getMap(doc, "environments");
  const defaults: string[] = [];
  for (const [name, node] of envs?.entries ?? []) {
    const d = node.t === "map" ? node.entries.get("default") : undefined;
    if (d?.t === "scalar" && d.value === true) {
      if (defaults.length > 0) issues.push(issueAt(d, `only one environment may be the default (${defaults[0]} is already)`));
      defaults.push(name);
    }
  }
  if (names.length === 0) {
    if (asked === undefined || asked === IMPLICIT_ENVIRONMENT) return IMPLICIT_ENVIRONMENT;
    throw new UserError(`no environment "${asked}": the configuration defines no environments`, "add it under `environments:`");
  }
  if (asked !== undefined) {
    if (names.includes(asked)) return asked;
    throw new UserError(`no environment "${asked}"${didYouMean(asked, names)}`, `environments: ${names.join(", ")}`);
  }
  if (defaults.length > 0) return defaults[0];
  if (names.length === 1) return names[0];
  return undefined;
}

/** The environment `loadConfig` would pick without `options.environment`, or an error saying how to choose. */
export function requireEnvironment(result: ValidationResult): string {
  if (result.environment) return result.environment;
  throw new UserError(
    `choose an environment: ${result.environments.join(", ")}`,
    "pass -e <environment>, or mark one environment `default: true`",
  );
}
