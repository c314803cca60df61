import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as core from "@actions/core";
import { Command, CommanderError } from "commander";
import { environmentCommands } from "../cli/environments.js";
import { initCommand } from "../cli/init.js";
import type { Output } from "../cli/output.js";
import { plainStyle, planFromJson, renderPlan } from "../engine/render.js";
import { hasChanges, type Plan, type PlannedAction, type PlanSummary, summarize } from "../engine/types.js";
import { UserError } from "../lib/errors.js";
import { MIN_REGISTERED_LENGTH, redact, registerSecretValue } from "../lib/secret.js";
import { ACTION_INPUTS, type ActionCommand, type ActionInput, COMMANDS, INPUT_DEFAULTS, SECRET_ENV } from "./inputs.js";
import { environmentSummary, failureSummary, githubRepositoryUrl, initSummary, planOf } from "./summary.js";

/**
 * The GitHub Action: reads its inputs, masks every secret, runs the same command code as the CLI in
 * this process (`lakeforge init`, `plan`, `apply`), and reports through the job summary and outputs.
 * A failure fails the step with one line (`core.setFailed`).
 */

/** Registers a value with the runner's log masking and with Lakeforge's own output scrubbing. */
function mask(value: string): void {
  if (!value) return;
  core.setSecret(value);
  registerSecretValue(value);
  // Inputs reach the commands trimmed: that form is masked too.
  const trimmed = value.trim();
  if (trimmed && trimmed !== value) {
    core.setSecret(trimmed);
    registerSecretValue(trimmed);
  }
  // The runner masks a multi-line value line by line only if each line is registered.
  if (/\r?\n/.test(value)) {
    for (const line of value.split(/\r?\n/)) {
      const t = line.trim();
      if (t.length >= MIN_REGISTERED_LENGTH) {
        core.setSecret(t);
        registerSecretValue(t);
      }
    }
  }
}

/** Masks the secret inputs and every environment variable named like a secret, before anything is printed. */
export function maskSecrets(env: NodeJS.ProcessEnv = process.env): void {
  for (const input of ACTION_INPUTS) {
    if (input.kind === "secret") mask(core.getInput(input.name, { trimWhitespace: false }));
  }
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith("INPUT_")) continue;
    if (value && value.length >= MIN_REGISTERED_LENGTH && SECRET_ENV.test(name.toUpperCase())) mask(value);
  }
}

/** Human lines go to the log, scrubbed of secret values; JSON results are kept for the summary and outputs. */
function actionOutput(results: unknown[]): Output {
  const line = (text: string) => {
    for (const l of redact(text).split("\n")) {
      // A line that looks like a workflow command is printed indented so the runner does not run it.
      process.stdout.write(`${l.startsWith("::") ? ` ${l}` : l}\n`);
    }
  };
  return {
    info: line,
    warn: (text) => core.warning(redact(text)),
    error: (text) => core.error(redact(text)),
    json: (value) => {
      results.push(value);
    },
    bold: (s) => s,
    dim: (s) => s,
    style: plainStyle,
  };
}

/** Runs a CLI command in this process with the action's output; resolves to its exit code. */
async function runCommand(args: string[], out: Output): Promise<number> {
  const program = new Command("lakeforge")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stdout.write(redact(s)), writeOut: (s) => process.stdout.write(redact(s)) });
  initCommand(program, out);
  environmentCommands(program, out);
  process.exitCode = undefined;
  try {
    await program.parseAsync(["node", "lakeforge", ...args]);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } finally {
    process.exitCode = undefined;
  }
}

const isTrue = (name: string, value: string): boolean => {
  const v = value.trim().toLowerCase();
  if (["true", "yes", "on", "1"].includes(v)) return true;
  if (["false", "no", "off", "0", ""].includes(v)) return false;
  throw new UserError(`input ${name}: expected true or false, got "${value}"`);
};

const listItems = (value: string, commas: boolean): string[] =>
  value
    .split(commas ? /[\n,]/ : /\n/)
    .map((s) => s.trim())
    .filter((s) => s && !s.startsWith("#"));

interface Parsed {
  command: ActionCommand;
  /** Arguments of the command, but the command name. */
  args: string[];
  /** Environment variables to set. */
  env: Record<string, string>;
  autoApprove: boolean;
}

