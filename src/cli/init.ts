import { resolve } from "node:path";
import { type Command, Option } from "commander";
import { ALIASES, flagOf, IGNORED, OPTION_DEFS, resolveOptions } from "../template/input.js";
import { initProject, MANIFEST_PATH } from "../template/project.js";
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
  for (const alias of [...Object.keys(ALIASES), ...Object.keys(IGNORED)]) {
    cmd.addOption(new Option(`${flagOf(alias)} <value>`).hideHelp());
  }
  return cmd;
}

/** The template option flags given on the command line, as `[--flag, value]` pairs. */
export function givenFlags(cmd: Command): [string, string | boolean][] {
  const out: [string, string | boolean][] = [];
  const opts = cmd.opts() as Record<string, unknown>;
  for (const option of cmd.options) {
    const attr = option.attributeName();
    if (cmd.getOptionValueSource(attr) !== "cli") continue;
    const long = option.long;
    if (!long || ["--dir", "--options", "--input", "--no-input", "--force", "--json", "--check"].includes(long)) continue;
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
}

export function initCommand(program: Command, out: Output): void {
  const cmd = program
    .command("init")
    .description("render a new ML project (Databricks bundle, Python package, tests, CI/CD) from the ml-project template")
    .argument("[name]", "project name (lowercase letters, digits, - and _)")
    .option("--dir <path>", "folder to render into (default: ./<name>)")
    .option("--options <file>", "options file (YAML or JSON); flags win over it")
    .option("--no-input", "never ask: options not given take their defaults (for CI)")
    .option("--force", "render into a folder that is not empty (files the template writes are overwritten)")
    .option("--json", "print the result as JSON on stdout");
  optionFlags(cmd);
  cmd.addHelpText("after", "\nThe options, their defaults and the names accepted for them are in docs/init.md.");
  cmd.action(async (name: string | undefined, o: InitOptions) => {
    const flags = givenFlags(cmd);
    if (name !== undefined) flags.unshift(["--project-name", name]);
    const sources = { ...(o.options ? { file: o.options } : {}), flags };
    const interactive = o.input && process.stdin.isTTY === true;
    const prompted = interactive ? await promptOptions(sources, { input: process.stdin, output: process.stderr }) : [];
    const { answers, warnings } = resolveOptions({ ...sources, prompted });
    for (const w of warnings) out.warn(w);
    const dir = resolve(o.dir ?? answers.project_name);
    const result = initProject(dir, answers, { force: o.force === true });
    if (o.json) {
      out.json({
        dir: result.dir,
        template: result.manifest.template,
        template_version: result.manifest.template_version,
        options: answers,
        files: result.files.map((f) => f.path),
      });
      return;
    }
    out.info(
      `Rendered ${answers.project_name} (template ${result.manifest.template} ${result.manifest.template_version}, ${result.files.length} files) into ${dir}`,
    );
    out.info(`  targets: ${Object.keys(answers.targets).join(", ")}; CI/CD: ${answers.cicd}; compute: ${answers.compute}`);
    out.info(`  options recorded in ${MANIFEST_PATH}; re-render with \`lakeforge update\``);
    out.info("Next: read README.md, then `pytest` and `databricks bundle validate`.");
  });
}
