import type { Command } from "commander";
import { convertDstoolkit, reportLines, writeConversion } from "../convert/dstoolkit.js";
import { UserError } from "../lib/errors.js";
import type { Output } from "./output.js";

const collect = (value: string, previous: string[]) => [...previous, value];

function parseHosts(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf("=");
    const env = item.slice(0, eq).trim().toLowerCase();
    const host = item.slice(eq + 1).trim();
    if (eq <= 0 || host === "")
      throw new UserError(`--workspace-host ${item}: expected <environment>=<url> or <environment>=local`);
    if (host !== "local" && !/^https?:\/\/[^\s/]+\/?$/.test(host)) {
      throw new UserError(
        `--workspace-host ${item}: expected the workspace URL (https://adb-<id>.<n>.azuredatabricks.net) or local`,
      );
    }
    out[env] = host;
  }
  return out;
}

interface ConvertCliOptions {
  out: string;
  force?: boolean;
  project?: string;
  workspaceHost: string[];
  json?: boolean;
}

/** `lakeforge convert dstoolkit <dir>`: parameter files of dstoolkit-mlops-databricks → lakeforge.yaml. */
export function convertCommand(program: Command, out: Output): void {
  const convert = program.command("convert").description("write a lakeforge.yaml from another tool's configuration");
  convert
    .command("dstoolkit")
    .description(
      "convert the parameter files of dstoolkit-mlops-databricks (Pipeline_Param/<Env>.json or databricks_configs/<env>/*.json)",
    )
    .argument("<dir>", "the repository, or the Pipeline_Param / databricks_configs folder")
    .option("-o, --out <file>", "where to write the configuration", "lakeforge.yaml")
    .option("--force", "overwrite the output file if it exists")
    .option("--project <name>", "project name (default: the repository folder's name)")
    .option(
      "--workspace-host <env=url>",
      `workspace of an environment, a URL or \`local\` (repeatable; default: \${env.<ENV>_DATABRICKS_HOST})`,
      collect,
      [],
    )
    .option("--json", "print the conversion report as JSON on stdout")
    .action((dir: string, o: ConvertCliOptions) => {
      const conversion = convertDstoolkit(dir, {
        ...(o.project ? { project: o.project } : {}),
        workspaceHosts: parseHosts(o.workspaceHost),
      });
      writeConversion(conversion, o.out, { force: o.force === true });
      if (o.json) {
        out.json({
          out: o.out,
          layout: conversion.layout,
          source: conversion.source,
          environments: conversion.environments,
          resources: conversion.resources,
          variables: conversion.variables,
          environment_variables: conversion.environmentVariables,
          not_converted: conversion.notConverted,
          problems: conversion.problems,
        });
        return;
      }
      const shared = conversion.resources.filter((r) => r.shared).length;
      out.info(
        `Wrote ${o.out}: ${conversion.environments.length} environment(s) (${conversion.environments.join(", ")}), ` +
          `${conversion.resources.length} resource(s) (${shared} shared), ${conversion.variables.length} variable(s).`,
      );
      if (conversion.environmentVariables.length > 0) {
        out.info("Set these environment variables before `lakeforge plan` / `apply`:");
        for (const v of conversion.environmentVariables) out.info(`  ${v.name}${v.secret ? " (secret)" : ""}: ${v.purpose}`);
      }
      if (conversion.problems.length > 0) {
        out.warn(`the converted configuration has ${conversion.problems.length} problem(s) to fix:`);
        for (const p of conversion.problems) out.info(`  - ${p}`);
      }
      if (conversion.notConverted.length > 0) {
        out.warn(`${conversion.notConverted.length} item(s) not converted (also listed at the top of ${o.out}):`);
        for (const n of conversion.notConverted) for (const l of reportLines(n)) out.info(`  ${l}`);
      }
    });
}
