import { Command, CommanderError } from "commander";
import { UserError } from "../lib/errors.js";
import { VERSION } from "../lib/version.js";
import { bundleCommands } from "./bundle.js";
import { convertCommand } from "./convert.js";
import { environmentCommands } from "./environments.js";
import { infraCommand } from "./infra.js";
import { initCommand } from "./init.js";
import { createOutput } from "./output.js";
import { pipelinesCommand } from "./pipelines.js";
import { quickstartCommand } from "./quickstart.js";
import { updateCommand } from "./update.js";
import { workspaceCommand } from "./workspace.js";

/** Runs the CLI with `argv` (as in process.argv) and resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const out = createOutput();
  const program = new Command("lakeforge")
    .description("MLOps on Databricks as code, with a local Databricks-compatible workspace")
    .version(VERSION, "-v, --version")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  workspaceCommand(program, out);
  environmentCommands(program, out);
  bundleCommands(program, out);
  initCommand(program, out);
  updateCommand(program, out);
  convertCommand(program, out);
  infraCommand(program, out);
  pipelinesCommand(program, out);
  quickstartCommand(program, out);
  try {
    await program.parseAsync(argv);
    // Commands report "changes present" (plan --detailed-exitcode) or failures through process.exitCode.
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    if (e instanceof UserError) {
      out.error(e.message + (e.hint ? `\n  hint: ${e.hint}` : ""));
      return 1;
    }
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}