/** The command line for the inputs given; a located error (`input <name>: ...`) for a bad one. */
export function parseInputs(get: (name: string) => string = (n) => core.getInput(n)): Parsed {
  const commandText = get("command").trim();
  if (!COMMANDS.includes(commandText as ActionCommand))
    throw new UserError(
      `input command: expected one of ${COMMANDS.join(", ")}, got "${commandText}"`,
      "set `with: command: init` (or plan, apply)",
    );
  const command = commandText as ActionCommand;
  const args: string[] = [];
  const env: Record<string, string> = {};
  let autoApprove = false;
  let positional: string | undefined;
  for (const input of ACTION_INPUTS as ActionInput[]) {
    if (input.kind === "command") continue;
    const raw = get(input.name);
    const value = input.kind === "secret" ? raw : raw.trim();
    const given = value.trim() !== "" && value.trim() !== INPUT_DEFAULTS[input.name];
    if (!given) continue;
    if (!input.commands.includes(command))
      throw new UserError(
        `input ${input.name}: applies to ${input.commands.join(", ")} only (command is ${command})`,
        `remove ${input.name} from the step's \`with:\``,
      );
    switch (input.kind) {
      case "positional":
        positional = value;
        break;
      case "flag":
        args.push(input.flag as string, value);
        break;
      case "repeat":
        for (const item of listItems(value, input.name !== "vars" && input.name !== "targets"))
          args.push(input.flag as string, item);
        break;
      case "switch": {
        const on = isTrue(input.name, value);
        if (input.name === "auto_approve") autoApprove = on;
        else if (on !== (input.negate === true)) args.push(input.flag as string);
        break;
      }
      case "env":
      case "secret":
        env[input.env as string] = value;
        break;
    }
  }
  if (command === "init") {
    if (positional === undefined && !args.includes("--options"))
      throw new UserError("input project_name: required for command init (or give options_file with project_name in it)");
    args.unshift(...(positional !== undefined ? [positional] : []));
    args.push("--no-input");
    if (!args.includes("--forge")) args.push("--forge", INPUT_DEFAULTS.forge as string);
  }
  return { command, args, env, autoApprove };
}

type ForgeJson = NonNullable<InitJson["forge"]>;

/** The repository's web address: GitHub (or Enterprise Server), Azure DevOps, or the local forge's path. */
function repositoryUrl(f: ForgeJson): string | undefined {
  if (f.name === "github" && f.api_url) return githubRepositoryUrl(f.api_url, f.repository);
  if (f.name === "azure-devops" && f.org_url && f.project) {
    const name = f.repository.slice(f.repository.indexOf("/") + 1);
    return `${f.org_url}/${encodeURIComponent(f.project)}/_git/${encodeURIComponent(name)}`;
  }
  if (f.name === "local") return pathToFileURL(resolve(f.repository)).href;
  return undefined;
}

interface InitJson {
  dir: string;
  template_version: string;
  options: { project_name: string };
  forge?: {
    name: string;
    repository: string;
    api_url?: string;
    org_url?: string;
    project?: string;
    dry_run: boolean;
    applied: boolean;
    plan: PlanSummary;
    actions?: PlannedAction[];
  };
}

function setOutputs(outputs: Record<string, string | boolean | undefined>): void {
  for (const [k, v] of Object.entries(outputs)) if (v !== undefined) core.setOutput(k, redact(String(v)));
}

async function writeSummary(markdown: string): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) {
    core.info("(no GITHUB_STEP_SUMMARY: the job summary is not written)");
    return;
  }
  await core.summary.addRaw(redact(markdown)).write();
}

/** The plan in the log, as the CLI prints it (secrets by name only), in a collapsible group. */
function printPlan(out: Output, plan: Plan): void {
  core.startGroup(`Plan: ${plan.environment}`);
  out.info(renderPlan(plan).trimEnd());
  core.endGroup();
}

async function runInit(parsed: Parsed, out: Output, results: unknown[]): Promise<void> {
  await runCommand(["init", ...parsed.args, "--json"], out);
  const result = results.at(-1) as InitJson | undefined;
  if (!result) throw new Error("lakeforge init gave no result");
  const f = result.forge;
  const url = f ? repositoryUrl(f) : undefined;
  if (f?.actions) printPlan(out, planOf(`${f.name}:${f.repository}`, f.actions));
  await writeSummary(
    initSummary({
      projectName: result.options.project_name,
      dir: result.dir,
      templateVersion: result.template_version,
      ...(f
        ? {
            forge: {
              name: f.name,
              repository: f.repository,
              ...(url ? { url } : {}),
              dryRun: f.dry_run,
              applied: f.applied,
              ...(f.actions ? { actions: f.actions } : {}),
              summary: f.plan,
            },
          }
        : {}),
    }),
  );
  const changes = f ? f.plan.create + f.plan.update + f.plan.recreate + f.plan.delete > 0 : undefined;
  setOutputs({
    project_dir: result.dir,
    repository: f?.repository,
    repository_url: url,
    plan_has_changes: changes,
    plan_summary: f ? JSON.stringify(f.plan) : undefined,
    applied: f?.applied,
  });
}

/**
 * `plan`: plans and saves the plan. `apply`: plans, saves the plan, and (approved) applies exactly
 * that saved plan, so what is applied is what the summary shows.
 */
async function runEnvironment(parsed: Parsed, out: Output, results: unknown[]): Promise<void> {
  const dir = mkdtempSync(join(process.env.RUNNER_TEMP || tmpdir(), "lakeforge-plan-"));
  const planFile = join(dir, "plan.json");
  const code = await runCommand(["plan", ...parsed.args, "--out", planFile], out);
  if (code !== 0) throw new UserError(`lakeforge plan failed (exit code ${code})`);
  const plan = planFromJson(readFileSync(planFile, "utf8"));
  const changes = hasChanges(plan);
  const common = { environment: plan.environment, plan_has_changes: changes, plan_summary: JSON.stringify(summarize(plan)) };
  if (parsed.command === "plan") {
    await writeSummary(environmentSummary({ command: "plan", plan }));
    setOutputs({ ...common, plan_file: planFile });
    return;
  }
  if (changes && !parsed.autoApprove) {
    await writeSummary(environmentSummary({ command: "apply", plan, notApproved: true }));
    setOutputs({ ...common, applied: false, plan_file: planFile });
    throw new UserError(
      `refusing to apply the changes to ${plan.environment} without confirmation`,
      "set auto_approve: true (protect the job with an environment that needs a reviewer), or run command: plan",
    );
  }
  if (!changes) {
    await writeSummary(environmentSummary({ command: "apply", plan, result: { done: [], failed: [] } }));
    setOutputs({ ...common, applied: true });
    return;
  }
  const applyCode = await runCommand(["apply", planFile, ...parsed.args, "--json"], out);
  const result = results.at(-1) as { done: string[]; failed: { address: string; error: string }[] } | undefined;
  await writeSummary(environmentSummary({ command: "apply", plan, result: result ?? { done: [], failed: [] } }));
  setOutputs({ ...common, applied: applyCode === 0 });
  if (applyCode !== 0) {
    const first = result?.failed[0];
    throw new UserError(
      `apply of ${plan.environment} finished with ${result?.failed.length ?? "some"} failure(s)${first ? `, first ${first.address}: ${first.error}` : ""}`,
      "state records everything that was done: fix the cause and run again",
    );
  }
}

/** The action's entry point. Resolves when done; failures are reported with `core.setFailed`. */
export async function run(): Promise<void> {
  // Before anything else can print: the runner and Lakeforge's output both learn the secret values.
  maskSecrets();
  let command = core.getInput("command") || "lakeforge";
  try {
    const parsed = parseInputs();
    command = parsed.command;
    for (const [k, v] of Object.entries(parsed.env)) process.env[k] = v;
    const results: unknown[] = [];
    const out = actionOutput(results);
    if (parsed.command === "init") await runInit(parsed, out, results);
    else await runEnvironment(parsed, out, results);
  } catch (e) {
    let message: string;
    if (e instanceof UserError) {
      message = e.message;
      if (e.hint) core.info(redact(`hint: ${e.hint}`));
    } else if (e instanceof CommanderError) {
      message = e.message.replace(/^error: /, "");
    } else {
      // A bug: the stack goes to the log, the step fails with its first line.
      process.stdout.write(`${redact((e as Error).stack ?? String(e))}\n`);
      message = (e as Error).message ?? String(e);
    }
    message = redact(message);
    try {
      await writeSummary(failureSummary(command, message));
    } catch {
      // The failure itself is what matters.
    }
    core.setFailed(message);
  }
}
